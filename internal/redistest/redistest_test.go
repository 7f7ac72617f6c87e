package redistest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cpgw/cpgw/internal/redisserver"
	"github.com/cpgw/cpgw/internal/redistest"
)

func TestStartReplicates(t *testing.T) {
	rs := redistest.Start(t, 2)
	ctx := context.Background()
	if err := rs.Client(t).Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := redisserver.WaitSynced(wctx, rs.Primary, rs.Replicas...); err != nil {
		t.Fatal(err)
	}
	for i, r := range rs.Replicas {
		c := r.Client()
		got, err := c.Get(ctx, "k").Result()
		c.Close()
		if err != nil || got != "v" {
			t.Fatalf("replica %d: got %q, %v; want v", i, got, err)
		}
	}
}

func TestStopIsIdempotent(t *testing.T) {
	rs := redistest.Start(t, 0)
	rs.Stop()
	rs.Stop()
	c := rs.Primary.Client()
	defer c.Close()
	if err := c.Ping(context.Background()).Err(); err == nil {
		t.Fatal("server still answers after Stop")
	}
}
