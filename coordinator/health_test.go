package coordinator_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cpgw/cpgw/api"
	"github.com/cpgw/cpgw/coordinator"
	"github.com/cpgw/cpgw/shards"
)

func TestHealthReadinessMetrics(t *testing.T) {
	st := embeddedBackend.open(t)

	idle, err := coordinator.New(st, testConfig("idle", "us-east", "http://idle.invalid"))
	if err != nil {
		t.Fatal(err)
	}
	in := &node{t: t, c: idle, url: newServer(t, idle.Handler())}
	in.request(t, http.MethodGet, "/healthz", nil).expect(t, http.StatusOK, "")
	notReady := in.request(t, http.MethodGet, "/readyz", nil)
	notReady.expect(t, http.StatusServiceUnavailable, api.CodeUnavailable)
	if notReady.header.Get(api.HeaderRetryAfter) == "" {
		t.Error("503 without Retry-After")
	}

	a := startNode(t, st, "a", nil)
	eventually(t, 5*time.Second, func() bool {
		return a.request(t, http.MethodGet, "/readyz", nil).status == http.StatusOK
	}, "a to be ready")
	a.waitOwnsAll(t)

	t.Run("request id", func(t *testing.T) {
		if got := a.get(t, "ns", "x").header.Get(api.HeaderRequestID); len(got) < 16 {
			t.Errorf("generated request id %q", got)
		}
		if got := a.request(t, http.MethodGet, "/healthz", nil, api.HeaderRequestID, "abc-123").header.Get(api.HeaderRequestID); got != "abc-123" {
			t.Errorf("request id %q, want the caller's", got)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		a.put(t, "ns", "x", `{}`).expect(t, http.StatusCreated, "")
		res := a.request(t, http.MethodGet, "/metrics", nil)
		res.expect(t, http.StatusOK, "")
		body := string(res.body)
		for _, want := range []string{
			"cpgw_coordinator_owned_shards 4",
			"cpgw_coordinator_lease_acquisitions_total 4",
			`cpgw_coordinator_http_request_duration_seconds_count{code="201",method="PUT",route="` + api.RouteInternalObject + `"} 1`,
			"cpgw_coordinator_batch_size_count 1",
			"go_goroutines",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("metrics lack %q", want)
			}
		}
	})

	t.Run("run once", func(t *testing.T) {
		if err := a.c.Run(context.Background()); !errors.Is(err, coordinator.ErrRunning) {
			t.Errorf("second Run = %v", err)
		}
	})
}

// A full queue sheds with 429 and Retry-After; nothing of the shed write is
// applied.
func TestQueueFullSheds(t *testing.T) {
	hs := newHookStore(embeddedBackend.open(t))
	a := startNode(t, hs, "a", func(c *coordinator.Config) { c.QueueDepth = 2 })
	a.waitOwnsAll(t)
	const ns = "busy"
	release := hs.hold()
	defer release()
	var pending []<-chan response
	pending = append(pending, async(func() response { return a.put(t, ns, "a0", `{}`) }))
	hs.waitEntered(t)
	for _, name := range []string{"a1", "a2"} {
		pending = append(pending, async(func() response { return a.put(t, ns, name, `{}`) }))
	}
	eventually(t, 5*time.Second, func() bool {
		return a.metric(t, "cpgw_coordinator_queue_depth", "shard", itoa(shards.Of(ns, testShards))) == 2
	}, "the queue to fill")
	shed := a.put(t, ns, "a3", `{}`)
	shed.expect(t, http.StatusTooManyRequests, api.CodeOverloaded)
	if shed.header.Get(api.HeaderRetryAfter) == "" {
		t.Error("429 without Retry-After")
	}
	release()
	for _, ch := range pending {
		await(t, ch).expect(t, http.StatusCreated, "")
	}
	a.get(t, ns, "a3").expect(t, http.StatusNotFound, api.CodeNotFound)
}
