package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cpgw/cpgw/api"
	"github.com/cpgw/cpgw/shards"
	"github.com/cpgw/cpgw/store"
)

// TestReadyz: not ready until the shard map is loaded, then ready; /healthz
// is up all along.
func TestReadyz(t *testing.T) {
	h := newHarness(t, harnessOpts{noRun: true})
	wantError(t, h.do("GET", "/readyz", "", nil), http.StatusServiceUnavailable, api.CodeUnavailable)
	if resp := h.do("GET", "/healthz", "", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz %d before Run", resp.StatusCode)
	}
	// Before the map is loaded, /v1/shards has nothing to say either.
	wantError(t, h.do("GET", "/v1/shards", "", nil), http.StatusServiceUnavailable, api.CodeUnavailable)

	h.run()
	eventually(t, 5*time.Second, "/readyz 200", func() bool {
		resp := h.do("GET", "/readyz", "", nil)
		return resp.StatusCode == http.StatusOK
	})
}

// TestReadyzStoreSilent: a map that has not been refreshed for
// ReadyStaleAfter makes the gateway not ready.
func TestReadyzStoreSilent(t *testing.T) {
	h := newHarness(t, harnessOpts{config: func(c *Config) {
		c.RefreshInterval = 20 * time.Millisecond
		c.ReadyStaleAfter = 100 * time.Millisecond
	}})
	if resp := h.do("GET", "/readyz", "", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz %d", resp.StatusCode)
	}
	h.primary.Close() // every later load fails
	eventually(t, 5*time.Second, "/readyz 503 once the store is silent", func() bool {
		return h.do("GET", "/readyz", "", nil).StatusCode == http.StatusServiceUnavailable
	})
}

// TestShardMapJSON: GET /v1/shards has the contract's shape, with home
// regions and lease times run down.
func TestShardMapJSON(t *testing.T) {
	h := newHarness(t, harnessOpts{noRun: true})
	ctx := context.Background()
	for _, r := range []string{"us-east", "eu-west"} {
		if err := h.primary.Heartbeat(ctx, store.Member{ID: "m-" + r, Region: r, Address: "http://x"}, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	h.run()
	h.waitReady()
	h.ownShard(3, "c1", "http://127.0.0.1:1")
	h.waitOwner(3, "http://127.0.0.1:1")

	resp := h.do("GET", "/v1/shards", "", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var raw map[string][]map[string]any
	body := readAll(t, resp)
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	rows := raw["shards"]
	if len(raw) != 1 || len(rows) != testShards {
		t.Fatalf("want {\"shards\": [%d rows]}, got %s", testShards, body)
	}
	wantKeys := []string{"shard", "owner", "region", "address", "fencingToken", "leaseRemainingMs", "homeRegion"}
	layout, _ := shards.NewLayout(testShards, []string{"us-east", "eu-west"})
	for i, row := range rows {
		if len(row) != len(wantKeys) {
			t.Fatalf("row %d has keys %v, want %v", i, row, wantKeys)
		}
		for _, k := range wantKeys {
			if _, ok := row[k]; !ok {
				t.Fatalf("row %d lacks %q: %v", i, k, row)
			}
		}
		if int(row["shard"].(float64)) != i {
			t.Errorf("row %d is shard %v", i, row["shard"])
		}
		if row["homeRegion"] != layout.HomeRegion(i) {
			t.Errorf("shard %d home %v, want %s", i, row["homeRegion"], layout.HomeRegion(i))
		}
	}
	var m api.ShardMap
	json.Unmarshal(body, &m)
	e := m.Shards[3]
	if e.Owner != "c1" || e.Region != "test-region" || e.Address != "http://127.0.0.1:1" || e.FencingToken != 1 ||
		e.LeaseRemainingMs <= 0 || e.LeaseRemainingMs > time.Minute.Milliseconds() {
		t.Errorf("shard 3: %+v", e)
	}
	if free := m.Shards[4]; free.Owner != "" || free.Address != "" || free.LeaseRemainingMs != 0 {
		t.Errorf("unowned shard 4: %+v", free)
	}

	// The gauges count the same map.
	unowned := 0
	for _, e := range m.Shards {
		if e.Owner == "" {
			unowned++
		}
	}
	if unowned == 0 || unowned == testShards {
		t.Fatalf("%d of %d shards unowned: the check below would not tell owned from unowned", unowned, testShards)
	}
	metrics := string(readAll(t, h.do("GET", "/metrics", "", nil)))
	for _, want := range []string{
		fmt.Sprintf("cpgw_gateway_shards %d", testShards),
		fmt.Sprintf("cpgw_gateway_shards_without_owner %d", unowned),
	} {
		if !slices.Contains(strings.Split(metrics, "\n"), want) {
			t.Errorf("/metrics lacks the line %q", want)
		}
	}
}

// TestRouting404And405: unknown routes and wrong methods answer in JSON.
func TestRouting404And405(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	cases := []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{"GET", "/nope", 404, api.CodeNotFound, ""},
		{"GET", "/v1/namespaces/a/objects/b/c", 404, api.CodeNotFound, ""},
		{"GET", "/v2/shards", 404, api.CodeNotFound, ""},
		{"POST", "/v1/namespaces/a/objects/b", 405, api.CodeMethodNotAllowed, "DELETE, GET, PUT"},
		{"PATCH", "/v1/namespaces/a/objects/b", 405, api.CodeMethodNotAllowed, "DELETE, GET, PUT"},
		{"DELETE", "/v1/namespaces/a/objects", 405, api.CodeMethodNotAllowed, "GET"},
		{"GET", "/v1/namespaces/a", 405, api.CodeMethodNotAllowed, "PUT"},
		{"PUT", "/v1/shards", 405, api.CodeMethodNotAllowed, "GET"},
		{"POST", "/healthz", 405, api.CodeMethodNotAllowed, "GET"},
		{"BREW", "/v1/shards", 405, api.CodeMethodNotAllowed, ""},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			resp := h.do(c.method, c.path, "", nil)
			wantError(t, resp, c.status, c.code)
			if c.allow != "" && resp.Header.Get("Allow") != c.allow {
				t.Errorf("Allow %q, want %q", resp.Header.Get("Allow"), c.allow)
			}
		})
	}
}

