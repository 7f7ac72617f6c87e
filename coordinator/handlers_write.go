package coordinator

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/cpgw/cpgw/api"
	"github.com/cpgw/cpgw/store"
)

// handleWrite serves PUT and DELETE on api.RouteInternalObject: validate,
// check ownership, queue on the shard's writer, answer with its result.
func (c *Coordinator) handleWrite(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ref, e := c.parseRef(r, true)
	if e != nil {
		sendError(w, r, e)
		return
	}
	wr, e := c.parseWrite(w, r, ref)
	if e != nil {
		sendError(w, r, e)
		return
	}
	if c.draining.Load() {
		sendError(w, r, noOwner("coordinator %s is stopping; shard %d is being handed over", c.cfg.ID, ref.shard))
		return
	}
	wtr, e := c.ownerFor(ctx, ref.shard, ref.namespace)
	if e != nil {
		sendError(w, r, e)
		return
	}

	o := newOp(logger(ctx))
	o.write = &wr
	if wr.Idempotency != nil {
		k := inflightKey{namespace: ref.namespace, key: wr.Idempotency.Key}
		if !c.inflight.add(k) {
			sendError(w, r, newError(http.StatusConflict, api.CodeIdempotencyInFlight,
				"a request with this idempotency key is still being applied"))
			return
		}
		o.idem = &k
	}
	if err := wtr.enqueue(o); err != nil {
		if o.idem != nil {
			c.inflight.remove(*o.idem)
		}
		sendError(w, r, c.refusal(ctx, ref.shard, err))
		return
	}
	select {
	case rep := <-o.done:
		send(w, r, rep)
	case <-ctx.Done():
		// The write stays queued and completes (or not) without us; its
		// idempotency key is released when it does.
		logger(ctx).Info("caller went away before the write completed", "shard", ref.shard)
	}
}

// parseWrite turns a request into the store write it asks for, or a 4xx.
func (c *Coordinator) parseWrite(w http.ResponseWriter, r *http.Request, ref objectRef) (store.Write, *apiError) {
	wr := store.Write{Op: store.OpPut, Namespace: ref.namespace, Name: ref.name}
	if r.Method == http.MethodDelete {
		wr.Op = store.OpDelete
	}
	var e *apiError
	if wr.IfVersion, e = parseIfMatch(r.Header); e != nil {
		return wr, e
	}
	if wr.IfAbsent, e = parseIfNoneMatch(r.Header); e != nil {
		return wr, e
	}
	switch {
	case wr.IfAbsent && wr.IfVersion != 0:
		return wr, badRequest(api.CodeInvalidParameter, "If-Match and If-None-Match cannot be combined")
	case wr.IfAbsent && wr.Op == store.OpDelete:
		return wr, badRequest(api.CodeInvalidParameter, "If-None-Match: * makes no sense on DELETE")
	}
	key, e := parseIdempotencyKey(r.Header)
	if e != nil {
		return wr, e
	}
	if wr.Op == store.OpPut {
		if e := requireJSON(r); e != nil {
			return wr, e
		}
		body, e := readBody(w, r)
		if e != nil {
			return wr, e
		}
		if wr.Value, e = jsonObject(body); e != nil {
			return wr, e
		}
	}
	if key != "" {
		wr.Idempotency = &store.Idempotency{
			Key:         key,
			Fingerprint: fingerprint(r.Method, wr.Namespace, wr.Name, wr.IfVersion, wr.IfAbsent, wr.Value),
			TTL:         c.cfg.IdempotencyTTL,
		}
	}
	// The store's own rules, checked here so that a bad write is refused on
	// its own rather than sinking the batch it would have joined.
	probe := store.Batch{Shard: ref.shard, Token: 1, Now: time.Unix(1, 0), Writes: []store.Write{wr}}
	if err := probe.Validate(); err != nil {
		return wr, badRequest(api.CodeBadRequest, "%v", err)
	}
	return wr, nil
}

// resultReply is the response to one write of an applied batch. A replayed
// result is rendered from the stored record exactly as the first response
// was, plus Idempotent-Replayed.
func resultReply(res store.Result, shard int) reply {
	var rep reply
	switch {
	case res.Err == nil:
		obj := apiObject(res.Object)
		obj.Metadata.Shard = shard
		status := http.StatusOK
		switch res.Outcome {
		case store.Created:
			status = http.StatusCreated
		case store.Deleted:
			obj.Metadata.Deleted = true
			obj.Value = nil
		}
		rep = reply{status: status, body: obj, header: http.Header{}}
		rep.header.Set("ETag", etag(res.Object.Version))
		rep.header.Set(api.HeaderFencingToken, res.Object.Token.String())
		// 0 when the namespace asks for no replicas: nothing was waited for.
		rep.header.Set(api.HeaderReplicasAcked, strconv.Itoa(res.ReplicasAcked))
	case errors.Is(res.Err, store.ErrPrecondition):
		rep = newError(http.StatusPreconditionFailed, api.CodePreconditionFailed, "the object does not match the request's condition").reply()
	case errors.Is(res.Err, store.ErrNotFound):
		rep = newError(http.StatusNotFound, api.CodeNotFound, "object not found").reply()
	case errors.Is(res.Err, store.ErrIdempotencyMismatch):
		rep = newError(http.StatusUnprocessableEntity, api.CodeIdempotencyMismatch, "the idempotency key was used for a different request").reply()
	default:
		rep = newError(http.StatusInternalServerError, api.CodeInternal, "unexpected write result").reply()
	}
	if res.Replayed {
		if rep.header == nil {
			rep.header = http.Header{}
		}
		rep.header.Set(api.HeaderIdempotentReplayed, "true")
	}
	return rep
}
