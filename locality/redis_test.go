package locality_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/cpgw/cpgw/internal/redistest"
	"github.com/cpgw/cpgw/locality"
	"github.com/cpgw/cpgw/store/redisstore"
)

// TestBoundOnRedis runs a Tracker against a real primary and replica: the
// bound becomes available and small, and once the replica process is paused
// it grows at least as fast as the clock, never claiming freshness the
// paused replica cannot have.
func TestBoundOnRedis(t *testing.T) {
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
	tr, err := locality.NewTracker(primary, replica, locality.TrackerConfig{
		ID: "gw-redis-test", Interval: 20 * time.Millisecond, Timeout: 200 * time.Millisecond, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, ok := tr.Bound(); ok && b < time.Second {
			break
		}
		if time.Now().After(deadline) {
			b, ok := tr.Bound()
			t.Fatalf("no small Bound within 10s: %s, %v", b, ok)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for range 20 {
		if b, ok := tr.Bound(); !ok || b >= time.Second {
			t.Fatalf("Bound on a healthy replica = %s, %v; want below 1s", b, ok)
		}
		time.Sleep(10 * time.Millisecond)
	}

	if err := rs.Replicas[0].Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// Registered after Start's cleanup, so it runs first: the replica must
	// be running again to be stopped.
	t.Cleanup(func() { _ = rs.Replicas[0].Signal(syscall.SIGCONT) })
	pausedAt := time.Now()
	// A beacon sent after pausedAt cannot reach the paused replica; the
	// slack covers the instant between kill(2) returning and the process
	// actually stopping.
	const slack = 10 * time.Millisecond
	var last time.Duration
	for time.Since(pausedAt) < 1500*time.Millisecond {
		time.Sleep(25 * time.Millisecond)
		b, ok := tr.Bound()
		paused := time.Since(pausedAt)
		if !ok || b < last || b < paused-slack {
			t.Fatalf("replica paused for %s: Bound = %s, %v (previous %s); want at least the pause", paused, b, ok, last)
		}
		last = b
	}
	if last < time.Second {
		t.Fatalf("Bound after 1.5s of pause = %s", last)
	}
}
