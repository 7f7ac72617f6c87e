package gateway

import (
	"net/http"
	"runtime/debug"

	"github.com/go-chi/chi/v5/middleware"

	"github.com/cpgw/cpgw/api"
)

// recoverer turns a panic in a handler into a logged 500 with a JSON body,
// so one bad request cannot take the connection, or the process, with it.
// Nothing is expected to panic; this is the last line. http.ErrAbortHandler
// is re-raised: it is net/http's way to abort a response on purpose.
func recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			logger(r.Context()).Error("panic serving request", "panic", v, "stack", string(debug.Stack()))
			if ww, ok := w.(middleware.WrapResponseWriter); ok && ww.Status() != 0 {
				return // the status is out; the client sees a truncated body
			}
			writeError(w, http.StatusInternalServerError, api.CodeInternal, "internal error")
		}()
		next.ServeHTTP(w, r)
	})
}
