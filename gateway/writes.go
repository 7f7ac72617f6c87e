package gateway

import (
	"context"
	"crypto/rand"
	"net/http"
	"time"

	"github.com/cpgw/cpgw/api"
)

// putObject forwards PUT /v1/namespaces/{ns}/objects/{name} to the owner of
// the namespace's shard once names, headers and body have all passed: a
// refused request reaches no coordinator.
func (g *Gateway) putObject(w http.ResponseWriter, r *http.Request) {
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
	hdr, e := writeHeaders(r, condIfMatch|condIfNoneMatch)
	if e != nil {
		e.write(w)
		return
	}
	body, e := jsonBody(w, r)
	if e != nil {
		e.write(w)
		return
	}
	hdr.Set("Content-Type", "application/json")
	g.forward(w, r, forward{
		kind:         "write",
		method:       http.MethodPut,
		ns:           ns,
		path:         func(shard int) string { return api.InternalObjectPath(shard, ns, name) },
		body:         body,
		header:       hdr,
		generatedKey: ensureIdempotencyKey(hdr),
	})
}

// deleteObject forwards DELETE /v1/namespaces/{ns}/objects/{name}. A body,
// if any, is ignored.
func (g *Gateway) deleteObject(w http.ResponseWriter, r *http.Request) {
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
	hdr, e := writeHeaders(r, condIfMatch)
	if e != nil {
		e.write(w)
		return
	}
	g.forward(w, r, forward{
		kind:         "write",
		method:       http.MethodDelete,
		ns:           ns,
		path:         func(shard int) string { return api.InternalObjectPath(shard, ns, name) },
		header:       hdr,
		generatedKey: ensureIdempotencyKey(hdr),
	})
}

// generatedKeyPrefix marks the Idempotency-Keys the gateway makes, so they
// cannot collide with a client's (a client's key may start with anything,
// but a random 26-character suffix makes a clash as unlikely as guessing it).
const generatedKeyPrefix = "cpgw-gw-"

// ensureIdempotencyKey gives a write whose client sent no Idempotency-Key
// one of the gateway's, before its first attempt, so that the gateway's own
// retries (after a timeout, a reset, a 421) apply it at most once. It
// reports whether it made one.
func ensureIdempotencyKey(h http.Header) bool {
	if h.Get(api.HeaderIdempotencyKey) != "" {
		return false
	}
	h.Set(api.HeaderIdempotencyKey, generatedKeyPrefix+rand.Text())
	return true
}

// settingsRefreshWait bounds how long a successful settings change waits
// for the gateway's settings cache to catch up before answering. Routing
// by the new settings then starts with the client's next request; if the
// store is slow the answer goes out anyway and the next poll catches up.
const settingsRefreshWait = time.Second

// putNamespace forwards PUT /v1/namespaces/{ns} to the owner of the shard
// the namespace lives on now; that owner moves it if the settings say so.
func (g *Gateway) putNamespace(w http.ResponseWriter, r *http.Request) {
	ns, e := nameParam(r, "ns", "namespace")
	if e != nil {
		e.write(w)
		return
	}
	hdr, e := writeHeaders(r, 0)
	if e != nil {
		e.write(w)
		return
	}
	body, e := jsonBody(w, r)
	if e != nil {
		e.write(w)
		return
	}
	hdr.Set("Content-Type", "application/json")
	g.forward(w, r, forward{
		kind:   "namespace",
		method: http.MethodPut,
		ns:     ns,
		path:   func(shard int) string { return api.InternalNamespacePath(shard, ns) },
		body:   body,
		header: hdr,
		onSuccess: func(ctx context.Context) {
			ctx, cancel := context.WithTimeout(ctx, settingsRefreshWait)
			defer cancel()
			if err := g.cache.refresh(ctx); err != nil {
				logger(ctx).Warn("namespace settings changed but the settings cache could not be refreshed yet", "err", err)
			}
		},
	})
}
