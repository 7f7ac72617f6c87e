package authz

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/go-chi/chi/v5"
	"golang.org/x/time/rate"

	"github.com/cpgw/cpgw/api"
)

// TokenVerifier verifies a compact JWT; *Verifier is one.
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (Identity, error)
}

// Authorizer decides whether an identity may make a request; *Policy and
// *PolicyFile are ones.
type Authorizer interface {
	Allowed(Identity, Request) bool
}

// Middleware authenticates, authorises and audits HTTP requests. Install it
// after routing (inside a chi Group), so that Classify sees the matched
// route. Set its fields before calling Handler and leave them alone after.
type Middleware struct {
	// Verifier verifies bearer tokens. Nil: a request with an
	// Authorization header is refused (401); only client certificates
	// authenticate.
	Verifier TokenVerifier
	// Policy authorises authenticated requests. Nil denies every request
	// (403): a missing policy must not open the API.
	Policy Authorizer
	// Audit receives a record of every 401, every 403 and every mutation
	// (put, delete) that passed. Nil: no audit.
	Audit *Auditor
	// Region is recorded in audit records.
	Region string
	// RequestID returns the request id for audit records. Nil: the
	// X-Request-Id request header.
	RequestID func(context.Context) string
	// Classify maps a request to what it does. Nil: Classify. A request it
	// does not know is denied (403): routes are closed unless classified.
	Classify func(*http.Request) (Request, bool)
	// Logger receives audit write failures. Nil: slog.Default().
	Logger *slog.Logger
	// UnauthenticatedPerSecond bounds the 401 records written per second
	// (with a burst of as many), so that a flood of requests with bad or no
	// credentials cannot fill the audit log's disk; the next 401 record
	// written carries how many were left out (Record.Suppressed). 403s and
	// mutations come from authenticated callers and are all recorded.
	// 0: DefaultUnauthenticatedPerSecond; negative: no bound.
	UnauthenticatedPerSecond float64
}

// DefaultUnauthenticatedPerSecond is Middleware.UnauthenticatedPerSecond's
// default.
const DefaultUnauthenticatedPerSecond = 100

// unauthenticatedLog thins 401 records to a rate.
type unauthenticatedLog struct {
	lim        *rate.Limiter // nil: every record
	suppressed atomic.Uint64
}

func newUnauthenticatedLog(perSecond float64) *unauthenticatedLog {
	switch {
	case perSecond < 0:
		return &unauthenticatedLog{}
	case perSecond == 0:
		perSecond = DefaultUnauthenticatedPerSecond
	}
	return &unauthenticatedLog{lim: rate.NewLimiter(rate.Limit(perSecond), max(1, int(perSecond)))}
}

// admit reports whether rec is written, and sets its Suppressed count.
func (u *unauthenticatedLog) admit(rec *Record) bool {
	if u.lim == nil {
		return true
	}
	if !u.lim.Allow() {
		u.suppressed.Add(1)
		return false
	}
	rec.Suppressed = u.suppressed.Swap(0)
	return true
}

// maxRequestID bounds the request id kept in an audit record.
const maxRequestID = 128

