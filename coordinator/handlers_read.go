package coordinator

import (
	"context"
	"errors"
	"net/http"

	"github.com/cpgw/cpgw/api"
	"github.com/cpgw/cpgw/store"
)

// Strong reads are served from the primary store, and only while the lease
// is valid both before and after the read: a read that straddled the end of
// the lease answers 421 rather than risk being older than a write the next
// owner already acknowledged.

// handleGet serves GET on api.RouteInternalObject.
func (c *Coordinator) handleGet(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ref, e := c.parseRef(r, true)
	if e != nil {
		sendError(w, r, e)
		return
	}
	wtr, e := c.ownerFor(ctx, ref.shard, ref.namespace)
	if e != nil {
		sendError(w, r, e)
		return
	}
	gctx, cancel := context.WithTimeout(ctx, c.cfg.StoreTimeout)
	obj, err := c.st.Get(gctx, ref.shard, ref.namespace, ref.name)
	cancel()
	if e := c.afterRead(ctx, wtr, err); e != nil {
		sendError(w, r, e)
		return
	}
	rep := reply{status: http.StatusOK, body: apiObject(obj), header: http.Header{}}
	rep.header.Set("ETag", etag(obj.Version))
	rep.header.Set(api.HeaderConsistency, api.ConsistencyStrong)
	send(w, r, rep)
}

// handleList serves GET on api.RouteInternalObjects.
func (c *Coordinator) handleList(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ref, e := c.parseRef(r, false)
	if e != nil {
		sendError(w, r, e)
		return
	}
	wtr, e := c.ownerFor(ctx, ref.shard, ref.namespace)
	if e != nil {
		sendError(w, r, e)
		return
	}
	lctx, cancel := context.WithTimeout(ctx, c.cfg.StoreTimeout)
	objs, rev, err := c.st.List(lctx, ref.shard, ref.namespace)
	cancel()
	if e := c.afterRead(ctx, wtr, err); e != nil {
		sendError(w, r, e)
		return
	}
	list := api.ObjectList{Items: make([]api.Object, len(objs)), Revision: rev}
	for i, o := range objs {
		list.Items[i] = apiObject(o)
	}
	rep := reply{status: http.StatusOK, body: list, header: http.Header{}}
	rep.header.Set(api.HeaderConsistency, api.ConsistencyStrong)
	send(w, r, rep)
}

// afterRead maps a read's error, and refuses the result if the lease did not
// outlast the read.
func (c *Coordinator) afterRead(ctx context.Context, wtr *writer, err error) *apiError {
	if !wtr.lease.Valid() {
		return c.misdirected(ctx, wtr.shard, "lease on shard %d ended during the read", wtr.shard)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return newError(http.StatusNotFound, api.CodeNotFound, "object not found")
	default:
		logger(ctx).Warn("strong read failed", "shard", wtr.shard, "err", err)
		return unavailable("reading shard %d failed", wtr.shard)
	}
}
