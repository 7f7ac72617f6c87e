package gateway

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cpgw/cpgw/api"
)

// A write whose attempt fails after it was sent (a timeout, a dropped
// connection) is sent again with the same Idempotency-Key, which the owner
// applies at most once; a client that sent no key gets one from the gateway
// before the first attempt, and does not see Idempotent-Replayed.
func TestUnansweredWriteRetriedWithItsKey(t *testing.T) {
	const path, body = "/v1/namespaces/payments/objects/limits", `{"limit":1}`
	firstFails := map[string]func(w http.ResponseWriter){
		"timeout": func(http.ResponseWriter) { time.Sleep(500 * time.Millisecond) }, // past ForwardTimeout
		"connection dropped": func(w http.ResponseWriter) {
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
			}
		},
	}
	for name, fail := range firstFails {
		for _, clientKey := range []string{"client-key-1", ""} {
			t.Run(name+"/key="+clientKey, func(t *testing.T) {
				h := newHarness(t, harnessOpts{config: func(cfg *Config) { cfg.ForwardTimeout = 200 * time.Millisecond }})
				coord := newStub(t, func(n int, w http.ResponseWriter, r *http.Request) {
					if n == 1 {
						fail(w)
						return
					}
					w.Header().Set(api.HeaderIdempotentReplayed, "true") // the owner replays the first outcome
					created(w, r)
				})
				h.own("payments", "c1", coord.URL, true)
				hdr := jsonHdr(nil)
				if clientKey != "" {
					hdr[api.HeaderIdempotencyKey] = clientKey
				}
				resp := h.do("PUT", path, body, hdr)
				if resp.StatusCode != http.StatusCreated {
					t.Fatalf("status %d: %s", resp.StatusCode, readAll(t, resp))
				}
				reqs := coord.requests()
				if len(reqs) != 2 {
					t.Fatalf("coordinator saw %d attempts, want 2", len(reqs))
				}
				k1, k2 := reqs[0].Header.Get(api.HeaderIdempotencyKey), reqs[1].Header.Get(api.HeaderIdempotencyKey)
				if k1 == "" || k1 != k2 || string(reqs[1].Body) != body {
					t.Fatalf("attempts carried keys %q and %q", k1, k2)
				}
				switch clientKey {
				case "":
					if !strings.HasPrefix(k1, generatedKeyPrefix) {
						t.Fatalf("generated key %q lacks %q", k1, generatedKeyPrefix)
					}
					if resp.Header.Get(api.HeaderIdempotentReplayed) != "" {
						t.Fatal("Idempotent-Replayed relayed for a key the client never sent")
					}
				default:
					if k1 != clientKey {
						t.Fatalf("key %q, want the client's %q", k1, clientKey)
					}
					if resp.Header.Get(api.HeaderIdempotentReplayed) != "true" {
						t.Fatal("the owner's Idempotent-Replayed not relayed for the client's own key")
					}
				}
			})
		}
	}
}

// A retry that meets the first attempt still being applied (409
// idempotency_in_flight) waits for it; a client's own duplicate that meets
// one gets the 409.
func TestInFlightAfterUnknownOutcome(t *testing.T) {
	h := newHarness(t, harnessOpts{config: func(cfg *Config) { cfg.ForwardTimeout = 200 * time.Millisecond }})
	coord := newStub(t, func(n int, w http.ResponseWriter, r *http.Request) {
		switch n {
		case 1:
			time.Sleep(500 * time.Millisecond)
		case 2, 3:
			answerError(w, http.StatusConflict, api.CodeIdempotencyInFlight, nil)
		default:
			created(w, r)
		}
	})
	h.own("payments", "c1", coord.URL, true)
	resp := h.do("PUT", "/v1/namespaces/payments/objects/x", `{}`, jsonHdr(nil))
	if resp.StatusCode != http.StatusCreated || coord.count() != 4 {
		t.Fatalf("status %d after %d attempts, want 201 after 4", resp.StatusCode, coord.count())
	}

	dup := newStub(t, func(n int, w http.ResponseWriter, r *http.Request) {
		answerError(w, http.StatusConflict, api.CodeIdempotencyInFlight, nil)
	})
	h.own("payments", "c2", dup.URL, true)
	resp = h.do("PUT", "/v1/namespaces/payments/objects/x", `{}`, jsonHdr(map[string]string{api.HeaderIdempotencyKey: "k"}))
	wantError(t, resp, http.StatusConflict, api.CodeIdempotencyInFlight)
	if dup.count() != 1 {
		t.Fatalf("a client's duplicate was retried: %d attempts", dup.count())
	}
}