// Handler returns next behind authentication and authorisation:
//
//  1. An Authorization header must be "Bearer <token>" (any case of
//     "Bearer") that Verifier accepts. Without one, a TLS client certificate
//     chain the handshake verified authenticates by IdentityFromCert.
//     Otherwise: 401 unauthenticated, with WWW-Authenticate: Bearer.
//  2. Classify, then Policy.Allowed; unknown requests and refusals: 403
//     forbidden.
//  3. next runs with the Identity in the request context (IdentityFrom).
//
// Mutations that pass are recorded with the status the client gets and the
// X-Fencing-Token the handler set. The record is written before the
// response header leaves (at the handler's first WriteHeader, Write or
// Flush, or when it returns having written nothing), so no client sees an
// effect the audit log does not hold. If that write fails it is logged and
// the response proceeds: the mutation has been applied by then, and
// hiding its outcome from the client would not undo it.
func (m *Middleware) Handler(next http.Handler) http.Handler {
	unauthenticated := newUnauthenticatedLog(m.UnauthenticatedPerSecond)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		classify := m.Classify
		if classify == nil {
			classify = Classify
		}
		req, known := classify(r)
		rec := Record{
			Verb: string(req.Verb), Resource: string(req.Resource), Namespace: req.Namespace, Name: req.Name,
			RequestID: m.requestID(r), Region: m.Region,
		}
		id, err := m.authenticate(r)
		if err != nil {
			rec.Outcome, rec.Status, rec.Reason = OutcomeUnauthenticated, http.StatusUnauthorized, reasonOf(err)
			if unauthenticated.admit(&rec) {
				m.record(rec)
			}
			w.Header().Set("WWW-Authenticate", "Bearer")
			writeError(w, http.StatusUnauthorized, api.CodeUnauthenticated, "unauthenticated: "+rec.Reason)
			return
		}
		rec.Subject, rec.AuthMethod = id.Subject, id.Method
		if reason := m.deny(id, req, known); reason != "" {
			rec.Outcome, rec.Status, rec.Reason = OutcomeDenied, http.StatusForbidden, reason
			m.record(rec)
			writeError(w, http.StatusForbidden, api.CodeForbidden, forbiddenMessage(id, req, known))
			return
		}
		r = r.WithContext(WithIdentity(r.Context(), id))
		if m.Audit == nil || (req.Verb != VerbPut && req.Verb != VerbDelete) {
			next.ServeHTTP(w, r)
			return
		}
		rec.Outcome = OutcomeAllowed
		aw := &auditWriter{ResponseWriter: w, m: m, rec: rec}
		returned := false
		defer func() {
			// A panicking handler wrote nothing the client has seen yet
			// (else it was recorded); the recoverer outside answers 500.
			if !returned {
				aw.record(http.StatusInternalServerError, "handler panicked")
			}
		}()
		next.ServeHTTP(aw, r)
		returned = true
		aw.record(http.StatusOK, "")
	})
}

// authenticate returns the caller's identity: by bearer token if an
// Authorization header is present, else by verified client certificate.
func (m *Middleware) authenticate(r *http.Request) (Identity, error) {
	switch h := r.Header.Values("Authorization"); len(h) {
	case 0:
	case 1:
		scheme, tok, _ := strings.Cut(strings.TrimSpace(h[0]), " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return Identity{}, unauthenticated("Authorization is not a Bearer token")
		}
		if tok = strings.TrimSpace(tok); tok == "" {
			return Identity{}, unauthenticated("empty bearer token")
		}
		if m.Verifier == nil {
			return Identity{}, unauthenticated("bearer tokens are not accepted")
		}
		return m.Verifier.Verify(r.Context(), tok)
	default:
		return Identity{}, unauthenticated("more than one Authorization header")
	}
	// VerifiedChains, not PeerCertificates: only a certificate that the
	// handshake verified against the client CAs identifies anyone.
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		return IdentityFromCert(r.TLS.VerifiedChains[0][0])
	}
	return Identity{}, unauthenticated("no credentials: send a bearer token or a client certificate")
}

// deny returns why id may not make req, or "" if it may.
func (m *Middleware) deny(id Identity, req Request, known bool) string {
	switch {
	case !known:
		return "request not classified"
	case m.Policy == nil:
		return "no policy configured"
	case !m.Policy.Allowed(id, req):
		return "no rule allows it"
	}
	return ""
}

func forbiddenMessage(id Identity, req Request, known bool) string {
	if !known {
		return "forbidden: this request is not covered by the authorisation policy"
	}
	where := "cluster-wide"
	if req.Namespace != "" {
		where = fmt.Sprintf("in namespace %q", req.Namespace)
	}
	return fmt.Sprintf("forbidden: %q may not %s %s %s", id.Subject, req.Verb, req.Resource, where)
}

func (m *Middleware) requestID(r *http.Request) string {
	var id string
	if m.RequestID != nil {
		id = m.RequestID(r.Context())
	} else {
		id = r.Header.Get(api.HeaderRequestID)
	}
	if len(id) > maxRequestID {
		id = id[:maxRequestID]
	}
	return id
}

