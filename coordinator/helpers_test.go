package coordinator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/cpgw/cpgw/api"
	"github.com/cpgw/cpgw/coordinator"
	"github.com/cpgw/cpgw/internal/redistest"
	"github.com/cpgw/cpgw/shards"
	"github.com/cpgw/cpgw/store"
	"github.com/cpgw/cpgw/store/embedded"
	"github.com/cpgw/cpgw/store/redisstore"
)

// testShards is the shard count of the test clusters: small, so a single
// coordinator owns every shard quickly.
const testShards = 4

// fullStore is a real store: the coordinator's interface plus the reads the
// tests check state with.
type fullStore interface {
	coordinator.Store
	Revision(ctx context.Context, shard int) (uint64, error)
}

// backend opens a fresh, empty store for one test.
type backend struct {
	name string
	open func(t *testing.T) fullStore
}

var (
	embeddedBackend = backend{"embedded", func(t *testing.T) fullStore {
		st, err := embedded.New(embedded.Config{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}}
	redisBackend = backend{"redis", func(t *testing.T) fullStore {
		rs := redistest.Start(t, 0)
		st, err := redisstore.New(rs.Client(t), redisstore.Config{})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}}
	bothBackends = []backend{embeddedBackend, redisBackend}
)

// hookStore wraps a real store to observe and steer the coordinator: it
// counts Apply calls, can hold them at a gate, and can make lease renewals
// and acquisitions fail as if the store were unreachable for them.
type hookStore struct {
	fullStore
	applies       atomic.Int64
	entered       chan struct{} // one value per Apply held at the gate
	failRenew     atomic.Bool
	failAcquire   atomic.Bool
	failHeartbeat atomic.Bool

	mu   sync.Mutex
	gate chan struct{} // when set, Apply waits until it is closed
}

func newHookStore(st fullStore) *hookStore {
	return &hookStore{fullStore: st, entered: make(chan struct{}, 1024)}
}

func (h *hookStore) Apply(ctx context.Context, b store.Batch) ([]store.Result, error) {
	h.applies.Add(1)
	h.mu.Lock()
	g := h.gate
	h.mu.Unlock()
	if g != nil {
		h.entered <- struct{}{}
		select {
		case <-g:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return h.fullStore.Apply(ctx, b)
}

var errInjected = errors.New("injected store failure")

func (h *hookStore) RenewLeases(ctx context.Context, rs []store.LeaseRenewal) ([]error, error) {
	if h.failRenew.Load() {
		return nil, errInjected
	}
	return h.fullStore.RenewLeases(ctx, rs)
}

func (h *hookStore) AcquireLease(ctx context.Context, req store.LeaseRequest) (store.Lease, error) {
	if h.failAcquire.Load() {
		return store.Lease{}, errInjected
	}
	return h.fullStore.AcquireLease(ctx, req)
}

func (h *hookStore) Heartbeat(ctx context.Context, m store.Member, ttl time.Duration) error {
	if h.failHeartbeat.Load() {
		return errInjected
	}
	return h.fullStore.Heartbeat(ctx, m, ttl)
}

// hold makes every Apply wait until the returned release is called.
func (h *hookStore) hold() (release func()) {
	g := make(chan struct{})
	h.mu.Lock()
	h.gate = g
	h.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			h.gate = nil
			h.mu.Unlock()
			close(g)
		})
	}
}

// waitEntered waits until an Apply is held at the gate.
func (h *hookStore) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-h.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no Apply reached the gate")
	}
}

