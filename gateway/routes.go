package gateway

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cpgw/cpgw/api"
)

// routes builds the gateway's handler. Middleware order, outermost first:
// request id (everything after can log it), access log and metrics (they
// see every outcome, including a recovered panic's 500 and an
// authentication failure), recover, then (on /v1 routes) Authenticate.
func (g *Gateway) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(withRequestID(g.cfg.Logger, newRequestIDs()), g.accessLog, recoverer)
	r.NotFound(notFound)
	r.MethodNotAllowed(methodNotAllowed(r))

	// Probes and metrics stay outside authentication: kubelets and
	// Prometheus scrape them without credentials.
	r.Get("/healthz", healthz)
	r.Get("/readyz", g.readyz)
	r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(g.gatherer, promhttp.HandlerOpts{
		ErrorLog: slogPrinter{g.cfg.Logger},
	}))

	r.Group(func(r chi.Router) {
		if g.cfg.Authenticate != nil {
			r.Use(g.cfg.Authenticate)
		}
		r.Put(api.RouteObject, g.putObject)
		r.Get(api.RouteObject, g.getObject)
		r.Delete(api.RouteObject, g.deleteObject)
		r.Get(api.RouteObjects, g.listObjects)
		// ".../objects/" is an object with an empty name, not a list with a
		// trailing slash: say so rather than 404.
		r.Handle(api.RouteObjects+"/", http.HandlerFunc(emptyObjectName))
		r.Get(api.RouteWatch, g.watch)
		r.Put(api.RouteNamespace, g.putNamespace)
		r.Get(api.RouteShards, g.shardMap)
	})
	return r
}

func notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, api.CodeNotFound, "no route for "+r.Method+" "+truncate(r.URL.EscapedPath(), 128))
}

// methodNotAllowed answers 405 with an Allow header. chi knows the allowed
// methods but only tells its own default handler, so they are found again
// by matching the path with each method.
func methodNotAllowed(mux *chi.Mux) http.HandlerFunc {
	methods := []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPost, http.MethodPatch}
	return func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.RawPath
		if path == "" {
			path = r.URL.Path
		}
		var allowed []string
		for _, m := range methods {
			if mux.Match(chi.NewRouteContext(), m, path) {
				allowed = append(allowed, m)
			}
		}
		slices.Sort(allowed)
		if len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
		}
		writeError(w, http.StatusMethodNotAllowed, api.CodeMethodNotAllowed,
			"method "+truncate(r.Method, 16)+" not allowed; allowed: "+strings.Join(allowed, ", "))
	}
}

func emptyObjectName(w http.ResponseWriter, r *http.Request) {
	if _, e := nameParam(r, "ns", "namespace"); e != nil {
		e.write(w)
		return
	}
	badRequest(w, api.CodeInvalidName, "empty object name")
}

// healthz is liveness: the process serves HTTP. It does not look at the
// store, so a store outage does not get every gateway restarted.
func healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz is readiness: the shard map is loaded and the primary answered
// within ReadyStaleAfter, so requests can be routed.
func (g *Gateway) readyz(w http.ResponseWriter, r *http.Request) {
	if ok, why := g.cache.ready(g.cfg.ReadyStaleAfter); !ok {
		writeError(w, http.StatusServiceUnavailable, api.CodeUnavailable, "not ready: "+why)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// watch is part of the contract, not of this version.
func (g *Gateway) watch(w http.ResponseWriter, r *http.Request) {
	if _, e := nameParam(r, "ns", "namespace"); e != nil {
		e.write(w)
		return
	}
	writeError(w, http.StatusNotImplemented, api.CodeNotImplemented,
		"watch (change streams over Server-Sent Events) is not implemented yet; it arrives with a later issue")
}

// shardMap serves GET /v1/shards from the cached map. Lease times are run
// down by the map's age, so they do not claim more time than is left.
func (g *Gateway) shardMap(w http.ResponseWriter, r *http.Request) {
	s := g.cache.current()
	if s == nil {
		writeError(w, http.StatusServiceUnavailable, api.CodeUnavailable, "shard map not loaded yet")
		return
	}
	age := g.cfg.Clock.Since(s.loadedAt)
	entries := s.m.Entries()
	out := api.ShardMap{Shards: make([]api.ShardEntry, len(entries))}
	for i, e := range entries {
		var remaining time.Duration
		if e.Owner != "" {
			remaining = max(e.LeaseRemaining-age, 0)
		}
		out.Shards[i] = api.ShardEntry{
			Shard:            e.Shard,
			Owner:            e.Owner,
			Region:           e.Region,
			Address:          e.Address,
			FencingToken:     uint64(e.FencingToken),
			LeaseRemainingMs: remaining.Milliseconds(),
			HomeRegion:       s.layout.HomeRegion(e.Shard),
		}
	}
	writeJSON(w, http.StatusOK, out)
}
