package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cpgw/cpgw/store"
)

// memberRecord is a member's entry in the member-records hash.
type memberRecord struct {
	Region  string `json:"region"`
	Address string `json:"address"`
}

// Heartbeat implements store.Store. Expiry is computed from the server's
// clock inside the script, so coordinators with skewed clocks agree on who
// is alive.
func (s *Store) Heartbeat(ctx context.Context, m store.Member, ttl time.Duration) error {
	if err := m.Validate(); err != nil {
		return err
	}
	if ttl < time.Millisecond {
		return invalid("heartbeat TTL %s below 1ms", ttl)
	}
	rec, err := json.Marshal(memberRecord{Region: m.Region, Address: m.Address})
	if err != nil {
		return fmt.Errorf("redisstore: heartbeat %s: %w", m.ID, err)
	}
	keys := []string{s.keys.members(), s.keys.memberRecords(), s.keys.regions()}
	if err := s.sc.heartbeat.Run(ctx, s.c, keys, m.ID, rec, m.Region, millis(ttl)).Err(); err != nil {
		return fmt.Errorf("redisstore: heartbeat %s: %w", m.ID, err)
	}
	return nil
}

// Leave implements store.Store. Leaving twice, or without having joined, is
// not an error.
func (s *Store) Leave(ctx context.Context, id string) error {
	if id == "" {
		return invalid("leave without member id")
	}
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRem(ctx, s.keys.members(), id)
		p.HDel(ctx, s.keys.memberRecords(), id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisstore: leave %s: %w", id, err)
	}
	return nil
}

// Members implements store.Store.
func (s *Store) Members(ctx context.Context) ([]store.Member, error) {
	keys := []string{s.keys.members(), s.keys.memberRecords()}
	reply, err := s.sc.members.RunRO(ctx, s.c, keys).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("redisstore: members: %w", err)
	}
	return parseMembers(reply)
}

// parseMembers reads membersSrc's reply: id, record, id, record, ...
func parseMembers(reply []string) ([]store.Member, error) {
	if len(reply)%2 != 0 {
		return nil, fmt.Errorf("redisstore: members: unexpected reply of %d elements", len(reply))
	}
	out := make([]store.Member, 0, len(reply)/2)
	for i := 0; i < len(reply); i += 2 {
		var r memberRecord
		if err := json.Unmarshal([]byte(reply[i+1]), &r); err != nil {
			return nil, fmt.Errorf("redisstore: members: corrupt record of %s: %w", reply[i], err)
		}
		out = append(out, store.Member{ID: reply[i], Region: r.Region, Address: r.Address})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Regions implements store.Store.
func (s *Store) Regions(ctx context.Context) ([]string, error) {
	regions, err := s.c.SMembers(ctx, s.keys.regions()).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: regions: %w", err)
	}
	sort.Strings(regions)
	return regions, nil
}
