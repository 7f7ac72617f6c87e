package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cpgw/cpgw/api"
	"github.com/cpgw/cpgw/fencing"
	"github.com/cpgw/cpgw/shards"
	"github.com/cpgw/cpgw/store"
	"github.com/cpgw/cpgw/store/embedded"
)

// testShards is the cluster's shard count in these tests: small, so the
// shard map is cheap, and more than one, so routing matters.
const testShards = 16

// harness is a gateway on a real listener in front of an embedded primary
// and a lagging embedded replica. Coordinators are stubs (see stub) that
// tests point leases at.
type harness struct {
	t       testing.TB
	primary *embedded.Store
	replica *embedded.Replica
	gw      *Gateway
	srv     *httptest.Server
	reg     *prometheus.Registry

	mu     sync.Mutex
	tokens map[int]fencing.Token // shard → token of the lease the test granted
	owners map[int]string        // shard → owner id of that lease
}

// testConfig is a config that fails fast: short retry budget, quick refresh
// and beacons.
func testConfig(t testing.TB) Config {
	cfg := DefaultConfig()
	cfg.Region = "test-region"
	cfg.ID = "gw-1"
	cfg.RefreshInterval = 50 * time.Millisecond
	cfg.ReadyStaleAfter = 2 * time.Second
	cfg.Beacon.Interval = 10 * time.Millisecond
	cfg.Retry = RetryConfig{InitialInterval: 5 * time.Millisecond, MaxInterval: 50 * time.Millisecond}
	cfg.Failover.Timeout = 2 * time.Second
	cfg.ForwardTimeout = 2 * time.Second
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	return cfg
}

type harnessOpts struct {
	lag    time.Duration
	noRun  bool // do not start Run (readiness tests start it themselves)
	config func(*Config)
}

func newHarness(t testing.TB, o harnessOpts) *harness {
	t.Helper()
	primary, err := embedded.New(embedded.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { primary.Close() })
	if _, err := primary.InitCluster(context.Background(), testShards); err != nil {
		t.Fatal(err)
	}
	replica, err := embedded.NewReplica(primary, embedded.ReplicaConfig{Lag: o.lag})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { replica.Close() })

	cfg := testConfig(t)
	h := &harness{t: t, primary: primary, replica: replica, reg: prometheus.NewRegistry(),
		tokens: map[int]fencing.Token{}, owners: map[int]string{}}
	cfg.Registerer = h.reg
	if o.config != nil {
		o.config(&cfg)
	}
	h.gw, err = New(primary, replica, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewServer(h.gw.Handler())
	t.Cleanup(h.srv.Close)
	if !o.noRun {
		h.run()
		h.waitReady()
	}
	return h
}

// run starts the gateway's Run and stops it (and waits) at cleanup.
func (h *harness) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.gw.Run(ctx) }()
	h.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			h.t.Errorf("Run: %v", err)
		}
	})
}

func (h *harness) waitReady() {
	h.t.Helper()
	eventually(h.t, 5*time.Second, "gateway ready", func() bool {
		ok, _ := h.gw.cache.ready(time.Minute)
		return ok
	})
}

// waitBound waits until the staleness tracker knows a bound.
func (h *harness) waitBound() time.Duration {
	h.t.Helper()
	var b time.Duration
	eventually(h.t, 5*time.Second, "staleness bound known", func() bool {
		var ok bool
		b, ok = h.gw.tracker.Bound()
		return ok
	})
	return b
}

// shardOf is the shard of an unpinned namespace.
func (h *harness) shardOf(ns string) int { return shards.Of(ns, testShards) }

// own grants the lease of ns's shard to a coordinator at addr, releasing
// any lease this test granted before, and waits until the gateway's map
// shows it unless wait is false (tests of the refresh-on-421 path).
func (h *harness) own(ns, owner, addr string, wait bool) int {
	h.t.Helper()
	shard := h.shardOf(ns)
	h.ownShard(shard, owner, addr)
	if wait {
		h.waitOwner(shard, addr)
	}
	return shard
}

func (h *harness) ownShard(shard int, owner, addr string) {
	h.t.Helper()
	ctx := context.Background()
	h.mu.Lock()
	defer h.mu.Unlock()
	if tok, ok := h.tokens[shard]; ok {
		if err := h.primary.ReleaseLease(ctx, shard, h.owners[shard], tok); err != nil {
			h.t.Fatalf("release shard %d: %v", shard, err)
		}
	}
	l, err := h.primary.AcquireLease(ctx, store.LeaseRequest{
		Shard: shard, Owner: owner, Region: "test-region", Address: addr, TTL: time.Minute,
	})
	if err != nil {
		h.t.Fatalf("acquire shard %d: %v", shard, err)
	}
	h.tokens[shard], h.owners[shard] = l.Token, owner
}

