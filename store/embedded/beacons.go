package embedded

import (
	"context"
	"fmt"
	"time"

	"github.com/cpgw/cpgw/store"
)

// beaconRecord is a beacon's sequence number and the instant, on the store's
// clock, at which it runs out.
type beaconRecord struct {
	seq     uint64
	expires time.Time
}

// SetBeacon implements store.Store. It also forgets expired beacons, so
// memory follows the live ones (one per running gateway), not every id ever
// used.
func (s *Store) SetBeacon(ctx context.Context, id string, seq uint64, ttl time.Duration) error {
	if id == "" {
		return invalid("beacon without id")
	}
	if ttl < time.Millisecond {
		return invalid("TTL %s below 1ms", ttl)
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	rec := beaconRecord{seq: seq, expires: s.clock.Now().Add(msTTL(ttl))}
	s.setBeaconLocked(id, rec)
	s.publishLocked(mutation{kind: mutBeacon, id: id, beacon: rec})
	return nil
}

// setBeaconLocked stores rec under id and forgets expired beacons. Replicas
// replay beacons through it too, with the expiry the primary computed: as in
// Redis, a key expires at the same instant everywhere.
func (s *Store) setBeaconLocked(id string, rec beaconRecord) {
	now := s.clock.Now()
	for other, old := range s.beacons {
		if !now.Before(old.expires) {
			delete(s.beacons, other)
		}
	}
	s.beacons[id] = rec
}

// Beacon implements store.Store.
func (s *Store) Beacon(ctx context.Context, id string) (uint64, error) {
	if id == "" {
		return 0, invalid("beacon without id")
	}
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	rec, ok := s.beacons[id]
	if !ok || !s.clock.Now().Before(rec.expires) {
		return 0, fmt.Errorf("%w: beacon %s", store.ErrNotFound, id)
	}
	return rec.seq, nil
}
