package storetest

import (
	"testing"

	"github.com/cpgw/cpgw/store"
)

// testBoundStoreServes: a Store bound to its cluster by InitCluster serves
// every shard below the count as before, and binding again to the same
// cluster is no error. (Losing the cluster under a bound Store is
// implementation-specific: the embedded store cannot lose it; redisstore
// tests it on a real server.)
func testBoundStoreServes(t *testing.T, s store.Store) {
	for range 2 {
		if n, err := s.InitCluster(t.Context(), 8); err != nil || n != 8 {
			t.Fatalf("InitCluster(8) = %d, %v; want 8", n, err)
		}
	}
	for _, shard := range []int{0, 7} {
		l := acquire(t, s, shard, ownerA, longTTL)
		mustPut(t, s, shard, l.Token, "ns", "obj", `{}`)
		errs, err := s.RenewLeases(t.Context(), []store.LeaseRenewal{{Shard: shard, Owner: ownerA, Token: l.Token, TTL: longTTL}})
		if err != nil || errs[0] != nil {
			t.Fatalf("RenewLeases(shard %d) = %v, %v", shard, errs, err)
		}
		release(t, s, shard, ownerA, l.Token)
		if next := acquire(t, s, shard, ownerB, longTTL); next.Token != l.Token+1 {
			t.Fatalf("shard %d: next grant = token %d, want %d", shard, next.Token, l.Token+1)
		}
	}
}
