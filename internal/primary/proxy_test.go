package primary

import (
	"io"
	"net"
	"sync"
	"testing"
)

// tcpProxy accepts connections and pipes each to upstream; when upstream
// cannot be reached it closes the accepted connection at once, as a proxy
// or a load balancer in front of a dead server does: the dial succeeds and
// the handshake meets EOF.
func tcpProxy(t *testing.T, upstream string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			down, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer down.Close()
				up, err := net.Dial("tcp", upstream)
				if err != nil {
					return
				}
				defer up.Close()
				go func() { io.Copy(up, down); up.Close() }()
				io.Copy(down, up)
			})
		}
	})
	return l.Addr().String()
}

// A primary that dies behind a proxy still accepts TCP connections there:
// the client must stop trusting its cached primary after the first lost
// connection, not keep dialing the proxy until go-redis backs off.
func TestPrimaryDiesBehindAProxy(t *testing.T) {
	a := start(t, nil)
	b := start(t, a)
	synced(t, a, b)
	front := tcpProxy(t, a.Addr)
	_, log := newLogs()
	c, err := NewClient(testOptions(), []string{front, b.Addr}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := set(c, "k", "v1"); err != nil {
		t.Fatal(err)
	}
	a.Kill()
	promote(t, b)
	// The first SET may fail (its connection died with A); the next must
	// find B.
	var errs []error
	for range 3 {
		err := set(c, "k", "v2")
		if err == nil {
			if got := get(t, b, "k"); got != "v2" {
				t.Fatalf("GET k on B = %q, want v2", got)
			}
			return
		}
		errs = append(errs, err)
	}
	t.Fatalf("three SETs after the promotion failed: %v", errs)
}
