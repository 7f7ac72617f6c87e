package authz

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cpgw/cpgw/api"
	"github.com/cpgw/cpgw/internal/logbuf"
)

// testRouter mounts m the way the gateway does: inside a chi Group, so it
// runs after routing. Every route answers with the caller's identity;
// mutations set a fencing token, and answer in different ways: PUT object
// 201 with a body, DELETE with nothing written, PUT namespace with a bare
// Write.
func testRouter(m *Middleware) http.Handler {
	r := chi.NewRouter()
	r.Group(func(r chi.Router) {
		r.Use(m.Handler)
		echo := func(status int) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				id, ok := IdentityFrom(r.Context())
				if !ok {
					http.Error(w, "no identity in the context", http.StatusInternalServerError)
					return
				}
				if status != 0 {
					w.WriteHeader(status)
				}
				fmt.Fprintf(w, "%s %s", id.Method, id.Subject)
			}
		}
		r.Get(api.RouteObject, echo(http.StatusOK))
		r.Put(api.RouteObject, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set(api.HeaderFencingToken, "7")
			echo(http.StatusCreated)(w, r)
		})
		r.Delete(api.RouteObject, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set(api.HeaderFencingToken, "8")
		})
		r.Get(api.RouteObjects, echo(http.StatusOK))
		r.Post(api.RouteObjects, echo(http.StatusOK)) // not in the API: must be refused
		r.Get(api.RouteWatch, echo(http.StatusOK))
		r.Put(api.RouteNamespace, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set(api.HeaderFencingToken, "9")
			echo(0)(w, r)
		})
		r.Get(api.RouteShards, echo(http.StatusOK))
	})
	return r
}

func verifiedTLS(c *x509.Certificate) *tls.ConnectionState {
	return &tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}, VerifiedChains: [][]*x509.Certificate{{c}}}
}

