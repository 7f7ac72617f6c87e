package gateway

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"sync"

	"github.com/go-chi/chi/v5/middleware"

	"github.com/cpgw/cpgw/api"
)

// loggerKey is the context key of the request's *requestCtx.
type loggerKey struct{}

// withRequestID gives every request an id: the client's X-Request-Id if it
// sent a usable one, else a new random one. The id is stored under chi's
// middleware.RequestIDKey, so middleware.GetReqID and anything else written
// for chi finds it; it is echoed in the response, forwarded to coordinators
// and attached to a per-request logger.
func withRequestID(base *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get(api.HeaderRequestID)
			if !validRequestID(id) {
				id = rand.Text()
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
