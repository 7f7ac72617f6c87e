package redisstore_test

import (
	"context"
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