func (h *harness) waitOwner(shard int, addr string) {
	h.t.Helper()
	eventually(h.t, 5*time.Second, "map shows the new owner", func() bool {
		s := h.gw.cache.current()
		if s == nil {
			return false
		}
		e, _ := s.m.Entry(shard)
		return e.Address == addr
	})
}

// put writes an object straight into the primary under the shard's lease,
// as its owner would, and returns its version.
func (h *harness) put(ns, name, value string) uint64 {
	h.t.Helper()
	shard := h.shardOf(ns)
	h.mu.Lock()
	tok, ok := h.tokens[shard]
	h.mu.Unlock()
	if !ok {
		h.t.Fatalf("put: shard %d has no lease from this test", shard)
	}
	res, err := h.primary.Apply(context.Background(), store.Batch{
		Shard: shard, Token: tok, Now: time.Now(),
		Writes: []store.Write{{Op: store.OpPut, Namespace: ns, Name: name, Value: []byte(value)}},
	})
	if err != nil || res[0].Err != nil {
		h.t.Fatalf("put %s/%s: %v %v", ns, name, err, res)
	}
	return res[0].Object.Version
}

// do sends a request to the gateway.
func (h *harness) do(method, path string, body string, hdr map[string]string) *http.Response {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	h.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// counter reads a counter of the gateway's registry (0 if never set).
func (h *harness) counter(name string, labels ...string) float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if got[labels[i]] != labels[i+1] {
					continue metric
				}
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// errorBody decodes an api.ErrorBody.
func errorBody(t *testing.T, resp *http.Response) api.ErrorBody {
	t.Helper()
	var eb api.ErrorBody
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &eb); err != nil {
		t.Fatalf("error body %q: %v", b, err)
	}
	return eb
}

// wantError checks status and error code.
func wantError(t *testing.T, resp *http.Response, status int, code string) api.ErrorBody {
	t.Helper()
	if resp.StatusCode != status {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, status, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	eb := errorBody(t, resp)
	if eb.Error.Code != code {
		t.Fatalf("code %q, want %q (message %q)", eb.Error.Code, code, eb.Error.Message)
	}
	return eb
}

func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", within, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// seen is a request a stub coordinator received.
type seen struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// stub is a scripted coordinator on a real listener. Its script gets the
// request number (1-based) and answers; the stub records every request.
type stub struct {
	t      testing.TB
	srv    *httptest.Server
	URL    string
	script func(n int, w http.ResponseWriter, r *http.Request)

	mu   sync.Mutex
	reqs []seen
}

func newStub(t testing.TB, script func(n int, w http.ResponseWriter, r *http.Request)) *stub {
	s := &stub{t: t, script: script}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, seen{Method: r.Method, Path: r.URL.EscapedPath(), Header: r.Header.Clone(), Body: body})
		n := len(s.reqs)
		s.mu.Unlock()
		s.script(n, w, r)
	}))
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

func (s *stub) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

func (s *stub) requests() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.reqs...)
}

// answer writes a JSON response with headers.
func answer(w http.ResponseWriter, status int, hdr map[string]string, body any) {
	for k, v := range hdr {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

func answerError(w http.ResponseWriter, status int, code string, owner *api.Owner) {
	answer(w, status, nil, api.ErrorBody{Error: api.Error{Code: code, Message: "stub says " + code}, Owner: owner})
}

// created is a stub's 201 for a PUT.
func created(w http.ResponseWriter, r *http.Request) {
	answer(w, http.StatusCreated, map[string]string{
		"ETag": `"1"`, api.HeaderFencingToken: "1", api.HeaderReplicasAcked: "1", api.HeaderServedBy: "test-region/stub",
	}, api.Object{Metadata: api.Metadata{Namespace: "ns", Name: "x", Version: 1}, Value: json.RawMessage(`{"a":1}`)})
}

// deadAddr returns the URL of a port nothing listens on: connections to it
// are refused, so a request to it is never sent.
func deadAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func jsonHdr(extra map[string]string) map[string]string {
	h := map[string]string{"Content-Type": "application/json"}
	for k, v := range extra {
		h[k] = v
	}
	return h
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(b)
}

func storeNamespace(name, home string, shard int) store.Namespace {
	return store.Namespace{Name: name, HomeRegion: home, Shard: shard}
}
