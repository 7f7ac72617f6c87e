package gateway

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// nopResponseWriter discards the response, so the benchmark measures the
// gateway's handler and not a recorder's buffers.
type nopResponseWriter struct{ h http.Header }

func (w *nopResponseWriter) Header() http.Header         { return w.h }
func (w *nopResponseWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopResponseWriter) WriteHeader(int)             {}

// BenchmarkLocalRead runs a local read through the gateway's whole handler
// (request id, access log and metrics, recover, routing, replica read on
// the embedded store, encoding), without a network, so -benchmem shows the
// gateway's own allocations per read:
//
//	go test -run '^$' -bench LocalRead -benchmem ./gateway/
func BenchmarkLocalRead(b *testing.B) {
	for _, bc := range []struct {
		name string
		log  slog.Level
	}{{"AccessLogOff", slog.LevelWarn}, {"AccessLogOn", slog.LevelInfo}} {
		b.Run(bc.name, func(b *testing.B) {
			h := newHarness(b, harnessOpts{config: func(c *Config) {
				c.Logger = slog.New(slog.NewTextHandler(discard{}, &slog.HandlerOptions{Level: bc.log}))
			}})
			h.own("payments", "c1", "http://127.0.0.1:1", true)
			h.put("payments", "limits", `{"max":5,"tiers":[1,2,3],"name":"standard"}`)
			h.waitBound()
			handler := h.gw.Handler()
			req := httptest.NewRequest(http.MethodGet, "/v1/namespaces/payments/objects/limits", nil)
			check := httptest.NewRecorder()
			handler.ServeHTTP(check, req)
			if check.Code != http.StatusOK || check.Header().Get("X-Consistency") != "local" {
				b.Fatalf("status %d, consistency %q: %s", check.Code, check.Header().Get("X-Consistency"), check.Body)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				w := &nopResponseWriter{h: make(http.Header, 8)}
				handler.ServeHTTP(w, req)
			}
		})
	}
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }
