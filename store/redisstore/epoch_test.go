package redisstore_test

import (
	"context"
	"errors"
	"maps"
	"regexp"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/cpgw/cpgw/fencing"
	"github.com/cpgw/cpgw/internal/redistest"
	"github.com/cpgw/cpgw/store"
	"github.com/cpgw/cpgw/store/redisstore"
)

// newStore returns a Store on c with the default config.
func newStore(t *testing.T, c redis.UniversalClient) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(c, redisstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func initCluster(t *testing.T, s store.Store, shards int) int {
	t.Helper()
	n, err := s.InitCluster(context.Background(), shards)
	if err != nil {
		t.Fatalf("InitCluster(%d): %v", shards, err)
	}
	return n
}

// fencedOps are the calls a bound Store checks the epoch on, each on shard
// under tok (the token coord-a holds or held there).
func fencedOps(s store.Store, shard int, tok fencing.Token) []struct {
	name string
	call func(ctx context.Context) error
} {
	return []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"AcquireLease", func(ctx context.Context) error {
			_, err := s.AcquireLease(ctx, store.LeaseRequest{Shard: shard, Owner: "coord-b", TTL: longTTL})
			return err
		}},
		{"RenewLeases", func(ctx context.Context) error {
			errs, err := s.RenewLeases(ctx, []store.LeaseRenewal{{Shard: shard, Owner: "coord-a", Token: tok, TTL: longTTL}})
			if err == nil && errs[0] != nil {
				return errors.New("per-renewal error instead of a failed call: " + errs[0].Error())
			}
			return err
		}},
		{"ReleaseLease", func(ctx context.Context) error { return s.ReleaseLease(ctx, shard, "coord-a", tok) }},
		{"Apply", func(ctx context.Context) error {
			_, err := s.Apply(ctx, store.Batch{Shard: shard, Token: tok, Now: testNow, Writes: []store.Write{put("ns", "after", `{}`)}})
			return err
		}},
	}
}

// TestEpochLostState empties the server under a bound Store: every fenced
// call then fails with ErrEpoch and writes nothing (in particular no fencing
// counter starting again from zero), the Store cannot bind to a new cluster,
// and only a new Store joins the one that gets created, while the old Store
// keeps refusing.
func TestEpochLostState(t *testing.T) {
	ctx := context.Background()
	c := redistest.Start(t, 0).Client(t)
	old := newStore(t, c)
	if n := initCluster(t, old, 8); n != 8 {
		t.Fatalf("InitCluster(8) = %d", n)
	}
	tok := hold(t, old, 3)
	mustApply(t, old, 3, tok, put("ns", "before", `{}`))

	if err := c.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for _, op := range fencedOps(old, 3, tok) {
		t.Run("Lost/"+op.name, func(t *testing.T) {
			if err := op.call(ctx); !errors.Is(err, store.ErrEpoch) {
				t.Fatalf("%s after FLUSHALL = %v, want ErrEpoch", op.name, err)
			}
			if keys := allKeys(t, c); len(keys) != 0 {
				t.Fatalf("%s refused but wrote %v", op.name, keys)
			}
		})
	}
	if n, err := old.InitCluster(ctx, 8); !errors.Is(err, store.ErrEpoch) {
		t.Fatalf("InitCluster of the bound Store on an empty server = %d, %v; want ErrEpoch", n, err)
	}
	if keys := allKeys(t, c); len(keys) != 0 {
		t.Fatalf("the bound Store's InitCluster created %v; it must not start a new cluster", keys)
	}

	fresh := newStore(t, c)
	if n := initCluster(t, fresh, 16); n != 16 {
		t.Fatalf("InitCluster(16) of a new Store = %d, want 16 (a new cluster)", n)
	}
	l, err := fresh.AcquireLease(ctx, store.LeaseRequest{Shard: 3, Owner: "coord-b", TTL: longTTL})
	if err != nil || l.Token != 1 {
		t.Fatalf("AcquireLease on the new cluster = %+v, %v; want token 1", l, err)
	}
	mustApply(t, fresh, 3, l.Token, put("ns", "new", `{}`))

	before := dumpAll(t, c)
	for _, op := range fencedOps(old, 3, tok) {
		t.Run("Replaced/"+op.name, func(t *testing.T) {
			if err := op.call(ctx); !errors.Is(err, store.ErrEpoch) {
				t.Fatalf("%s of the old Store on the new cluster = %v, want ErrEpoch", op.name, err)
			}
		})
	}
	if _, err := old.InitCluster(ctx, 16); !errors.Is(err, store.ErrEpoch) {
		t.Fatalf("InitCluster of the old Store on the new cluster = %v, want ErrEpoch", err)
	}
	if after := dumpAll(t, c); !maps.Equal(before, after) {
		t.Fatalf("the old Store changed the new cluster:\nbefore %v\nafter  %v", before, after)
	}
	// The new Store is unaffected.
	if errs, err := fresh.RenewLeases(ctx, []store.LeaseRenewal{{Shard: 3, Owner: "coord-b", Token: l.Token, TTL: longTTL}}); err != nil || errs[0] != nil {
		t.Fatalf("RenewLeases of the new Store = %v, %v", errs, err)
	}
}

