package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/jonboulle/clockwork"
	"github.com/sony/gobreaker/v2"

	"github.com/cpgw/cpgw/api"
)

// relayHeaders are the coordinator response headers that reach the client.
var relayHeaders = []string{
	"Content-Type",
	"ETag",
	"Allow",
	api.HeaderFencingToken,
	api.HeaderReplicasAcked,
	api.HeaderIdempotentReplayed,
	api.HeaderServedBy,
	api.HeaderConsistency,
	api.HeaderRetryAfter,
}

// maxErrorBody bounds how much of a 421 or 503 body is read to classify it.
// Coordinator error bodies are a few hundred bytes.
const maxErrorBody = 64 << 10

// forward is one request to send to the owner of a namespace's shard.
type forward struct {
	kind   string                 // metrics label: write, read, namespace
	method string                 // http method on the coordinator
	ns     string                 // the namespace that picks the shard
	path   func(shard int) string // coordinator path for the resolved shard
	body   []byte                 // nil for reads; sent whole on every attempt
	// header is what the coordinator gets of the client's headers: only
	// what the handler validated and copied (Content-Type, If-Match,
	// If-None-Match, Idempotency-Key), never credentials or hop-by-hop
	// headers. X-Request-Id is added here.
	header http.Header
	// strong marks a read: the response says X-Consistency: strong.
	strong bool
	// generatedKey marks an Idempotency-Key the gateway made for a client
	// that sent none: a replay of it is the gateway's business, not news
	// for the client, so Idempotent-Replayed is not relayed.
	generatedKey bool
	// onSuccess, if set, runs after a 2xx and before the response is
	// relayed, so its effect is visible to the client's next request.
	onSuccess func(ctx context.Context)
}

// outcome classifies one attempt.
type outcome int

const (
	relay       outcome = iota // a response to hand to the client as is
	retry                      // nothing was applied; another attempt is safe
	unavailable                // sent, then failed: the outcome is unknown
	canceled                   // the client went away
)

// attempt is what one try to reach the owner produced.
type attempt struct {
	outcome outcome
	reason  string         // for retry: the retries_total label
	detail  string         // for logs and error messages
	resp    *http.Response // for relay
	body    []byte         // for relay: the body if it was already read
	cancel  context.CancelFunc
	// maybeApplied marks a retry after an answer that says the write may
	// have been applied: giving up then reports an unknown outcome.
	maybeApplied bool
}

