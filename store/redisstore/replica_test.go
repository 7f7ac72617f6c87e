package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cpgw/cpgw/internal/redistest"
	"github.com/cpgw/cpgw/store"
	"github.com/cpgw/cpgw/store/redisstore"
)

// TestReadsOnReplica: a Store on a client of a Redis replica serves the
// whole read side of the contract (read-only commands and "no-writes"
// scripts only), and shows what the primary shows once replication caught up.
func TestReadsOnReplica(t *testing.T) {
	ctx := context.Background()
	rs := redistest.Start(t, 1)
	pc := rs.Client(t)
	rc := rs.Replicas[0].Client()
	t.Cleanup(func() { rc.Close() })
	primary, err := redisstore.New(pc, redisstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	replica, err := redisstore.New(rc, redisstore.Config{})
	if err != nil {
		t.Fatal(err)
	}

	tok := hold(t, primary, 4)
	mustApply(t, primary, 4, tok, put("ns", "a", `{"v":1}`), put("ns", "b", `{}`), put("other", "c", `{}`))
	if _, err := primary.PutNamespace(ctx, store.Namespace{Name: "ns", HomeRegion: "eu-west", Shard: 4}, 0); err != nil {
		t.Fatal(err)
	}
	if err := primary.SetBeacon(ctx, "gw", 11, time.Minute); err != nil {
		t.Fatal(err)
	}
	if n, err := pc.Wait(ctx, 1, 10*time.Second).Result(); err != nil || n != 1 {
		t.Fatalf("WAIT 1 = %d, %v", n, err)
	}

	reads := []struct {
		name string
		read func(s store.Store) (any, error)
	}{
		{"Get", func(s store.Store) (any, error) { return s.Get(ctx, 4, "ns", "a") }},
		{"List", func(s store.Store) (any, error) {
			objs, rev, err := s.List(ctx, 4, "ns")
			return fmt.Sprint(objs, rev), err
		}},
		{"Revision", func(s store.Store) (any, error) { return s.Revision(ctx, 4) }},
		{"Changes", func(s store.Store) (any, error) { return s.Changes(ctx, 4, 0, 100) }},
		{"Leases", func(s store.Store) (any, error) {
			ls, err := s.Leases(ctx, []int{4})
			if len(ls) == 1 {
				ls[0].Remaining = 0 // counts down between the two reads
			}
			return ls, err
		}},
		{"GetNamespace", func(s store.Store) (any, error) { return s.GetNamespace(ctx, "ns") }},
		{"Namespaces", func(s store.Store) (any, error) { return s.Namespaces(ctx) }},
		{"Beacon", func(s store.Store) (any, error) { return s.Beacon(ctx, "gw") }},
	}
	for _, r := range reads {
		t.Run(r.name, func(t *testing.T) {
			want, err := r.read(primary)
			if err != nil {
				t.Fatalf("on the primary: %v", err)
			}
			got, err := r.read(replica)
			if err != nil {
				t.Fatalf("on the replica: %v", err)
			}
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
				t.Fatalf("replica shows %+v, primary %+v", got, want)
			}
		})
	}
}

// TestBeaconOrderOnReplica: while the primary takes writes and beacons, a
// replica that shows beacon n always shows every write made before it.
func TestBeaconOrderOnReplica(t *testing.T) {
	ctx := context.Background()
	rs := redistest.Start(t, 1)
	primary, err := redisstore.New(rs.Client(t), redisstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	rc := rs.Replicas[0].Client()
	t.Cleanup(func() { rc.Close() })
	replica, err := redisstore.New(rc, redisstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tok := hold(t, primary, 0)
	const n = 200
	errc := make(chan error, 1)
	go func() {
		for i := uint64(1); i <= n; i++ {
			if _, err := primary.Apply(ctx, store.Batch{Shard: 0, Token: tok, Now: testNow, Writes: []store.Write{put("ns", fmt.Sprintf("x%d", i), `{}`)}}); err != nil {
				errc <- err
				return
			}
			if err := primary.SetBeacon(ctx, "gw", i, time.Minute); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	var last uint64
	deadline := time.Now().Add(30 * time.Second)
	for last < n {
		if time.Now().After(deadline) {
			t.Fatalf("replica stuck at beacon %d of %d", last, n)
		}
		seq, err := replica.Beacon(ctx, "gw")
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		if seq < last {
			t.Fatalf("replica beacon went back from %d to %d", last, seq)
		}
		last = seq
		if seq > 0 {
			if _, err := replica.Get(ctx, 0, "ns", fmt.Sprintf("x%d", seq)); err != nil {
				t.Fatalf("replica shows beacon %d but not x%d: %v", seq, seq, err)
			}
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}
