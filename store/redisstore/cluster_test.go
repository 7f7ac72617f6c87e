package redisstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cpgw/cpgw/internal/redisserver"
)

// startCluster starts a real redis-server in cluster mode owning all 16384
// slots: a one-node Redis Cluster. Talking to it through a ClusterClient
// exercises what a single server does not: CROSSSLOT checks, the
// undeclared-key checks of flagged scripts, key-slot routing of scripts and
// pipelines. It returns the cluster client and a plain client of the node.
func startCluster(t testing.TB) (*redis.ClusterClient, *redis.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := redisserver.Start(ctx, redisserver.Options{
		Dir:  t.TempDir(),
		Args: []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"},
	}, nil)
	if err != nil {
		t.Fatalf("start cluster node: %v", err)
	}
	t.Cleanup(srv.Stop)
	node := srv.Client()
	t.Cleanup(func() { node.Close() })
	if err := node.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
		t.Fatalf("CLUSTER ADDSLOTSRANGE: %v", err)
	}
	for {
		info, err := node.ClusterInfo(ctx).Result()
		if err != nil {
			t.Fatalf("CLUSTER INFO: %v", err)
		}
		if strings.Contains(info, "cluster_state:ok") {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("cluster not ready: %s", info)
		case <-time.After(20 * time.Millisecond):
		}
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{srv.Addr}})
	t.Cleanup(func() { cc.Close() })
	return cc, node
}
