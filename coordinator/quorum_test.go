package coordinator_test

import (
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cpgw/cpgw/api"
	"github.com/cpgw/cpgw/internal/redistest"
	"github.com/cpgw/cpgw/shards"
	"github.com/cpgw/cpgw/store/redisstore"
)

// replicaCountTTL is the redisstore count cache of these tests, short so a
// detached replica is seen quickly.
const replicaCountTTL = 50 * time.Millisecond

// majorityNode starts a coordinator on a primary with n replicas, owning
// every shard.
func majorityNode(t *testing.T, n int) (*node, *redistest.Set) {
	t.Helper()
	rs := redistest.Start(t, n)
	c := rs.Client(t)
	st, err := redisstore.New(c, redisstore.Config{ReplicaCountTTL: replicaCountTTL})
	if err != nil {
		t.Fatal(err)
	}
	waitCounted(t, st, n)
	// A replica counts as online before it acknowledges anything: Redis
	// streams to it only after its first REPLCONF ACK, up to a second
	// after the sync. Wait for that, so the writes below are not flaky.
	if err := c.Set(t.Context(), "warm-up", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Wait(t.Context(), n, 5*time.Second).Result(); err != nil || got < int64(n) {
		t.Fatalf("WAIT %d = %d, %v", n, got, err)
	}
	a := startNode(t, st, "a", nil)
	a.waitOwnsAll(t)
	return a, rs
}

// waitCounted waits until the primary counts n online replicas: one in sync
// counts a moment after its first REPLCONF ACK.
func waitCounted(t *testing.T, st *redisstore.Store, n int) {
	t.Helper()
	eventually(t, 5*time.Second, func() bool {
		got, err := st.AttachedReplicas(t.Context())
		return err == nil && got == n
	}, "the primary does not count %d replicas", n)
}

func setSettings(t *testing.T, a *node, ns, body string) response {
	t.Helper()
	return a.request(t, http.MethodPut, api.InternalNamespacePath(shards.Of(ns, testShards), ns), []byte(body))
}

func replicasAcked(r response) string { return r.header.Get(api.HeaderReplicasAcked) }

func TestMajoritySettings(t *testing.T) {
	a, _ := majorityNode(t, 0)

	t.Run("rendered back", func(t *testing.T) {
		res := setSettings(t, a, "maj", `{"durability":{"replicas":"majority","minReplicas":1,"timeout":"100ms"}}`)
		res.expect(t, http.StatusOK, "")
		if !strings.Contains(string(res.body), `"durability":{"replicas":"majority","minReplicas":1,"timeout":"100ms"}`) {
			t.Fatalf("settings response %s does not render the majority back", res.body)
		}
		res = setSettings(t, a, "maj0", `{"durability":{"replicas":"majority"}}`)
		res.expect(t, http.StatusOK, "")
		if !strings.Contains(string(res.body), `"durability":{"replicas":"majority","timeout":"500ms"}`) {
			t.Fatalf("settings response %s, want a majority with the default timeout", res.body)
		}
		// No replica attached, no floor: nothing to wait for.
		w := a.put(t, "maj0", "x", `{}`)
		w.expect(t, http.StatusCreated, "")
		if replicasAcked(w) != "0" {
			t.Fatalf("X-Replicas-Acked %q, want 0", replicasAcked(w))
		}
	})

	t.Run("invalid", func(t *testing.T) {
		for _, body := range []string{
			`{"durability":{"replicas":"all"}}`,
			`{"durability":{"replicas":"Majority"}}`,
			`{"durability":{"replicas":"1"}}`,
			`{"durability":{"replicas":1.5}}`,
			`{"durability":{"replicas":2,"minReplicas":1}}`,
			`{"durability":{"minReplicas":1}}`,
			`{"durability":{"replicas":"majority","minReplicas":17}}`,
			`{"durability":{"replicas":"majority","minReplicas":-1}}`,
			`{"durability":{"replicas":"majority","minReplica":1}}`,
			`{"durability":{"replicas":"majority","timeout":"0s"}}`,
			`{"durability":{"replicas":"majority","timeout":"soon"}}`,
		} {
			res := setSettings(t, a, "bad-majority", body)
			res.expect(t, http.StatusBadRequest, api.CodeInvalidBody)
		}
		res := setSettings(t, a, "bad-majority", `{"durability":{"replicas":"all"}}`)
		if msg := res.errorBody(t).Error.Message; !strings.Contains(msg, `replicas must be an integer 0..16 or "majority"`) {
			t.Fatalf("message %q does not say what replicas may be", msg)
		}
	})
}

// TestMajorityWaitsForHalf: with two replicas attached a majority is one
// replica. One replica is paused (the primary still counts it), so a write
// that waited for both would miss its quorum; a majority write does not.
func TestMajorityWaitsForHalf(t *testing.T) {
	a, rs := majorityNode(t, 2)
	if err := rs.Replicas[1].Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rs.Replicas[1].Signal(syscall.SIGCONT) })

	setSettings(t, a, "maj", `{"durability":{"replicas":"majority","timeout":"2s"}}`).expect(t, http.StatusOK, "")
	w := a.put(t, "maj", "x", `{"v":1}`)
	w.expect(t, http.StatusCreated, "")
	if replicasAcked(w) != "1" {
		t.Fatalf("X-Replicas-Acked %q, want 1", replicasAcked(w))
	}
	if got := a.metric(t, "cpgw_coordinator_attached_replicas"); got != 2 {
		t.Fatalf("attached_replicas = %v, want 2", got)
	}

	// Both replicas, as a fixed count, miss the quorum: the paused one
	// never answers.
	setSettings(t, a, "all", `{"durability":{"replicas":2,"timeout":"100ms"}}`).expect(t, http.StatusOK, "")
	a.put(t, "all", "x", `{"v":1}`).expect(t, http.StatusServiceUnavailable, api.CodeQuorumNotReached)
}

