package redisstore_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cpgw/cpgw/fencing"
	"github.com/cpgw/cpgw/internal/redistest"
	"github.com/cpgw/cpgw/store"
	"github.com/cpgw/cpgw/store/redisstore"
)

// TestScriptCacheFlushed: every script-backed call still works after the
// server forgets its scripts (SCRIPT FLUSH here; a restart or a failover to a
// replica that never loaded them in production), both the single calls and
// the pipelined ones, which need their own reload path. Each operation runs
// once to warm the cache, then again after a flush.
func TestScriptCacheFlushed(t *testing.T) {
	ctx := context.Background()
	backends := []struct {
		name  string
		start func(t *testing.T) redis.UniversalClient
	}{
		{"Single", func(t *testing.T) redis.UniversalClient { return redistest.Start(t, 0).Client(t) }},
		{"Cluster", func(t *testing.T) redis.UniversalClient { c, _ := startCluster(t); return c }},
	}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			c := be.start(t)
			s, err := redisstore.New(c, redisstore.Config{})
			if err != nil {
				t.Fatal(err)
			}
			tok := hold(t, s, 0)
			h := &countingHook{}
			c.AddHook(h)
			// fallback is what the second run must send once the cache is
			// empty: EVAL (or EVAL_RO) for single calls, SCRIPT LOAD before
			// re-running a pipeline.
			ops := []struct {
				name, fallback string
				run            func(t *testing.T)
			}{
				{"Apply", "eval", func(t *testing.T) {
					r := mustApply(t, s, 0, tok, put("ns", "obj", `{}`))[0]
					if got, err := s.Get(ctx, 0, "ns", "obj"); err != nil || got.Version != r.Object.Version {
						t.Fatalf("Get after Apply = %+v, %v", got, err)
					}
				}},
				{"List", "eval_ro", func(t *testing.T) {
					if objs, rev, err := s.List(ctx, 0, "ns"); err != nil || len(objs) != 1 || rev == 0 {
						t.Fatalf("List = %+v, %d, %v", objs, rev, err)
					}
				}},
				{"AcquireLease", "eval", func(t *testing.T) {
					_, err := s.AcquireLease(ctx, store.LeaseRequest{Shard: 1, Owner: "x", TTL: time.Second})
					if err != nil && !isHeld(err) {
						t.Fatal(err)
					}
				}},
				{"RenewLeases", "script load", func(t *testing.T) {
					errs, err := s.RenewLeases(ctx, []store.LeaseRenewal{
						{Shard: 0, Owner: "coord-a", Token: tok, TTL: longTTL},
						{Shard: 0, Owner: "coord-b", Token: tok, TTL: longTTL},
					})
					if err != nil || errs[0] != nil || errs[1] != store.ErrLeaseLost {
						t.Fatalf("RenewLeases = %v, %v; want [nil ErrLeaseLost], nil", errs, err)
					}
				}},
				{"Leases", "script load", func(t *testing.T) {
					ls, err := s.Leases(ctx, []int{0, 2})
					if err != nil || !ls[0].Held || ls[0].Token != tok || ls[1].Held {
						t.Fatalf("Leases = %+v, %v", ls, err)
					}
				}},
				{"Placement", "script load", func(t *testing.T) {
					_, _, ls, err := s.Placement(ctx, []int{0, 2})
					if err != nil || !ls[0].Held || ls[0].Token != tok || ls[1].Held {
						t.Fatalf("Placement = %+v, %v", ls, err)
					}
				}},
				{"ReleaseLease", "eval", func(t *testing.T) {
					if err := s.ReleaseLease(ctx, 3, "nobody", 1); err != store.ErrLeaseLost {
						t.Fatalf("ReleaseLease = %v, want ErrLeaseLost", err)
					}
				}},
				{"Heartbeat", "eval", func(t *testing.T) {
					if err := s.Heartbeat(ctx, store.Member{ID: "m", Region: "r"}, time.Minute); err != nil {
						t.Fatal(err)
					}
				}},
				{"Members", "eval_ro", func(t *testing.T) {
					if ms, err := s.Members(ctx); err != nil || len(ms) != 1 {
						t.Fatalf("Members = %+v, %v", ms, err)
					}
				}},
				{"PutNamespace", "eval", func(t *testing.T) {
					cur, err := s.GetNamespace(ctx, "ns")
					if err != nil && !errors.Is(err, store.ErrNotFound) {
						t.Fatal(err)
					}
					if _, err := s.PutNamespace(ctx, store.Namespace{Name: "ns", Shard: 1}, cur.Version); err != nil {
						t.Fatal(err)
					}
				}},
			}
			for _, op := range ops {
				t.Run(op.name, func(t *testing.T) {
					op.run(t)
					if err := c.ScriptFlush(ctx).Err(); err != nil {
						t.Fatal(err)
					}
					h.reset()
					op.run(t)
					if !h.sent(op.fallback) {
						t.Fatalf("after SCRIPT FLUSH no %q was sent; the fallback was not exercised", op.fallback)
					}
				})
			}
		})
	}
}

