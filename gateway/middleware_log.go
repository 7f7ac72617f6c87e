package gateway

import (
	"log/slog"
	"net/http"
	"strconv"

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
		g.metrics.requests.WithLabelValues(route, method, strconv.Itoa(status), consistency).Observe(elapsed.Seconds())

		level := slog.LevelInfo
		if probeRoutes[route] {
			level = slog.LevelDebug
		}
		logger(r.Context()).Log(r.Context(), level, "request",
			"method", r.Method, "path", r.URL.EscapedPath(), "route", route,
			"status", status, "bytes", ww.BytesWritten(), "duration", elapsed,
			"consistency", consistency, "remote", r.RemoteAddr)
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
