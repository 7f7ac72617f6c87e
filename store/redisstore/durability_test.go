package redisstore_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cpgw/cpgw/internal/redisserver"
	"github.com/cpgw/cpgw/internal/redistest"
	"github.com/cpgw/cpgw/store"
)

// TestDurabilityWait: with a replica, WAIT 1 is met by Apply, AcquireLease
// and RenewLeases; with none, WAIT 1 runs out after its timeout, Apply
// reports 0 and applies, the grant comes with ErrNotReplicated, and the
// renewal call fails with it.
func TestDurabilityWait(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name     string
		replicas int
		d        store.Durability
		acked    int
	}{
		{"OneReplica", 1, store.Durability{Replicas: 1, Timeout: 2 * time.Second}, 1},
		{"NoReplica", 0, store.Durability{Replicas: 1, Timeout: 50 * time.Millisecond}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t, redistest.Start(t, tc.replicas).Client(t))
			wantErr := func(what string, err error) {
				t.Helper()
				if tc.acked >= tc.d.Replicas {
					if err != nil {
						t.Fatalf("%s: %v, want nil", what, err)
					}
					return
				}
				var re *store.ReplicationError
				if !errors.Is(err, store.ErrNotReplicated) || !errors.As(err, &re) || *re != (store.ReplicationError{Wanted: 1, Acked: tc.acked}) {
					t.Fatalf("%s: %v, want a ReplicationError of %d/1", what, err, tc.acked)
				}
			}

			l, err := s.AcquireLease(ctx, store.LeaseRequest{Shard: 0, Owner: "coord-a", TTL: longTTL, Durability: tc.d})
			wantErr("AcquireLease", err)
			if l.Token != 1 || l.Owner != "coord-a" {
				t.Fatalf("AcquireLease = %+v; want the grant whatever the replicas", l)
			}

			rs, err := s.Apply(ctx, store.Batch{Shard: 0, Token: l.Token, Now: testNow, Durability: tc.d,
				Writes: []store.Write{put("ns", "a", `{}`), put("ns", "b", `{}`)}})
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range rs {
				if r.Err != nil || r.ReplicasAcked != tc.acked {
					t.Fatalf("write %d: Err %v, ReplicasAcked %d; want nil, %d", i, r.Err, r.ReplicasAcked, tc.acked)
				}
			}

			errs, err := s.RenewLeases(ctx, []store.LeaseRenewal{{Shard: 0, Owner: "coord-a", Token: l.Token, TTL: longTTL, Durability: tc.d}})
			wantErr("RenewLeases", err)
			if err == nil && (len(errs) != 1 || errs[0] != nil) {
				t.Fatalf("RenewLeases = %v", errs)
			}
		})
	}
}

// TestDurabilityOneRoundTrip: a durable Apply, AcquireLease or RenewLeases
// is one pipeline, the script(s) and then one WAIT, and no single command.
func TestDurabilityOneRoundTrip(t *testing.T) {
	ctx := context.Background()
	c := redistest.Start(t, 1).Client(t)
	s := newStore(t, c)
	d := store.Durability{Replicas: 1, Timeout: 2 * time.Second}
	tok := hold(t, s, 0)
	renewals := make([]store.LeaseRenewal, 3)
	for i := range renewals {
		renewals[i] = store.LeaseRenewal{Shard: i + 1, Owner: "coord-a", Token: hold(t, s, i+1), TTL: longTTL, Durability: d}
	}
	h := &countingHook{}
	c.AddHook(h)
	cases := []struct {
		name      string
		run       func() error
		wantPiped int64
	}{
		{"Apply", func() error {
			_, err := s.Apply(ctx, store.Batch{Shard: 0, Token: tok, Now: testNow, Durability: d, Writes: []store.Write{put("ns", "a", `{}`)}})
			return err
		}, 2},
		{"AcquireLease", func() error {
			_, err := s.AcquireLease(ctx, store.LeaseRequest{Shard: 9, Owner: "coord-a", TTL: longTTL, Durability: d})
			if isHeld(err) {
				err = nil // the warm-up granted it
			}
			return err
		}, 2},
		{"RenewLeases", func() error {
			_, err := s.RenewLeases(ctx, renewals)
			return err
		}, 4},
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
			if got := [3]int64{h.single.Load(), h.pipelines.Load(), h.pipelined.Load()}; got != [3]int64{0, 1, tc.wantPiped} {
				t.Fatalf("sent %d single commands and %d pipelines of %d commands; want 0, 1, %d", got[0], got[1], got[2], tc.wantPiped)
			}
		})
	}
}