func TestMiddleware(t *testing.T) {
	es := newES256(t)
	env := newVerifierEnv(t, nil, es)
	policy, err := ParsePolicy([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	var audit bytes.Buffer
	m := &Middleware{Verifier: env.v, Policy: policy, Audit: NewAuditor(&audit, env.clock), Region: "eu-west"}
	h := testRouter(m)
	now := env.clock.Now()
	token := func(sub string, groups ...string) string {
		c := claimsAt(now)
		c["sub"], c["groups"] = sub, groups
		return sign(t, es, es.ID, c)
	}
	reader, writer, admin := token("rita", "readers"), token("pat", "payments-team"), token("sam", "sre")
	expired := func() string {
		c := claimsAt(now)
		c["exp"] = now.Add(-time.Minute).Unix()
		return sign(t, es, es.ID, c)
	}()
	controller := &x509.Certificate{URIs: []*url.URL{{Scheme: "spiffe", Host: "example", Path: "/controller"}}}
	legacy := &x509.Certificate{Subject: pkix.Name{CommonName: "legacy-controller"}}
	anonymous := &x509.Certificate{}

	const obj = "/v1/namespaces/payments/objects/limits"
	tests := []struct {
		name         string
		method, path string
		auth         string // Authorization header; "" for none
		tls          *tls.ConnectionState
		status       int
		body         string // the exact body on success, the error code on failure
		audit        *Record
	}{
		{"no credentials", "GET", obj, "", nil, 401, api.CodeUnauthenticated,
			&Record{Verb: "get", Resource: "objects", Namespace: "payments", Name: "limits", Outcome: OutcomeUnauthenticated, Status: 401,
				Reason: "no credentials: send a bearer token or a client certificate"}},
		{"garbage token", "PUT", obj, "Bearer not-a-jwt", nil, 401, api.CodeUnauthenticated,
			&Record{Verb: "put", Resource: "objects", Namespace: "payments", Name: "limits", Outcome: OutcomeUnauthenticated, Status: 401, Reason: "malformed token"}},
		{"expired token", "GET", "/v1/shards", "Bearer " + expired, nil, 401, api.CodeUnauthenticated,
			&Record{Verb: "get", Resource: "shards", Outcome: OutcomeUnauthenticated, Status: 401, Reason: "token expired"}},
		{"basic auth", "GET", obj, "Basic YWxpY2U6cHc=", nil, 401, api.CodeUnauthenticated,
			&Record{Verb: "get", Resource: "objects", Namespace: "payments", Name: "limits", Outcome: OutcomeUnauthenticated, Status: 401, Reason: "Authorization is not a Bearer token"}},
		{"empty bearer", "GET", obj, "Bearer ", nil, 401, api.CodeUnauthenticated,
			&Record{Verb: "get", Resource: "objects", Namespace: "payments", Name: "limits", Outcome: OutcomeUnauthenticated, Status: 401, Reason: "empty bearer token"}},
		{"a bad token beats a good certificate", "GET", obj, "Bearer " + expired, verifiedTLS(controller), 401, api.CodeUnauthenticated,
			&Record{Verb: "get", Resource: "objects", Namespace: "payments", Name: "limits", Outcome: OutcomeUnauthenticated, Status: 401, Reason: "token expired"}},
		{"unverified certificate", "GET", obj, "", &tls.ConnectionState{PeerCertificates: []*x509.Certificate{controller}}, 401, api.CodeUnauthenticated,
			&Record{Verb: "get", Resource: "objects", Namespace: "payments", Name: "limits", Outcome: OutcomeUnauthenticated, Status: 401,
				Reason: "no credentials: send a bearer token or a client certificate"}},
		{"certificate without identity", "GET", obj, "", verifiedTLS(anonymous), 401, api.CodeUnauthenticated,
			&Record{Verb: "get", Resource: "objects", Namespace: "payments", Name: "limits", Outcome: OutcomeUnauthenticated, Status: 401,
				Reason: "client certificate has neither a URI SAN nor a common name"}},
		{"reader reads", "GET", obj, "Bearer " + reader, nil, 200, "jwt rita", nil},
		{"lower-case scheme", "GET", obj, "bearer " + reader, nil, 200, "jwt rita", nil},
		{"reader lists", "GET", "/v1/namespaces/payments/objects", "Bearer " + reader, nil, 200, "jwt rita", nil},
		{"reader watches", "GET", "/v1/namespaces/payments/watch", "Bearer " + reader, nil, 200, "jwt rita", nil},
		{"reader reads shards", "GET", "/v1/shards", "Bearer " + reader, nil, 200, "jwt rita", nil},
		{"reader writes", "PUT", obj, "Bearer " + reader, nil, 403, api.CodeForbidden,
			&Record{Subject: "rita", AuthMethod: "jwt", Verb: "put", Resource: "objects", Namespace: "payments", Name: "limits", Outcome: OutcomeDenied, Status: 403, Reason: "no rule allows it"}},
		{"reader deletes", "DELETE", obj, "Bearer " + reader, nil, 403, api.CodeForbidden,
			&Record{Subject: "rita", AuthMethod: "jwt", Verb: "delete", Resource: "objects", Namespace: "payments", Name: "limits", Outcome: OutcomeDenied, Status: 403, Reason: "no rule allows it"}},
		{"writer writes its namespace", "PUT", obj, "Bearer " + writer, nil, 201, "jwt pat",
			&Record{Subject: "pat", AuthMethod: "jwt", Verb: "put", Resource: "objects", Namespace: "payments", Name: "limits", Outcome: OutcomeAllowed, Status: 201, FencingToken: 7}},
		{"writer deletes (handler writes nothing)", "DELETE", "/v1/namespaces/payments-eu/objects/x", "Bearer " + writer, nil, 200, "",
			&Record{Subject: "pat", AuthMethod: "jwt", Verb: "delete", Resource: "objects", Namespace: "payments-eu", Name: "x", Outcome: OutcomeAllowed, Status: 200, FencingToken: 8}},
		{"writer writes another namespace", "PUT", "/v1/namespaces/orders/objects/x", "Bearer " + writer, nil, 403, api.CodeForbidden,
			&Record{Subject: "pat", AuthMethod: "jwt", Verb: "put", Resource: "objects", Namespace: "orders", Name: "x", Outcome: OutcomeDenied, Status: 403, Reason: "no rule allows it"}},
		{"writer reads shards", "GET", "/v1/shards", "Bearer " + writer, nil, 403, api.CodeForbidden,
			&Record{Subject: "pat", AuthMethod: "jwt", Verb: "get", Resource: "shards", Outcome: OutcomeDenied, Status: 403, Reason: "no rule allows it"}},
		{"admin moves a namespace (bare Write)", "PUT", "/v1/namespaces/orders", "Bearer " + admin, nil, 200, "jwt sam",
			&Record{Subject: "sam", AuthMethod: "jwt", Verb: "put", Resource: "namespaces", Namespace: "orders", Outcome: OutcomeAllowed, Status: 200, FencingToken: 9}},
		{"unclassified route", "POST", "/v1/namespaces/orders/objects", "Bearer " + admin, nil, 403, api.CodeForbidden,
			&Record{Subject: "sam", AuthMethod: "jwt", Outcome: OutcomeDenied, Status: 403, Reason: "request not classified"}},
		{"controller certificate writes", "PUT", "/v1/namespaces/limits/objects/l", "", verifiedTLS(controller), 201, "mtls spiffe://example/controller",
			&Record{Subject: "spiffe://example/controller", AuthMethod: "mtls", Verb: "put", Resource: "objects", Namespace: "limits", Name: "l", Outcome: OutcomeAllowed, Status: 201, FencingToken: 7}},
		{"certificate by CN", "PUT", "/v1/namespaces/limits/objects/l", "", verifiedTLS(legacy), 201, "mtls legacy-controller",
			&Record{Subject: "legacy-controller", AuthMethod: "mtls", Verb: "put", Resource: "objects", Namespace: "limits", Name: "l", Outcome: OutcomeAllowed, Status: 201, FencingToken: 7}},
		{"controller certificate reads", "GET", "/v1/namespaces/limits/objects/l", "", verifiedTLS(controller), 403, api.CodeForbidden,
			&Record{Subject: "spiffe://example/controller", AuthMethod: "mtls", Verb: "get", Resource: "objects", Namespace: "limits", Name: "l", Outcome: OutcomeDenied, Status: 403, Reason: "no rule allows it"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			audit.Reset()
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader("{}"))
			reqID := fmt.Sprint("req-", i)
			req.Header.Set(api.HeaderRequestID, reqID)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			req.TLS = tt.tls
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if tt.status < 400 {
				if rec.Body.String() != tt.body {
					t.Fatalf("body %q, want %q", rec.Body, tt.body)
				}
			} else {
				var e api.ErrorBody
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code != tt.body || e.Error.Message == "" {
					t.Fatalf("error body %q (%v), want code %s and a message", rec.Body, err, tt.body)
				}
				if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
					t.Fatalf("Content-Type %q", ct)
				}
				if got, want := rec.Header().Get("WWW-Authenticate"), map[bool]string{true: "Bearer"}[tt.status == 401]; got != want {
					t.Fatalf("WWW-Authenticate %q, want %q", got, want)
				}
			}
			lines := decodeLines(t, audit.Bytes())
			if tt.audit == nil {
				if len(lines) != 0 {
					t.Fatalf("audit records %+v, want none", lines)
				}
				return
			}
			want := *tt.audit
			want.Time, want.RequestID, want.Region = t0, reqID, "eu-west"
			if len(lines) != 1 || !reflect.DeepEqual(lines[0], want) {
				t.Fatalf("audit records %+v,\nwant [%+v]", lines, want)
			}
		})
	}

	// No token, valid or not, nor a signature of one, reaches the audit log.
	audit.Reset()
	for _, tt := range tests {
		req := httptest.NewRequest(tt.method, tt.path, nil)
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	for _, tok := range []string{reader, writer, admin, expired} {
		sig := tok[strings.LastIndex(tok, ".")+1:]
		if strings.Contains(audit.String(), tok) || strings.Contains(audit.String(), sig) {
			t.Fatal("a token or its signature is in the audit log")
		}
	}
}

func TestMiddlewareNilParts(t *testing.T) {
	es := newES256(t)
	env := newVerifierEnv(t, nil, es)
	tok := "Bearer " + sign(t, es, es.ID, claimsAt(env.clock.Now()))
	tests := []struct {
		name   string
		m      *Middleware
		status int
		reason string
	}{
		{"no verifier: bearer tokens refused", &Middleware{Policy: &Policy{}}, 401, "bearer tokens are not accepted"},
		{"no policy: deny all", &Middleware{Verifier: env.v}, 403, "no policy configured"},
		{"a nil *Verifier", &Middleware{Verifier: (*Verifier)(nil), Policy: &Policy{}}, 401, "no token verifier configured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var audit bytes.Buffer
			tt.m.Audit = NewAuditor(&audit, env.clock)
			req := httptest.NewRequest("GET", "/v1/shards", nil)
			req.Header.Set("Authorization", tok)
			rec := httptest.NewRecorder()
			testRouter(tt.m).ServeHTTP(rec, req)
			lines := decodeLines(t, audit.Bytes())
			if rec.Code != tt.status || len(lines) != 1 || lines[0].Reason != tt.reason {
				t.Fatalf("status %d, audit %+v; want %d with reason %q", rec.Code, lines, tt.status, tt.reason)
			}
		})
	}
}

