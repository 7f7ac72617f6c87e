package redisstore_test

import (
	"context"
	"testing"

	"github.com/cpgw/cpgw/internal/redistest"
	"github.com/cpgw/cpgw/store"
	"github.com/cpgw/cpgw/store/redisstore"
	"github.com/cpgw/cpgw/store/storetest"
)

// TestConformance runs the shared suite on one redis-server, emptied before
// each subtest.
func TestConformance(t *testing.T) {
	rs := redistest.Start(t, 0)
	c := rs.Client(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		rs.Flush(t)
		s, err := redisstore.New(c, redisstore.Config{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestConformanceCluster runs the same suite through a ClusterClient on a
// one-node Redis Cluster, where a script touching keys of two slots, or
// a key it did not declare in another slot, fails. Durability (WAIT) is not
// supported there yet and must be refused.
func TestConformanceCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("the single-server conformance run covers the semantics")
	}
	cc, node := startCluster(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		if err := node.FlushAll(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
		s, err := redisstore.New(cc, redisstore.Config{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, storetest.WithoutDurability())
}
