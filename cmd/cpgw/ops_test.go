package main

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cpgw/cpgw/api"
	"github.com/cpgw/cpgw/internal/logbuf"
	"github.com/cpgw/cpgw/internal/redistest"
)

// testServer is a gateway or coordinator run in process.
type testServer struct {
	logs logbuf.Buffer
	done chan error // its result, once it stops
}

// startServer runs run (runGateway or runCoordinator) configured through
// env, as in production, and args. It is stopped, and must stop cleanly,
// when the test ends.
func startServer(t *testing.T, run func(context.Context, []string, io.Writer) error, env map[string]string, args ...string) *testServer {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &testServer{done: make(chan error, 1)}
	go func() { s.done <- run(ctx, args, &s.logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-s.done:
			if err != nil {
				t.Errorf("server: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("server did not stop")
		}
	})
	return s
}

// startCoordinator runs an insecure one-shard coordinator in region r on a
// real redis-server; env adds to or overrides its environment.
func startCoordinator(t *testing.T, env map[string]string, args ...string) *testServer {
	t.Helper()
	rs := redistest.Start(t, 0)
	all := map[string]string{
		"CPGW_REGION": "r", "CPGW_ID": "c", "CPGW_LISTEN": "127.0.0.1:0", "CPGW_ADVERTISE": "http://127.0.0.1:1",
		"CPGW_REDIS": rs.Primary.URL(), "CPGW_INSECURE": "true", "CPGW_SHARDS": "1",
	}
	maps.Copy(all, env)
	return startServer(t, runCoordinator, all, args...)
}

// waitLog waits until the server's log matches re and returns the first
// submatch; it fails the test if the server ends first or 30 s pass.
func (s *testServer) waitLog(t *testing.T, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := re.FindStringSubmatch(s.logs.String()); m != nil {
			return m[1]
		}
		select {
		case err := <-s.done:
			t.Fatalf("server exited: %v\n%s", err, s.logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line matching %s:\n%s", re, s.logs.String())
		}
	}
}

// sendJSON sends body as JSON and returns the status and body of the answer.
func sendJSON(t *testing.T, method, url, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// TestOpsListen: --ops-listen serves a coordinator's probes and metrics
// (the Go runtime's and the process's among them) in plain HTTP, and
// nothing of its internal API.
func TestOpsListen(t *testing.T) {
	c := startCoordinator(t, nil, "--ops-listen", "127.0.0.1:0")
	ops := c.waitLog(t, regexp.MustCompile(`msg="serving probes and metrics without authentication" ops_listen=(\S+)`))

	for _, tc := range []struct {
		method, path string
		status       int
		body         []string // substrings the body must hold
	}{
		{http.MethodGet, "/healthz", http.StatusOK, nil},
		{http.MethodGet, "/metrics", http.StatusOK, []string{"cpgw_coordinator_", "go_goroutines", "process_resident_memory_bytes"}},
		{http.MethodGet, api.InternalObjectPath(0, "ns", "obj"), http.StatusNotFound, nil},
		{http.MethodPut, api.InternalObjectPath(0, "ns", "obj"), http.StatusNotFound, nil},
		{http.MethodPost, "/metrics", http.StatusMethodNotAllowed, nil},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			status, body := sendJSON(t, tc.method, "http://"+ops+tc.path, `{}`)
			if status != tc.status {
				t.Fatalf("%d %s, want %d", status, body, tc.status)
			}
			for _, s := range tc.body {
				if !strings.Contains(string(body), s) {
					t.Errorf("body lacks %q", s)
				}
			}
		})
	}
	// /readyz answers from the coordinator itself, whichever way it is.
	if status, body := sendJSON(t, http.MethodGet, "http://"+ops+"/readyz", ""); status != http.StatusOK && status != http.StatusServiceUnavailable {
		t.Fatalf("/readyz: %d %s", status, body)
	}
}

func TestOpsListenBadAddress(t *testing.T) {
	if _, err := withOps(nil, "256.0.0.1:x", http.NotFoundHandler(), slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "--ops-listen") {
		t.Fatalf("err %v, want one naming --ops-listen", err)
	}
}

// TestOpsListenGateway: a gateway's ops port serves its probes and metrics
// too, and not its API.
func TestOpsListenGateway(t *testing.T) {
	rs := redistest.Start(t, 0)
	g := startServer(t, runGateway, map[string]string{
		"CPGW_REGION": "r", "CPGW_LISTEN": "127.0.0.1:0", "CPGW_REDIS": rs.Primary.URL(), "CPGW_INSECURE": "true",
	}, "--ops-listen", "127.0.0.1:0")
	ops := g.waitLog(t, regexp.MustCompile(`msg="serving probes and metrics without authentication" ops_listen=(\S+)`))
	if status, body := sendJSON(t, http.MethodGet, "http://"+ops+"/healthz", ""); status != http.StatusOK {
		t.Errorf("/healthz: %d %s", status, body)
	}
	status, body := sendJSON(t, http.MethodGet, "http://"+ops+"/metrics", "")
	if status != http.StatusOK || !strings.Contains(string(body), "cpgw_gateway_") || !strings.Contains(string(body), "go_goroutines") {
		t.Errorf("/metrics: %d, want 200 with cpgw_gateway_ and go_ series:\n%s", status, body)
	}
	if status, body := sendJSON(t, http.MethodGet, "http://"+ops+"/v1/shards", ""); status != http.StatusNotFound {
		t.Errorf("/v1/shards on the ops port: %d %s, want 404", status, body)
	}
}
