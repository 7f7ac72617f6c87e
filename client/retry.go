package client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/cpgw/cpgw/api"
)

// retryPolicy is the backoff between attempts of one call (WithRetry).
type retryPolicy struct {
	initial, max, maxElapsed time.Duration
}

func (p retryPolicy) backOff() *backoff.ExponentialBackOff {
	return backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(p.initial),
		backoff.WithMaxInterval(p.max),
		// The budget is checked in do, where Retry-After waits count too.
		backoff.WithMaxElapsedTime(0),
	)
}

// request is one call's HTTP request, sent unchanged on every attempt.
type request struct {
	method string
	path   string // escaped
	query  url.Values
	header http.Header
	body   []byte // nil: no body
}

// response is the successful answer to a call.
type response struct {
	status   int
	header   http.Header
	body     []byte
	gateway  string
	attempts int
}

// verdict is what an attempt's failure means for the call.
type verdict int

const (
	final     verdict = iota // return the error
	retrySame                // wait, then ask the same gateway
	retryNext                // ask the next gateway
)

// classify decides whether a server error is worth another attempt. Writes
// are included because every write carries an idempotency key: a repeat is
// applied at most once and gets the first response.
func classify(e *Error) verdict {
	switch e.StatusCode {
	case http.StatusTooManyRequests:
		// Shed load: moving it to another region would spread the overload.
		return retrySame
	case http.StatusConflict:
		if e.Code == api.CodeIdempotencyInFlight {
			// The first attempt is still being applied; the retry
			// gets its response replayed.
			return retrySame
		}
	case http.StatusMisdirectedRequest, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		// 421 should not leave a gateway (it re-routes), but if it does
		// ownership is moving, which a retry outlives.
		return retryNext
	}
	return final
}

// do sends r until an attempt succeeds, an attempt fails for good, the retry
// budget is spent or ctx ends.
//
// A failure that points at the gateway (connection error, 5xx) moves on to
// the next gateway at once as long as it has not been tried since the last
// backoff wait; once every gateway had its turn, the call waits the next
// backoff interval. A Retry-After is the least wait before that gateway is
// asked again.
func (c *Client) do(ctx context.Context, r *request) (*response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n := len(c.gateways.urls)
	first := c.gateways.start()
	b := c.retry.backOff()
	began := time.Now()
	tried := make([]bool, n)          // since the last backoff wait
	notBefore := make([]time.Time, n) // from Retry-After
	g := first
	for attempt := 1; ; attempt++ {
		resp, v, err := c.attempt(ctx, g, r)
		if err == nil {
			resp.attempts = attempt
			c.gateways.answered(g, first, c.log)
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, &retryError{cause: ctx.Err(), attempts: attempt, last: err}
		}
		if v == final {
			return nil, err
		}

		tried[g] = true
		var e *Error
		if errors.As(err, &e) && e.RetryAfter > 0 {
			notBefore[g] = time.Now().Add(e.RetryAfter)
		}
		next := g
		if v == retryNext {
			next = (g + 1) % n
		}
		var wait time.Duration
		if tried[next] {
			wait = b.NextBackOff()
			clear(tried)
		}
		wait = max(wait, time.Until(notBefore[next]))

		// Give up now rather than sleep into a wall.
		if c.retry.maxElapsed > 0 && time.Since(began)+wait > c.retry.maxElapsed {
			return nil, &retryError{cause: ErrUnavailable, attempts: attempt, last: err}
		}
		if dl, ok := ctx.Deadline(); ok && time.Now().Add(wait).After(dl) {
			return nil, &retryError{cause: ErrUnavailable, attempts: attempt, last: err}
		}

		c.log.DebugContext(ctx, "cpgw: retrying",
			"method", r.method, "path", r.path, "attempt", attempt,
			"gateway", c.gateways.urls[g].Host, "next", c.gateways.urls[next].Host,
			"wait", wait, "err", err)
		if cerr := sleep(ctx, wait); cerr != nil {
			return nil, &retryError{cause: cerr, attempts: attempt, last: err}
		}
		g = next
	}
}

// attempt sends r to gateway g once.
func (c *Client) attempt(ctx context.Context, g int, r *request) (*response, verdict, error) {
	base := c.gateways.urls[g]
	target := strings.TrimSuffix(base.String(), "/") + r.path
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, target, body)
	if err != nil {
		return nil, final, err
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if c.token != nil {
		tok, err := c.token(ctx)
		if err != nil {
			return nil, final, &tokenError{err}
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
	}

	resp, err := c.http.Do(req)
	if err != nil {
		// The request may or may not have arrived; reads do not care and
		// writes carry an idempotency key.
		return nil, retryNext, err
	}
	defer resp.Body.Close()
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	rd := io.Reader(resp.Body)
	if !ok {
		rd = io.LimitReader(resp.Body, maxErrorBody)
	}
	data, err := io.ReadAll(rd)
	if ok {
		if err != nil {
			return nil, retryNext, err
		}
		return &response{status: resp.StatusCode, header: resp.Header, body: data, gateway: base.String()}, final, nil
	}
	// A truncated error body still has its status; decodeError copes.
	e := decodeError(resp.StatusCode, resp.Header, data)
	return nil, classify(e), e
}

// tokenError is a failure of the token source.
type tokenError struct{ err error }

func (e *tokenError) Error() string { return "cpgw: token source: " + e.err.Error() }
func (e *tokenError) Unwrap() error { return e.err }

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// gatewaySet is the gateway list and which one calls start at: the preferred
// (index 0) unless a fallback answered within the failback interval.
type gatewaySet struct {
	urls          []*url.URL
	failbackAfter time.Duration

	mu     sync.Mutex
	active int       // the gateway that answered last
	since  time.Time // when active became a fallback
}

// start is the gateway a call asks first.
func (s *gatewaySet) start() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active != 0 && time.Since(s.since) >= s.failbackAfter {
		return 0
	}
	return s.active
}

// answered records that gateway g answered a call that started at first.
func (s *gatewaySet) answered(g, first int, log *slog.Logger) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case g == 0:
		if s.active != 0 {
			log.Info("cpgw: back on the preferred gateway", "gateway", s.urls[0].Host)
		}
		s.active = 0
	case g != s.active || first == 0:
		// A fallback answered after the preferred gateway failed (again):
		// stay on the fallback for another failback interval.
		if g != s.active {
			log.Warn("cpgw: preferred gateway failing, using a fallback",
				"preferred", s.urls[0].Host, "gateway", s.urls[g].Host)
		}
		s.active, s.since = g, time.Now()
	}
}