// TestDurabilityScriptCacheFlushed: the NOSCRIPT fallback works inside the
// durable pipeline: the script is loaded, the call re-run with its WAIT, and
// the count is right.
func TestDurabilityScriptCacheFlushed(t *testing.T) {
	ctx := context.Background()
	c := redistest.Start(t, 1).Client(t)
	s := newStore(t, c)
	d := store.Durability{Replicas: 1, Timeout: 2 * time.Second}
	tok := hold(t, s, 0)
	h := &countingHook{}
	c.AddHook(h)
	ops := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"Apply", func(t *testing.T) {
			rs, err := s.Apply(ctx, store.Batch{Shard: 0, Token: tok, Now: testNow, Durability: d, Writes: []store.Write{put("ns", "a", `{}`)}})
			if err != nil || rs[0].Err != nil || rs[0].ReplicasAcked != 1 {
				t.Fatalf("Apply = %+v, %v; want applied, 1 replica", rs, err)
			}
		}},
		{"AcquireLease", func(t *testing.T) {
			l, err := s.AcquireLease(ctx, store.LeaseRequest{Shard: 1, Owner: "x", TTL: longTTL, Durability: d})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.ReleaseLease(ctx, 1, "x", l.Token); err != nil {
				t.Fatal(err)
			}
		}},
		{"RenewLeases", func(t *testing.T) {
			errs, err := s.RenewLeases(ctx, []store.LeaseRenewal{{Shard: 0, Owner: "coord-a", Token: tok, TTL: longTTL, Durability: d}})
			if err != nil || errs[0] != nil {
				t.Fatalf("RenewLeases = %v, %v", errs, err)
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
			if !h.sent("script load") {
				t.Fatal("after SCRIPT FLUSH no SCRIPT LOAD was sent; the fallback was not exercised")
			}
		})
	}
}

