package embedded_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cpgw/cpgw/store"
	"github.com/cpgw/cpgw/store/embedded"
)

// TestDurabilityCountsOpenReplicas: a change that asks for replicas brings
// every open replica up to date at once, whatever its lag, and counts them;
// fewer than asked is reported as a count (Apply) or a ReplicationError
// (grants, renewals), and closed replicas do not count.
func TestDurabilityCountsOpenReplicas(t *testing.T) {
	s, _ := newFake(t, embedded.Config{})
	r1 := newReplica(t, s, embedded.ReplicaConfig{Lag: time.Hour})
	r2 := newReplica(t, s, embedded.ReplicaConfig{Lag: time.Hour})
	closed := newReplica(t, s, embedded.ReplicaConfig{})
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	d := func(n int) store.Durability { return store.Durability{Replicas: n, Timeout: time.Second} }

	cases := []struct {
		name   string
		wanted int
		err    bool // leases: a ReplicationError of 2 acked
	}{
		{"AsManyAsOpen", 2, false},
		{"FewerThanOpen", 1, false},
		{"MoreThanOpen", 3, true},
	}
	for shard, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			wantErr := func(what string, err error) {
				t.Helper()
				var re *store.ReplicationError
				switch {
				case !tc.err && err != nil:
					t.Fatalf("%s: %v, want nil", what, err)
				case tc.err && (!errors.As(err, &re) || *re != store.ReplicationError{Wanted: tc.wanted, Acked: 2}):
					t.Fatalf("%s: %v, want a ReplicationError of 2/%d", what, err, tc.wanted)
				}
			}
			req := leaseReq(shard, "a", time.Minute)
			req.Durability = d(tc.wanted)
			l, err := s.AcquireLease(ctx, req)
			wantErr("AcquireLease", err)
			if l.Token != 1 {
				t.Fatalf("AcquireLease = %+v; want the grant whatever the replicas", l)
			}
			for _, r := range []*embedded.Replica{r1, r2} {
				if st, err := r.Leases(ctx, []int{shard}); err != nil || !st[0].Held || st[0].Token != 1 {
					t.Fatalf("replica lease after a durable grant = %+v, %v; want it shown despite the lag", st, err)
				}
			}

			rs, err := s.Apply(ctx, store.Batch{Shard: shard, Token: l.Token, Now: t0, Durability: d(tc.wanted),
				Writes: []store.Write{put("ns", "a", `{}`), del("ns", "absent")}})
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range rs {
				if r.ReplicasAcked != 2 {
					t.Fatalf("write %d: ReplicasAcked %d, want 2 (the open replicas)", i, r.ReplicasAcked)
				}
			}
			for _, r := range []*embedded.Replica{r1, r2} {
				if !visible(t, r, shard, "ns", "a") {
					t.Fatal("a durable write is not on a replica at once")
				}
			}

			errs, err := s.RenewLeases(ctx, []store.LeaseRenewal{{Shard: shard, Owner: "a", Token: l.Token, TTL: time.Minute, Durability: d(tc.wanted)}})
			wantErr("RenewLeases", err)
			if err == nil && (len(errs) != 1 || errs[0] != nil) {
				t.Fatalf("RenewLeases = %v", errs)
			}
		})
	}

	// Without Durability the lag holds again.
	l := acquire(t, s, 10, "a", time.Minute)
	apply(t, s, 10, l.Token, put("ns", "lagging", `{}`))
	if visible(t, r1, 10, "ns", "lagging") {
		t.Fatal("a write without Durability is on a replica with an hour's lag")
	}
	if err := r2.Close(); err != nil {
		t.Fatal(err)
	}
	rs, err := s.Apply(t.Context(), store.Batch{Shard: 10, Token: l.Token, Now: t0, Durability: d(1), Writes: []store.Write{put("ns", "b", `{}`)}})
	if err != nil || rs[0].ReplicasAcked != 1 {
		t.Fatalf("Apply after closing a replica = %+v, %v; want 1 replica", rs, err)
	}
	if !visible(t, r1, 10, "ns", "lagging") {
		t.Fatal("the durable write did not bring the earlier one along")
	}
}

// TestDurabilityNoReplicas: a store without replicas acknowledges nothing.
func TestDurabilityNoReplicas(t *testing.T) {
	s, _ := newFake(t, embedded.Config{})
	req := leaseReq(0, "a", time.Minute)
	req.Durability = store.Durability{Replicas: 1, Timeout: time.Millisecond}
	l, err := s.AcquireLease(t.Context(), req)
	if !errors.Is(err, store.ErrNotReplicated) || l.Token != 1 {
		t.Fatalf("AcquireLease = %+v, %v; want the grant and ErrNotReplicated", l, err)
	}
}

// TestDurabilityConcurrentReads: durable writes sync replicas while other
// goroutines read them; run with -race.
func TestDurabilityConcurrentReads(t *testing.T) {
	s, err := embedded.New(embedded.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	r := newReplica(t, s, embedded.ReplicaConfig{Lag: time.Hour})
	l := acquire(t, s, 0, "a", time.Minute)
	d := store.Durability{Replicas: 1, Timeout: time.Second}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, _, err := r.List(t.Context(), 0, "ns"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for i := range 200 {
		rs, err := s.Apply(t.Context(), store.Batch{Shard: 0, Token: l.Token, Now: t0, Durability: d, Writes: []store.Write{put("ns", "obj", `{}`)}})
		if err != nil || rs[0].ReplicasAcked != 1 {
			t.Fatalf("Apply %d = %+v, %v", i, rs, err)
		}
		if rev, err := r.Revision(t.Context(), 0); err != nil || rev != uint64(i+1) {
			t.Fatalf("replica revision after durable write %d = %d, %v", i+1, rev, err)
		}
	}
	close(stop)
	wg.Wait()
}

// TestAttachedReplicas: open replicas count, closed ones stop counting, and
// a resolved majority is acknowledged by them.
func TestAttachedReplicas(t *testing.T) {
	s, _ := newFake(t, embedded.Config{})
	count := func() int {
		t.Helper()
		n, err := s.AttachedReplicas(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 0 {
		t.Fatalf("AttachedReplicas = %d without replicas, want 0", n)
	}
	r1 := newReplica(t, s, embedded.ReplicaConfig{Lag: time.Hour})
	newReplica(t, s, embedded.ReplicaConfig{})
	newReplica(t, s, embedded.ReplicaConfig{})
	if n := count(); n != 3 {
		t.Fatalf("AttachedReplicas = %d with 3 open, want 3", n)
	}
	if err := r1.Close(); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Fatalf("AttachedReplicas = %d after closing one of 3, want 2", n)
	}

	d := store.Durability{Majority: true, Timeout: time.Second}.Resolve(count())
	tok := acquire(t, s, 0, "a", time.Minute).Token
	rs, err := s.Apply(t.Context(), store.Batch{Shard: 0, Token: tok, Now: t0, Durability: d, Writes: []store.Write{put("ns", "a", `{}`)}})
	if err != nil || rs[0].ReplicasAcked < d.Replicas {
		t.Fatalf("Apply with a majority of %d: %+v, %v", d.Replicas, rs, err)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AttachedReplicas(t.Context()); !errors.Is(err, embedded.ErrClosed) {
		t.Fatalf("AttachedReplicas on a closed store: %v, want ErrClosed", err)
	}
}