// TestEpochKeys: InitCluster creates one random epoch and a copy on every
// shard below the count; another Store finds and binds to the same one.
func TestEpochKeys(t *testing.T) {
	ctx := context.Background()
	c := redistest.Start(t, 0).Client(t)
	a, b := newStore(t, c), newStore(t, c)
	initCluster(t, a, 4)
	epoch, err := c.Get(ctx, "cpgw:{cluster}:epoch").Result()
	if err != nil || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(epoch) {
		t.Fatalf("cluster epoch = %q, %v; want 32 hex digits", epoch, err)
	}
	for _, k := range []string{"cpgw:{s0}:epoch", "cpgw:{s1}:epoch", "cpgw:{s2}:epoch", "cpgw:{s3}:epoch"} {
		if v, err := c.Get(ctx, k).Result(); err != nil || v != epoch {
			t.Fatalf("%s = %q, %v; want %s", k, v, err, epoch)
		}
	}
	if n, err := c.Exists(ctx, "cpgw:{s4}:epoch").Result(); err != nil || n != 0 {
		t.Fatalf("shard 4 of a 4-shard cluster has an epoch copy (%d, %v)", n, err)
	}
	if n := initCluster(t, b, 64); n != 4 {
		t.Fatalf("second InitCluster = %d, want the recorded 4", n)
	}
	if v, _ := c.Get(ctx, "cpgw:{cluster}:epoch").Result(); v != epoch {
		t.Fatalf("the second InitCluster replaced the epoch: %s, then %s", epoch, v)
	}
	// Both are bound to it and serve.
	tok := hold(t, a, 1)
	mustApply(t, b, 1, tok, put("ns", "obj", `{}`))
	// A bound Store serves only shards with an epoch copy, that is, below
	// the count.
	if _, err := a.AcquireLease(ctx, store.LeaseRequest{Shard: 4, Owner: "x", TTL: longTTL}); !errors.Is(err, store.ErrEpoch) {
		t.Fatalf("AcquireLease(shard 4) of a bound Store on a 4-shard cluster = %v, want ErrEpoch", err)
	}
}

// TestEpochLegacyCluster: a cluster recorded before epochs existed (a shard
// count, no epoch) gets an epoch and keeps its count.
func TestEpochLegacyCluster(t *testing.T) {
	ctx := context.Background()
	c := redistest.Start(t, 0).Client(t)
	if err := c.Set(ctx, "cpgw:{cluster}:shards", "8", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, c)
	tok := hold(t, s, 7) // state from before: a counter, a lease
	if n := initCluster(t, s, 64); n != 8 {
		t.Fatalf("InitCluster on a legacy cluster = %d, want its 8", n)
	}
	epoch, err := c.Get(ctx, "cpgw:{cluster}:epoch").Result()
	if err != nil || epoch == "" {
		t.Fatalf("no epoch created for a legacy cluster: %q, %v", epoch, err)
	}
	if v, err := c.Get(ctx, "cpgw:{s7}:epoch").Result(); err != nil || v != epoch {
		t.Fatalf("shard 7 epoch copy = %q, %v; want %s", v, err, epoch)
	}
	// The lease from before the epoch still writes and renews.
	mustApply(t, s, 7, tok, put("ns", "obj", `{}`))
}

// TestEpochMixedState: a shard holding another cluster's epoch is two
// clusters' data in one keyspace. InitCluster refuses to bind, and a bound
// Store refuses that shard while serving the others.
func TestEpochMixedState(t *testing.T) {
	ctx := context.Background()
	c := redistest.Start(t, 0).Client(t)
	a := newStore(t, c)
	initCluster(t, a, 4)
	tok := hold(t, a, 2)
	if err := c.Set(ctx, "cpgw:{s2}:epoch", "00000000000000000000000000000000", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := newStore(t, c).InitCluster(ctx, 4); !errors.Is(err, store.ErrEpoch) {
		t.Fatalf("InitCluster on mixed state = %v, want ErrEpoch", err)
	}
	if _, err := a.InitCluster(ctx, 4); !errors.Is(err, store.ErrEpoch) {
		t.Fatalf("InitCluster of a bound Store on mixed state = %v, want ErrEpoch", err)
	}
	for _, op := range fencedOps(a, 2, tok) {
		if err := op.call(ctx); !errors.Is(err, store.ErrEpoch) {
			t.Fatalf("%s on the foreign shard = %v, want ErrEpoch", op.name, err)
		}
	}
	mustApply(t, a, 1, hold(t, a, 1), put("ns", "obj", `{}`))
}

// TestEpochShardLost: one shard's keys vanish (a Redis Cluster node that
// restarted empty) while the cluster keys survive. The bound Store refuses
// that shard and does not recreate its epoch copy, so the loss stays
// visible.
func TestEpochShardLost(t *testing.T) {
	ctx := context.Background()
	c := redistest.Start(t, 0).Client(t)
	s := newStore(t, c)
	initCluster(t, s, 4)
	tok := hold(t, s, 1)
	for _, k := range []string{"cpgw:{s1}:epoch", "cpgw:{s1}:token", "cpgw:{s1}:lease"} {
		if err := c.Del(ctx, k).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for _, op := range fencedOps(s, 1, tok) {
		if err := op.call(ctx); !errors.Is(err, store.ErrEpoch) {
			t.Fatalf("%s on the lost shard = %v, want ErrEpoch", op.name, err)
		}
	}
	if _, err := s.InitCluster(ctx, 4); !errors.Is(err, store.ErrEpoch) {
		t.Fatalf("InitCluster of the bound Store with a lost shard = %v, want ErrEpoch", err)
	}
	if n, err := c.Exists(ctx, "cpgw:{s1}:epoch", "cpgw:{s1}:token").Result(); err != nil || n != 0 {
		t.Fatalf("the lost shard's keys were recreated (%d, %v)", n, err)
	}
	mustApply(t, s, 0, hold(t, s, 0), put("ns", "obj", `{}`))
}
