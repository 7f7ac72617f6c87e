package embedded

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cpgw/cpgw/store"
)

// memberRecord is a member and the instant its heartbeat runs out.
type memberRecord struct {
	member  store.Member
	expires time.Time
}

// Heartbeat implements store.Store.
func (s *Store) Heartbeat(ctx context.Context, m store.Member, ttl time.Duration) error {
	if err := m.Validate(); err != nil {
		return err
	}
	if ttl < time.Millisecond {
		return invalid("TTL %s below 1ms", ttl)
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()

	s.members[m.ID] = memberRecord{member: m, expires: s.clock.Now().Add(msTTL(ttl))}
	s.regions[m.Region] = struct{}{}
	return nil
}

// Leave implements store.Store. Leaving twice, or without having joined, is
// not an error.
func (s *Store) Leave(ctx context.Context, id string) error {
	if id == "" {
		return invalid("member without id")
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	delete(s.members, id)
	return nil
}

// Members implements store.Store. It also forgets the expired records it
// passes over, so memory follows the live membership.
func (s *Store) Members(ctx context.Context) ([]store.Member, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()

	now := s.clock.Now()
	out := make([]store.Member, 0, len(s.members))
	for id, rec := range s.members {
		if !now.Before(rec.expires) {
			delete(s.members, id)
			continue
		}
		out = append(out, rec.member)
	}
	slices.SortFunc(out, func(a, b store.Member) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// Regions implements store.Store.
func (s *Store) Regions(ctx context.Context) ([]string, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.regions))
	out = slices.AppendSeq(out, maps.Keys(s.regions))
	slices.Sort(out)
	return out, nil
}
