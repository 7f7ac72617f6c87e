package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cpgw/cpgw/api"
	"github.com/cpgw/cpgw/client"
)

func TestNewRefusesBadConfiguration(t *testing.T) {
	tests := []struct {
		name string
		urls []string
		opts []client.Option
	}{
		{"nil URLs", nil, nil},
		{"no URLs", []string{}, nil},
		{"unparsable", []string{"http://[::1"}, nil},
		{"control character", []string{"http://gw\x7f.example"}, nil},
		{"no scheme", []string{"gw.example:8080"}, nil},
		{"other scheme", []string{"ftp://gw.example"}, nil},
		{"no host", []string{"http://"}, nil},
		{"query", []string{"http://gw.example/?a=b"}, nil},
		{"fragment", []string{"http://gw.example/#x"}, nil},
		{"user info", []string{"http://u:p@gw.example"}, nil},
		{"second URL bad", []string{"http://gw.example", ""}, nil},
		{"retry initial zero", []string{"http://gw.example"}, []client.Option{client.WithRetry(0, time.Second, 0)}},
		{"retry max below initial", []string{"http://gw.example"}, []client.Option{client.WithRetry(time.Second, time.Millisecond, 0)}},
		{"retry budget negative", []string{"http://gw.example"}, []client.Option{client.WithRetry(time.Millisecond, time.Second, -1)}},
		{"failback negative", []string{"http://gw.example"}, []client.Option{client.WithFailbackAfter(-time.Second)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := client.New(tt.urls, tt.opts...)
			if err == nil || c != nil {
				t.Fatalf("New = %v, %v; want an error", c, err)
			}
			if !errors.Is(err, client.ErrInvalid) {
				t.Errorf("error %v does not match ErrInvalid", err)
			}
		})
	}
}

func TestNewAcceptsGoodConfiguration(t *testing.T) {
	_, err := client.New([]string{"http://127.0.0.1:8080", "https://gw.eu-west.example/prefix/"},
		client.WithHTTPClient(nil), client.WithLogger(nil), client.WithUserAgent(""),
		client.WithBearerToken(""), client.WithTokenSource(nil), client.WithSession(),
		client.WithRetry(time.Millisecond, time.Millisecond, 0), client.WithFailbackAfter(0), nil)
	if err != nil {
		t.Fatal(err)
	}
}

func TestReadOptionsAreSent(t *testing.T) {
	tests := []struct {
		name string
		opts []client.ReadOption
		want map[string]string // query; absent keys must not be sent
	}{
		{"defaults are the server's", nil, map[string]string{}},
		{"strong", []client.ReadOption{client.Consistency(client.Strong)}, map[string]string{"consistency": "strong"}},
		{"local", []client.ReadOption{client.Consistency(client.Local)}, map[string]string{"consistency": "local"}},
		{"max staleness", []client.ReadOption{client.MaxStaleness(1500 * time.Millisecond)}, map[string]string{"maxStaleness": "1.5s"}},
		{"max staleness zero", []client.ReadOption{client.MaxStaleness(0)}, map[string]string{"maxStaleness": "0s"}},
		{"min version", []client.ReadOption{client.MinVersion(42)}, map[string]string{"minVersion": "42"}},
		{"min version zero is no bound", []client.ReadOption{client.MinVersion(0)}, map[string]string{}},
		{"all", []client.ReadOption{client.Consistency(client.Local), client.MaxStaleness(time.Minute), client.MinVersion(7)},
			map[string]string{"consistency": "local", "maxStaleness": "1m0s", "minVersion": "7"}},
		{"last wins", []client.ReadOption{client.Consistency(client.Strong), client.Consistency(client.Local)},
			map[string]string{"consistency": "local"}},
		{"nil option ignored", []client.ReadOption{nil, client.MinVersion(3)}, map[string]string{"minVersion": "3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPeer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				if strings.HasSuffix(r.URL.Path, "/objects") {
					w.Write([]byte(`{"items":[],"revision":1}`))
					return
				}
				replyObject(w, http.StatusOK, "payments", "limits", 1, `{}`)
			})
			c := newClient(t, []string{p.URL})
			if _, err := c.Get(context.Background(), "payments", "limits", tt.opts...); err != nil {
				t.Fatal(err)
			}
			if _, err := c.List(context.Background(), "payments", tt.opts...); err != nil {
				t.Fatal(err)
			}
			hits := p.Hits()
			if len(hits) != 2 {
				t.Fatalf("%d requests, want 2", len(hits))
			}
			wantPaths := []string{"/v1/namespaces/payments/objects/limits", "/v1/namespaces/payments/objects"}
			for i, h := range hits {
				if h.Method != http.MethodGet || h.Path != wantPaths[i] {
					t.Errorf("request %d: %s %s, want GET %s", i, h.Method, h.Path, wantPaths[i])
				}
				if len(h.Query) != len(tt.want) {
					t.Errorf("request %d: query %v, want %v", i, h.Query, tt.want)
				}
				for k, v := range tt.want {
					if got := h.Query.Get(k); got != v {
						t.Errorf("request %d: %s=%q, want %q", i, k, got, v)
					}
				}
				if _, err := time.ParseDuration(h.Query.Get("maxStaleness")); h.Query.Has("maxStaleness") && err != nil {
					t.Errorf("maxStaleness is not a Go duration: %v", err)
				}
			}
		})
	}
}

