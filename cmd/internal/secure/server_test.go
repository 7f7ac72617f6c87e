package secure

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A client that sends its headers slowly (slowloris) is cut off once
// ReadHeaderTimeout has passed, and one whose headers are too large gets
// 431, while a normal request is served.
func TestServerLimits(t *testing.T) {
	srv := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		slog.New(slog.DiscardHandler), slog.LevelDebug)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	addr := l.Addr().String()

	t.Run("normal", func(t *testing.T) {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%v %v", resp, err)
		}
		resp.Body.Close()
	})
	t.Run("huge headers", func(t *testing.T) {
		req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
		req.Header.Set("X-Big", strings.Repeat("a", 2*MaxHeaderBytes))
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
				t.Fatalf("status %d, want 431", resp.StatusCode)
			}
		}
	})
	t.Run("slow headers", func(t *testing.T) {
		t.Parallel()
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		// One header byte a second, never finishing: the server must give
		// up at ReadHeaderTimeout, not wait for the client.
		done := make(chan error, 1)
		go func() {
			_, err := bufio.NewReader(conn).ReadByte()
			done <- err
		}()
		io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n")
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				if d := time.Since(start); d < ReadHeaderTimeout-time.Second || d > ReadHeaderTimeout+3*time.Second {
					t.Fatalf("connection closed after %v, want about %v", d, ReadHeaderTimeout)
				}
				return
			case <-tick.C:
				if time.Since(start) > 3*ReadHeaderTimeout {
					t.Fatal("the server is still waiting for a slow client")
				}
				io.WriteString(conn, "X")
			}
		}
	})
}
