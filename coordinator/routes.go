package coordinator

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cpgw/cpgw/api"
)

// routes builds the router. Every route runs behind one middleware that
// gives the request an id and a logger, stamps X-Served-By, records the
// duration metric and turns a panic into a 500.
func (c *Coordinator) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(c.middleware)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		sendError(w, r, newError(http.StatusNotFound, api.CodeNotFound, "no route %s %s", r.Method, r.URL.Path))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		sendError(w, r, newError(http.StatusMethodNotAllowed, api.CodeMethodNotAllowed, "method %s not allowed on %s", r.Method, r.URL.Path))
	})

	r.Get("/healthz", c.handleHealthz)
	r.Get("/readyz", c.handleReadyz)
	if c.met.gatherer != nil {
		r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(c.met.gatherer, promhttp.HandlerOpts{}))
	}

	r.Put(api.RouteInternalObject, c.handleWrite)
	r.Delete(api.RouteInternalObject, c.handleWrite)
	r.Get(api.RouteInternalObject, c.handleGet)
	r.Get(api.RouteInternalObjects, c.handleList)
	r.Put(api.RouteInternalNamespace, c.handleNamespace)
	return r
}

func (c *Coordinator) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get(api.HeaderRequestID)
		if !validRequestID(id) {
			id = newRequestID()
		}
		ctx, log := withLogger(r.Context(), c.log, id)
		r = r.WithContext(ctx)
		w.Header().Set(api.HeaderRequestID, id)
		w.Header().Set(api.HeaderServedBy, c.servedBy)
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)

		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.logger().Error("handler panicked", "panic", fmt.Sprint(p), "method", r.Method, "path", r.URL.Path)
				if ww.Status() == 0 {
					sendError(ww, r, newError(http.StatusInternalServerError, api.CodeInternal, "internal error"))
				}
			}
			status := ww.Status()
			if status == 0 {
				status = http.StatusOK
			}
			route := "unmatched"
			if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
				route = rc.RoutePattern()
			}
			took := time.Since(start)
			c.met.requestDuration.WithLabelValues(route, r.Method, strconv.Itoa(status)).Observe(took.Seconds())
			level := slog.LevelDebug
			if status >= 500 {
				level = slog.LevelWarn
			}
			if c.log.Enabled(r.Context(), level) {
				log.logger().Log(r.Context(), level, "request", "method", r.Method, "path", r.URL.Path,
					"status", status, "took", took)
			}
		}()
		next.ServeHTTP(ww, r)
	})
}
