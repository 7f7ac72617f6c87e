package redisstore_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/cpgw/cpgw/store"
	"github.com/cpgw/cpgw/store/redisstore"
)

// TestHeartbeatPrunesExpired: a heartbeat removes members whose expiry (on
// the server's clock) has passed, from the expiry index and the records, so
// the membership keys do not grow with every coordinator that ever lived.
func TestHeartbeatPrunesExpired(t *testing.T) {
	ctx := context.Background()
	s, c := startStore(t, redisstore.Config{})
	if err := s.Heartbeat(ctx, store.Member{ID: "gone", Region: "eu"}, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := s.Heartbeat(ctx, store.Member{ID: "alive", Region: "us", Address: "http://alive"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if ms, err := s.Members(ctx); err != nil || len(ms) != 1 || ms[0] != (store.Member{ID: "alive", Region: "us", Address: "http://alive"}) {
		t.Fatalf("Members = %+v, %v; want only alive", ms, err)
	}
	// Members does not write (it may run on a replica); the next heartbeat prunes.
	if n, _ := c.ZCard(ctx, "cpgw:{cluster}:members").Result(); n != 2 {
		t.Fatalf("members index holds %d entries before the next heartbeat, want 2", n)
	}
	if err := s.Heartbeat(ctx, store.Member{ID: "alive", Region: "us", Address: "http://alive"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.ZCard(ctx, "cpgw:{cluster}:members").Result(); n != 1 {
		t.Errorf("members index holds %d entries after pruning, want 1", n)
	}
	if n, _ := c.HLen(ctx, "cpgw:{cluster}:member-records").Result(); n != 1 {
		t.Errorf("member records hold %d entries after pruning, want 1", n)
	}
	if rs, err := s.Regions(ctx); err != nil || len(rs) != 2 || rs[0] != "eu" || rs[1] != "us" {
		t.Fatalf("Regions = %v, %v; want [eu us] (regions are kept for good)", rs, err)
	}
}

func TestInitClusterCorruptCount(t *testing.T) {
	ctx := context.Background()
	s, c := startStore(t, redisstore.Config{})
	if err := c.Set(ctx, "cpgw:{cluster}:shards", "many", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := s.InitCluster(ctx, 64); err == nil {
		t.Fatalf("InitCluster over a corrupt count = %d, nil; want an error", n)
	}
}

// TestPlacementMatchesSeparateReads: Placement's one pipeline returns what
// Members, Regions and Leases return one by one, in one round trip, and
// refuses a bad shard before sending anything.
func TestPlacementMatchesSeparateReads(t *testing.T) {
	ctx := context.Background()
	s, c := startStore(t, redisstore.Config{})
	for _, m := range []store.Member{{ID: "b", Region: "us", Address: "http://b"}, {ID: "a", Region: "eu", Address: "http://a"}} {
		if err := s.Heartbeat(ctx, m, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	tok := hold(t, s, 3)
	shards := []int{0, 3, 7}
	if _, _, _, err := s.Placement(ctx, shards); err != nil { // loads the scripts
		t.Fatal(err)
	}

	h := &countingHook{}
	c.AddHook(h)
	ms, rs, ls, err := s.Placement(ctx, shards)
	if err != nil {
		t.Fatal(err)
	}
	if h.single.Load() != 0 || h.pipelines.Load() != 1 {
		t.Errorf("Placement sent %d commands and %d pipelines, want one pipeline", h.single.Load(), h.pipelines.Load())
	}
	wantMs, err := s.Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantRs, err := s.Regions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantLs, err := s.Leases(ctx, shards)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ms, wantMs) || len(ms) != 2 || ms[0].ID != "a" {
		t.Errorf("members %+v, want %+v", ms, wantMs)
	}
	if !slices.Equal(rs, wantRs) || !slices.Equal(rs, []string{"eu", "us"}) {
		t.Errorf("regions %v, want %v", rs, wantRs)
	}
	if len(ls) != len(wantLs) || !ls[1].Held || ls[1].Token != tok || ls[0].Held || ls[2].Held {
		t.Errorf("leases %+v", ls)
	}
	for i := range ls {
		if ls[i].Shard != wantLs[i].Shard || ls[i].Held != wantLs[i].Held || ls[i].Token != wantLs[i].Token || ls[i].Lease.Owner != wantLs[i].Lease.Owner {
			t.Errorf("lease %d: %+v, want %+v", i, ls[i], wantLs[i])
		}
	}

	h.reset()
	if _, _, _, err := s.Placement(ctx, []int{0, -1}); err == nil {
		t.Error("Placement of shard -1 succeeded")
	}
	if h.single.Load()+h.pipelines.Load() != 0 {
		t.Error("Placement of a bad shard sent something")
	}
}