// TestDurabilityWaitFitsReadTimeout: go-redis reads a pipeline's replies
// under one ReadTimeout, so a WAIT longer than it would fail the call after
// the write (and go-redis could resend it: a second apply). The wait is cut
// to fit instead: the call returns in time, with the count it got, and the
// write is applied once.
func TestDurabilityWaitFitsReadTimeout(t *testing.T) {
	ctx := context.Background()
	rs := redistest.Start(t, 0)
	c := redis.NewClient(&redis.Options{Addr: rs.Primary.Addr, ReadTimeout: 600 * time.Millisecond})
	t.Cleanup(func() { c.Close() })
	s := newStore(t, c)
	d := store.Durability{Replicas: 1, Timeout: 5 * time.Second}

	start := time.Now()
	l, err := s.AcquireLease(ctx, store.LeaseRequest{Shard: 0, Owner: "coord-a", TTL: longTTL, Durability: d})
	if !errors.Is(err, store.ErrNotReplicated) || l.Token != 1 {
		t.Fatalf("AcquireLease = %+v, %v; want the grant and ErrNotReplicated", l, err)
	}
	res, err := s.Apply(ctx, store.Batch{Shard: 0, Token: l.Token, Now: testNow, Durability: d, Writes: []store.Write{put("ns", "a", `{}`)}})
	if err != nil || res[0].Err != nil || res[0].ReplicasAcked != 0 {
		t.Fatalf("Apply = %+v, %v; want applied with 0 replicas", res, err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("two durable calls took %s; the wait was not cut to the 600ms ReadTimeout", took)
	}
	if rev, err := s.Revision(ctx, 0); err != nil || rev != 1 {
		t.Fatalf("Revision = %d, %v; want 1 (applied exactly once)", rev, err)
	}
}

// TestDurableReplayWaitsForTheOriginal: a replay made on a connection that
// never wrote must not borrow a WAIT that covers nothing. Store a writes
// while the replica is stalled (0 acknowledgements); store b, on another
// client, replays the write, still during the stall, and must also see 0,
// not the replica's acknowledgement of an older offset; once the replica
// resumes, the replay sees it.
func TestDurableReplayWaitsForTheOriginal(t *testing.T) {
	ctx := context.Background()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	opts := redisserver.Options{Dir: t.TempDir(), Args: []string{"--enable-debug-command", "yes"}}
	primary, err := redisserver.Start(sctx, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(primary.Stop)
	replica, err := redisserver.Start(sctx, opts, primary)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(replica.Stop)
	if err := redisserver.WaitSynced(sctx, primary, replica); err != nil {
		t.Fatal(err)
	}
	ca, cb, cr := primary.Client(), primary.Client(), replica.Client()
	t.Cleanup(func() { ca.Close(); cb.Close(); cr.Close() })
	a, b := newStore(t, ca), newStore(t, cb)
	tok := hold(t, a, 0)
	short := store.Durability{Replicas: 1, Timeout: 100 * time.Millisecond}
	w := keyed(put("ns", "obj", `{}`), "req-1", "fp-1")
	batch := func(d store.Durability) store.Batch {
		return store.Batch{Shard: 0, Token: tok, Now: testNow, Durability: d, Writes: []store.Write{w}}
	}

	// Stall the replica's event loop: it stays connected but acknowledges
	// nothing until the sleep ends.
	var wg sync.WaitGroup
	wg.Go(func() { _ = cr.Do(ctx, "DEBUG", "SLEEP", "1.5").Err() })
	time.Sleep(200 * time.Millisecond)

	first, err := a.Apply(ctx, batch(short))
	if err != nil || first[0].Err != nil || first[0].Replayed {
		t.Fatalf("first Apply = %+v, %v", first, err)
	}
	if first[0].ReplicasAcked != 0 {
		t.Skipf("the replica acknowledged during its stall (%d); the stall did not start in time", first[0].ReplicasAcked)
	}
	replay, err := b.Apply(ctx, batch(short))
	if err != nil || !replay[0].Replayed {
		t.Fatalf("replay = %+v, %v; want a replay", replay, err)
	}
	if replay[0].ReplicasAcked != 0 {
		t.Fatalf("replay during the stall: ReplicasAcked %d, want 0 (the replica never acknowledged the original)", replay[0].ReplicasAcked)
	}
	wg.Wait()
	replay, err = b.Apply(ctx, batch(store.Durability{Replicas: 1, Timeout: 2 * time.Second}))
	if err != nil || !replay[0].Replayed || replay[0].ReplicasAcked != 1 {
		t.Fatalf("replay after the stall = %+v, %v; want replayed, 1 replica", replay, err)
	}
	// Rewriting the record for the WAIT kept it as it was, TTL included.
	key := "cpgw:{s0}:idem:ns:req-1"
	if v, err := ca.Get(ctx, key).Result(); err != nil || !strings.HasPrefix(v, "C "+strconv.FormatUint(first[0].Object.Version, 10)+" ") {
		t.Fatalf("record after the replays = %q, %v", v, err)
	}
	if ttl, err := ca.PTTL(ctx, key).Result(); err != nil || ttl <= 0 || ttl > store.DefaultIdempotencyTTL {
		t.Fatalf("record PTTL after the replays = %s, %v; want its TTL kept", ttl, err)
	}
}
