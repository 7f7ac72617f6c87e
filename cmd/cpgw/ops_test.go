package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cpgw/cpgw/api"
	"github.com/cpgw/cpgw/internal/logbuf"
	"github.com/cpgw/cpgw/internal/redistest"
)

// testCoordinator is a coordinator run in process by startCoordinator.
type testCoordinator struct {
	logs logbuf.Buffer
	done chan error // its result, once it stops
}

// startCoordinator runs an insecure one-shard coordinator in region r on a
// real redis-server, configured through the environment as in production
// plus env, with args on its command line. It is stopped, and must stop
// cleanly, when the test ends.
func startCoordinator(t *testing.T, env map[string]string, args ...string) *testCoordinator {
	t.Helper()
	rs := redistest.Start(t, 0)
	for k, v := range map[string]string{
		"CPGW_REGION": "r", "CPGW_ID": "c", "CPGW_LISTEN": "127.0.0.1:0", "CPGW_ADVERTISE": "http://127.0.0.1:1",
		"CPGW_REDIS": rs.Primary.URL(), "CPGW_INSECURE": "true", "CPGW_SHARDS": "1",
	} {
		t.Setenv(k, v)
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &testCoordinator{done: make(chan error, 1)}
	go func() { c.done <- runCoordinator(ctx, args, &c.logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-c.done:
			if err != nil {
				t.Errorf("coordinator: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("coordinator did not stop")
		}
	})
	return c
}

// waitLog waits until the coordinator's log matches re and returns the
// first submatch; it fails the test if the coordinator ends first or 30 s
// pass.
func (c *testCoordinator) waitLog(t *testing.T, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := re.FindStringSubmatch(c.logs.String()); m != nil {
			return m[1]
		}
		select {
		case err := <-c.done:
			t.Fatalf("coordinator exited: %v\n%s", err, c.logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line matching %s:\n%s", re, c.logs.String())
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