func TestCommonHeadersAreSent(t *testing.T) {
	tests := []struct {
		name     string
		opts     []client.Option
		wantAuth string
		wantUA   string
	}{
		{"no credentials", nil, "", client.DefaultUserAgent},
		{"bearer token", []client.Option{client.WithBearerToken("t0k")}, "Bearer t0k", client.DefaultUserAgent},
		{"empty bearer token sends nothing", []client.Option{client.WithBearerToken("")}, "", client.DefaultUserAgent},
		{"token source", []client.Option{client.WithTokenSource(func(context.Context) (string, error) { return "fresh", nil })},
			"Bearer fresh", client.DefaultUserAgent},
		{"token source, empty token", []client.Option{client.WithTokenSource(func(context.Context) (string, error) { return "", nil })},
			"", client.DefaultUserAgent},
		{"user agent", []client.Option{client.WithUserAgent("billing/2.1")}, "", "billing/2.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := okPeer(t)
			c := newClient(t, []string{p.URL}, tt.opts...)
			ctx := context.Background()
			if _, err := c.Get(ctx, "ns", "obj"); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Put(ctx, "ns", "obj", map[string]int{"a": 1}); err != nil {
				t.Fatal(err)
			}
			for _, h := range p.Hits() {
				if got := h.Header.Get("Authorization"); got != tt.wantAuth {
					t.Errorf("%s: Authorization %q, want %q", h.Method, got, tt.wantAuth)
				}
				if got := h.Header.Get("User-Agent"); got != tt.wantUA {
					t.Errorf("%s: User-Agent %q, want %q", h.Method, got, tt.wantUA)
				}
				if got := h.Header.Get("Accept"); got != "application/json" {
					t.Errorf("%s: Accept %q", h.Method, got)
				}
			}
		})
	}
}

func TestTokenSourceIsAskedPerAttemptAndItsErrorEndsTheCall(t *testing.T) {
	p := newPeer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 0 {
			replyError(w, http.StatusServiceUnavailable, api.CodeNoOwner, "electing")
			return
		}
		replyObject(w, http.StatusOK, "ns", "obj", 1, `{}`)
	})
	calls := 0
	c := newClient(t, []string{p.URL}, client.WithTokenSource(func(context.Context) (string, error) {
		calls++
		return "t" + string(rune('0'+calls)), nil
	}))
	if _, err := c.Get(context.Background(), "ns", "obj"); err != nil {
		t.Fatal(err)
	}
	hits := p.Hits()
	if len(hits) != 2 || hits[0].Header.Get("Authorization") != "Bearer t1" || hits[1].Header.Get("Authorization") != "Bearer t2" {
		t.Fatalf("tokens per attempt not refreshed: %d hits", len(hits))
	}

	boom := errors.New("vault sealed")
	c = newClient(t, []string{p.URL}, client.WithTokenSource(func(context.Context) (string, error) { return "", boom }))
	if _, err := c.Get(context.Background(), "ns", "obj"); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the token source's", err)
	}
	if n := p.Count(); n != 2 {
		t.Errorf("a request was sent without a token: %d hits", n)
	}
}

