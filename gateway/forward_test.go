package gateway

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpgw/cpgw/api"
)

// TestWriteForwarded: a PUT reaches the owner at its internal path with the
// body and the headers it needs, and the owner's answer comes back whole.
func TestWriteForwarded(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	coord := newStub(t, func(n int, w http.ResponseWriter, r *http.Request) {
		answer(w, http.StatusCreated, map[string]string{
			"ETag":                       `"42"`,
			api.HeaderFencingToken:       "3",
			api.HeaderReplicasAcked:      "2",
			api.HeaderIdempotentReplayed: "true",
			api.HeaderServedBy:           "eu-west/c7",
			api.HeaderRetryAfter:         "0",
			"X-Internal-Secret":          "not for clients",
		}, map[string]any{"metadata": map[string]any{"version": 42}, "value": map[string]int{"a": 1}})
	})
	shard := h.own("payments", "c7", coord.URL, true)

	resp := h.do("PUT", "/v1/namespaces/payments/objects/limits", `{"a":1}`, jsonHdr(map[string]string{
		"If-Match":               `"41"`,
		api.HeaderIdempotencyKey: "key-1",
		api.HeaderRequestID:      "req-1",
		"Authorization":          "Bearer secret",
	}))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d: %s", resp.StatusCode, readAll(t, resp))
	}
	for k, want := range map[string]string{
		"ETag":                       `"42"`,
		api.HeaderFencingToken:       "3",
		api.HeaderReplicasAcked:      "2",
		api.HeaderIdempotentReplayed: "true",
		api.HeaderServedBy:           "eu-west/c7",
		api.HeaderRetryAfter:         "0",
		api.HeaderRequestID:          "req-1",
		"Content-Type":               "application/json",
		"X-Internal-Secret":          "",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("response %s = %q, want %q", k, got, want)
		}
	}
	if body := string(readAll(t, resp)); body != `{"metadata":{"version":42},"value":{"a":1}}` {
		t.Errorf("body %s", body)
	}

	reqs := coord.requests()
	if len(reqs) != 1 {
		t.Fatalf("coordinator saw %d requests", len(reqs))
	}
	got := reqs[0]
	if got.Method != "PUT" || got.Path != api.InternalObjectPath(shard, "payments", "limits") {
		t.Errorf("forwarded %s %s", got.Method, got.Path)
	}
	if string(got.Body) != `{"a":1}` {
		t.Errorf("forwarded body %q", got.Body)
	}
	for k, want := range map[string]string{
		"Content-Type":           "application/json",
		"If-Match":               `"41"`,
		api.HeaderIdempotencyKey: "key-1",
		api.HeaderRequestID:      "req-1",
		"Authorization":          "", // the client's credentials stay at the gateway
	} {
		if v := got.Header.Get(k); v != want {
			t.Errorf("forwarded %s = %q, want %q", k, v, want)
		}
	}
}

// TestDeleteAndNamespaceForwarded: DELETE and namespace settings go to
// their internal paths; a 404 from the owner is relayed as is.
func TestDeleteAndNamespaceForwarded(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	coord := newStub(t, func(n int, w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case "DELETE":
			answerError(w, http.StatusNotFound, api.CodeNotFound, nil)
		default:
			answer(w, http.StatusOK, nil, api.NamespaceSettings{Namespace: "payments", HomeRegion: "eu-west"})
		}
	})
	shard := h.own("payments", "c1", coord.URL, true)

	resp := h.do("DELETE", "/v1/namespaces/payments/objects/limits", "", map[string]string{"If-Match": `"3"`})
	wantError(t, resp, http.StatusNotFound, api.CodeNotFound)
	resp = h.do("PUT", "/v1/namespaces/payments", `{"homeRegion":"eu-west"}`, jsonHdr(nil))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("namespace PUT: %d %s", resp.StatusCode, readAll(t, resp))
	}
	reqs := coord.requests()
	if len(reqs) != 2 {
		t.Fatalf("coordinator saw %d requests", len(reqs))
	}
	if reqs[0].Method != "DELETE" || reqs[0].Path != api.InternalObjectPath(shard, "payments", "limits") || reqs[0].Header.Get("If-Match") != `"3"` {
		t.Errorf("delete forwarded as %s %s %v", reqs[0].Method, reqs[0].Path, reqs[0].Header)
	}
	if reqs[1].Method != "PUT" || reqs[1].Path != api.InternalNamespacePath(shard, "payments") || string(reqs[1].Body) != `{"homeRegion":"eu-west"}` {
		t.Errorf("namespace PUT forwarded as %s %s %s", reqs[1].Method, reqs[1].Path, reqs[1].Body)
	}
}