func isHeld(err error) bool {
	var he *store.HeldError
	return errors.As(err, &he)
}

// TestOneRoundTrip counts what the client sends: after a warm-up that loads
// the scripts, renewing or reading 1,000 leases is one pipeline and no single
// command, and a batch of MaxBatch writes is one single command.
func TestOneRoundTrip(t *testing.T) {
	ctx := context.Background()
	c := redistest.Start(t, 0).Client(t)
	s, err := redisstore.New(c, redisstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	renewals := make([]store.LeaseRenewal, n)
	shards := make([]int, n)
	for i := range renewals {
		shards[i] = i
		renewals[i] = store.LeaseRenewal{Shard: i, Owner: "coord-a", Token: hold(t, s, i), TTL: longTTL}
	}
	writes := make([]store.Write, store.MaxBatch)
	for i := range writes {
		writes[i] = put("ns", "obj-"+strconv.Itoa(i), `{}`)
	}
	h := &countingHook{}
	c.AddHook(h)

	cases := []struct {
		name                             string
		run                              func() error
		wantSingle, wantPipes, wantPiped int64
	}{
		{"RenewLeases", func() error {
			errs, err := s.RenewLeases(ctx, renewals)
			for i, e := range errs {
				if e != nil {
					t.Fatalf("renewal %d: %v", i, e)
				}
			}
			return err
		}, 0, 1, n},
		{"Leases", func() error {
			ls, err := s.Leases(ctx, shards)
			for i, l := range ls {
				if !l.Held {
					t.Fatalf("lease %d not held: %+v", i, l)
				}
			}
			return err
		}, 0, 1, n},
		{"ApplyMaxBatch", func() error {
			_, err := s.Apply(ctx, store.Batch{Shard: 0, Token: renewals[0].Token, Now: testNow, Writes: writes})
			return err
		}, 1, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(); err != nil { // warm-up: loads the script
				t.Fatal(err)
			}
			h.reset()
			if err := tc.run(); err != nil {
				t.Fatal(err)
			}
			if got := [3]int64{h.single.Load(), h.pipelines.Load(), h.pipelined.Load()}; got != [3]int64{tc.wantSingle, tc.wantPipes, tc.wantPiped} {
				t.Fatalf("sent %d single commands and %d pipelines of %d commands; want %d, %d, %d",
					got[0], got[1], got[2], tc.wantSingle, tc.wantPipes, tc.wantPiped)
			}
		})
	}
}

// TestRenewLeasesMixed: invalid renewals fail on their own with ErrInvalid
// and do not stop the valid ones in the same call.
func TestRenewLeasesMixed(t *testing.T) {
	ctx := context.Background()
	s, _ := startStore(t, redisstore.Config{})
	tok := hold(t, s, 0)
	errs, err := s.RenewLeases(ctx, []store.LeaseRenewal{
		{Shard: -1, Owner: "coord-a", Token: tok, TTL: longTTL},
		{Shard: 0, Owner: "coord-a", Token: tok, TTL: 2 * longTTL},
		{Shard: 0, Owner: "", Token: tok, TTL: longTTL},
		{Shard: 0, Owner: "coord-a", Token: tok + 1, TTL: longTTL},
		{Shard: 0, Owner: "coord-a", Token: tok, TTL: 0},
		{Shard: 7, Owner: "coord-a", Token: fencing.Token(1), TTL: longTTL},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []error{store.ErrInvalid, nil, store.ErrInvalid, store.ErrLeaseLost, store.ErrInvalid, store.ErrLeaseLost}
	for i := range want {
		if (want[i] == nil) != (errs[i] == nil) || (want[i] != nil && !errors.Is(errs[i], want[i])) {
			t.Errorf("renewal %d: %v, want %v", i, errs[i], want[i])
		}
	}
	ls, err := s.Leases(ctx, []int{0})
	if err != nil {
		t.Fatal(err)
	}
	if ls[0].Lease.TTL != 2*longTTL || ls[0].Remaining <= longTTL {
		t.Fatalf("lease after renewal = %+v, want TTL %s and more than %s left", ls[0], 2*longTTL, longTTL)
	}
}
