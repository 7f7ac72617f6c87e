package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cpgw/cpgw/store"
)

// SetBeacon implements store.Store with one SET PX: a plain write that
// replicates in order with every write before it.
func (s *Store) SetBeacon(ctx context.Context, id string, seq uint64, ttl time.Duration) error {
	if id == "" {
		return invalid("beacon without id")
	}
	if ttl < time.Millisecond {
		return invalid("beacon TTL %s below 1ms", ttl)
	}
	err := s.c.Set(ctx, s.keys.beacon(id), strconv.FormatUint(seq, 10), time.Duration(millis(ttl))*time.Millisecond).Err()
	if err != nil {
		return fmt.Errorf("redisstore: set beacon %s: %w", id, err)
	}
	return nil
}

// Beacon implements store.Store.
func (s *Store) Beacon(ctx context.Context, id string) (uint64, error) {
	if id == "" {
		return 0, invalid("beacon without id")
	}
	v, err := s.c.Get(ctx, s.keys.beacon(id)).Result()
	if errors.Is(err, redis.Nil) {
		return 0, fmt.Errorf("%w: beacon %s", store.ErrNotFound, id)
	}
	if err != nil {
		return 0, fmt.Errorf("redisstore: beacon %s: %w", id, err)
	}
	seq, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("redisstore: beacon %s: corrupt sequence %q", id, v)
	}
	return seq, nil
}