// TestPinnedNamespaceRoutesToItsRecordedShard: a namespace with stored
// settings goes to the shard recorded there, not to shards.Of.
func TestPinnedNamespaceRoutesToItsRecordedShard(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	natural := newStub(t, func(n int, w http.ResponseWriter, r *http.Request) { created(w, r) })
	pinned := newStub(t, func(n int, w http.ResponseWriter, r *http.Request) { created(w, r) })
	h.own("payments", "c-natural", natural.URL, true)
	other := (h.shardOf("payments") + 1) % testShards
	h.ownShard(other, "c-pinned", pinned.URL)
	h.waitOwner(other, pinned.URL)
	if _, err := h.primary.PutNamespace(context.Background(), storeNamespace("payments", "eu-west", other), 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "settings cached", func() bool {
		return h.gw.cache.current().shardOf("payments") == other
	})
	resp := h.do("PUT", "/v1/namespaces/payments/objects/x", `{}`, jsonHdr(nil))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if natural.count() != 0 || pinned.count() != 1 {
		t.Fatalf("natural owner saw %d, pinned owner %d; want 0 and 1", natural.count(), pinned.count())
	}
	if p := pinned.requests()[0].Path; p != api.InternalObjectPath(other, "payments", "x") {
		t.Fatalf("path %s", p)
	}
}