// RequestID, Classify and Logger hooks; a failed audit write of a mutation
// is logged and the response proceeds.
func TestMiddlewareHooks(t *testing.T) {
	cert := verifiedTLS(&x509.Certificate{Subject: pkix.Name{CommonName: "legacy-controller"}})
	policy, _ := ParsePolicy([]byte(testPolicy))
	var log logbuf.Buffer
	m := &Middleware{
		Policy:    policy,
		Audit:     NewAuditor(failingWriter{}, nil),
		RequestID: func(context.Context) string { return strings.Repeat("r", 200) },
		Classify: func(*http.Request) (Request, bool) {
			return Request{Verb: VerbPut, Resource: ResourceObjects, Namespace: "limits", Name: "l"}, true
		},
		Logger: slog.New(slog.NewTextHandler(&log, nil)),
	}
	req := httptest.NewRequest("GET", "/v1/shards", nil) // classified as a put by the hook
	req.TLS = cert
	rec := httptest.NewRecorder()
	testRouter(m).ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("status %d, want 200", rec.Code)
	}
	if !strings.Contains(log.String(), "audit record not written") || !strings.Contains(log.String(), "level=ERROR") {
		t.Fatalf("log %q: want an error about the audit record", log.String())
	}
	if !strings.Contains(log.String(), "request_id="+strings.Repeat("r", 128)+"\n") {
		t.Fatalf("log %q: want the request id cut to 128 characters", log.String())
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// events is the order in which the audit log and the client saw things.
type events struct {
	mu  sync.Mutex
	log []string
}

func (e *events) add(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.log = append(e.log, s)
}

func (e *events) Write(p []byte) (int, error) {
	var r Record
	_ = json.Unmarshal(p, &r)
	e.add(fmt.Sprintf("audit %s %d", r.Outcome, r.Status))
	return len(p), nil
}

// clientWriter stands for the connection: what it is given has left.
type clientWriter struct {
	*httptest.ResponseRecorder
	ev *events
}

func (w *clientWriter) WriteHeader(code int) {
	w.ev.add(fmt.Sprint("header ", code))
	w.ResponseRecorder.WriteHeader(code)
}

func (w *clientWriter) Write(b []byte) (int, error) {
	w.ev.add("body")
	return w.ResponseRecorder.Write(b)
}

func (w *clientWriter) Flush() {
	w.ev.add("flush")
	w.ResponseRecorder.Flush()
}

// The audit record of a mutation is written before anything of the
// response reaches the client, however the handler starts its response.
func TestMiddlewareAuditsBeforeResponse(t *testing.T) {
	cert := verifiedTLS(&x509.Certificate{Subject: pkix.Name{CommonName: "legacy-controller"}})
	policy, _ := ParsePolicy([]byte(testPolicy))
	tests := []struct {
		name    string
		path    string
		handler http.HandlerFunc
		want    []string
	}{
		{"WriteHeader", "/v1/namespaces/limits/objects/l", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusPreconditionFailed)
			w.Write([]byte("x"))
		}, []string{"audit allowed 412", "header 412", "body"}},
		{"Write", "/v1/namespaces/limits/objects/l", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("x"))
		}, []string{"audit allowed 200", "body"}},
		{"1xx first", "/v1/namespaces/limits/objects/l", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusCreated)
		}, []string{"header 103", "audit allowed 201", "header 201"}},
		{"Flush", "/v1/namespaces/limits/objects/l", func(w http.ResponseWriter, r *http.Request) {
			if _, ok := w.(http.Flusher); !ok {
				t.Error("the wrapped writer is not an http.Flusher")
			}
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Errorf("ResponseController.Flush: %v", err)
			}
			if u, ok := w.(interface{ Unwrap() http.ResponseWriter }); !ok || u.Unwrap() == nil {
				t.Error("the wrapped writer has no Unwrap")
			}
		}, []string{"audit allowed 200", "flush"}},
		{"nothing written", "/v1/namespaces/limits/objects/l", func(w http.ResponseWriter, r *http.Request) {},
			[]string{"audit allowed 200"}},
		{"denied", "/v1/namespaces/orders/objects/l", nil, []string{"audit denied 403", "header 403", "body"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := &events{}
			m := &Middleware{Policy: policy, Audit: NewAuditor(ev, nil)}
			r := chi.NewRouter()
			r.Group(func(r chi.Router) {
				r.Use(m.Handler)
				r.Put(api.RouteObject, func(w http.ResponseWriter, r *http.Request) { tt.handler(w, r) })
			})
			req := httptest.NewRequest("PUT", tt.path, nil)
			req.TLS = cert
			r.ServeHTTP(&clientWriter{ResponseRecorder: httptest.NewRecorder(), ev: ev}, req)
			if !reflect.DeepEqual(ev.log, tt.want) {
				t.Fatalf("events %q, want %q", ev.log, tt.want)
			}
		})
	}
}

