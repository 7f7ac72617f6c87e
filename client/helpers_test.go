package client_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cpgw/cpgw/api"
	"github.com/cpgw/cpgw/client"
)

// hit is one request a peer received.
type hit struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
	At     time.Time
}

// peer is a scripted gateway: an httptest.Server whose handler answers the
// n-th request it gets (from 0) and records every request.
type peer struct {
	*httptest.Server
	mu   sync.Mutex
	hits []hit
}

func newPeer(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, n int)) *peer {
	t.Helper()
	p := &peer{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		n := len(p.hits)
		p.hits = append(p.hits, hit{
			Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.Query(),
			Header: r.Header.Clone(), Body: body, At: time.Now(),
		})
		p.mu.Unlock()
		handle(w, r, n)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *peer) Hits() []hit {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]hit(nil), p.hits...)
}

func (p *peer) Count() int { return len(p.Hits()) }

// okPeer answers every request with an object at version 1.
func okPeer(t *testing.T) *peer {
	return newPeer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		replyObject(w, http.StatusOK, "ns", "obj", 1, `{"a":1}`)
	})
}

// hangUpPeer accepts each request and drops the connection without an
// answer: a connection error the peer can count.
func hangUpPeer(t *testing.T) *peer {
	return newPeer(t, func(w http.ResponseWriter, r *http.Request, _ int) { hangUp(w) })
}

func hangUp(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

// deadURL is the URL of a port nothing listens on: connection refused.
func deadURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// replyObject writes an object response the way the API documents it.
func replyObject(w http.ResponseWriter, status int, ns, name string, version uint64, value string, headers ...string) {
	setHeaders(w, headers)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("ETag", `"`+strconv.FormatUint(version, 10)+`"`)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(api.Object{
		Metadata: api.Metadata{Namespace: ns, Name: name, Version: version, Shard: 3, FencingToken: 2,
			UpdatedAt: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)},
		Value: json.RawMessage(value),
	})
}

// replyError writes an error response the way the API documents it.
func replyError(w http.ResponseWriter, status int, code, msg string, headers ...string) {
	setHeaders(w, headers)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: api.Error{Code: code, Message: msg}})
}

// setHeaders sets name, value pairs.
func setHeaders(w http.ResponseWriter, kv []string) {
	for i := 0; i+1 < len(kv); i += 2 {
		w.Header().Set(kv[i], kv[i+1])
	}
}

// fastRetry keeps retry tests quick; the budget is generous so that only the
// cases meant to run out do.
func fastRetry() client.Option {
	return client.WithRetry(time.Millisecond, 5*time.Millisecond, 5*time.Second)
}

func newClient(t *testing.T, urls []string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(urls, append([]client.Option{fastRetry()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
