package client

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/cpgw/cpgw/api"
)

// Option configures a Client in New.
type Option func(*config)

type config struct {
	httpClient    *http.Client
	token         func(context.Context) (string, error)
	userAgent     string
	logger        *slog.Logger
	retry         retryPolicy
	failbackAfter time.Duration
	session       bool
	err           error // the first invalid option, reported by New
}

// Defaults.
const (
	// DefaultUserAgent is sent unless WithUserAgent says otherwise.
	DefaultUserAgent = "cpgw-go-client/1"
	// DefaultFailbackAfter is how long calls stay on a fallback gateway
	// before trying the preferred one again.
	DefaultFailbackAfter = 30 * time.Second
	// defaultAttemptTimeout bounds one attempt of the default HTTP client,
	// so that a gateway that hangs is failed over instead of holding the
	// call until its context ends.
	defaultAttemptTimeout = 10 * time.Second
)

// defaultRetry: quick first retries, a ceiling that does not leave the
// caller waiting long between attempts, and a budget that rides out a lease
// failover (a few seconds) with room to spare.
var defaultRetry = retryPolicy{initial: 100 * time.Millisecond, max: 2 * time.Second, maxElapsed: 30 * time.Second}

func (c *config) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

// WithHTTPClient sets the HTTP client (transport, TLS, proxies). Its Timeout,
// if any, bounds each attempt, not the whole call. The default client times
// out an attempt after 10 s.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) {
		if hc != nil {
			c.httpClient = hc
		}
	}
}

// WithBearerToken sends "Authorization: Bearer <token>" on every request. An
// empty token sends nothing, which suits an --insecure deployment whose
// endpoints.json has no tokens.
func WithBearerToken(token string) Option {
	return func(c *config) {
		if token == "" {
			c.token = nil
			return
		}
		c.token = func(context.Context) (string, error) { return token, nil }
	}
}

// WithTokenSource calls src before every attempt for the bearer token, so a
// token that is refreshed is picked up by retries. An error from src ends
// the call without retrying; an empty token sends no Authorization header.
func WithTokenSource(src func(ctx context.Context) (string, error)) Option {
	return func(c *config) { c.token = src }
}

// WithRetry sets the backoff between attempts: exponential from initial up
// to max, with jitter, and no new attempt once maxElapsed has passed since
// the call began (0: keep trying until the context ends). A server's
// Retry-After can make a wait longer than max.
func WithRetry(initial, max, maxElapsed time.Duration) Option {
	return func(c *config) {
		if initial <= 0 || max < initial || maxElapsed < 0 {
			c.fail(invalidf("WithRetry(%v, %v, %v): want 0 < initial <= max and maxElapsed >= 0", initial, max, maxElapsed))
			return
		}
		c.retry = retryPolicy{initial: initial, max: max, maxElapsed: maxElapsed}
	}
}

// WithFailbackAfter sets how long calls stay on a fallback gateway that
// answered before the preferred gateway is tried first again. Zero makes
// every call start at the preferred gateway.
func WithFailbackAfter(d time.Duration) Option {
	return func(c *config) {
		if d < 0 {
			c.fail(invalidf("WithFailbackAfter(%v): negative", d))
			return
		}
		c.failbackAfter = d
	}
}

// WithSession makes the Client a read-your-writes session, per object.
//
// After a write (Put, Delete) succeeds, the client remembers the version it
// wrote for that object, and every later Get of the object sends at least
// that version as minVersion, so no replica that has not seen the write
// answers. A List sends the highest version written in its namespace.
// A larger MinVersion given by the caller wins. The memory is one entry per
// object written, for the Client's lifetime.
func WithSession() Option {
	return func(c *config) { c.session = true }
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option {
	return func(c *config) {
		if ua != "" {
			c.userAgent = ua
		}
	}
}

// WithLogger logs retries and failovers at debug and warn level. The
// default logs nothing.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// ReadOption configures Get and List.
type ReadOption func(*readOptions)

type readOptions struct {
	consistency  ConsistencyLevel
	maxStaleness *time.Duration
	minVersion   uint64
	err          error
}

// Consistency asks for Local (the default) or Strong reads.
func Consistency(level ConsistencyLevel) ReadOption {
	return func(o *readOptions) {
		if level != Local && level != Strong {
			o.err = invalidf("consistency %q: want %q or %q", level, Local, Strong)
			return
		}
		o.consistency = level
	}
}

// MaxStaleness bounds how stale a Local read may be (server default 5s);
// past the bound the owner answers.
func MaxStaleness(d time.Duration) ReadOption {
	return func(o *readOptions) {
		if d < 0 {
			o.err = invalidf("maxStaleness %v: negative", d)
			return
		}
		o.maxStaleness = &d
	}
}

// MinVersion refuses answers from replicas that have not seen version v:
// the owner answers instead.
func MinVersion(v uint64) ReadOption {
	return func(o *readOptions) { o.minVersion = v }
}

// WriteOption configures Put, Delete and SetNamespace.
type WriteOption func(*writeOptions)

type writeOptions struct {
	ifMatch     *uint64
	ifNoneMatch bool
	key         string
	err         error
}

// IfMatch applies the write only if the object is at version v
// (If-Match); otherwise the write fails with ErrPreconditionFailed.
func IfMatch(v uint64) WriteOption {
	return func(o *writeOptions) { o.ifMatch = &v }
}

// IfNoneMatch makes a Put create-only (If-None-Match: *): it fails with
// ErrPreconditionFailed if the object exists.
func IfNoneMatch() WriteOption {
	return func(o *writeOptions) { o.ifNoneMatch = true }
}

// IdempotencyKey sends key (1..255 printable ASCII) instead of a generated
// one. Reuse a key only to repeat the same write, e.g. after a restart;
// the same key with another body fails with ErrIdempotencyMismatch.
func IdempotencyKey(key string) WriteOption {
	return func(o *writeOptions) {
		if !api.ValidIdempotencyKey(key) {
			o.err = invalidf("idempotency key of %d bytes: want 1..%d printable ASCII characters", len(key), api.MaxIdempotencyKey)
			return
		}
		o.key = key
	}
}
