package redisstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cpgw/cpgw/internal/redistest"
	"github.com/cpgw/cpgw/store"
	"github.com/cpgw/cpgw/store/redisstore"
)

// TestAttachedReplicas counts the replicas of real servers.
func TestAttachedReplicas(t *testing.T) {
	for _, n := range []int{0, 1, 2} {
		t.Run(map[int]string{0: "none", 1: "one", 2: "two"}[n], func(t *testing.T) {
			c := redistest.Start(t, n).Client(t)
			s, err := redisstore.New(c, redisstore.Config{ReplicaCountTTL: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			// A replica in sync counts once the primary has its first
			// REPLCONF ACK (state=online), a moment after the sync.
			waitAttached(t, s, n)
		})
	}
}

// TestAttachedReplicasCache: a count is reused for ReplicaCountTTL, however
// many callers ask at once, and read again after it.
func TestAttachedReplicasCache(t *testing.T) {
	rs := redistest.Start(t, 1)
	c := rs.Client(t)
	waitAttached(t, newStore(t, c), 1) // before counting commands
	h := &countingHook{}
	c.AddHook(h)
	const ttl = 300 * time.Millisecond
	s, err := redisstore.New(c, redisstore.Config{ReplicaCountTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			if n, err := s.AttachedReplicas(ctx); err != nil || n != 1 {
				t.Errorf("AttachedReplicas = %d, %v; want 1", n, err)
			}
		})
	}
	wg.Wait()
	if got := h.count("info"); got != 1 {
		t.Fatalf("32 concurrent callers sent %d INFO, want one", got)
	}

	// The replica leaves; the cached count stands until the TTL is up.
	detached := time.Now()
	rc := rs.Replicas[0].Client()
	defer rc.Close()
	if err := rc.ReplicaOf(ctx, "NO", "ONE").Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := s.AttachedReplicas(ctx); time.Since(detached) < ttl/2 && (err != nil || n != 1) {
		t.Fatalf("AttachedReplicas within the TTL = %d, %v; want the cached 1", n, err)
	}
	waitAttached(t, s, 0)
	if since := time.Since(detached); since > ttl+time.Second {
		t.Fatalf("the count took %s to follow, want about the TTL %s", since, ttl)
	}
}

func TestAttachedReplicasErrors(t *testing.T) {
	t.Run("negative TTL", func(t *testing.T) {
		c := redistest.Start(t, 0).Client(t)
		if _, err := redisstore.New(c, redisstore.Config{ReplicaCountTTL: -time.Second}); err == nil {
			t.Fatal("New accepted a negative ReplicaCountTTL")
		}
	})
	t.Run("server gone", func(t *testing.T) {
		rs := redistest.Start(t, 0)
		s := newStore(t, rs.Client(t))
		rs.Primary.Stop()
		if n, err := s.AttachedReplicas(t.Context()); err == nil {
			t.Fatalf("AttachedReplicas on a stopped server = %d, nil", n)
		}
	})
	t.Run("canceled context", func(t *testing.T) {
		s := newStore(t, redistest.Start(t, 0).Client(t))
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if n, err := s.AttachedReplicas(ctx); err == nil {
			t.Fatalf("AttachedReplicas with a canceled context = %d, nil", n)
		}
	})
}

// TestNamespaceRecordCompatible: a record stored before majority existed
// reads as it did, and a majority setting round-trips.
func TestNamespaceRecordCompatible(t *testing.T) {
	s, c := startStore(t, redisstore.Config{})
	ctx := t.Context()
	if err := c.HSet(ctx, "cpgw:{cluster}:namespaces", "old", `3 {"homeRegion":"eu-west","shard":4,"replicas":2,"replicaTimeoutMs":250}`).Err(); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetNamespace(ctx, "old")
	want := store.Namespace{Name: "old", HomeRegion: "eu-west", Shard: 4, Version: 3,
		Durability: store.Durability{Replicas: 2, Timeout: 250 * time.Millisecond}}
	if err != nil || got != want {
		t.Fatalf("old record = %+v, %v; want %+v", got, err, want)
	}

	// A fixed count is stored byte for byte as before.
	if _, err := s.PutNamespace(ctx, store.Namespace{Name: "fixed", Shard: 1, Durability: store.Durability{Replicas: 1, Timeout: time.Second}}, 0); err != nil {
		t.Fatal(err)
	}
	if rec := c.HGet(ctx, "cpgw:{cluster}:namespaces", "fixed").Val(); rec != `1 {"shard":1,"replicas":1,"replicaTimeoutMs":1000}` {
		t.Fatalf("stored record %q", rec)
	}

	m := store.Namespace{Name: "maj", Shard: 2, Durability: store.Durability{Majority: true, Replicas: 1, Timeout: 100 * time.Millisecond}}
	if _, err := s.PutNamespace(ctx, m, 0); err != nil {
		t.Fatal(err)
	}
	m.Version = 1
	if got, err := s.GetNamespace(ctx, "maj"); err != nil || got != m {
		t.Fatalf("majority record = %+v, %v; want %+v", got, err, m)
	}
}

// waitAttached polls s until it counts want replicas, for at most 5s.
func waitAttached(t *testing.T, s *redisstore.Store, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := s.AttachedReplicas(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("AttachedReplicas still %d after 5s, want %d", n, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// count is how many single commands named name went out since the last reset.
func (h *countingHook) count(name string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, s := range h.names {
		if s == name {
			n++
		}
	}
	return n
}
