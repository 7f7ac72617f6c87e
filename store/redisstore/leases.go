package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/cpgw/cpgw/fencing"
	"github.com/cpgw/cpgw/store"
)

// AcquireLease implements store.Store. The lease key's PX TTL is the lease:
// when Redis expires it the shard can be acquired again.
func (s *Store) AcquireLease(ctx context.Context, req store.LeaseRequest) (store.Lease, error) {
	if err := req.Validate(); err != nil {
		return store.Lease{}, err
	}
	keys := []string{s.keys.counter(req.Shard), s.keys.lease(req.Shard)}
	reply, err := s.sc.acquire.Run(ctx, s.c, keys, req.Owner, req.Region, req.Address, millis(req.TTL)).Slice()
	if err != nil {
		return store.Lease{}, wrapErr("acquire lease", req.Shard, err)
	}
	status, _ := elem(reply, 0)
	switch {
	case status == "ok" && len(reply) == 2:
		tokStr, _ := elem(reply, 1)
		tok, err := fencing.Parse(tokStr)
		if err != nil {
			return store.Lease{}, wrapErr("acquire lease", req.Shard, err)
		}
		return store.Lease{
			Shard: req.Shard, Owner: req.Owner, Region: req.Region, Address: req.Address,
			Token: tok, TTL: req.TTL,
		}, nil
	case status == "held" && len(reply) == 8:
		st, err := parseLeaseState(req.Shard, reply[7], reply[1:7])
		if err != nil {
			return store.Lease{}, wrapErr("acquire lease", req.Shard, err)
		}
		return store.Lease{}, &store.HeldError{Holder: st}
	}
	return store.Lease{}, wrapErr("acquire lease", req.Shard, fmt.Errorf("unexpected reply %v", reply))
}

// RenewLeases implements store.Store: one script call per renewal, all in
// one pipeline.
func (s *Store) RenewLeases(ctx context.Context, rs []store.LeaseRenewal) ([]error, error) {
	errs := make([]error, len(rs))
	calls := make([]scriptCall, 0, len(rs))
	pos := make([]int, 0, len(rs)) // calls[i] renews rs[pos[i]]
	for i, r := range rs {
		if err := r.Validate(); err != nil {
			errs[i] = err
			continue
		}
		calls = append(calls, scriptCall{
			keys: []string{s.keys.lease(r.Shard)},
			args: []any{r.Owner, r.Token.String(), millis(r.TTL)},
		})
		pos = append(pos, i)
	}
	if len(calls) == 0 {
		return errs, nil
	}
	cmds, err := runPipelined(ctx, s.c, s.sc.renew, false, calls)
	if err != nil {
		return nil, fmt.Errorf("redisstore: renew %d leases: %w", len(calls), err)
	}
	for i, cmd := range cmds {
		ok, err := cmd.Int()
		if err != nil {
			return nil, wrapErr("renew lease", rs[pos[i]].Shard, err)
		}
		if ok != 1 {
			errs[pos[i]] = store.ErrLeaseLost
		}
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
	ok, err := s.sc.release.Run(ctx, s.c, []string{s.keys.lease(shard)}, owner, token.String()).Int()
	if err != nil {
		return wrapErr("release lease", shard, err)
	}
	if ok != 1 {
		return store.ErrLeaseLost
	}
	return nil
}

// Leases implements store.Store: one read-only script call per shard, all in
// one pipeline, each reading the lease and the counter atomically.
func (s *Store) Leases(ctx context.Context, shards []int) ([]store.LeaseState, error) {
	calls := make([]scriptCall, len(shards))
	for i, sh := range shards {
		if err := checkShard(sh); err != nil {
			return nil, err
		}
		calls[i] = scriptCall{keys: []string{s.keys.counter(sh), s.keys.lease(sh)}}
	}
	if len(calls) == 0 {
		return []store.LeaseState{}, nil
	}
	cmds, err := runPipelined(ctx, s.c, s.sc.leaseState, true, calls)
	if err != nil {
		return nil, fmt.Errorf("redisstore: read %d leases: %w", len(calls), err)
	}
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
