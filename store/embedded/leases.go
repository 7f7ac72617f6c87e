package embedded

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/cpgw/cpgw/fencing"
	"github.com/cpgw/cpgw/store"
)

// leaseRecord is a granted lease and the instant, on the store's clock, at
// which it runs out.
type leaseRecord struct {
	lease   store.Lease
	expires time.Time
}

// liveLeaseLocked returns the shard's lease if it has not expired at now.
// Expired records are left in place; they are simply not live.
func (sh *shardState) liveLeaseLocked(now time.Time) *leaseRecord {
	if sh.lease != nil && now.Before(sh.lease.expires) {
		return sh.lease
	}
	return nil
}

// leaseHeldLocked reports whether the lease granted with the shard's current
// token is still live: the lease half of the fencing check.
func (sh *shardState) leaseHeldLocked(now time.Time) bool {
	l := sh.liveLeaseLocked(now)
	return l != nil && l.lease.Token == sh.token
}

// stateLocked describes the shard's lease as an observer sees it.
func (sh *shardState) stateLocked(shard int, now time.Time) store.LeaseState {
	st := store.LeaseState{Shard: shard, Lease: store.Lease{Shard: shard}, Token: sh.token}
	if l := sh.liveLeaseLocked(now); l != nil {
		st.Held = true
		st.Lease = l.lease
		st.Remaining = l.expires.Sub(now)
	}
	return st
}

// AcquireLease implements store.Store. A live lease is never granted again,
// not even to its own holder: the holder renews instead.
func (s *Store) AcquireLease(ctx context.Context, req store.LeaseRequest) (store.Lease, error) {
	if err := req.Validate(); err != nil {
		return store.Lease{}, err
	}
	if err := checkFloor(req.After); err != nil {
		return store.Lease{}, err
	}
	if err := s.lock(ctx); err != nil {
		return store.Lease{}, err
	}
	defer s.mu.Unlock()

	now := s.clock.Now()
	sh := s.shardLocked(req.Shard)
	if sh.liveLeaseLocked(now) != nil {
		return store.Lease{}, &store.HeldError{Holder: sh.stateLocked(req.Shard, now)}
	}
	// The grant is always above the caller's floor: a counter below it went
	// back, and the store skips ahead rather than grant a token again.
	regressed := sh.token < req.After
	if regressed {
		sh.token = req.After
	}
	sh.token++
	ttl := msTTL(req.TTL)
	sh.lease = &leaseRecord{
		lease: store.Lease{
			Shard:   req.Shard,
			Owner:   req.Owner,
			Region:  req.Region,
			Address: req.Address,
			Token:   sh.token,
			TTL:     ttl,
		},
		expires: now.Add(ttl),
	}
	s.publishLeaseLocked(req.Shard, sh)
	// The caller gets its TTL back as asked; the store keeps (and Leases
	// reports) it in whole milliseconds, as redisstore does.
	l := sh.lease.lease
	l.TTL = req.TTL
	l.Regressed = regressed
	// The grant stands either way; the caller decides (and should release
	// it) when too few replicas have it.
	return l, replicationErr(req.Durability, s.waitLocked(req.Durability))
}

// checkFloor refuses a token floor the counter could not move past. The
// limit is redisstore's (Redis counters are signed 64-bit), so that both
// stores refuse the same requests.
func checkFloor(after fencing.Token) error {
	if after >= math.MaxInt64 {
		return invalid("token floor %d leaves no token to grant", after)
	}
	return nil
}

// RenewLeases implements store.Store. Each renewal extends its lease to TTL
// from now (the store's clock), not from the previous expiry. The call waits
// once, after all renewals, for the most any valid renewal asks.
func (s *Store) RenewLeases(ctx context.Context, rs []store.LeaseRenewal) ([]error, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()

	now := s.clock.Now()
	errs := make([]error, len(rs))
	var dur store.Durability
	for i, r := range rs {
		if err := r.Validate(); err != nil {
			errs[i] = err
			continue
		}
		dur.Replicas = max(dur.Replicas, r.Durability.Replicas)
		dur.Timeout = max(dur.Timeout, r.Durability.Timeout)
		errs[i] = s.renewLocked(r, now)
	}
	if err := replicationErr(dur, s.waitLocked(dur)); err != nil {
		return nil, fmt.Errorf("embedded: renew %d leases: %w", len(rs), err)
	}
	return errs, nil
}

// renewLocked extends one validated renewal's lease.
func (s *Store) renewLocked(r store.LeaseRenewal, now time.Time) error {
	sh := s.shards[r.Shard]
	if sh == nil {
		return lost(r.Shard, r.Owner, r.Token)
	}
	l := sh.liveLeaseLocked(now)
	if l == nil || l.lease.Owner != r.Owner || l.lease.Token != r.Token {
		return lost(r.Shard, r.Owner, r.Token)
	}
	ttl := msTTL(r.TTL)
	l.lease.TTL = ttl
	l.expires = now.Add(ttl)
	s.publishLeaseLocked(r.Shard, sh)
	return nil
}

// ReleaseLease implements store.Store. The fencing counter stays where it is,
// so the next owner's token is still larger than every earlier one.
func (s *Store) ReleaseLease(ctx context.Context, shard int, owner string, token fencing.Token) error {
	if err := validShard(shard); err != nil {
		return err
	}
	if owner == "" || token == 0 {
		return invalid("release without owner or token")
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()

	sh := s.shards[shard]
	if sh == nil {
		return lost(shard, owner, token)
	}
	l := sh.liveLeaseLocked(s.clock.Now())
	if l == nil || l.lease.Owner != owner || l.lease.Token != token {
		return lost(shard, owner, token)
	}
	sh.lease = nil
	s.publishLeaseLocked(shard, sh)
	return nil
}

// Leases implements store.Store.
func (s *Store) Leases(ctx context.Context, shards []int) ([]store.LeaseState, error) {
	for _, n := range shards {
		if err := validShard(n); err != nil {
			return nil, err
		}
	}
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()

	now := s.clock.Now()
	out := make([]store.LeaseState, len(shards))
	for i, n := range shards {
		if sh := s.shards[n]; sh != nil {
			out[i] = sh.stateLocked(n, now)
		} else {
			out[i] = store.LeaseState{Shard: n, Lease: store.Lease{Shard: n}}
		}
	}
	return out, nil
}

func lost(shard int, owner string, token fencing.Token) error {
	return fmt.Errorf("%w: shard %d, owner %q, token %d", store.ErrLeaseLost, shard, owner, token)
}
