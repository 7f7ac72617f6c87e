package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/cpgw/cpgw/api"
	"github.com/cpgw/cpgw/store"
)

// Reads. A local read is answered from the region's replica when its
// staleness bound, measured across the read (package locality: the
// instant before which the replica holds every acknowledged write is taken
// before the read, and the bound is the time since then after it), is
// within the request's maxStaleness and the replica has reached
// minVersion. Every other read goes to the shard's owner as a strong read.

// getObject serves GET /v1/namespaces/{ns}/objects/{name}.
func (g *Gateway) getObject(w http.ResponseWriter, r *http.Request) {
	ns, e := nameParam(r, "ns", "namespace")
	if e != nil {
		e.write(w)
		return
	}
	name, e := nameParam(r, "name", "object")
	if e != nil {
		e.write(w)
		return
	}
	p, e := parseReadParams(r, g.cfg.DefaultMaxStaleness)
	if e != nil {
		e.write(w)
		return
	}
	path := func(shard int) string { return api.InternalObjectPath(shard, ns, name) }
	if p.strong {
		g.readFromOwner(w, r, ns, path, "strong")
		return
	}
	g.readLocal(w, r, ns, p, path, func(ctx context.Context, shard int) (localAnswer, error) {
		obj, err := g.replica.Get(ctx, shard, ns, name)
		if errors.Is(err, store.ErrNotFound) {
			return localAnswer{found: false}, nil
		}
		if err != nil {
			return localAnswer{}, err
		}
		return localAnswer{found: true, version: obj.Version, object: apiObject(obj), isObject: true}, nil
	})
}

// listObjects serves GET /v1/namespaces/{ns}/objects.
func (g *Gateway) listObjects(w http.ResponseWriter, r *http.Request) {
	ns, e := nameParam(r, "ns", "namespace")
	if e != nil {
		e.write(w)
		return
	}
	p, e := parseReadParams(r, g.cfg.DefaultMaxStaleness)
	if e != nil {
		e.write(w)
		return
	}
	path := func(shard int) string { return api.InternalObjectsPath(shard, ns) }
	if p.strong {
		g.readFromOwner(w, r, ns, path, "strong")
		return
	}
	g.readLocal(w, r, ns, p, path, func(ctx context.Context, shard int) (localAnswer, error) {
		objs, rev, err := g.replica.List(ctx, shard, ns)
		if err != nil {
			return localAnswer{}, err
		}
		list := api.ObjectList{Items: make([]api.Object, len(objs)), Revision: rev}
		for i, o := range objs {
			list.Items[i] = apiObject(o)
		}
		// A list is found even when empty; its version is the shard
		// revision it reflects, which is what minVersion is compared with.
		return localAnswer{found: true, version: rev, body: list, list: true}, nil
	})
}

// localAnswer is what the replica said.
type localAnswer struct {
	found    bool
	version  uint64     // the object's version, or the list's revision
	body     any        // a list, written by writeJSON
	object   api.Object // one object (isObject), written by writeObject
	isObject bool
	list     bool // no ETag on lists
}

// readLocal answers from the replica if it may, else from the owner.
func (g *Gateway) readLocal(w http.ResponseWriter, r *http.Request, ns string, p readParams,
	path func(int) string, read func(context.Context, int) (localAnswer, error)) {
	// asOf is taken before the read: every write acknowledged before it is
	// on the replica, and stays there, so clock.Since(asOf) after the read
	// bounds the answer's staleness. (A bound taken after the read could
	// count a beacon the read did not see.)
	asOf, known := g.tracker.AsOf()
	switch {
	case !known:
		g.readFromOwner(w, r, ns, path, "unknown_bound")
		return
	case g.cfg.Clock.Since(asOf) > p.maxStaleness:
		g.readFromOwner(w, r, ns, path, "stale")
		return
	}
	s := g.cache.current()
	if s == nil {
		g.readFromOwner(w, r, ns, path, "not_loaded")
		return
	}
	// No per-read context timer: it cost about 4% of a local read's CPU,
	// and go-redis bounds its I/O by the client's own timeouts, not by a
	// context deadline (see Config.StoreTimeout).
	a, err := read(r.Context(), s.shardOf(ns))
	if err != nil {
		if r.Context().Err() != nil {
			// The client left. The answer goes nowhere, but the access log
			// and metrics should not record a success.
			writeError(w, http.StatusServiceUnavailable, api.CodeUnavailable, "request canceled")
			return
		}
		logger(r.Context()).Warn("replica read failed; asking the owner", "err", err)
		g.readFromOwner(w, r, ns, path, "replica_error")
		return
	}
	if p.minVersion > 0 && (!a.found || a.version < p.minVersion) {
		g.readFromOwner(w, r, ns, path, "min_version")
		return
	}
	staleness := g.cfg.Clock.Since(asOf)
	if staleness > p.maxStaleness {
		// The read itself took the answer past its bound.
		g.readFromOwner(w, r, ns, path, "stale")
		return
	}

	g.metrics.localWithinBound().Inc()
	// One backing array for the header values instead of one allocation
	// per Set; the keys are canonical already (see TestLocalHeaderKeys).
	h := w.Header()
	vals := make([]string, 4)
	vals[0], vals[1], vals[2] = api.ConsistencyLocal, g.servedBy, strconv.FormatInt(ceilMillis(staleness), 10)
	h[api.HeaderConsistency] = vals[0:1:1]
	h[api.HeaderServedBy] = vals[1:2:2]
	h[api.HeaderStalenessMs] = vals[2:3:3]
	if !a.found {
		writeError(w, http.StatusNotFound, api.CodeNotFound, "no such object (as of the region's replica)")
		return
	}
	if !a.list {
		vals[3] = etag(a.version)
		h[headerETag] = vals[3:4:4]
	}
	if a.isObject {
		writeObject(w, http.StatusOK, &a.object)
		return
	}
	writeJSON(w, http.StatusOK, a.body)
}

// headerETag is "ETag" in the canonical form http.Header.Set stores it
// under, for assigning to the header map directly.
const headerETag = "Etag"

// readFromOwner forwards a read to the shard's owner, which answers it
// strongly (X-Consistency: strong).
func (g *Gateway) readFromOwner(w http.ResponseWriter, r *http.Request, ns string, path func(int) string, reason string) {
	g.metrics.ownerRead(reason).Inc()
	g.forward(w, r, forward{
		kind:   "read",
		method: http.MethodGet,
		ns:     ns,
		path:   path,
		header: make(http.Header),
		strong: true,
	})
}

// ceilMillis rounds up, so the header never claims more freshness than the
// bound gives.
func ceilMillis(d time.Duration) int64 {
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

// apiObject is a stored object in its wire form.
func apiObject(o store.Object) api.Object {
	return api.Object{
		Metadata: api.Metadata{
			Namespace:    o.Namespace,
			Name:         o.Name,
			Version:      o.Version,
			Shard:        o.Shard,
			FencingToken: uint64(o.Token),
			UpdatedAt:    o.UpdatedAt.UTC(),
		},
		Value: json.RawMessage(o.Value),
	}
}
