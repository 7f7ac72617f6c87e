package gateway

import (
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/cpgw/cpgw/api"
)

// probeRoutes are logged at debug level: they are scraped every few seconds
// and would drown the access log.
var probeRoutes = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// accessLog logs every request and records it in the request-duration
// histogram by route pattern (never the raw path, so clients cannot inflate
// the label set), method, status and consistency. It must run inside the
// chi router, which fills in the route pattern while routing.
func (g *Gateway) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := g.cfg.Clock.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		elapsed := g.cfg.Clock.Since(start)

		status := ww.Status()
		if status == 0 {
			status = http.StatusOK // the handler wrote nothing: net/http sends 200
		}
		route := "unmatched" // 404s and 405s: no pattern
		if rctx := chi.RouteContext(r.Context()); rctx != nil && rctx.RoutePattern() != "" {
			route = rctx.RoutePattern()
		}
		consistency := ww.Header().Get(api.HeaderConsistency)
		if consistency == "" {
			consistency = "none"
		}
		method := r.Method
		if !knownMethod(method) {
			method = "other" // arbitrary methods must not become label values
		}
		g.metrics.request(route, method, status, consistency).Observe(elapsed.Seconds())

		level := slog.LevelInfo
		if probeRoutes[route] {
			level = slog.LevelDebug
		}
		// The same line as logger(ctx).Log would write (the request_id
		// attribute first), but checked for the level before any
		// attribute is built, and with typed attributes instead of boxed
		// arguments.
		ctx := r.Context()
		base, id := slog.Default(), ""
		c, inRequest := ctx.Value(loggerKey{}).(*requestCtx)
		if inRequest {
			base, id = c.base, c.id
		}
		if !base.Enabled(ctx, level) {
			return
		}
		attrs := [...]slog.Attr{
			slog.String("request_id", id),
			slog.String("method", r.Method), slog.String("path", r.URL.EscapedPath()), slog.String("route", route),
			slog.Int("status", status), slog.Int("bytes", ww.BytesWritten()), slog.Duration("duration", elapsed),
			slog.String("consistency", consistency), slog.String("remote", r.RemoteAddr),
		}
		a := attrs[:]
		if !inRequest {
			a = a[1:] // outside withRequestID: no id, as logger(ctx) gives
		}
		base.LogAttrs(ctx, level, "request", a...)
	})
}

func knownMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return true
	}
	return false
}
