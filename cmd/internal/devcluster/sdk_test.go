package devcluster

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/cpgw/cpgw/client"
)

// The SDK against a real deployment: the local gateway goes down and the
// client carries on through another region's gateway, with one idempotency
// key per logical write.
func TestSDKFailsOverToAnotherRegion(t *testing.T) {
	c := startCluster(t, Embedded)
	us, _ := c.Region("us-east")
	eu, _ := c.Region("eu-west")
	cl, err := client.New([]string{us.Gateway.URL, eu.Gateway.URL}, client.WithRetry(10*time.Millisecond, 200*time.Millisecond, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	o, err := cl.Put(ctx, "orders", "o-1", map[string]int{"n": 1})
	if err != nil {
		t.Fatal(err)
	}
	if o.Info.Gateway != us.Gateway.URL {
		t.Fatalf("first write went through %s, want the preferred %s", o.Info.Gateway, us.Gateway.URL)
	}
	if err := us.Gateway.Stop(); err != nil {
		t.Fatal(err)
	}
	o2, err := cl.Put(ctx, "orders", "o-1", map[string]int{"n": 2}, client.IfMatch(o.Version))
	if err != nil {
		t.Fatalf("write with the local gateway down: %v", err)
	}
	if o2.Info.Gateway != eu.Gateway.URL || o2.Version <= o.Version {
		t.Fatalf("second write: gateway %s version %d (first %d)", o2.Info.Gateway, o2.Version, o.Version)
	}
	got, err := cl.Get(ctx, "orders", "o-1", client.Consistency(client.Strong))
	if err != nil || got.Version != o2.Version {
		t.Fatalf("strong read: %+v, %v", got, err)
	}
	if _, err := cl.Put(ctx, "orders", "o-1", map[string]int{"n": 3}, client.IfMatch(o.Version)); !errors.Is(err, client.ErrPreconditionFailed) {
		t.Fatalf("stale If-Match: %v, want ErrPreconditionFailed", err)
	}
	if _, err := cl.Get(ctx, "orders", "absent", client.Consistency(client.Strong)); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("absent object: %v, want ErrNotFound", err)
	}
}

// With a replica that lags behind, a plain local read right after a write
// misses it; a session client never does (it sends minVersion).
func TestSDKSessionReadsItsWrites(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const lag = 2 * time.Second // well inside the default 5s bound
	c, err := Start(ctx, Options{Regions: []string{"us-east", "eu-west"}, ReplicaLag: lag,
		Logger: slog.New(slog.DiscardHandler), Coordinator: shortLeases})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	eu, _ := c.Region("eu-west") // reads a replica lag behind
	plain, _ := client.New([]string{eu.Gateway.URL})
	session, _ := client.New([]string{eu.Gateway.URL}, client.WithSession())

	// Until the replica has carried a freshness beacon its staleness is
	// unknown and the owner answers local reads; wait until it has, and has
	// carried an earlier write too.
	if _, err := plain.Put(ctx, "cfg", "probe", map[string]int{}); err != nil {
		t.Fatal(err)
	}
	for {
		got, err := plain.Get(ctx, "cfg", "probe")
		if err == nil && got.Info.Consistency == client.Local {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the replica never served a local read: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	w, err := session.Put(ctx, "cfg", "flags", map[string]bool{"on": true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Get(ctx, "cfg", "flags"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("plain local read right after the write: %v, want ErrNotFound from the lagging replica", err)
	}
	got, err := session.Get(ctx, "cfg", "flags")
	if err != nil {
		t.Fatalf("session read: %v", err)
	}
	if got.Version != w.Version || got.Info.Consistency != client.Strong {
		t.Fatalf("session read version %d (%s), wrote %d", got.Version, got.Info.Consistency, w.Version)
	}
}