// TestRetries: the retry classification. Retried: 421 (after a map
// refresh, at the new owner), a refused connection, 503 no_owner. Not
// retried: 503 unavailable, other 5xx, a timeout or a dropped connection
// after the request was sent. Every attempt carries the client's
// Idempotency-Key and body unchanged.
func TestRetries(t *testing.T) {
	const key = "idem-7"
	const body = `{"limit":100}`
	checkSame := func(t *testing.T, reqs []seen) {
		t.Helper()
		for i, r := range reqs {
			if r.Header.Get(api.HeaderIdempotencyKey) != key || string(r.Body) != body {
				t.Errorf("attempt %d carried key %q body %q; want %q %q", i+1, r.Header.Get(api.HeaderIdempotencyKey), r.Body, key, body)
			}
		}
	}
	hdr := jsonHdr(map[string]string{api.HeaderIdempotencyKey: key})
	const path = "/v1/namespaces/payments/objects/limits"

	t.Run("421 refreshes the map and retries at the new owner", func(t *testing.T) {
		// No periodic refresh: only the 421 can make the gateway notice.
		h := newHarness(t, harnessOpts{config: func(c *Config) { c.RefreshInterval = time.Hour; c.ReadyStaleAfter = time.Hour }})
		newOwner := newStub(t, func(n int, w http.ResponseWriter, r *http.Request) { created(w, r) })
		oldOwner := newStub(t, func(n int, w http.ResponseWriter, r *http.Request) {
			answerError(w, http.StatusMisdirectedRequest, api.CodeMisdirected, &api.Owner{ID: "c-new", Address: newOwner.URL})
		})
		// The map is loaded with the old owner, then the lease moves
		// behind the gateway's back.
		h.own("payments", "c-old", oldOwner.URL, false)
		h.gw.cache.refresh(context.Background())
		h.waitOwner(h.shardOf("payments"), oldOwner.URL)
		h.own("payments", "c-new", newOwner.URL, false)
		demandBefore := h.counter("cpgw_gateway_shard_map_refreshes_total", "trigger", "demand")

		start := time.Now()
		resp := h.do("PUT", path, body, hdr)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("status %d: %s", resp.StatusCode, readAll(t, resp))
		}
		t.Logf("421 → map reload → retry at the new owner: %s end to end", time.Since(start).Round(time.Microsecond))
		if oldOwner.count() != 1 || newOwner.count() != 1 {
			t.Fatalf("old owner saw %d, new owner %d; want 1 and 1", oldOwner.count(), newOwner.count())
		}
		checkSame(t, append(oldOwner.requests(), newOwner.requests()...))
		if n := h.counter("cpgw_gateway_forward_retries_total", "reason", "misdirected"); n != 1 {
			t.Errorf("misdirected retries %v, want 1", n)
		}
		if n := h.counter("cpgw_gateway_shard_map_refreshes_total", "trigger", "demand") - demandBefore; n < 1 {
			t.Errorf("no demand refresh of the map after the 421")
		}
	})

	t.Run("refused connection is retried", func(t *testing.T) {
		h := newHarness(t, harnessOpts{config: func(c *Config) { c.RefreshInterval = time.Hour; c.ReadyStaleAfter = time.Hour }})
		dead := deadAddr(t)
		h.own("payments", "c-dead", dead, false)
		h.gw.cache.refresh(context.Background())
		alive := newStub(t, func(n int, w http.ResponseWriter, r *http.Request) { created(w, r) })

		done := make(chan *http.Response, 1)
		go func() { done <- h.do("PUT", path, body, hdr) }()
		// Move the lease once the gateway has failed to connect at least
		// once: the retry must then find the new owner.
		eventually(t, 5*time.Second, "a refused connection", func() bool {
			return h.counter("cpgw_gateway_forward_retries_total", "reason", "connect") >= 1
		})
		h.own("payments", "c-alive", alive.URL, false)
		resp := <-done
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("status %d: %s", resp.StatusCode, readAll(t, resp))
		}
		if alive.count() != 1 {
			t.Fatalf("new owner saw %d requests", alive.count())
		}
		checkSame(t, alive.requests())
	})

	t.Run("503 no_owner is retried", func(t *testing.T) {
		h := newHarness(t, harnessOpts{})
		coord := newStub(t, func(n int, w http.ResponseWriter, r *http.Request) {
			if n <= 2 {
				answerError(w, http.StatusServiceUnavailable, api.CodeNoOwner, nil)
				return
			}
			created(w, r)
		})
		h.own("payments", "c1", coord.URL, true)
		resp := h.do("PUT", path, body, hdr)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("status %d: %s", resp.StatusCode, readAll(t, resp))
		}
		if coord.count() != 3 {
			t.Fatalf("coordinator saw %d requests, want 3", coord.count())
		}
		checkSame(t, coord.requests())
	})

	t.Run("503 unavailable is resent under the write's key", func(t *testing.T) {
		h := newHarness(t, harnessOpts{})
		coord := newStub(t, func(n int, w http.ResponseWriter, r *http.Request) {
			if n <= 2 {
				answerError(w, http.StatusServiceUnavailable, api.CodeUnavailable, nil)
				return
			}
			created(w, r)
		})
		h.own("payments", "c1", coord.URL, true)
		resp := h.do("PUT", path, body, hdr)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("status %d: %s", resp.StatusCode, readAll(t, resp))
		}
		if coord.count() != 3 {
			t.Fatalf("coordinator saw %d requests, want 3", coord.count())
		}
		checkSame(t, coord.requests()) // same key every time
	})

	t.Run("503 unavailable on a settings write is relayed", func(t *testing.T) {
		h := newHarness(t, harnessOpts{})
		coord := newStub(t, func(n int, w http.ResponseWriter, r *http.Request) {
			w.Header().Set(api.HeaderRetryAfter, "2")
			answerError(w, http.StatusServiceUnavailable, api.CodeUnavailable, nil)
		})
		h.own("payments", "c1", coord.URL, true)
		resp := h.do("PUT", "/v1/namespaces/payments", `{"homeRegion":"eu-west"}`, jsonHdr(nil))
		wantError(t, resp, http.StatusServiceUnavailable, api.CodeUnavailable)
		if resp.Header.Get(api.HeaderRetryAfter) != "2" {
			t.Errorf("Retry-After %q, want the coordinator's 2", resp.Header.Get(api.HeaderRetryAfter))
		}
		time.Sleep(50 * time.Millisecond)
		if n := coord.count(); n != 1 {
			t.Fatalf("coordinator saw %d requests, want exactly 1 (settings writes carry no key)", n)
		}
	})

	notRetried := []struct {
		name   string
		script func(n int, w http.ResponseWriter, r *http.Request)
		status int
		code   string
	}{
		{"503 quorum not reached", func(n int, w http.ResponseWriter, r *http.Request) {
			answerError(w, http.StatusServiceUnavailable, api.CodeQuorumNotReached, nil)
		}, 503, api.CodeQuorumNotReached},
		{"500", func(n int, w http.ResponseWriter, r *http.Request) {
			answerError(w, http.StatusInternalServerError, api.CodeInternal, nil)
		}, 500, api.CodeInternal},
		{"412", func(n int, w http.ResponseWriter, r *http.Request) {
			answerError(w, http.StatusPreconditionFailed, api.CodePreconditionFailed, nil)
		}, 412, api.CodePreconditionFailed},
	}
	for _, c := range notRetried {
		t.Run(c.name+" is not retried", func(t *testing.T) {
			h := newHarness(t, harnessOpts{config: func(cfg *Config) { cfg.ForwardTimeout = 200 * time.Millisecond }})
			coord := newStub(t, c.script)
			h.own("payments", "c1", coord.URL, true)
			resp := h.do("PUT", path, body, hdr)
			eb := wantError(t, resp, c.status, c.code)
			if c.status == 503 && resp.Header.Get(api.HeaderRetryAfter) == "" {
				t.Errorf("503 without Retry-After (%s)", eb.Error.Message)
			}
			// Give a wrongly retrying gateway the time to do it.
			time.Sleep(50 * time.Millisecond)
			if n := coord.count(); n != 1 {
				t.Fatalf("coordinator saw %d requests, want exactly 1", n)
			}
		})
	}
}