func TestWriteOptionsAreSent(t *testing.T) {
	type call func(c *client.Client, opts ...client.WriteOption) error
	put := func(c *client.Client, opts ...client.WriteOption) error {
		_, err := c.Put(context.Background(), "payments", "limits", map[string]int{"max": 1}, opts...)
		return err
	}
	del := func(c *client.Client, opts ...client.WriteOption) error {
		_, err := c.Delete(context.Background(), "payments", "limits", opts...)
		return err
	}
	tests := []struct {
		name        string
		call        call
		method      string
		opts        []client.WriteOption
		ifMatch     string
		ifNoneMatch string
		key         string // "" means generated
	}{
		{"put plain", put, http.MethodPut, nil, "", "", ""},
		{"put if-match", put, http.MethodPut, []client.WriteOption{client.IfMatch(7)}, `"7"`, "", ""},
		{"put if-match zero", put, http.MethodPut, []client.WriteOption{client.IfMatch(0)}, `"0"`, "", ""},
		{"put create-only", put, http.MethodPut, []client.WriteOption{client.IfNoneMatch()}, "", "*", ""},
		{"put caller key", put, http.MethodPut, []client.WriteOption{client.IdempotencyKey("order-17 step:2")}, "", "", "order-17 step:2"},
		{"put everything", put, http.MethodPut, []client.WriteOption{client.IfMatch(9), client.IdempotencyKey("k")}, `"9"`, "", "k"},
		{"delete plain", del, http.MethodDelete, nil, "", "", ""},
		{"delete if-match", del, http.MethodDelete, []client.WriteOption{client.IfMatch(12)}, `"12"`, "", ""},
		{"delete caller key", del, http.MethodDelete, []client.WriteOption{client.IdempotencyKey("d-1")}, "", "", "d-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPeer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				replyObject(w, http.StatusOK, "payments", "limits", 3, `{"max":1}`)
			})
			c := newClient(t, []string{p.URL})
			if err := tt.call(c, tt.opts...); err != nil {
				t.Fatal(err)
			}
			h := p.Hits()[0]
			if h.Method != tt.method || h.Path != "/v1/namespaces/payments/objects/limits" {
				t.Errorf("sent %s %s", h.Method, h.Path)
			}
			if got := h.Header.Get("If-Match"); got != tt.ifMatch {
				t.Errorf("If-Match %q, want %q", got, tt.ifMatch)
			}
			if got := h.Header.Get("If-None-Match"); got != tt.ifNoneMatch {
				t.Errorf("If-None-Match %q, want %q", got, tt.ifNoneMatch)
			}
			key := h.Header.Get(api.HeaderIdempotencyKey)
			if tt.key != "" && key != tt.key {
				t.Errorf("Idempotency-Key %q, want %q", key, tt.key)
			}
			if !api.ValidIdempotencyKey(key) || (tt.key == "" && len(key) < 26) {
				t.Errorf("generated Idempotency-Key %q is not a valid 128-bit key", key)
			}
			if tt.method == http.MethodPut {
				if ct := h.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q", ct)
				}
			} else if len(h.Body) != 0 {
				t.Errorf("DELETE sent a body: %q", h.Body)
			}
			if len(h.Query) != 0 {
				t.Errorf("write sent a query: %v", h.Query)
			}
		})
	}
}