// A panicking mutation handler is recorded as a 500 before the recoverer
// outside answers.
func TestMiddlewareHandlerPanics(t *testing.T) {
	cert := verifiedTLS(&x509.Certificate{Subject: pkix.Name{CommonName: "legacy-controller"}})
	policy, _ := ParsePolicy([]byte(testPolicy))
	ev := &events{}
	m := &Middleware{Policy: policy, Audit: NewAuditor(ev, nil)}
	r := chi.NewRouter()
	r.Use(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if recover() != nil {
					w.WriteHeader(http.StatusInternalServerError)
				}
			}()
			next.ServeHTTP(w, r)
		})
	})
	r.Group(func(r chi.Router) {
		r.Use(m.Handler)
		r.Put(api.RouteObject, func(http.ResponseWriter, *http.Request) { panic("boom") })
	})
	req := httptest.NewRequest("PUT", "/v1/namespaces/limits/objects/l", nil)
	req.TLS = cert
	r.ServeHTTP(&clientWriter{ResponseRecorder: httptest.NewRecorder(), ev: ev}, req)
	if want := []string{"audit allowed 500", "header 500"}; !reflect.DeepEqual(ev.log, want) {
		t.Fatalf("events %q, want %q", ev.log, want)
	}
}

func TestClassify(t *testing.T) {
	var got Request
	var gotOK bool
	r := chi.NewRouter()
	r.Group(func(r chi.Router) {
		r.Use(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got, gotOK = Classify(r) })
		})
		h := func(http.ResponseWriter, *http.Request) {}
		for _, route := range []string{api.RouteObject, api.RouteObjects, api.RouteWatch, api.RouteNamespace, api.RouteShards} {
			for _, method := range []string{"GET", "PUT", "DELETE", "POST", "PATCH", "HEAD"} {
				r.MethodFunc(method, route, h)
			}
		}
	})
	tests := []struct {
		method, path string
		want         Request
		ok           bool
	}{
		{"GET", "/v1/namespaces/ns1/objects/o1", Request{VerbGet, ResourceObjects, "ns1", "o1"}, true},
		{"PUT", "/v1/namespaces/ns1/objects/o1", Request{VerbPut, ResourceObjects, "ns1", "o1"}, true},
		{"DELETE", "/v1/namespaces/ns1/objects/o1", Request{VerbDelete, ResourceObjects, "ns1", "o1"}, true},
		{"GET", "/v1/namespaces/ns1/objects", Request{VerbList, ResourceObjects, "ns1", ""}, true},
		{"GET", "/v1/namespaces/ns1/watch", Request{VerbWatch, ResourceObjects, "ns1", ""}, true},
		{"PUT", "/v1/namespaces/ns1", Request{VerbPut, ResourceNamespaces, "ns1", ""}, true},
		{"GET", "/v1/shards", Request{VerbGet, ResourceShards, "", ""}, true},
		{"GET", "/v1/namespaces/pay%6Dents/objects/a%2Fb", Request{VerbGet, ResourceObjects, "payments", "a/b"}, true},
		{"POST", "/v1/namespaces/ns1/objects/o1", Request{}, false},
		{"PATCH", "/v1/namespaces/ns1/objects/o1", Request{}, false},
		{"HEAD", "/v1/namespaces/ns1/objects/o1", Request{}, false},
		{"DELETE", "/v1/namespaces/ns1/objects", Request{}, false},
		{"PUT", "/v1/namespaces/ns1/objects", Request{}, false},
		{"GET", "/v1/namespaces/ns1", Request{}, false},
		{"DELETE", "/v1/namespaces/ns1", Request{}, false},
		{"PUT", "/v1/namespaces/ns1/watch", Request{}, false},
		{"PUT", "/v1/shards", Request{}, false},
		{"DELETE", "/v1/shards", Request{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			got, gotOK = Request{}, false
			r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(tt.method, tt.path, nil))
			if got != tt.want || gotOK != tt.ok {
				t.Fatalf("Classify = %+v, %v; want %+v, %v", got, gotOK, tt.want, tt.ok)
			}
		})
	}
	if req, ok := Classify(httptest.NewRequest("GET", "/v1/shards", nil)); ok {
		t.Fatalf("without a chi route context: %+v, true", req)
	}
}