// TestStrongReadRetriedAfterSend: a read that timed out after it was sent is
// sent again (it cannot have had an effect), unlike a write.
func TestStrongReadRetriedAfterSend(t *testing.T) {
	h := newHarness(t, harnessOpts{config: func(cfg *Config) { cfg.ForwardTimeout = 200 * time.Millisecond }})
	coord := newStub(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			time.Sleep(500 * time.Millisecond) // past ForwardTimeout
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"metadata":{"namespace":"payments","name":"x","version":1},"value":{}}`))
	})
	h.own("payments", "c1", coord.URL, true)
	resp := h.do("GET", "/v1/namespaces/payments/objects/x?consistency=strong", "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, readAll(t, resp))
	}
	if n := coord.count(); n != 2 {
		t.Fatalf("coordinator saw %d reads, want 2 (a timeout, then the retry)", n)
	}
}

// TestSameIdempotencyKeyAcrossOwners: a request that meets every kind of
// retryable failure in turn, at different owners, carries the client's key
// and body to each of them.
func TestSameIdempotencyKeyAcrossOwners(t *testing.T) {
	h := newHarness(t, harnessOpts{config: func(c *Config) { c.RefreshInterval = time.Hour; c.ReadyStaleAfter = time.Hour }})
	second := newStub(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			answerError(w, http.StatusServiceUnavailable, api.CodeNoOwner, nil)
			return
		}
		created(w, r)
	})
	first := newStub(t, func(n int, w http.ResponseWriter, r *http.Request) {
		answerError(w, http.StatusMisdirectedRequest, api.CodeMisdirected, nil)
	})
	// The gateway's map names the first owner; the lease has moved on.
	h.own("payments", "c1", first.URL, false)
	h.gw.cache.refresh(context.Background())
	h.own("payments", "c2", second.URL, false)

	resp := h.do("PUT", "/v1/namespaces/payments/objects/x", `{"v":1}`, jsonHdr(map[string]string{api.HeaderIdempotencyKey: "the-key"}))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d: %s", resp.StatusCode, readAll(t, resp))
	}
	all := append(first.requests(), second.requests()...)
	if len(all) != 3 {
		t.Fatalf("%d attempts, want 3 (421, 503 no_owner, 201)", len(all))
	}
	for i, r := range all {
		if k := r.Header.Get(api.HeaderIdempotencyKey); k != "the-key" || string(r.Body) != `{"v":1}` {
			t.Errorf("attempt %d: key %q body %s", i+1, k, r.Body)
		}
	}
}

// TestNoOwner: a shard nobody holds, or an owner nobody can reach, gives
// 503 no_owner with Retry-After once the retry budget is spent.
func TestNoOwner(t *testing.T) {
	budget := func(c *Config) { c.Failover.Timeout = 200 * time.Millisecond }
	t.Run("no lease", func(t *testing.T) {
		h := newHarness(t, harnessOpts{config: budget})
		resp := h.do("PUT", "/v1/namespaces/payments/objects/x", `{}`, jsonHdr(nil))
		wantError(t, resp, http.StatusServiceUnavailable, api.CodeNoOwner)
		if resp.Header.Get(api.HeaderRetryAfter) == "" {
			t.Error("no Retry-After")
		}
	})
	t.Run("owner unreachable", func(t *testing.T) {
		h := newHarness(t, harnessOpts{config: budget})
		h.own("payments", "c-dead", deadAddr(t), true)
		start := time.Now()
		resp := h.do("DELETE", "/v1/namespaces/payments/objects/x", "", nil)
		wantError(t, resp, http.StatusServiceUnavailable, api.CodeNoOwner)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("gave up after %s; the budget is 200ms", d)
		}
		if h.counter("cpgw_gateway_forward_retries_total", "reason", "connect") < 1 {
			t.Error("no connect retries counted")
		}
	})
}

// countingTransport counts the connections it dials.
type countingTransport struct {
	*http.Transport
	dials atomic.Int64
}

func newCountingTransport() *countingTransport {
	ct := &countingTransport{Transport: NewTransport()}
	d := &net.Dialer{Timeout: time.Second}
	ct.Transport.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		ct.dials.Add(1)
		return d.DialContext(ctx, network, addr)
	}
	return ct
}

// TestBreaker: after ConsecutiveFailures failures a coordinator's breaker
// opens and the gateway stops sending it requests; an open breaker counts
// as "could not connect" (map refresh, retry, then 503 no_owner).
func TestBreaker(t *testing.T) {
	const trip = 3
	t.Run("5xx answers", func(t *testing.T) {
		h := newHarness(t, harnessOpts{config: func(c *Config) {
			c.Breaker = BreakerConfig{ConsecutiveFailures: trip, OpenTimeout: time.Minute}
			c.Failover.Timeout = 200 * time.Millisecond
		}})
		coord := newStub(t, func(n int, w http.ResponseWriter, r *http.Request) {
			answerError(w, http.StatusInternalServerError, api.CodeInternal, nil)
		})
		h.own("payments", "c1", coord.URL, true)
		for i := 0; i < trip; i++ {
			wantError(t, h.do("PUT", "/v1/namespaces/payments/objects/x", `{}`, jsonHdr(nil)), 500, api.CodeInternal)
		}
		for i := 0; i < 3; i++ {
			wantError(t, h.do("PUT", "/v1/namespaces/payments/objects/x", `{}`, jsonHdr(nil)), 503, api.CodeNoOwner)
		}
		if n := coord.count(); n != trip {
			t.Fatalf("coordinator saw %d requests; want %d, then none once the breaker opened", n, trip)
		}
		if s := h.counter("cpgw_gateway_breaker_state", "coordinator", coord.URL); s != 2 {
			t.Errorf("breaker state gauge %v, want 2 (open)", s)
		}
		if h.counter("cpgw_gateway_forward_retries_total", "reason", "breaker_open") < 1 {
			t.Error("no breaker_open retries counted")
		}
	})
	t.Run("refused connections", func(t *testing.T) {
		ct := newCountingTransport()
		h := newHarness(t, harnessOpts{config: func(c *Config) {
			c.Breaker = BreakerConfig{ConsecutiveFailures: trip, OpenTimeout: time.Minute}
			c.Failover.Timeout = 300 * time.Millisecond
			c.Transport = ct
		}})
		h.own("payments", "c-dead", deadAddr(t), true)
		for i := 0; i < 3; i++ {
			wantError(t, h.do("PUT", "/v1/namespaces/payments/objects/x", `{}`, jsonHdr(nil)), 503, api.CodeNoOwner)
		}
		retries := h.counter("cpgw_gateway_forward_retries_total")
		if d := ct.dials.Load(); d != trip {
			t.Fatalf("%d dials over %v retries; want %d, then none once the breaker opened", d, retries, trip)
		}
	})
	t.Run("half-open probe closes it again", func(t *testing.T) {
		var fail atomic.Bool
		fail.Store(true)
		h := newHarness(t, harnessOpts{config: func(c *Config) {
			c.Breaker = BreakerConfig{ConsecutiveFailures: 1, OpenTimeout: 100 * time.Millisecond}
			c.Failover.Timeout = 50 * time.Millisecond
		}})
		coord := newStub(t, func(n int, w http.ResponseWriter, r *http.Request) {
			if fail.Load() {
				answerError(w, http.StatusBadGateway, "bad_gateway", nil)
				return
			}
			created(w, r)
		})
		h.own("payments", "c1", coord.URL, true)
		wantError(t, h.do("PUT", "/v1/namespaces/payments/objects/x", `{}`, jsonHdr(nil)), 502, "bad_gateway")
		wantError(t, h.do("PUT", "/v1/namespaces/payments/objects/x", `{}`, jsonHdr(nil)), 503, api.CodeNoOwner)
		fail.Store(false)
		time.Sleep(150 * time.Millisecond)
		if resp := h.do("PUT", "/v1/namespaces/payments/objects/x", `{}`, jsonHdr(nil)); resp.StatusCode != http.StatusCreated {
			t.Fatalf("after the open timeout: status %d", resp.StatusCode)
		}
		if s := h.counter("cpgw_gateway_breaker_state", "coordinator", coord.URL); s != 0 {
			t.Errorf("breaker state gauge %v, want 0 (closed)", s)
		}
	})
}

// TestRequestID: the client's X-Request-Id reaches the coordinator and
// comes back; without one the gateway makes one and does the same.
func TestRequestID(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	coord := newStub(t, func(n int, w http.ResponseWriter, r *http.Request) { created(w, r) })
	h.own("payments", "c1", coord.URL, true)

	resp := h.do("PUT", "/v1/namespaces/payments/objects/x", `{}`, jsonHdr(map[string]string{api.HeaderRequestID: "client-req-42"}))
	if got := resp.Header.Get(api.HeaderRequestID); got != "client-req-42" {
		t.Errorf("echoed %q", got)
	}
	if got := coord.requests()[0].Header.Get(api.HeaderRequestID); got != "client-req-42" {
		t.Errorf("forwarded %q", got)
	}

	resp = h.do("PUT", "/v1/namespaces/payments/objects/x", `{}`, jsonHdr(nil))
	gen := resp.Header.Get(api.HeaderRequestID)
	if gen == "" {
		t.Fatal("no request id generated")
	}
	if got := coord.requests()[1].Header.Get(api.HeaderRequestID); got != gen {
		t.Errorf("forwarded %q, echoed %q", got, gen)
	}

	// An unusable id (control characters are refused by Go's client, so
	// an over-long one stands in) is replaced, not refused.
	long := string(make([]byte, 0, 200))
	for len(long) < 200 {
		long += "x"
	}
	resp = h.do("GET", "/healthz", "", map[string]string{api.HeaderRequestID: long})
	if got := resp.Header.Get(api.HeaderRequestID); got == long || got == "" {
		t.Errorf("over-long id echoed as %q", got)
	}
	// Errors carry it too.
	resp = h.do("GET", "/nope", "", map[string]string{api.HeaderRequestID: "r-404"})
	if got := resp.Header.Get(api.HeaderRequestID); got != "r-404" {
		t.Errorf("404 echoed %q", got)
	}
}
