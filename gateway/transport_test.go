package gateway

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// TestNewTransportPool: the keep-alive pool holds a connection per
// concurrent forward of a busy gateway (net/http's default of 2 idle
// connections per host would close and re-dial, with a TLS handshake each,
// under 64 concurrent writers).
func TestNewTransportPool(t *testing.T) {
	tr := NewTransport()
	if tr.MaxIdleConnsPerHost < 64 || tr.MaxIdleConns < tr.MaxIdleConnsPerHost {
		t.Errorf("MaxIdleConnsPerHost %d, MaxIdleConns %d: want ≥ 64 per host", tr.MaxIdleConnsPerHost, tr.MaxIdleConns)
	}
	if tr.MaxConnsPerHost != 0 && tr.MaxConnsPerHost < 64 {
		t.Errorf("MaxConnsPerHost %d caps concurrency", tr.MaxConnsPerHost)
	}
}

// TestNewTransportHTTP1: with a TLS config set afterwards, as
// cmd/internal/secure does for mTLS, the transport speaks HTTP/1.1 with
// keep-alive (cheaper than Go's HTTP/2, see NewTransport), also to a
// server that offers h2.
func TestNewTransportHTTP1(t *testing.T) {
	for _, tc := range []struct {
		name  string
		h2    bool
		proto int
	}{{"server offers h2", true, 1}, {"server offers http/1.1 only", false, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			conns := map[string]bool{}
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				conns[r.RemoteAddr] = true
				mu.Unlock()
			}))
			srv.EnableHTTP2 = tc.h2
			srv.StartTLS()
			defer srv.Close()
			tr := NewTransport()
			defer tr.CloseIdleConnections()
			tr.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
			c := &http.Client{Transport: tr}
			for range 5 {
				resp, err := c.Get(srv.URL)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.ProtoMajor != tc.proto {
					t.Fatalf("protocol %s, want major %d", resp.Proto, tc.proto)
				}
			}
			if len(conns) != 1 {
				t.Errorf("%d connections for 5 sequential requests, want 1 (reused)", len(conns))
			}
		})
	}
}
