package main

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/cpgw/cpgw/internal/redistest"
)

// A command alone is one round trip, a pipeline of any length is one.
// Opening a connection costs round trips too (HELLO, CLIENT SETINFO), which
// the counter also sees.
func TestCountRoundTrips(t *testing.T) {
	rs := redistest.Start(t, 0)
	c := redis.NewClient(&redis.Options{Addr: rs.Primary.Addr, PoolSize: 1})
	defer c.Close()
	ctx := context.Background()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if err := countRoundTrips(reg, c, "primary"); err != nil {
		t.Fatal(err)
	}
	const n = 10
	for range n {
		if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.Get(ctx, "k")
			p.Incr(ctx, "n")
			p.Incr(ctx, "n")
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "kind" {
					got[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	// go-redis may open a connection again (HELLO, then a CLIENT SETINFO
	// pipeline): allow two such round trips of each kind, not more.
	for _, kind := range []string{"command", "pipeline"} {
		if got[kind] < n || got[kind] > n+2 {
			t.Errorf("%s round trips = %v, want %d (+2 at most for a reconnect); all: %v", kind, got[kind], n, got)
		}
	}
	if err := countRoundTrips(reg, c, "primary"); err == nil {
		t.Error("registering the same client role twice succeeded; want an error")
	}
}
