package redisstore

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cpgw/cpgw/fencing"
	"github.com/cpgw/cpgw/store"
)

// AcquireLease implements store.Store. The lease key's PX TTL is the lease:
// when Redis expires it the shard can be acquired again. With Durability the
// script and a WAIT go in one pipeline (durability.go).
func (s *Store) AcquireLease(ctx context.Context, req store.LeaseRequest) (store.Lease, error) {
	if err := req.Validate(); err != nil {
		return store.Lease{}, err
	}
	if err := checkFloor(req.After); err != nil {
		return store.Lease{}, err
	}
	w, err := s.waitFor(req.Durability)
	if err != nil {
		return store.Lease{}, err
	}
	keys := []string{s.keys.counter(req.Shard), s.keys.lease(req.Shard), s.keys.epoch(req.Shard)}
	args := []any{req.Owner, req.Region, req.Address, millis(req.TTL), req.After.String(), s.bound()}
	var reply []any
	acked := 0
	if w.replicas == 0 {
		reply, err = s.sc.acquire.Run(ctx, s.c, keys, args...).Slice()
	} else {
		var cmds []*redis.Cmd
		cmds, acked, err = runPipelined(ctx, s.c, s.sc.acquire, false, []scriptCall{{keys: keys, args: args}}, w)
		if err == nil {
			reply, err = cmds[0].Slice()
		}
	}
	if err != nil {
		return store.Lease{}, wrapErr("acquire lease", req.Shard, err)
	}
	if err := s.scriptEpochError("acquire lease", req.Shard, reply); err != nil {
		return store.Lease{}, err
	}
	status, _ := elem(reply, 0)
	switch {
	case status == "ok" && len(reply) == 3:
		tokStr, _ := elem(reply, 1)
		tok, err := fencing.Parse(tokStr)
		if err != nil {
			return store.Lease{}, wrapErr("acquire lease", req.Shard, err)
		}
		regressed, _ := elem(reply, 2)
		l := store.Lease{
			Shard: req.Shard, Owner: req.Owner, Region: req.Region, Address: req.Address,
			Token: tok, TTL: req.TTL, Regressed: regressed == "1",
		}
		// The grant stands on the primary either way; the caller decides
		// (and should release it) when too few replicas have it.
		return l, replicationErr(w, acked)
	case status == "held" && len(reply) == 8:
		st, err := parseLeaseState(req.Shard, reply[7], reply[1:7])
		if err != nil {
			return store.Lease{}, wrapErr("acquire lease", req.Shard, err)
		}
		return store.Lease{}, &store.HeldError{Holder: st}
	}
	return store.Lease{}, wrapErr("acquire lease", req.Shard, fmt.Errorf("unexpected reply %v", reply))
}

// checkFloor refuses a token floor the counter could not move past: Redis
// counters are signed 64-bit, so the largest token is math.MaxInt64.
func checkFloor(after fencing.Token) error {
	if after >= math.MaxInt64 {
		return invalid("token floor %d leaves no token to grant", after)
	}
	return nil
}

// RenewLeases implements store.Store: one script call per renewal, all in
// one pipeline, ended by one WAIT for the most any renewal asks (the largest
// Replicas and the longest Timeout). A renewal asking for Durability on a
// client that cannot wait fails on its own with store.ErrInvalid, as
// malformed renewals do.
func (s *Store) RenewLeases(ctx context.Context, rs []store.LeaseRenewal) ([]error, error) {
	errs := make([]error, len(rs))
	calls := make([]scriptCall, 0, len(rs))
	pos := make([]int, 0, len(rs)) // calls[i] renews rs[pos[i]]
	var dur store.Durability
	epoch := s.bound()
	for i, r := range rs {
		if err := r.Validate(); err != nil {
			errs[i] = err
			continue
		}
		if _, err := s.waitFor(r.Durability); err != nil {
			errs[i] = err
			continue
		}
		dur.Replicas = max(dur.Replicas, r.Durability.Replicas)
		dur.Timeout = max(dur.Timeout, r.Durability.Timeout)
		calls = append(calls, scriptCall{
			keys: []string{s.keys.lease(r.Shard), s.keys.epoch(r.Shard)},
			args: []any{r.Owner, r.Token.String(), millis(r.TTL), epoch},
		})
		pos = append(pos, i)
	}
	if len(calls) == 0 {
		return errs, nil
	}
	w, err := s.waitFor(dur)
	if err != nil {
		return nil, err // cannot happen: every renewal's Durability passed
	}
	cmds, acked, err := runPipelined(ctx, s.c, s.sc.renew, false, calls, w)
	if err != nil {
		return nil, fmt.Errorf("redisstore: renew %d leases: %w", len(calls), err)
	}
	for i, cmd := range cmds {
		shard := rs[pos[i]].Shard
		switch v := cmd.Val().(type) {
		case int64:
			if v != 1 {
				errs[pos[i]] = store.ErrLeaseLost
			}
		case []any:
			if err := s.scriptEpochError("renew lease", shard, v); err != nil {
				return nil, err
			}
			return nil, wrapErr("renew lease", shard, fmt.Errorf("unexpected reply %v", v))
		default:
			return nil, wrapErr("renew lease", shard, fmt.Errorf("unexpected reply %v", v))
		}
	}
	if err := replicationErr(w, acked); err != nil {
		return nil, fmt.Errorf("redisstore: renew %d leases: %w", len(calls), err)
	}
	return errs, nil
}