// forward sends f to the owner of f.ns's shard and relays the answer.
//
// It retries (same body, same headers, same Idempotency-Key) when the
// previous attempt cannot have been applied: the connection could not be
// made or the breaker refused it, the coordinator said 421 (not the owner)
// or 503 no_owner. It also retries an attempt that failed after it was sent
// (a timeout, a reset, or the owner's own 503 unavailable: a store error, a
// primary failing over) when that is safe: a read has no effect, and a write
// carries an Idempotency-Key (the client's, or one the gateway gave it), so
// the owner applies it at most once; a retry that meets the first attempt
// still in flight (409 idempotency_in_flight) waits for it.
//
// While it retries the request is held for failover (Config.Failover): it
// waits for the shard map to show a reachable owner, and goes to a new
// owner as soon as one is published. When Failover.Timeout runs out the
// client gets 503 with Retry-After: no_owner if nothing can have been
// applied, unavailable (with the Idempotency-Key to retry with) if an
// attempt's outcome is unknown.
func (g *Gateway) forward(w http.ResponseWriter, r *http.Request, f forward) {
	ctx := r.Context()
	f.header.Set(api.HeaderRequestID, requestID(ctx))
	start := g.cfg.Clock.Now()

	var (
		last    attempt // the latest failed attempt, for the final 503
		unknown bool    // an attempt of this write was sent and its outcome is unknown
		held    = -1    // the shard whose failover slot this request holds
		// The backoff and the failover budget are made at the first failed
		// attempt: most requests never need them, and they were a few
		// percent of a forwarded write's CPU. The budget still counts from
		// the request's start. It also bounds waiting for map reloads and
		// for a new owner, on the same clock as the backoff.
		b      *backoff.ExponentialBackOff
		budget context.Context
	)
	defer func() {
		if held >= 0 {
			g.holds.release(held)
		}
	}()
	for try := 1; ; try++ {
		s := g.cache.current()
		var a attempt
		var t target
		if s == nil {
			a = attempt{outcome: retry, reason: "no_owner_known", detail: "shard map not loaded yet"}
		} else if t = s.route(f.ns); t.entry.Address == "" {
			a = attempt{outcome: retry, reason: "no_owner_known", detail: fmt.Sprintf("shard %d has no owner", t.shard)}
		} else {
			a = g.attempt(ctx, t, f)
		}

		unknown = unknown || a.maybeApplied
		if a.outcome == unavailable && f.resendable() {
			unknown = unknown || f.method != http.MethodGet
			a.outcome, a.reason = retry, "unanswered"
		}
		if a.outcome == relay && unknown && a.resp.StatusCode == http.StatusConflict && errorCode(a.body) == api.CodeIdempotencyInFlight {
			// Our own earlier attempt is still being applied: wait for its
			// outcome, which the next attempt replays.
			a.cancel()
			a = attempt{outcome: retry, reason: "in_flight", detail: "an earlier attempt is still being applied"}
		}
		switch a.outcome {
		case relay:
			g.metrics.forwards.WithLabelValues(f.kind, "relayed").Inc()
			g.relay(w, r, f, a)
			return
		case unavailable:
			g.metrics.forwards.WithLabelValues(f.kind, "unavailable").Inc()
			logger(ctx).Warn("forward failed after the request was sent; not retrying",
				"coordinator", t.entry.Address, "shard", t.shard, "attempt", try, "err", a.detail)
			writeError(w, http.StatusServiceUnavailable, api.CodeUnavailable,
				"the shard owner did not answer after the request was sent, so its outcome is unknown")
			return
		case canceled:
			g.canceled(w, f)
			return
		}

		last = a
		if b == nil {
			var cancelBudget context.CancelFunc
			budget, cancelBudget = clockwork.WithDeadline(ctx, g.cfg.Clock, start.Add(g.cfg.Failover.Timeout))
			defer cancelBudget()
			b = backoff.NewExponentialBackOff(
				backoff.WithInitialInterval(g.cfg.Retry.InitialInterval),
				backoff.WithMaxInterval(g.cfg.Retry.MaxInterval),
				// At least 1ns: 0 would mean no limit.
				backoff.WithMaxElapsedTime(max(g.cfg.Failover.Timeout-g.cfg.Clock.Since(start), time.Nanosecond)),
				backoff.WithClockProvider(g.cfg.Clock),
			)
		}
		if held < 0 && s != nil {
			if !g.holds.acquire(t.shard) {
				g.metrics.forwards.WithLabelValues(f.kind, "held_full").Inc()
				g.giveUp(w, f, unknown, fmt.Sprintf("shard %d already holds %d requests waiting for an owner", t.shard, g.cfg.Failover.MaxQueued))
				return
			}
			held = t.shard
		}
		logger(ctx).Debug("forward attempt failed; holding and retrying", "reason", a.reason,
			"coordinator", t.entry.Address, "shard", t.shard, "attempt", try, "detail", a.detail)
		// Every retryable failure may mean the owner moved: reload the map
		// (coalesced with every other request that saw the same) before
		// choosing where to go next.
		g.cache.refresh(budget)
		if ctx.Err() != nil {
			g.canceled(w, f)
			return
		}
		d := b.NextBackOff()
		if d == backoff.Stop {
			break
		}
		if !g.waitForOwner(budget, f.ns, t.entry.Address, d) {
			if ctx.Err() != nil {
				g.canceled(w, f)
				return
			}
			break // the failover budget ran out
		}
		g.metrics.retries.WithLabelValues(a.reason).Inc()
	}
	g.metrics.forwards.WithLabelValues(f.kind, "no_owner").Inc()
	logger(ctx).Warn("no reachable shard owner within the failover timeout", "namespace", f.ns,
		"reason", last.reason, "detail", last.detail, "outcome_unknown", unknown)
	// The detail (addresses, dial errors) stays in the log; the client
	// learns what kind of failure it was.
	g.giveUp(w, f, unknown, "no reachable owner for the namespace's shard (last attempt: "+last.reason+")")
}