// record writes rec to the audit log; a failure is logged, not returned:
// the answer to the request does not depend on it.
func (m *Middleware) record(rec Record) {
	if err := m.Audit.Record(rec); err != nil {
		logger := m.Logger
		if logger == nil {
			logger = slog.Default()
		}
		logger.Error("authz: audit record not written", "err", err, "outcome", rec.Outcome,
			"status", rec.Status, "subject", rec.Subject, "verb", rec.Verb, "request_id", rec.RequestID)
	}
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	body, _ := json.Marshal(api.ErrorBody{Error: api.Error{Code: code, Message: message}})
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// auditWriter records an allowed mutation when its response header is
// about to leave, with the final status and fencing token.
type auditWriter struct {
	http.ResponseWriter
	m        *Middleware
	rec      Record
	recorded bool
}

// record writes the audit record once.
func (w *auditWriter) record(status int, reason string) {
	if w.recorded {
		return
	}
	w.recorded = true
	w.rec.Status, w.rec.Reason = status, reason
	if t, err := strconv.ParseUint(w.Header().Get(api.HeaderFencingToken), 10, 64); err == nil {
		w.rec.FencingToken = t
	}
	w.m.record(w.rec)
}

func (w *auditWriter) WriteHeader(code int) {
	// Informational responses (100 Continue, 103 Early Hints) precede the
	// final one; the record waits for that.
	if code < 100 || code >= 200 || code == http.StatusSwitchingProtocols {
		w.record(code, "")
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *auditWriter) Write(b []byte) (int, error) {
	w.record(http.StatusOK, "")
	return w.ResponseWriter.Write(b)
}

// Flush sends the header (200 if none was written), so it records first.
func (w *auditWriter) Flush() {
	w.record(http.StatusOK, "")
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *auditWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Classify maps a request routed by chi on the api route patterns to what
// it does:
//
//	GET    api.RouteObject    get objects
//	GET    api.RouteObjects   list objects
//	PUT    api.RouteObject    put objects
//	DELETE api.RouteObject    delete objects
//	GET    api.RouteWatch     watch objects
//	PUT    api.RouteNamespace put namespaces
//	GET    api.RouteShards    get shards (cluster-scoped: Namespace "")
//
// Anything else, or a request without a chi route context, is unknown
// (false). Names are unescaped as the gateway unescapes them, so the
// decision is about the namespace the request will touch.
func Classify(r *http.Request) (Request, bool) {
	if r == nil || r.URL == nil {
		return Request{}, false
	}
	rctx := chi.RouteContext(r.Context())
	if rctx == nil {
		return Request{}, false
	}
	pattern := rctx.RoutePattern()
	var req Request
	switch {
	case pattern == api.RouteObject && r.Method == http.MethodGet:
		req = Request{Verb: VerbGet, Resource: ResourceObjects}
	case pattern == api.RouteObject && r.Method == http.MethodPut:
		req = Request{Verb: VerbPut, Resource: ResourceObjects}
	case pattern == api.RouteObject && r.Method == http.MethodDelete:
		req = Request{Verb: VerbDelete, Resource: ResourceObjects}
	case pattern == api.RouteObjects && r.Method == http.MethodGet:
		req = Request{Verb: VerbList, Resource: ResourceObjects}
	case pattern == api.RouteWatch && r.Method == http.MethodGet:
		req = Request{Verb: VerbWatch, Resource: ResourceObjects}
	case pattern == api.RouteNamespace && r.Method == http.MethodPut:
		req = Request{Verb: VerbPut, Resource: ResourceNamespaces}
	case pattern == api.RouteShards && r.Method == http.MethodGet:
		return Request{Verb: VerbGet, Resource: ResourceShards}, true
	default:
		return Request{}, false
	}
	// Like the gateway: chi hands over the raw segment when the path holds
	// escapes its decoded form cannot show, so unescape once then only.
	param := func(key string) (string, bool) {
		v := rctx.URLParam(key)
		if r.URL.RawPath != "" {
			u, err := url.PathUnescape(v)
			if err != nil {
				return "", false
			}
			v = u
		}
		return v, v != ""
	}
	var ok bool
	if req.Namespace, ok = param("ns"); !ok {
		return Request{}, false
	}
	if pattern == api.RouteObject {
		if req.Name, ok = param("name"); !ok {
			return Request{}, false
		}
	}
	return req, true
}
