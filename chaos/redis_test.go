package chaos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cpgw/cpgw/internal/redisserver"
	"github.com/redis/go-redis/v9"
)

// TestRedisTopology checks the Redis nodes on their own, without cpgw:
// the start, two failovers in a row (the second kills the node the first
// promoted) with a WAITed write surviving each, and the recovery of the
// dead node behind its unchanged node link.
func TestRedisTopology(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o := Options{Dir: t.TempDir(), Regions: []string{"r1", "r2"}, Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))}.withDefaults()
	if err := os.MkdirAll(filepath.Join(o.Dir, "redis"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := &Cluster{opts: o, log: o.Logger, http: &http.Client{}}
	err := c.startRedis(ctx)
	defer c.Stop()
	if errors.Is(err, redisserver.ErrNotInstalled) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	nodes := c.RedisNodes()
	if len(nodes) != 3 || c.PrimaryNode() != nodes[0] || nodes[1].Region != "r1" || nodes[2].Region != "r2" {
		t.Fatalf("nodes %v, primary %v", nodes, c.PrimaryNode())
	}
	linkAddrs := make([]string, len(nodes))
	for i, n := range nodes {
		linkAddrs[i] = n.Link.Addr()
	}
	// role asks a node, through its link, what it is.
	role := func(n *RedisNode) string {
		rc := redis.NewClient(&redis.Options{Addr: n.Link.Addr(), MaxRetries: -1})
		defer rc.Close()
		v, err := rc.Do(ctx, "ROLE").Slice()
		if err != nil || len(v) == 0 {
			return fmt.Sprintf("error %v", err)
		}
		return fmt.Sprint(v[0])
	}
	// write sets key on the primary through its node link and WAITs for
	// one replica, as a durable write does.
	write := func(key string) {
		t.Helper()
		rc := redis.NewClient(&redis.Options{Addr: c.PrimaryNode().Link.Addr(), MaxRetries: -1})
		defer rc.Close()
		if err := rc.Set(ctx, key, "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if n, err := rc.Wait(ctx, 1, time.Second).Result(); err != nil || n < 1 {
			t.Fatalf("WAIT 1: %d, %v", n, err)
		}
	}
	for i, n := range nodes {
		want := "slave"
		if i == 0 {
			want = "master"
		}
		if got := role(n); got != want {
			t.Errorf("%s: ROLE %s, want %s", n.Name(), got, want)
		}
	}
	var keys []string
	for round := range 2 {
		key := fmt.Sprintf("k%d", round)
		write(key)
		keys = append(keys, key)
		dead, promoted, err := c.Failover(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if role(promoted) != "master" || c.PrimaryNode() != promoted {
			t.Fatalf("round %d: %s promoted, ROLE %s", round, promoted.Name(), role(promoted))
		}
		if err := c.RecoverNode(ctx, dead); err != nil {
			t.Fatal(err)
		}
		if got := role(dead); got != "slave" {
			t.Errorf("round %d: recovered %s: ROLE %s, want slave", round, dead.Name(), got)
		}
		if err := c.WaitRedisSynced(ctx); err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			rc := redis.NewClient(&redis.Options{Addr: n.Link.Addr(), MaxRetries: -1})
			for _, k := range keys {
				if got, err := rc.Get(ctx, k).Result(); err != nil || got != "v" {
					t.Errorf("round %d: %s on %s: %q, %v", round, k, n.Name(), got, err)
				}
			}
			rc.Close()
		}
		t.Logf("round %d: %s died, %s promoted, %s recovered", round, dead.Name(), promoted.Name(), dead.Name())
	}
	for i, n := range nodes {
		if n.Link.Addr() != linkAddrs[i] {
			t.Errorf("%s: link moved from %s to %s", n.Name(), linkAddrs[i], n.Link.Addr())
		}
	}
	if got := len(c.servers); got != 5 {
		t.Errorf("%d redis processes started, want 5 (3 + 2 replacements)", got)
	}
}
