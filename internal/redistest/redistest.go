// Package redistest gives tests real redis-server processes: a primary and
// optional replicas on free loopback ports, stopped when the test ends.
//
//	rs := redistest.Start(t, 2) // primary + 2 replicas, in sync
//	c := rs.Client(t)           // closed at cleanup
package redistest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cpgw/cpgw/internal/redisserver"
)

// Set is a primary and its replicas.
type Set struct {
	Primary  *redisserver.Server
	Replicas []*redisserver.Server
}

// Start starts a primary and n replicas, waits until the replicas are in sync
// and registers their shutdown with t.Cleanup. A missing redis-server fails the
// test with the install hint (make test installs it; see the README).
func Start(t testing.TB, replicas int) *Set {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts := redisserver.Options{Dir: t.TempDir()}
	p, err := redisserver.Start(ctx, opts, nil)
	if errors.Is(err, redisserver.ErrNotInstalled) {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatalf("start redis primary: %v", err)
	}
	set := &Set{Primary: p}
	t.Cleanup(set.Stop)
	for i := 0; i < replicas; i++ {
		r, err := redisserver.Start(ctx, opts, p)
		if err != nil {
			t.Fatalf("start redis replica: %v", err)
		}
		set.Replicas = append(set.Replicas, r)
	}
	if err := redisserver.WaitSynced(ctx, p, set.Replicas...); err != nil {
		t.Fatal(err)
	}
	return set
}

// Stop stops every server; Start registers it as cleanup.
func (s *Set) Stop() {
	for _, r := range s.Replicas {
		r.Stop()
	}
	s.Primary.Stop()
}

// Client returns a client of the primary, closed when the test ends.
func (s *Set) Client(t testing.TB) *redis.Client {
	c := s.Primary.Client()
	t.Cleanup(func() { c.Close() })
	return c
}

// Flush empties the primary (and so its replicas) between subtests.
func (s *Set) Flush(t testing.TB) {
	t.Helper()
	c := s.Primary.Client()
	defer c.Close()
	if err := c.FlushAll(context.Background()).Err(); err != nil {
		t.Fatalf("FLUSHALL: %v", err)
	}
}