// A write that is never answered ends, at Failover.Timeout, in 503
// unavailable naming the key to retry with.
func TestUnansweredUntilTimeout(t *testing.T) {
	h := newHarness(t, harnessOpts{config: func(cfg *Config) {
		cfg.ForwardTimeout = 50 * time.Millisecond
		cfg.Failover.Timeout = 400 * time.Millisecond
	}})
	coord := newStub(t, func(n int, w http.ResponseWriter, r *http.Request) { time.Sleep(200 * time.Millisecond) })
	h.own("payments", "c1", coord.URL, true)
	resp := h.do("PUT", "/v1/namespaces/payments/objects/x", `{}`, jsonHdr(nil))
	eb := wantError(t, resp, http.StatusServiceUnavailable, api.CodeUnavailable)
	key := resp.Header.Get(api.HeaderIdempotencyKey)
	if !strings.HasPrefix(key, generatedKeyPrefix) || !strings.Contains(eb.Error.Message, key) || resp.Header.Get(api.HeaderRetryAfter) == "" {
		t.Fatalf("503 with key %q, Retry-After %q, message %q", key, resp.Header.Get(api.HeaderRetryAfter), eb.Error.Message)
	}
}

// While a shard has no owner its writes and strong reads are held, and go
// to the new owner as soon as the map shows one: the client sees latency,
// not an error. The hold per shard is bounded.
func TestFailoverHolds(t *testing.T) {
	t.Run("held until an owner appears", func(t *testing.T) {
		h := newHarness(t, harnessOpts{config: func(cfg *Config) { cfg.Failover.Timeout = 5 * time.Second }})
		coord := newStub(t, func(n int, w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut {
				created(w, r)
				return
			}
			answer(w, http.StatusOK, map[string]string{"ETag": `"1"`}, api.Object{Metadata: api.Metadata{Version: 1}})
		})
		var wg sync.WaitGroup
		results := make(chan int, 2)
		start := time.Now()
		for _, req := range []struct{ method, path, body string }{
			{"PUT", "/v1/namespaces/payments/objects/x", `{}`},
			{"GET", "/v1/namespaces/payments/objects/x?consistency=strong", ""},
		} {
			wg.Go(func() {
				hdr := map[string]string{}
				if req.body != "" {
					hdr = jsonHdr(nil)
				}
				results <- h.do(req.method, req.path, req.body, hdr).StatusCode
			})
		}
		eventually(t, 2*time.Second, "both requests held", func() bool { return h.gw.holds.total() == 2 })
		time.Sleep(300 * time.Millisecond)
		h.own("payments", "c1", coord.URL, false)
		wg.Wait()
		close(results)
		for code := range results {
			if code/100 != 2 {
				t.Fatalf("a held request got %d", code)
			}
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("held requests answered after %v: the new owner was not used at once", d)
		}
		if h.gw.holds.total() != 0 {
			t.Fatalf("%d holds left", h.gw.holds.total())
		}
	})
	t.Run("a full hold answers at once", func(t *testing.T) {
		h := newHarness(t, harnessOpts{config: func(cfg *Config) {
			cfg.Failover.Timeout = 2 * time.Second
			cfg.Failover.MaxQueued = 1
		}})
		done := make(chan int, 1)
		go func() { done <- h.do("PUT", "/v1/namespaces/payments/objects/x", `{}`, jsonHdr(nil)).StatusCode }()
		eventually(t, time.Second, "first request held", func() bool { return h.gw.holds.total() == 1 })
		start := time.Now()
		resp := h.do("PUT", "/v1/namespaces/payments/objects/y", `{}`, jsonHdr(nil))
		wantError(t, resp, http.StatusServiceUnavailable, api.CodeNoOwner)
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Fatalf("refused after %v, want at once", d)
		}
		if code := <-done; code != http.StatusServiceUnavailable {
			t.Fatalf("held request with no owner ever: %d, want 503", code)
		}
	})
}

// A namespace settings change is not sent again after an attempt whose
// outcome is unknown, even with a key: its owner does not record keys.
func TestNamespaceWriteNotResent(t *testing.T) {
	h := newHarness(t, harnessOpts{config: func(cfg *Config) { cfg.ForwardTimeout = 100 * time.Millisecond }})
	coord := newStub(t, func(n int, w http.ResponseWriter, r *http.Request) { time.Sleep(300 * time.Millisecond) })
	h.own("payments", "c1", coord.URL, true)
	resp := h.do("PUT", "/v1/namespaces/payments", `{"homeRegion":"test-region"}`,
		jsonHdr(map[string]string{api.HeaderIdempotencyKey: "k"}))
	wantError(t, resp, http.StatusServiceUnavailable, api.CodeUnavailable)
	time.Sleep(50 * time.Millisecond)
	if n := coord.count(); n != 1 {
		t.Fatalf("coordinator saw %d attempts, want 1", n)
	}
}
