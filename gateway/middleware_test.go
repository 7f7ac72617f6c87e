package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/cpgw/cpgw/api"
)

type ctxKey struct{}

// TestRequestIDContext: the id is echoed, found by middleware.GetReqID and on the
// request's logger, and the request context still carries the values and
// the cancellation of its parent.
func TestRequestIDContext(t *testing.T) {
	for _, tc := range []struct {
		name, sent string
		kept       bool
	}{
		{"client id kept", "abc-123", true},
		{"none sent", "", false},
		{"unprintable replaced", "a\x01b", false},
		{"too long replaced", strings.Repeat("x", 129), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			base := slog.New(slog.NewJSONHandler(&logs, nil))
			parent, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
			var seen string
			h := withRequestID(base, newRequestIDs())(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ctx := r.Context()
				seen = middleware.GetReqID(ctx)
				if requestID(ctx) != seen {
					t.Errorf("requestID %q, GetReqID %q", requestID(ctx), seen)
				}
				if ctx.Value(ctxKey{}) != "v" {
					t.Error("parent context value lost")
				}
				logger(ctx).Info("hello")
				if first, again := logger(ctx), logger(ctx); first != again {
					t.Error("a new logger per call")
				}
				cancel()
				<-ctx.Done() // the parent's cancellation reaches the request
			}))
			req := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(parent)
			if tc.sent != "" {
				req.Header.Set(api.HeaderRequestID, tc.sent)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			got := rec.Header().Get(api.HeaderRequestID)
			if got != seen || got == "" {
				t.Fatalf("echoed %q, handler saw %q", got, seen)
			}
			if tc.kept != (got == tc.sent) {
				t.Errorf("sent %q, got %q; want kept=%v", tc.sent, got, tc.kept)
			}
			var line map[string]any
			if err := json.Unmarshal(logs.Bytes(), &line); err != nil || line["request_id"] != got {
				t.Errorf("log line %s (err %v): want request_id %q", logs.Bytes(), err, got)
			}
		})
	}
}

// TestAccessLog: one line per request with the request's id and every
// field, at info (debug for probes), and nothing when the level is off.
func TestAccessLog(t *testing.T) {
	for _, tc := range []struct {
		name, path string
		level      slog.Level
		wantLevel  string // "" = no line
	}{
		{"api route at info", "/v1/x", slog.LevelInfo, "INFO"},
		{"probe at debug", "/healthz", slog.LevelDebug, "DEBUG"},
		{"probe hidden at info", "/healthz", slog.LevelInfo, ""},
		{"all hidden at warn", "/v1/x", slog.LevelWarn, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			base := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: tc.level})).With("gateway", "gw-1")
			cfg := DefaultConfig()
			cfg.Logger = base
			g := &Gateway{cfg: cfg, metrics: newMetrics(gaugeReaders{})}
			r := chi.NewRouter()
			r.Use(withRequestID(base, newRequestIDs()), g.accessLog)
			r.Get(tc.path, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set(api.HeaderConsistency, api.ConsistencyLocal)
				w.WriteHeader(http.StatusTeapot)
				w.Write([]byte("12345"))
			})
			req := httptest.NewRequest(http.MethodGet, tc.path, nil)
			req.Header.Set(api.HeaderRequestID, "rid-1")
			r.ServeHTTP(httptest.NewRecorder(), req)
			if tc.wantLevel == "" {
				if logs.Len() != 0 {
					t.Fatalf("want no line, got %s", logs.Bytes())
				}
				return
			}
			var line map[string]any
			if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
				t.Fatalf("%s: %v", logs.Bytes(), err)
			}
			for k, want := range map[string]any{
				"level": tc.wantLevel, "msg": "request", "gateway": "gw-1", "request_id": "rid-1", "method": "GET",
				"path": tc.path, "route": tc.path, "status": 418.0, "bytes": 5.0, "consistency": "local", "remote": req.RemoteAddr,
			} {
				if line[k] != want {
					t.Errorf("%s = %v, want %v", k, line[k], want)
				}
			}
			if _, ok := line["duration"].(float64); !ok {
				t.Errorf("duration = %v", line["duration"])
			}
			if got := counterValue(t, g.metrics.request(tc.path, "GET", 418, "local").(prometheus.Metric)); got != 1 {
				t.Errorf("request histogram count %v, want 1", got)
			}
		})
	}
}

// TestChildCache: cached children are the vector's own, one per label
// set, also under concurrent first use.
func TestChildCache(t *testing.T) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c"}, []string{"served", "reason"})
	c := newChildCache(func(l readLabels) prometheus.Counter { return vec.WithLabelValues(l.served, l.reason) })
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 100 {
				c.get(readLabels{served: "s", reason: []string{"a", "b", "c"}[(i+j)%3]}).Inc()
			}
		})
	}
	wg.Wait()
	total := 0.0
	for _, r := range []string{"a", "b", "c"} {
		if c.get(readLabels{"s", r}) != vec.WithLabelValues("s", r) {
			t.Errorf("reason %s: cached child is not the vector's", r)
		}
		total += counterValue(t, vec.WithLabelValues("s", r))
	}
	if total != 800 {
		t.Errorf("counted %v, want 800", total)
	}
}

// counterValue is a counter's value or a histogram's sample count.
func counterValue(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	if h := out.GetHistogram(); h != nil {
		return float64(h.GetSampleCount())
	}
	return out.GetCounter().GetValue()
}

// TestRequestIDsUnique: generated ids are valid, distinct within a
// process, and two gateways' ids differ from the first.
func TestRequestIDsUnique(t *testing.T) {
	a, b := newRequestIDs(), newRequestIDs()
	seen := make(map[string]bool)
	for range 1000 {
		id := a.next()
		if !validRequestID(id) || seen[id] {
			t.Fatalf("id %q: valid %v, repeated %v", id, validRequestID(id), seen[id])
		}
		seen[id] = true
	}
	if first := b.next(); seen[first] || first[:14] == a.next()[:14] {
		t.Fatalf("a second source's id %q shares the first's prefix %q", first, a.prefix)
	}
}
