package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/cpgw/cpgw/store"
)

// The cluster epoch is a random id created with the cluster's shard count
// and copied to every shard ("<p>:{sN}:epoch"). A Store bound to it by
// InitCluster passes it to every script that grants, extends, releases or
// writes under a lease; the script compares it with the shard's copy and
// refuses, changing nothing, when they differ. That detects a Redis that
// lost its data (restart without persistence, FLUSHALL, failover to an empty
// replica) before a fencing counter that started again from zero hands out
// a token some paused owner still holds. The copy lives under the shard's
// own hash tag so that the check is part of the shard's one-slot script, and
// so that on a Redis Cluster a node that lost only some shards is caught too.

// epochBytes is the epoch's size: 128 random bits, so two clusters never
// share one.
const epochBytes = 16

// newEpoch returns a fresh random epoch in hex.
func newEpoch() (string, error) {
	b := make([]byte, epochBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("redisstore: new cluster epoch: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// bound returns the epoch the Store is bound to, or "" when InitCluster has
// not bound it (the scripts then skip the check).
func (s *Store) bound() string {
	if e := s.epoch.Load(); e != nil {
		return *e
	}
	return ""
}

// InitCluster implements store.Store. One script on the "{cluster}" keys
// reads the shard count and the epoch, creating them if absent (the first
// caller's count wins); one pipeline then makes sure every shard below the
// count holds a copy of the epoch (SET NX). A copy of another epoch is mixed
// state, two clusters' data in one keyspace, and fails with store.ErrEpoch.
//
// A Store that is already bound only reads: if the epoch it finds (or a
// shard's copy) is not its own, or is gone, it fails with store.ErrEpoch and
// creates nothing, so a process that lost its cluster cannot quietly start
// a new one under its old leases. It stays bound to the lost epoch; joining
// the new cluster takes a new Store (in practice, a restart).
func (s *Store) InitCluster(ctx context.Context, shards int) (int, error) {
	if shards < 1 {
		return 0, invalid("shard count %d", shards)
	}
	old := s.bound()
	fresh, err := newEpoch()
	if err != nil {
		return 0, err
	}
	create := "1"
	if old != "" {
		create = "0"
	}
	keys := []string{s.keys.shardCount(), s.keys.clusterEpoch()}
	reply, err := s.sc.initCluster.Run(ctx, s.c, keys, shards, fresh, create).StringSlice()
	if err != nil {
		return 0, fmt.Errorf("redisstore: init cluster: %w", err)
	}
	if len(reply) != 2 {
		return 0, fmt.Errorf("redisstore: init cluster: unexpected reply %q", reply)
	}
	countStr, epoch := reply[0], reply[1]
	if old != "" && (countStr == "" || epoch != old) {
		return 0, clusterEpochError(old, epoch)
	}
	n, err := strconv.Atoi(countStr)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("redisstore: init cluster: corrupt shard count %q", countStr)
	}
	if epoch == "" {
		return 0, errors.New("redisstore: init cluster: no epoch after creating it")
	}
	if err := s.ensureShardEpochs(ctx, n, epoch, old == ""); err != nil {
		return 0, err
	}
	if s.epoch.CompareAndSwap(nil, &epoch) {
		return n, nil
	}
	// Another InitCluster of this Store bound it meanwhile.
	if cur := s.bound(); cur != epoch {
		return 0, clusterEpochError(cur, epoch)
	}
	return n, nil
}

// ensureShardEpochs checks that shards 0..n-1 each hold a copy of epoch, in
// one pipeline. With create, a missing copy is written (SET NX GET);
// without, a missing copy is a lost shard.
func (s *Store) ensureShardEpochs(ctx context.Context, n int, epoch string, create bool) error {
	// SET NX GET replies as GET does: the old value, or nil if it set.
	cmds := make([]interface{ Result() (string, error) }, n)
	_, _ = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range cmds {
			if create {
				cmds[i] = p.SetArgs(ctx, s.keys.epoch(i), epoch, redis.SetArgs{Mode: "NX", Get: true})
			} else {
				cmds[i] = p.Get(ctx, s.keys.epoch(i))
			}
		}
		return nil
	})
	for i, cmd := range cmds {
		got, err := cmd.Result()
		switch {
		case errors.Is(err, redis.Nil) && create:
		case errors.Is(err, redis.Nil):
			return fmt.Errorf("redisstore: init cluster: %w", epochError(i, epoch, ""))
		case err != nil:
			return fmt.Errorf("redisstore: init cluster: shard %d epoch: %w", i, err)
		case got != epoch:
			return fmt.Errorf("redisstore: init cluster: %w", epochError(i, epoch, got))
		}
	}
	return nil
}

// epochError reports a shard whose epoch copy is not the one expected.
func epochError(shard int, want, got string) error {
	if got == "" {
		return fmt.Errorf("%w: shard %d holds no cluster epoch (its state was lost, or it is not below the cluster's shard count), want %s", store.ErrEpoch, shard, want)
	}
	return fmt.Errorf("%w: shard %d holds cluster epoch %s, want %s", store.ErrEpoch, shard, got, want)
}

// clusterEpochError reports a bound Store that found another cluster, or none.
func clusterEpochError(bound, found string) error {
	if found == "" {
		return fmt.Errorf("redisstore: init cluster: %w: the store holds no cluster, bound to epoch %s", store.ErrEpoch, bound)
	}
	return fmt.Errorf("redisstore: init cluster: %w: the store holds cluster epoch %s, bound to %s", store.ErrEpoch, found, bound)
}

// scriptEpochError turns a script's {"epoch", stored} reply into an error
// for shard, or returns nil when reply is not one.
func (s *Store) scriptEpochError(op string, shard int, reply []any) error {
	if len(reply) != 2 {
		return nil
	}
	if tag, _ := elem(reply, 0); tag != "epoch" {
		return nil
	}
	stored, _ := elem(reply, 1)
	return wrapErr(op, shard, epochError(shard, s.bound(), stored))
}