// TestWatchNotImplemented: the route exists and says it is coming.
func TestWatchNotImplemented(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	eb := wantError(t, h.do("GET", "/v1/namespaces/payments/watch?fromVersion=3", "", nil), http.StatusNotImplemented, "not_implemented")
	if !strings.Contains(eb.Error.Message, "later issue") {
		t.Errorf("message %q does not say it arrives later", eb.Error.Message)
	}
}

// TestMetrics: /metrics serves the gateway's instruments, with requests
// labelled by route pattern, never by raw path.
func TestMetrics(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.do("GET", "/v1/namespaces/payments/objects/limits?consistency=bogus", "", nil)
	h.do("GET", "/v1/shards", "", nil)
	resp := h.do("GET", "/metrics", "", nil)
	body := string(readAll(t, resp))
	for _, want := range []string{
		`cpgw_gateway_request_duration_seconds_count{code="400",consistency="none",method="GET",route="/v1/namespaces/{ns}/objects/{name}"} 1`,
		`cpgw_gateway_request_duration_seconds_count{code="200",consistency="none",method="GET",route="/v1/shards"} 1`,
		"cpgw_gateway_shard_map_age_seconds",
		"cpgw_gateway_replica_staleness_seconds",
		`cpgw_gateway_shard_map_refreshes_total{result="ok",trigger="start"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, "payments") {
		t.Error("a raw path leaked into a label")
	}
}

// TestPrivateRegistry: a gateway given no Registerer serves its own,
// with the Go collector, and two such gateways do not collide.
func TestPrivateRegistry(t *testing.T) {
	for i := 0; i < 2; i++ {
		h := newHarness(t, harnessOpts{noRun: true, config: func(c *Config) { c.Registerer = nil }})
		body := string(readAll(t, h.do("GET", "/metrics", "", nil)))
		if !strings.Contains(body, "go_goroutines") || !strings.Contains(body, "cpgw_gateway_shard_map_age_seconds") {
			t.Fatalf("private registry lacks expected metrics")
		}
	}
	// A shared registry without a wrapper is refused with a hint.
	reg := prometheus.NewRegistry()
	h := newHarness(t, harnessOpts{noRun: true, config: func(c *Config) { c.Registerer = reg }})
	_, err := New(h.primary, h.replica, func() Config { c := testConfig(t); c.Registerer = reg; return c }())
	if err == nil || !strings.Contains(err.Error(), "WrapRegistererWith") {
		t.Fatalf("second gateway on one registry: %v", err)
	}
}

// TestAuthenticateHook: Authenticate wraps the /v1 routes, after the
// request id and access log, and not the probes.
func TestAuthenticateHook(t *testing.T) {
	deny := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer ok" {
				if requestID(r.Context()) == "" {
					t.Error("Authenticate ran before the request id was set")
				}
				writeError(w, http.StatusUnauthorized, api.CodeUnauthenticated, "no")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	h := newHarness(t, harnessOpts{config: func(c *Config) { c.Authenticate = deny }})
	resp := h.do("GET", "/v1/shards", "", nil)
	wantError(t, resp, http.StatusUnauthorized, api.CodeUnauthenticated)
	if resp.Header.Get(api.HeaderRequestID) == "" {
		t.Error("401 without a request id")
	}
	if resp := h.do("GET", "/v1/shards", "", map[string]string{"Authorization": "Bearer ok"}); resp.StatusCode != 200 {
		t.Errorf("authenticated: %d", resp.StatusCode)
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if resp := h.do("GET", p, "", nil); resp.StatusCode != 200 {
			t.Errorf("%s behind authentication: %d", p, resp.StatusCode)
		}
	}
}

// TestRecoverer: a panic becomes a logged 500 JSON; ErrAbortHandler is
// left to net/http.
func TestRecoverer(t *testing.T) {
	h := recoverer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("boom") }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 500 {
		t.Fatalf("status %d", rec.Code)
	}
	var eb api.ErrorBody
	if err := json.NewDecoder(rec.Body).Decode(&eb); err != nil || eb.Error.Code != api.CodeInternal {
		t.Fatalf("body %+v %v", eb, err)
	}

	abort := recoverer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) }))
	func() {
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Errorf("recovered %v, want http.ErrAbortHandler re-raised", v)
			}
		}()
		abort.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}()
}

// TestConfigValidate: what Validate refuses, and that zero means default.
func TestConfigValidate(t *testing.T) {
	ok := func(c *Config) {}
	cases := []struct {
		name   string
		modify func(*Config)
		want   string // "" for valid
	}{
		{"defaults with a region", ok, ""},
		{"zero values are defaults", func(c *Config) { *c = Config{Region: "r"} }, ""},
		{"no region", func(c *Config) { c.Region = "" }, "Region is required"},
		{"region with slash", func(c *Config) { c.Region = "a/b" }, "Region"},
		{"id with space", func(c *Config) { c.ID = "a b" }, "ID"},
		{"negative shards", func(c *Config) { c.Shards = -1 }, "Shards"},
		{"too many shards", func(c *Config) { c.Shards = shards.MaxShards + 1 }, "Shards"},
		{"negative refresh", func(c *Config) { c.RefreshInterval = -time.Second }, "RefreshInterval"},
		{"negative staleness", func(c *Config) { c.DefaultMaxStaleness = -time.Second }, "DefaultMaxStaleness"},
		{"max interval below initial", func(c *Config) { c.Retry.InitialInterval = time.Second; c.Retry.MaxInterval = time.Millisecond }, "MaxInterval"},
		{"ready window below refresh", func(c *Config) { c.RefreshInterval = time.Minute }, "ReadyStaleAfter"},
		{"beacon ttl below interval", func(c *Config) { c.Beacon.TTL = time.Millisecond }, "Beacon.TTL"},
		{"registerer that cannot gather", func(c *Config) {
			c.Registerer = prometheus.WrapRegistererWith(prometheus.Labels{"region": "r"}, prometheus.NewRegistry())
		}, "Gatherer"},
		{"registerer with a gatherer", func(c *Config) {
			reg := prometheus.NewRegistry()
			c.Registerer = prometheus.WrapRegistererWith(prometheus.Labels{"region": "r"}, reg)
			c.Gatherer = reg
		}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Region = "r"
			c.modify(&cfg)
			err := cfg.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
	d := DefaultConfig()
	if d.RefreshInterval != 250*time.Millisecond || d.DefaultMaxStaleness != 5*time.Second ||
		d.Retry != (RetryConfig{25 * time.Millisecond, 500 * time.Millisecond}) ||
		d.Failover != (FailoverConfig{Timeout: 10 * time.Second, MaxQueued: 1024}) || d.ForwardTimeout != 3*time.Second ||
		d.Breaker.ConsecutiveFailures != 5 || d.ID == "" {
		t.Errorf("defaults %+v", d)
	}
}

// TestClusterShardCountWins: a gateway configured with another shard count
// routes by the count recorded in the store.
func TestClusterShardCountWins(t *testing.T) {
	h := newHarness(t, harnessOpts{config: func(c *Config) { c.Shards = 64 }})
	if n := h.gw.cache.current().layout.Shards; n != testShards {
		t.Fatalf("routing with %d shards, the cluster has %d", n, testShards)
	}
}