// resendable reports whether f may be sent again after an attempt whose
// outcome is unknown: a read (no effect), or an object write with an
// Idempotency-Key (the owner applies one key at most once). Namespace
// settings writes are not: their owner does not record keys.
func (f forward) resendable() bool {
	return f.method == http.MethodGet || (f.kind == "write" && f.header.Get(api.HeaderIdempotencyKey) != "")
}

// giveUp answers a request the gateway could not get answered in time.
func (g *Gateway) giveUp(w http.ResponseWriter, f forward, unknown bool, why string) {
	if !unknown {
		noOwner(w, why+"; nothing was applied, retry later")
		return
	}
	// The write may have been applied: the key it carried is the way to
	// find out, or to apply it at most once.
	key := f.header.Get(api.HeaderIdempotencyKey)
	w.Header().Set(api.HeaderIdempotencyKey, key)
	writeError(w, http.StatusServiceUnavailable, api.CodeUnavailable,
		why+"; an attempt's outcome is unknown: retry with Idempotency-Key "+key+" to apply it at most once")
}

// canceled answers a request whose client went away. Nobody reads the
// answer; it is written so the access log and metrics do not count a
// success.
func (g *Gateway) canceled(w http.ResponseWriter, f forward) {
	g.metrics.forwards.WithLabelValues(f.kind, "canceled").Inc()
	writeError(w, http.StatusServiceUnavailable, api.CodeUnavailable, "request canceled")
}

// attempt makes one try through the coordinator's breaker and classifies
// what happened.
func (g *Gateway) attempt(ctx context.Context, t target, f forward) attempt {
	addr := t.entry.Address
	cb := g.breakers.get(addr)

	// ForwardTimeout bounds the attempt up to its response headers (and the
	// small error bodies read to classify it); relaying a body to a slow
	// client is bounded by the client's request and the server's timeouts.
	actx, cancel := context.WithCancel(ctx)
	timer := time.AfterFunc(g.cfg.ForwardTimeout, cancel)
	defer timer.Stop()
	// wrote is set once any request headers went out: from then on the
	// coordinator may have received the request, and a failure leaves its
	// outcome unknown.
	var wrote atomic.Bool
	actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{
		WroteHeaders: func() { wrote.Store(true) },
	})
	req, err := http.NewRequestWithContext(actx, f.method, joinURL(addr, f.path(t.shard)), bodyReader(f.body))
	if err != nil {
		cancel()
		// A malformed address in a lease: nothing can be sent to it, so
		// treat it like a refused connection and hope the map moves on.
		return attempt{outcome: retry, reason: "connect", detail: fmt.Sprintf("bad coordinator address %q: %v", addr, err)}
	}
	req.Header = f.header.Clone()

	resp, err := cb.Execute(func() (*http.Response, error) {
		resp, err := g.client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, context.Canceled // excluded from the breaker's counts
			}
			return nil, err
		}
		if countsAsFailure(resp.StatusCode) {
			return resp, errCoordinatorFailed
		}
		return resp, nil
	})
	switch {
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		cancel()
		return attempt{outcome: retry, reason: "breaker_open", detail: "circuit breaker open for " + addr}
	case errors.Is(err, errCoordinatorFailed):
		return attempt{outcome: relay, resp: resp, cancel: cancel}
	case err != nil && ctx.Err() != nil:
		cancel()
		return attempt{outcome: canceled, detail: ctx.Err().Error()}
	case err != nil && (!wrote.Load() || isDialError(err)):
		cancel()
		return attempt{outcome: retry, reason: "connect", detail: fmt.Sprintf("connect to %s: %v", addr, err)}
	case err != nil:
		cancel()
		return attempt{outcome: unavailable, detail: fmt.Sprintf("%s: %v", addr, err)}
	}

	switch resp.StatusCode {
	case http.StatusConflict:
		body, err := readBody(resp)
		if err != nil {
			cancel()
			return attempt{outcome: unavailable, detail: fmt.Sprintf("%s: reading 409 body: %v", addr, err)}
		}
		return attempt{outcome: relay, resp: resp, body: body, cancel: cancel}
	case http.StatusMisdirectedRequest:
		body, _ := readBody(resp)
		cancel()
		return attempt{outcome: retry, reason: "misdirected",
			detail: fmt.Sprintf("%s does not own shard %d%s", addr, t.shard, ownerHint(body))}
	case http.StatusServiceUnavailable:
		body, err := readBody(resp)
		if err != nil {
			cancel()
			return attempt{outcome: unavailable, detail: fmt.Sprintf("%s: reading 503 body: %v", addr, err)}
		}
		switch code := errorCode(body); {
		case code == api.CodeNoOwner:
			cancel()
			return attempt{outcome: retry, reason: "no_owner", detail: addr + " has no lease on shard " + fmt.Sprint(t.shard)}
		case code == api.CodeUnavailable && f.resendable():
			// The owner could not finish it (a store error, a primary
			// failing over): it may have been applied. Under its key a
			// resend applies it at most once. quorum_not_reached is relayed
			// instead: the namespace's own timeout was already spent
			// waiting, and the client should learn its write is not yet
			// durable.
			cancel()
			return attempt{outcome: retry, reason: code, maybeApplied: true,
				detail: fmt.Sprintf("%s answered 503 %s", addr, code)}
		}
		return attempt{outcome: relay, resp: resp, body: body, cancel: cancel}
	}
	return attempt{outcome: relay, resp: resp, cancel: cancel}
}