func TestPutSendsTheValueAsJSON(t *testing.T) {
	type limits struct {
		Max int `json:"max"`
	}
	tests := []struct {
		name  string
		value any
		want  string
	}{
		{"struct", limits{Max: 5}, `{"max":5}`},
		{"pointer to struct", &limits{Max: 6}, `{"max":6}`},
		{"map", map[string]any{"a": []int{1}}, `{"a":[1]}`},
		{"raw message as is", json.RawMessage(` {"b": true} `), ` {"b": true} `},
		{"bytes as raw JSON", []byte(`{"c":null}`), `{"c":null}`},
		{"empty object", struct{}{}, `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := okPeer(t)
			c := newClient(t, []string{p.URL})
			if _, err := c.Put(context.Background(), "ns", "obj", tt.value); err != nil {
				t.Fatal(err)
			}
			if got := string(p.Hits()[0].Body); got != tt.want {
				t.Errorf("body %s, want %s", got, tt.want)
			}
		})
	}
}

func TestBadArgumentsAreRefusedBeforeSending(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		call func(c *client.Client) error
	}{
		{"put nil", func(c *client.Client) error { _, err := c.Put(ctx, "ns", "o", nil); return err }},
		{"put nil map", func(c *client.Client) error { _, err := c.Put(ctx, "ns", "o", map[string]int(nil)); return err }},
		{"put string", func(c *client.Client) error { _, err := c.Put(ctx, "ns", "o", "hello"); return err }},
		{"put JSON text as string", func(c *client.Client) error { _, err := c.Put(ctx, "ns", "o", `{"a":1}`); return err }},
		{"put number", func(c *client.Client) error { _, err := c.Put(ctx, "ns", "o", 42); return err }},
		{"put bool", func(c *client.Client) error { _, err := c.Put(ctx, "ns", "o", true); return err }},
		{"put slice", func(c *client.Client) error { _, err := c.Put(ctx, "ns", "o", []int{1}); return err }},
		{"put raw array", func(c *client.Client) error { _, err := c.Put(ctx, "ns", "o", json.RawMessage(`[{}]`)); return err }},
		{"put raw null", func(c *client.Client) error { _, err := c.Put(ctx, "ns", "o", json.RawMessage(` null`)); return err }},
		{"put raw invalid", func(c *client.Client) error { _, err := c.Put(ctx, "ns", "o", []byte(`{"a":`)); return err }},
		{"put raw two values", func(c *client.Client) error { _, err := c.Put(ctx, "ns", "o", []byte(`{}{}`)); return err }},
		{"put raw empty", func(c *client.Client) error { _, err := c.Put(ctx, "ns", "o", []byte{}); return err }},
		{"put unmarshalable", func(c *client.Client) error {
			_, err := c.Put(ctx, "ns", "o", map[string]any{"c": make(chan int)})
			return err
		}},
		{"put if-match and if-none-match", func(c *client.Client) error {
			_, err := c.Put(ctx, "ns", "o", struct{}{}, client.IfMatch(1), client.IfNoneMatch())
			return err
		}},
		{"put empty key", func(c *client.Client) error {
			_, err := c.Put(ctx, "ns", "o", struct{}{}, client.IdempotencyKey(""))
			return err
		}},
		{"put long key", func(c *client.Client) error {
			_, err := c.Put(ctx, "ns", "o", struct{}{}, client.IdempotencyKey(strings.Repeat("k", 256)))
			return err
		}},
		{"put key with newline", func(c *client.Client) error {
			_, err := c.Put(ctx, "ns", "o", struct{}{}, client.IdempotencyKey("a\nb"))
			return err
		}},
		{"put bad name", func(c *client.Client) error { _, err := c.Put(ctx, "ns", "Upper", struct{}{}); return err }},
		{"put dot-dot", func(c *client.Client) error { _, err := c.Put(ctx, "ns", "..", struct{}{}); return err }},
		{"put slash", func(c *client.Client) error { _, err := c.Put(ctx, "ns", "a/b", struct{}{}); return err }},
		{"put bad namespace", func(c *client.Client) error { _, err := c.Put(ctx, "-ns", "o", struct{}{}); return err }},
		{"get empty name", func(c *client.Client) error { _, err := c.Get(ctx, "ns", ""); return err }},
		{"get too long name", func(c *client.Client) error { _, err := c.Get(ctx, "ns", strings.Repeat("a", 254)); return err }},
		{"get bad consistency", func(c *client.Client) error {
			_, err := c.Get(ctx, "ns", "o", client.Consistency("eventual"))
			return err
		}},
		{"get negative staleness", func(c *client.Client) error {
			_, err := c.Get(ctx, "ns", "o", client.MaxStaleness(-time.Second))
			return err
		}},
		{"list empty namespace", func(c *client.Client) error { _, err := c.List(ctx, ""); return err }},
		{"delete if-none-match", func(c *client.Client) error { _, err := c.Delete(ctx, "ns", "o", client.IfNoneMatch()); return err }},
		{"delete bad name", func(c *client.Client) error { _, err := c.Delete(ctx, "ns", "o~o"); return err }},
		{"set namespace if-match", func(c *client.Client) error {
			_, err := c.SetNamespace(ctx, "ns", api.NamespaceSettings{}, client.IfMatch(1))
			return err
		}},
		{"set namespace bad name", func(c *client.Client) error {
			_, err := c.SetNamespace(ctx, "NS", api.NamespaceSettings{})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := okPeer(t)
			c := newClient(t, []string{p.URL})
			err := tt.call(c)
			if !errors.Is(err, client.ErrInvalid) {
				t.Errorf("err = %v, want ErrInvalid", err)
			}
			var e *client.Error
			if errors.As(err, &e) {
				t.Errorf("a local refusal looks like a server error: %v", e)
			}
			if n := p.Count(); n != 0 {
				t.Errorf("%d requests sent", n)
			}
		})
	}
}

func TestResponseInfoAndDecode(t *testing.T) {
	p := newPeer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		replyObject(w, http.StatusCreated, "payments", "limits", 7, `{"max":100}`,
			api.HeaderConsistency, "local", api.HeaderServedBy, "eu-west/gw-1",
			api.HeaderStalenessMs, "250", api.HeaderFencingToken, "3", api.HeaderReplicasAcked, "2",
			api.HeaderIdempotentReplayed, "true", api.HeaderRequestID, "req-9")
	})
	c := newClient(t, []string{p.URL})
	obj, err := c.Put(context.Background(), "payments", "limits", map[string]int{"max": 100}, client.IdempotencyKey("k-1"))
	if err != nil {
		t.Fatal(err)
	}
	want := client.ResponseInfo{
		StatusCode: http.StatusCreated, Consistency: client.Local, ServedBy: "eu-west/gw-1",
		Staleness: 250 * time.Millisecond, FencingToken: 3, ReplicasAcked: 2, Replayed: true,
		IdempotencyKey: "k-1", RequestID: "req-9", Gateway: p.URL, Attempts: 1,
	}
	if obj.Info != want {
		t.Errorf("Info = %+v\nwant %+v", obj.Info, want)
	}
	if obj.Namespace != "payments" || obj.Name != "limits" || obj.Version != 7 || obj.Shard != 3 ||
		obj.FencingToken != 2 || obj.UpdatedAt.IsZero() || obj.Deleted {
		t.Errorf("Metadata = %+v", obj.Metadata)
	}
	var v struct{ Max int }
	if err := obj.Decode(&v); err != nil || v.Max != 100 {
		t.Errorf("Decode = %v, %+v", err, v)
	}

	// Malformed informational headers are ignored, not fatal.
	p = newPeer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		replyObject(w, http.StatusOK, "ns", "obj", 1, `{}`,
			api.HeaderStalenessMs, "-5", api.HeaderFencingToken, "x", api.HeaderReplicasAcked, "-1",
			api.HeaderIdempotentReplayed, "perhaps")
	})
	c = newClient(t, []string{p.URL})
	obj, err = c.Get(context.Background(), "ns", "obj")
	if err != nil {
		t.Fatal(err)
	}
	if obj.Info.Staleness != 0 || obj.Info.FencingToken != 0 || obj.Info.ReplicasAcked != 0 || obj.Info.Replayed ||
		obj.Info.IdempotencyKey != "" {
		t.Errorf("Info from malformed headers = %+v", obj.Info)
	}
}

func TestDeleteReturnsTheDeletesMetadata(t *testing.T) {
	tests := []struct {
		name    string
		reply   func(w http.ResponseWriter)
		version uint64
	}{
		{"object body", func(w http.ResponseWriter) {
			w.Header().Set("ETag", `"8"`)
			w.Write([]byte(`{"metadata":{"namespace":"ns","name":"obj","version":8,"shard":1,"fencingToken":4,"deleted":true}}`))
		}, 8},
		{"no content", func(w http.ResponseWriter) {
			w.Header().Set("ETag", `"9"`)
			w.WriteHeader(http.StatusNoContent)
		}, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPeer(t, func(w http.ResponseWriter, r *http.Request, _ int) { tt.reply(w) })
			c := newClient(t, []string{p.URL})
			obj, err := c.Delete(context.Background(), "ns", "obj")
			if err != nil {
				t.Fatal(err)
			}
			if !obj.Deleted || obj.Version != tt.version || obj.Namespace != "ns" || obj.Name != "obj" || obj.Value != nil {
				t.Errorf("Delete = %+v", obj)
			}
			if err := obj.Decode(&struct{}{}); err == nil {
				t.Error("Decode of a deleted object succeeded")
			}
		})
	}
}

func TestListShardsAndNamespace(t *testing.T) {
	p := newPeer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		switch r.Method + " " + r.URL.Path {
		case "GET /v1/namespaces/payments/objects":
			w.Header().Set(api.HeaderConsistency, "strong")
			w.Write([]byte(`{"items":[{"metadata":{"namespace":"payments","name":"a","version":4},"value":{"x":1}},
				{"metadata":{"namespace":"payments","name":"b","version":6},"value":{"x":2}}],"revision":6}`))
		case "GET /v1/shards":
			w.Write([]byte(`{"shards":[{"shard":0,"owner":"c1","region":"us-east","address":"http://c1","fencingToken":5,"leaseRemainingMs":900,"homeRegion":"us-east"}]}`))
		case "PUT /v1/namespaces/payments":
			w.Write([]byte(`{"namespace":"payments","homeRegion":"eu-west","shard":12}`))
		default:
			replyError(w, http.StatusNotFound, api.CodeNotFound, "no route")
		}
	})
	c := newClient(t, []string{p.URL})
	ctx := context.Background()

	l, err := c.List(ctx, "payments")
	if err != nil {
		t.Fatal(err)
	}
	if l.Revision != 6 || len(l.Items) != 2 || l.Items[1].Name != "b" || l.Items[1].Version != 6 ||
		string(l.Items[0].Value) != `{"x":1}` || l.Info.Consistency != client.Strong || l.Items[0].Info.Consistency != client.Strong {
		t.Errorf("List = %+v", l)
	}

	m, err := c.Shards(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Shards) != 1 || m.Shards[0].Owner != "c1" || m.Shards[0].FencingToken != 5 || m.Shards[0].LeaseRemainingMs != 900 {
		t.Errorf("Shards = %+v", m)
	}

	s, err := c.SetNamespace(ctx, "payments", api.NamespaceSettings{HomeRegion: "eu-west"})
	if err != nil {
		t.Fatal(err)
	}
	if s.HomeRegion != "eu-west" || s.Shard == nil || *s.Shard != 12 {
		t.Errorf("SetNamespace = %+v", s)
	}
	h := p.Hits()[2]
	if string(h.Body) != `{"homeRegion":"eu-west"}` || h.Header.Get("Content-Type") != "application/json" {
		t.Errorf("SetNamespace sent %q (%s)", h.Body, h.Header.Get("Content-Type"))
	}
	if !api.ValidIdempotencyKey(h.Header.Get(api.HeaderIdempotencyKey)) {
		t.Errorf("SetNamespace carries no idempotency key")
	}
}

func TestGatewayURLWithPathPrefix(t *testing.T) {
	p := okPeer(t)
	for _, base := range []string{p.URL + "/cpgw", p.URL + "/cpgw/"} {
		c := newClient(t, []string{base})
		if _, err := c.Get(context.Background(), "ns", "obj"); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range p.Hits() {
		if h.Path != "/cpgw/v1/namespaces/ns/objects/obj" {
			t.Errorf("path %s", h.Path)
		}
	}
}

func TestUndecodableSuccessIsAnError(t *testing.T) {
	p := newPeer(t, func(w http.ResponseWriter, r *http.Request, _ int) { w.Write([]byte(`<html>`)) })
	c := newClient(t, []string{p.URL})
	if _, err := c.Get(context.Background(), "ns", "obj"); err == nil {
		t.Error("Get of garbage succeeded")
	}
	if _, err := c.List(context.Background(), "ns"); err == nil {
		t.Error("List of garbage succeeded")
	}
	if _, err := c.Shards(context.Background()); err == nil {
		t.Error("Shards of garbage succeeded")
	}
}