// TestMajorityFloor: the floor holds when a majority of the attached
// replicas is fewer.
func TestMajorityFloor(t *testing.T) {
	a, _ := majorityNode(t, 1)
	setSettings(t, a, "floored", `{"durability":{"replicas":"majority","minReplicas":2,"timeout":"500ms"}}`).expect(t, http.StatusOK, "")
	w := a.put(t, "floored", "x", `{"v":1}`)
	w.expect(t, http.StatusServiceUnavailable, api.CodeQuorumNotReached)
	if replicasAcked(w) != "1" {
		t.Fatalf("X-Replicas-Acked %q, want 1", replicasAcked(w))
	}
	if msg := w.errorBody(t).Error.Message; !strings.Contains(msg, "only 1 of 2 replicas") {
		t.Fatalf("message %q, want it to count 1 of 2", msg)
	}
}

// TestMajorityFollowsDetach: with three replicas a majority is two; once two
// of them leave (REPLICAOF NO ONE), it is one, within the count's cache
// interval, and writes meet it again.
func TestMajorityFollowsDetach(t *testing.T) {
	a, rs := majorityNode(t, 3)
	setSettings(t, a, "maj", `{"durability":{"replicas":"majority","timeout":"500ms"}}`).expect(t, http.StatusOK, "")
	w := a.put(t, "maj", "x", `{"v":1}`)
	w.expect(t, http.StatusCreated, "")
	if acked := replicasAcked(w); acked != "2" && acked != "3" {
		t.Fatalf("X-Replicas-Acked %q with three replicas, want a majority of 2 (or all 3)", acked)
	}

	// Two leave. Until the cached count runs out the majority is still two
	// and writes miss it (503, applied); then it is one.
	for _, r := range rs.Replicas[1:] {
		c := r.Client()
		if err := c.ReplicaOf(t.Context(), "NO", "ONE").Err(); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	left := time.Now()
	var last response
	eventually(t, 5*time.Second, func() bool {
		last = a.put(t, "maj", "x", `{"v":2}`)
		return last.status == http.StatusOK
	}, "writes never met the majority of the one replica left")
	if replicasAcked(last) != "1" {
		t.Fatalf("X-Replicas-Acked %q with one replica left, want 1", replicasAcked(last))
	}
	if took := time.Since(left); took > replicaCountTTL+3*time.Second {
		t.Fatalf("the majority took %s to follow the detach", took)
	}
	if got := a.metric(t, "cpgw_coordinator_attached_replicas"); got != 1 {
		t.Fatalf("attached_replicas = %v, want 1", got)
	}
}