// node is a coordinator behind a real HTTP listener, running.
type node struct {
	t      *testing.T
	id     string
	c      *coordinator.Coordinator
	url    string
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// testConfig is a Config with short lease and placement timings.
func testConfig(id, region, advertise string) coordinator.Config {
	cfg := coordinator.DefaultConfig()
	cfg.ID, cfg.Region, cfg.Advertise = id, region, advertise
	cfg.Shards = testShards
	cfg.Lease.TTL = 2 * time.Second
	cfg.Placement = coordinator.Placement{Interval: 20 * time.Millisecond, Grace: 200 * time.Millisecond, Settle: 100 * time.Millisecond}
	cfg.StoreTimeout = 4 * time.Second
	cfg.ShutdownTimeout = 5 * time.Second
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return cfg
}

// startNode starts a coordinator in us-east on st; mod adjusts its Config.
func startNode(t *testing.T, st coordinator.Store, id string, mod func(*coordinator.Config)) *node {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	n := &node{t: t, id: id, url: "http://" + srv.Listener.Addr().String(), done: make(chan error, 1)}
	cfg := testConfig(id, "us-east", n.url)
	if mod != nil {
		mod(&cfg)
	}
	c, err := coordinator.New(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.c = c
	srv.Config.Handler = c.Handler()
	srv.Start()
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go func() { n.done <- c.Run(ctx) }()
	t.Cleanup(func() {
		n.stop()
		srv.Close()
	})
	return n
}

// stop ends Run gracefully and waits for it.
func (n *node) stop() {
	n.once.Do(func() {
		n.cancel()
		select {
		case err := <-n.done:
			if err != nil {
				n.t.Errorf("%s: Run: %v", n.id, err)
			}
		case <-time.After(20 * time.Second):
			n.t.Errorf("%s: Run did not return", n.id)
		}
	})
}

// waitOwns waits until the node serves every shard in want.
func (n *node) waitOwns(t *testing.T, want ...int) {
	t.Helper()
	eventually(t, 10*time.Second, func() bool {
		owned := n.c.Owned()
		for _, s := range want {
			if !slices.Contains(owned, s) {
				return false
			}
		}
		return true
	}, "%s to own shards %v", n.id, want)
}

func (n *node) waitOwnsAll(t *testing.T) {
	t.Helper()
	all := make([]int, testShards)
	for i := range all {
		all[i] = i
	}
	n.waitOwns(t, all...)
}

func eventually(t *testing.T, within time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for "+format, args...)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// response is an HTTP response read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) object(t *testing.T) api.Object {
	t.Helper()
	var o api.Object
	if err := json.Unmarshal(r.body, &o); err != nil {
		t.Fatalf("decode object %s: %v", r.body, err)
	}
	return o
}

func (r response) errorBody(t *testing.T) api.ErrorBody {
	t.Helper()
	var e api.ErrorBody
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("decode error %s: %v", r.body, err)
	}
	return e
}

func (r response) code(t *testing.T) string { return r.errorBody(t).Error.Code }

// expect fails the test unless the response has the status and, for
// errors, the code.
func (r response) expect(t *testing.T, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if code != "" {
		if got := r.code(t); got != code {
			t.Fatalf("code %q, want %q; body %s", got, code, r.body)
		}
	}
}

// request is one HTTP request to a node; headers are name, value pairs.
func (n *node) request(t *testing.T, method, path string, body []byte, headers ...string) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, n.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

func (n *node) put(t *testing.T, ns, name, body string, headers ...string) response {
	t.Helper()
	return n.request(t, http.MethodPut, api.InternalObjectPath(shards.Of(ns, testShards), ns, name), []byte(body), headers...)
}

func (n *node) del(t *testing.T, ns, name string, headers ...string) response {
	t.Helper()
	return n.request(t, http.MethodDelete, api.InternalObjectPath(shards.Of(ns, testShards), ns, name), nil, headers...)
}

func (n *node) get(t *testing.T, ns, name string) response {
	t.Helper()
	return n.request(t, http.MethodGet, api.InternalObjectPath(shards.Of(ns, testShards), ns, name), nil)
}

func (n *node) list(t *testing.T, ns string) response {
	t.Helper()
	return n.request(t, http.MethodGet, api.InternalObjectsPath(shards.Of(ns, testShards), ns), nil)
}

// metric sums the values of a metric family's series whose labels include
// the given name, value pairs.
func (n *node) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	fams, err := n.c.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if !hasLabels(m, labels) {
				continue
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return sum
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// leaseOf reads a shard's lease state straight from the store.
func leaseOf(t *testing.T, st coordinator.Store, shard int) store.LeaseState {
	t.Helper()
	states, err := st.Leases(context.Background(), []int{shard})
	if err != nil {
		t.Fatal(err)
	}
	return states[0]
}

// objectsIn lists a namespace straight from the store.
func objectsIn(t *testing.T, st coordinator.Store, ns string) []store.Object {
	t.Helper()
	objs, _, err := st.List(context.Background(), shards.Of(ns, testShards), ns)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// async runs f on its own goroutine; the channel yields its result.
func async(f func() response) <-chan response {
	ch := make(chan response, 1)
	go func() { ch <- f() }()
	return ch
}

func await(t *testing.T, ch <-chan response) response {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(15 * time.Second):
		t.Fatal("request did not complete")
		return response{}
	}
}

// rawPut is a PUT through a test-owned client where the test needs full
// control of headers (the node helpers set Content-Type).
func rawPut(t *testing.T, url string, body io.Reader, contentLength int64, headers map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = contentLength
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// thief takes a shard's lease behind its holder's back: it releases the
// lease as if it had run out and acquires it, as a new owner would after
// the old one was partitioned away.
func thief(t *testing.T, st coordinator.Store, shard int) store.Lease {
	t.Helper()
	if cur := leaseOf(t, st, shard); cur.Held {
		if err := st.ReleaseLease(context.Background(), shard, cur.Lease.Owner, cur.Lease.Token); err != nil {
			t.Fatalf("release shard %d behind %s's back: %v", shard, cur.Lease.Owner, err)
		}
	}
	l, err := st.AcquireLease(context.Background(), store.LeaseRequest{
		Shard: shard, Owner: "thief", Region: "us-east", Address: "http://thief.invalid", TTL: time.Minute,
	})
	if err != nil {
		t.Fatalf("thief acquire shard %d: %v", shard, err)
	}
	return l
}

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

// newServer serves h on a real listener until the test ends; it returns
// the base URL.
func newServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func itoa(i int) string { return strconv.Itoa(i) }