// ReleaseLease implements store.Store. The fencing counter stays: tokens only
// grow, so the next owner gets a token no earlier writer ever held.
func (s *Store) ReleaseLease(ctx context.Context, shard int, owner string, token fencing.Token) error {
	if err := checkShard(shard); err != nil {
		return err
	}
	if owner == "" || token == 0 {
		return invalid("release without owner or token")
	}
	keys := []string{s.keys.lease(shard), s.keys.epoch(shard)}
	reply, err := s.sc.release.Run(ctx, s.c, keys, owner, token.String(), s.bound()).Result()
	if err != nil {
		return wrapErr("release lease", shard, err)
	}
	switch v := reply.(type) {
	case int64:
		if v != 1 {
			return store.ErrLeaseLost
		}
		return nil
	case []any:
		if err := s.scriptEpochError("release lease", shard, v); err != nil {
			return err
		}
	}
	return wrapErr("release lease", shard, fmt.Errorf("unexpected reply %v", reply))
}

// Leases implements store.Store: one read-only script call per shard, all in
// one pipeline, each reading the lease and the counter atomically.
func (s *Store) Leases(ctx context.Context, shards []int) ([]store.LeaseState, error) {
	calls, err := s.leaseStateCalls(shards)
	if err != nil {
		return nil, err
	}
	if len(calls) == 0 {
		return []store.LeaseState{}, nil
	}
	cmds, _, err := runPipelined(ctx, s.c, s.sc.leaseState, true, calls, wait{})
	if err != nil {
		return nil, fmt.Errorf("redisstore: read %d leases: %w", len(calls), err)
	}
	return parseLeaseStates(shards, cmds)
}

// leaseStateCalls are the leaseStateSrc calls reading shards, which are
// checked.
func (s *Store) leaseStateCalls(shards []int) ([]scriptCall, error) {
	calls := make([]scriptCall, len(shards))
	for i, sh := range shards {
		if err := checkShard(sh); err != nil {
			return nil, err
		}
		calls[i] = scriptCall{keys: []string{s.keys.counter(sh), s.keys.lease(sh)}}
	}
	return calls, nil
}

// parseLeaseStates reads the replies of leaseStateSrc calls, one per shard.
func parseLeaseStates(shards []int, cmds []*redis.Cmd) ([]store.LeaseState, error) {
	out := make([]store.LeaseState, len(shards))
	for i, cmd := range cmds {
		reply, err := cmd.Slice()
		if err == nil && len(reply) != 7 {
			err = fmt.Errorf("unexpected reply %v", reply)
		}
		if err == nil {
			out[i], err = parseLeaseState(shards[i], reply[0], reply[1:])
		}
		if err != nil {
			return nil, wrapErr("read lease", shards[i], err)
		}
	}
	return out, nil
}

// parseLeaseState reads the current token and the six lease fields
// {owner, region, address, lease token, ttl ms, remaining ms} that
// leaseStateSrc and acquireSrc reply with. An empty owner means not held.
func parseLeaseState(shard int, current any, f []any) (store.LeaseState, error) {
	st := store.LeaseState{Shard: shard, Lease: store.Lease{Shard: shard}}
	cur, _ := current.(string)
	tok, err := fencing.Parse(cur)
	if err != nil {
		return st, fmt.Errorf("corrupt fencing counter: %w", err)
	}
	st.Token = tok
	if len(f) != 6 {
		return st, fmt.Errorf("unexpected lease reply of %d elements", len(f))
	}
	owner, _ := elem(f, 0)
	if owner == "" {
		return st, nil
	}
	region, _ := elem(f, 1)
	addr, _ := elem(f, 2)
	leaseTok, _ := elem(f, 3)
	ttlStr, _ := elem(f, 4)
	lt, err := fencing.Parse(leaseTok)
	if err != nil {
		return st, fmt.Errorf("corrupt lease token: %w", err)
	}
	ttl, err := strconv.ParseInt(ttlStr, 10, 64)
	if err != nil {
		return st, fmt.Errorf("corrupt lease ttl %q", ttlStr)
	}
	remaining, ok := f[5].(int64)
	if !ok {
		return st, fmt.Errorf("unexpected remaining time %T", f[5])
	}
	st.Held = true
	st.Lease = store.Lease{
		Shard: shard, Owner: owner, Region: region, Address: addr,
		Token: lt, TTL: time.Duration(ttl) * time.Millisecond,
	}
	// PTTL is -1 only for a lease without expiry, which this package never
	// writes; report no time left rather than a negative duration.
	st.Remaining = time.Duration(max(remaining, 0)) * time.Millisecond
	return st, nil
}

// elem returns reply[i] as a string, or "" and false.
func elem(reply []any, i int) (string, bool) {
	if i >= len(reply) {
		return "", false
	}
	s, ok := reply[i].(string)
	return s, ok
}
