package coordinator_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/cpgw/cpgw/api"
	"github.com/cpgw/cpgw/internal/redistest"
	"github.com/cpgw/cpgw/shards"
	"github.com/cpgw/cpgw/store"
	"github.com/cpgw/cpgw/store/redisstore"
)

// TestNamespaceDurability runs on a Redis primary with one replica: a
// namespace that asks for one replica gets writes acknowledged by it, one
// that asks for two gets 503 quorum_not_reached for writes that were
// applied, and a repeat under the same key replays once the quorum is met.
func TestNamespaceDurability(t *testing.T) {
	rs := redistest.Start(t, 1)
	st, err := redisstore.New(rs.Client(t), redisstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	a := startNode(t, st, "a", nil)
	a.waitOwnsAll(t)
	ctx := context.Background()

	settings := func(ns, body string) response {
		return a.request(t, http.MethodPut, api.InternalNamespacePath(shards.Of(ns, testShards), ns), []byte(body))
	}
	acked := func(r response) string { return r.header.Get(api.HeaderReplicasAcked) }

	t.Run("bad settings", func(t *testing.T) {
		for _, body := range []string{
			`{"durability":{"replicas":-1}}`,
			`{"durability":{"replicas":17}}`,
			`{"durability":{"replicas":1,"timeout":"soon"}}`,
			`{"durability":{"replicas":1,"timeout":"0s"}}`,
			`{"durability":{"replicas":1,"timeout":"1m"}}`,
			`{"durability":{"replicas":1,"extra":true}}`,
		} {
			settings("bad-settings", body).expect(t, http.StatusBadRequest, api.CodeInvalidBody)
		}
		if _, err := st.GetNamespace(ctx, "bad-settings"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("refused settings were stored: %v", err)
		}
	})

	t.Run("one replica acknowledges", func(t *testing.T) {
		res := settings("durable", `{"durability":{"replicas":1,"timeout":"2s"}}`)
		res.expect(t, http.StatusOK, "")
		var got api.NamespaceSettings
		mustJSON(t, res.body, &got)
		if got.Durability == nil || got.Durability.Replicas != 1 || got.Durability.Timeout != "2s" {
			t.Fatalf("settings response %s, want durability of 1 replica, 2s", res.body)
		}
		w := a.put(t, "durable", "x", `{"v":1}`)
		w.expect(t, http.StatusCreated, "")
		if acked(w) != "1" {
			t.Fatalf("X-Replicas-Acked %q, want 1", acked(w))
		}
		// A namespace without settings waits for nothing.
		w = a.put(t, "plain", "x", `{"v":1}`)
		w.expect(t, http.StatusCreated, "")
		if acked(w) != "0" {
			t.Fatalf("X-Replicas-Acked %q without durability, want 0", acked(w))
		}
	})

	t.Run("quorum not reached", func(t *testing.T) {
		settings("greedy", `{"durability":{"replicas":2,"timeout":"50ms"}}`).expect(t, http.StatusOK, "")
		key := "Idempotency-Key"
		w := a.put(t, "greedy", "x", `{"v":1}`, key, "k1")
		w.expect(t, http.StatusServiceUnavailable, api.CodeQuorumNotReached)
		if acked(w) != "1" || w.header.Get(api.HeaderRetryAfter) == "" {
			t.Fatalf("headers %v, want X-Replicas-Acked 1 and Retry-After", w.header)
		}
		// It was applied on the primary nonetheless.
		if objs := objectsIn(t, st, "greedy"); len(objs) != 1 {
			t.Fatalf("%d objects after an unacknowledged write, want 1 (it was applied)", len(objs))
		}
		// Ask for what the cluster can give, then repeat under the key:
		// the first outcome is replayed, not applied again.
		settings("greedy", `{"durability":{"replicas":1,"timeout":"2s"}}`).expect(t, http.StatusOK, "")
		r := a.put(t, "greedy", "x", `{"v":1}`, key, "k1")
		r.expect(t, http.StatusCreated, "")
		if r.header.Get(api.HeaderIdempotentReplayed) != "true" || acked(r) != "1" {
			t.Fatalf("repeat headers %v, want a replay acknowledged by 1 replica", r.header)
		}
		if got := a.metric(t, "cpgw_coordinator_quorum_not_reached_total"); got != 1 {
			t.Fatalf("quorum_not_reached_total = %v, want 1", got)
		}
	})
}

// TestStoreLostStopsCoordinator flushes Redis under a running coordinator:
// the fencing counters are gone, so it must stop serving and Run must end
// with ErrEpoch rather than acquire tokens that were granted before.
func TestStoreLostStopsCoordinator(t *testing.T) {
	rs := redistest.Start(t, 0)
	c := rs.Client(t)
	st, err := redisstore.New(c, redisstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	a := startNode(t, st, "a", nil)
	a.waitOwnsAll(t)
	a.put(t, "before", "x", `{}`).expect(t, http.StatusCreated, "")

	if err := c.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	// Until Run notices, writes are refused by the store, not applied.
	a.put(t, "after", "x", `{}`).expect(t, http.StatusServiceUnavailable, "")
	select {
	case err := <-a.done:
		a.once.Do(func() {}) // Run has returned; the cleanup must not wait for it
		a.cancel()
		if !errors.Is(err, store.ErrEpoch) {
			t.Fatalf("Run = %v, want ErrEpoch", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("coordinator kept running on a store that lost its state")
	}
	if owned := a.c.Owned(); len(owned) != 0 {
		t.Fatalf("still serving shards %v", owned)
	}
	if objs := objectsIn(t, st, "after"); len(objs) != 0 {
		t.Fatalf("a write was applied to the emptied store: %v", objs)
	}
	// No shard key (a lease, a fencing counter) was recreated.
	if keys, err := c.Keys(context.Background(), "*{s*").Result(); err != nil || len(keys) != 0 {
		t.Fatalf("the emptied store holds shard keys %v (%v)", keys, err)
	}
}
