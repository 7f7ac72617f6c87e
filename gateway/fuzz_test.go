package gateway

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cpgw/cpgw/api"
)

// fuzzOwner is a coordinator that owns every shard and answers every
// request the gateway forwards with a well-formed response, so whatever the
// fuzzer sends, the only way to a 5xx is the gateway itself.
func fuzzOwner(t testing.TB) *stub {
	return newStub(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPut:
			created(w, r)
		default:
			answer(w, http.StatusOK, map[string]string{"ETag": `"1"`, api.HeaderServedBy: "test-region/stub"},
				api.Object{Metadata: api.Metadata{Namespace: "ns", Name: "x", Version: 1}, Value: json.RawMessage(`{}`)})
		}
	})
}

// FuzzHandler sends arbitrary requests (method, path and query, headers,
// body) through the gateway's whole handler, the way net/http would parse
// them off the wire, and checks that none causes a panic or a 5xx, and that
// every error is in the API's JSON shape.
func FuzzHandler(f *testing.F) {
	seeds := []struct{ method, target, headers, body string }{
		{"PUT", "/v1/namespaces/payments/objects/limits", "Content-Type: application/json\nIdempotency-Key: k1", `{"max":1}`},
		{"GET", "/v1/namespaces/payments/objects/limits?consistency=strong&maxStaleness=1s&minVersion=3", "", ""},
		{"GET", "/v1/namespaces/payments/objects/a%2Fb", "", ""},
		{"GET", "/v1/namespaces/../objects/x", "", ""},
		{"GET", "/v1/namespaces/%2e%2e/objects/x", "", ""},
		{"PUT", "/v1/namespaces/caf\u00e9/objects/x", "Content-Type: application/json", `{}`},
		{"PUT", "/v1/namespaces/a/objects/b", "Content-Type: application/json; charset=latin1\nIf-Match: \"x\"", `[1]`},
		{"PUT", "/v1/namespaces/a/objects/b", "Content-Type: application/json\nIf-Match: \"1\"\nIf-None-Match: *", `{"a":`},
		{"DELETE", "/v1/namespaces/a/objects/b", "Idempotency-Key: \x7f", ""},
		{"PUT", "/v1/namespaces/a", "Content-Type: application/json", `{"homeRegion":"nowhere"}`},
		{"GET", "/v1/namespaces/a/objects?consistency=local&maxStaleness=-1s", "", ""},
		{"GET", "/v1/namespaces/a/watch?fromVersion=99999999999999999999", "", ""},
		{"GET", "/v1/shards", "X-Request-Id: " + strings.Repeat("r", 200), ""},
		{"POST", "/v1/namespaces/a/objects/b", "", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.target, s.headers, []byte(s.body))
	}

	h := newHarness(f, harnessOpts{config: func(cfg *Config) {
		cfg.Failover.Timeout = 200 * time.Millisecond
		cfg.Logger = slog.New(slog.DiscardHandler)
	}})
	owner := fuzzOwner(f)
	for shard := 0; shard < testShards; shard++ {
		h.ownShard(shard, "c1", owner.URL)
	}
	h.waitOwner(testShards-1, owner.URL)
	handler := h.gw.Handler()

	f.Fuzz(func(t *testing.T, method, target, headers string, body []byte) {
		req, ok := wireRequest(method, target, headers, body)
		if !ok {
			return // net/http would have refused it before any handler ran
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		res := rec.Result()
		// watch is a route of the contract not served yet: 501 is its answer.
		if res.StatusCode >= 500 && res.StatusCode != http.StatusNotImplemented {
			t.Fatalf("%s %q (headers %q) = %d: %s", method, target, headers, res.StatusCode, rec.Body.Bytes())
		}
		if res.StatusCode >= 400 && req.Method != http.MethodHead {
			var eb api.ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error.Code == "" {
				t.Fatalf("%s %q = %d with a body outside the error shape: %q", method, target, res.StatusCode, rec.Body.Bytes())
			}
		}
	})
}

// wireRequest builds the request net/http's server would hand a handler for
// these parts, by writing them as HTTP/1.1 and reading them back with
// http.ReadRequest: what that refuses never reaches the gateway.
func wireRequest(method, target, headers string, body []byte) (*http.Request, bool) {
	var b bytes.Buffer
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: gw\r\n")
	for _, line := range strings.Split(headers, "\n") {
		if line = strings.TrimRight(line, "\r"); line != "" {
			b.WriteString(line + "\r\n")
		}
	}
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	b.Write(body)
	req, err := http.ReadRequest(bufio.NewReader(&b))
	if err != nil || len(req.Header.Values("Content-Length")) != 1 {
		return nil, false
	}
	req.RemoteAddr = "127.0.0.1:1"
	req.Body = io.NopCloser(io.LimitReader(req.Body, int64(len(body))))
	return req, true
}

// FuzzReadQuery: parseReadQuery reads every query as url.ParseQuery does.
func FuzzReadQuery(f *testing.F) {
	for _, s := range []string{"", "consistency=local", "consistency=strong&maxStaleness=1s&minVersion=3",
		"consistency=lo%63al", "maxStaleness=1s;x=y&minVersion=2", "minVersion=1&minVersion=2", "consistency", "=&&a+b=c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got := parseReadQuery(raw)
		vs, _ := url.ParseQuery(raw)
		for _, c := range []struct {
			key string
			got queryValue
		}{{api.QueryConsistency, got.consistency}, {api.QueryMaxStaleness, got.maxStaleness}, {api.QueryMinVersion, got.minVersion}} {
			want, ok := vs[c.key]
			if c.got.ok != ok || c.got.v != strings.Join(want, ",") {
				t.Fatalf("%q: %s = %+v; url.ParseQuery gives %q", raw, c.key, c.got, want)
			}
		}
	})
}