// relay hands the coordinator's answer to the client: its status, the
// contract's headers and its body.
func (g *Gateway) relay(w http.ResponseWriter, r *http.Request, f forward, a attempt) {
	defer a.cancel()
	defer a.resp.Body.Close()
	resp := a.resp
	if f.onSuccess != nil && resp.StatusCode/100 == 2 {
		f.onSuccess(r.Context())
	}
	h := w.Header()
	for _, k := range relayHeaders {
		if vs := resp.Header.Values(k); len(vs) > 0 {
			h[k] = vs
		}
	}
	if f.strong {
		h.Set(api.HeaderConsistency, api.ConsistencyStrong)
	}
	if f.generatedKey {
		h.Del(api.HeaderIdempotentReplayed)
	}
	if resp.StatusCode == http.StatusServiceUnavailable && h.Get(api.HeaderRetryAfter) == "" {
		h.Set(api.HeaderRetryAfter, fmt.Sprint(retryAfterSeconds))
	}
	if resp.StatusCode == http.StatusServiceUnavailable && f.kind == "write" {
		// quorum_not_reached (or unavailable) from the owner: the write may
		// have been applied, and a client that sent no key needs the one the
		// gateway made to repeat it safely.
		if key := f.header.Get(api.HeaderIdempotencyKey); key != "" {
			h.Set(api.HeaderIdempotencyKey, key)
		}
	}
	w.WriteHeader(resp.StatusCode)
	var err error
	if a.body != nil {
		_, err = w.Write(a.body)
	} else {
		// io.Copy would allocate 32 KiB per response: the wrapped writers
		// (access log, audit) hide http.response's ReadFrom.
		buf := copyBufs.Get().(*[copyBufSize]byte)
		_, err = io.CopyBuffer(w, resp.Body, buf[:])
		copyBufs.Put(buf)
	}
	if err != nil {
		// Headers are out: all that can be done is to log it. The client
		// sees a truncated body and its JSON decoder fails.
		logger(r.Context()).Warn("relaying the coordinator's response failed", "err", err)
	}
}

// joinURL appends a coordinator path to a lease's address. Addresses are
// advertised URLs; a bare host:port is taken as plain HTTP.
func joinURL(addr, path string) string {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	return strings.TrimSuffix(addr, "/") + path
}

func bodyReader(b []byte) io.Reader {
	if b == nil {
		return nil
	}
	// A *bytes.Reader lets net/http set GetBody, so the transport itself
	// can resend the body on a stale keep-alive connection.
	return bytes.NewReader(b)
}

// isDialError reports an error from making the connection: the request was
// not sent on it.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// readBody reads a (small) error body and closes it.
func readBody(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
}

// errorCode returns the error code of an api.ErrorBody, or "".
func errorCode(body []byte) string {
	var eb api.ErrorBody
	if json.Unmarshal(body, &eb) != nil {
		return ""
	}
	return eb.Error.Code
}

// ownerHint describes the owner a 421 named, for logs.
func ownerHint(body []byte) string {
	var eb api.ErrorBody
	if json.Unmarshal(body, &eb) != nil || eb.Owner == nil {
		return ""
	}
	return fmt.Sprintf(" (it names %s at %s, token %d)", eb.Owner.ID, eb.Owner.Address, eb.Owner.FencingToken)
}
