package redisstore

import (
	"context"
	"fmt"
	"sort"

	"github.com/redis/go-redis/v9"

	"github.com/cpgw/cpgw/store"
)

// Placement reads what one placement round needs, the live members, every
// region and the lease state of each of shards, in one pipeline: one round
// trip where Members, Regions and Leases take three (on Redis Cluster, one
// per node the keys live on). Each part is what its own method would
// return; like those three calls, the parts are not one atomic snapshot.
func (s *Store) Placement(ctx context.Context, shards []int) ([]store.Member, []string, []store.LeaseState, error) {
	calls, err := s.leaseStateCalls(shards)
	if err != nil {
		return nil, nil, nil, err
	}
	var (
		members *redis.Cmd
		regions *redis.StringSliceCmd
		states  = make([]*redis.Cmd, len(calls))
	)
	run := func() {
		// Per-command errors are inspected below; Exec's is the first of them.
		_, _ = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			members = s.sc.members.EvalShaRO(ctx, p, []string{s.keys.members(), s.keys.memberRecords()})
			regions = p.SMembers(ctx, s.keys.regions())
			for i, c := range calls {
				states[i] = s.sc.leaseState.EvalShaRO(ctx, p, c.keys, c.args...)
			}
			return nil
		})
	}
	run()
	if noScript(members, states) {
		// The server forgot the scripts (a restart, a failover): load them
		// and read again; nothing here writes, so a second read is safe.
		for _, sc := range []*redis.Script{s.sc.members, s.sc.leaseState} {
			if err := sc.Load(ctx, s.c).Err(); err != nil {
				return nil, nil, nil, fmt.Errorf("redisstore: placement: load script: %w", err)
			}
		}
		run()
	}

	reply, err := members.StringSlice()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("redisstore: members: %w", err)
	}
	ms, err := parseMembers(reply)
	if err != nil {
		return nil, nil, nil, err
	}
	rs, err := regions.Result()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("redisstore: regions: %w", err)
	}
	sort.Strings(rs)
	ls, err := parseLeaseStates(shards, states)
	if err != nil {
		return nil, nil, nil, err
	}
	return ms, rs, ls, nil
}

func noScript(members *redis.Cmd, states []*redis.Cmd) bool {
	if isNoScript(members.Err()) {
		return true
	}
	for _, c := range states {
		if isNoScript(c.Err()) {
			return true
		}
	}
	return false
}
