package gateway

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/go-chi/chi/v5/middleware"

	"github.com/cpgw/cpgw/api"
)

// loggerKey is the context key of the request's *requestCtx.
type loggerKey struct{}

// requestIDs makes the ids of requests that bring none: a random prefix
// per gateway process and a counter, "K3V5QH2XW7YTZ-1f". That is unique
// across a fleet with overwhelming probability (65 random bits per process)
// and costs a fraction of a random id per request. The ids are not secret
// and not meant to be unguessable: they correlate logs, nothing more.
type requestIDs struct {
	prefix string // random, ends with '-'
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	return &requestIDs{prefix: rand.Text()[:13] + "-"}
}

func (s *requestIDs) next() string {
	var buf [32]byte
	b := append(buf[:0], s.prefix...)
	return string(strconv.AppendUint(b, s.n.Add(1), 36))
}

// withRequestID gives every request an id: the client's X-Request-Id if it
// sent a usable one, else a new one from ids. The id is stored under chi's
// middleware.RequestIDKey, so middleware.GetReqID and anything else written
// for chi finds it; it is echoed in the response, forwarded to coordinators
// and attached to a per-request logger.
func withRequestID(base *slog.Logger, ids *requestIDs) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get(api.HeaderRequestID)
			if !validRequestID(id) {
				id = ids.next()
			}
			w.Header()[api.HeaderRequestID] = []string{id} // canonical key: Set without the lookup
			next.ServeHTTP(w, r.WithContext(&requestCtx{Context: r.Context(), id: id, idValue: id, base: base}))
		})
	}
}

// requestCtx carries the request id and the logger under one context
// value instead of two context.WithValue layers, and builds the logger
// with its request_id attribute only when something logs: a request that
// logs nothing (or only at a disabled level) allocates no logger.
type requestCtx struct {
	context.Context
	id string
	// idValue is id boxed once: Value runs for every GetReqID, and
	// returning the string itself would allocate an interface each time.
	idValue any
	base    *slog.Logger

	once sync.Once
	log  *slog.Logger
}

func (c *requestCtx) Value(key any) any {
	switch key {
	case middleware.RequestIDKey:
		return c.idValue
	case loggerKey{}:
		return c
	}
	return c.Context.Value(key)
}

func (c *requestCtx) logger() *slog.Logger {
	c.once.Do(func() { c.log = c.base.With("request_id", c.id) })
	return c.log
}

// validRequestID accepts what can be echoed and logged safely: 1..128
// printable ASCII characters. Anything else is replaced, not refused: a
// request id is a diagnostic aid, not a reason to fail a request.
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// requestID returns the request's id ("" outside the middleware).
func requestID(ctx context.Context) string { return middleware.GetReqID(ctx) }

// logger returns the request's logger, which carries its id.
func logger(ctx context.Context) *slog.Logger {
	if c, ok := ctx.Value(loggerKey{}).(*requestCtx); ok {
		return c.logger()
	}
	return slog.Default()
}