// 401 records are thinned to UnauthenticatedPerSecond; the next one written
// says how many were left out. 403s are all recorded.
func TestMiddlewareUnauthenticatedRate(t *testing.T) {
	es := newES256(t)
	env := newVerifierEnv(t, nil, es)
	var audit bytes.Buffer
	const perSecond = 20 // a burst of 20, then one every 50ms
	m := &Middleware{Verifier: env.v, Policy: &Policy{}, Audit: NewAuditor(&audit, env.clock), UnauthenticatedPerSecond: perSecond}
	h := testRouter(m)
	send := func(auth string) int {
		req := httptest.NewRequest("GET", "/v1/shards", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	for range perSecond + 5 {
		if code := send(""); code != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", code)
		}
	}
	tok := "Bearer " + sign(t, es, es.ID, claimsAt(env.clock.Now()))
	for range 3 {
		if code := send(tok); code != http.StatusForbidden { // the empty policy denies
			t.Fatalf("status %d, want 403", code)
		}
	}
	time.Sleep(2 * time.Second / perSecond) // a token or two back
	send("")

	var unauth, denied int
	var suppressed uint64
	for _, l := range decodeLines(t, audit.Bytes()) {
		switch l.Outcome {
		case OutcomeUnauthenticated:
			unauth++
			suppressed += l.Suppressed
		case OutcomeDenied:
			denied++
		}
	}
	// Slow machines may refill a token during the burst: allow a little.
	if unauth < perSecond+1 || unauth > perSecond+3 || uint64(unauth)+suppressed != perSecond+6 {
		t.Errorf("%d 401 records saying %d suppressed, for %d 401s; want %d or a few more written, the rest counted", unauth, suppressed, perSecond+6, perSecond+1)
	}
	if suppressed == 0 {
		t.Error("no record says how many 401s were left out")
	}
	if denied != 3 {
		t.Errorf("%d 403 records, want 3 (403s are not thinned)", denied)
	}
}
