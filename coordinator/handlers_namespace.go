package coordinator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/cpgw/cpgw/api"
	"github.com/cpgw/cpgw/shards"
	"github.com/cpgw/cpgw/store"
)

// handleNamespace serves PUT on api.RouteInternalNamespace: it replaces a
// namespace's settings. It pins the namespace to a home region (or unpins it
// with ""), which may move it to another shard, and sets its durability
// (absent: none). The path names the namespace's current shard, which this
// coordinator must own. The change runs on that shard's writer, between
// batches, so no write to the namespace can slip in between the emptiness
// check and the new settings.
func (c *Coordinator) handleNamespace(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ref, e := c.parseRef(r, false)
	if e != nil {
		sendError(w, r, e)
		return
	}
	if e := requireJSON(r); e != nil {
		sendError(w, r, e)
		return
	}
	// Settings carry no version to compare: applying a conditional change
	// unconditionally would break the caller's precondition.
	for _, h := range []string{"If-Match", "If-None-Match"} {
		if r.Header.Get(h) != "" {
			sendError(w, r, badRequest(api.CodeInvalidParameter, "%s is not allowed on namespace settings", h))
			return
		}
	}
	body, e := readBody(w, r)
	if e != nil {
		sendError(w, r, e)
		return
	}
	var req api.NamespaceSettings
	if e := decodeSettings(body, &req); e != nil {
		sendError(w, r, e)
		return
	}
	if req.Namespace != "" && req.Namespace != ref.namespace {
		sendError(w, r, badRequest(api.CodeInvalidBody, "body names namespace %q, the path %q", req.Namespace, ref.namespace))
		return
	}
	dur, e := parseDurability(req.Durability)
	if e != nil {
		sendError(w, r, e)
		return
	}
	layout, e := c.layout(ctx, req.HomeRegion)
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
	o.task = c.namespaceTask(o.log, ref.namespace, req.HomeRegion, dur, layout)
	if err := wtr.enqueue(o); err != nil {
		sendError(w, r, c.refusal(ctx, ref.shard, err))
		return
	}
	select {
	case rep := <-o.done:
		send(w, r, rep)
	case <-ctx.Done():
		logger(ctx).Info("caller went away before the namespace change completed", "shard", ref.shard)
	}
}

// decodeSettings reads the body strictly: one JSON object of known fields.
func decodeSettings(body []byte, into *api.NamespaceSettings) *apiError {
	if _, e := jsonObject(body); e != nil {
		return e
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return badRequest(api.CodeInvalidBody, "namespace settings: %v", err)
	}
	if into.Shard != nil {
		return badRequest(api.CodeInvalidBody, "the shard follows from the home region; it cannot be set")
	}
	return nil
}

// layout returns the cluster's layout, checking that homeRegion is "" or a
// known region that homes at least one shard (a pinned namespace must live
// on a shard of its region).
func (c *Coordinator) layout(ctx context.Context, homeRegion string) (shards.Layout, *apiError) {
	rctx, cancel := context.WithTimeout(ctx, c.cfg.StoreTimeout)
	regions, err := c.st.Regions(rctx)
	cancel()
	if err != nil {
		logger(ctx).Warn("reading regions failed", "err", err)
		return shards.Layout{}, unavailable("reading the cluster's regions failed")
	}
	// The Placer adds its own region the same way, so both see one layout.
	l, err := shards.NewLayout(c.shardCount(), append(regions, c.cfg.Region))
	if err != nil {
		return shards.Layout{}, newError(http.StatusInternalServerError, api.CodeInternal, "cluster layout: %v", err)
	}
	if homeRegion == "" {
		return l, nil
	}
	if !slices.Contains(l.Regions, homeRegion) {
		return l, badRequest(api.CodeInvalidParameter, "home region %q is not a region of the cluster %v", homeRegion, l.Regions)
	}
	if len(l.HomedIn(homeRegion)) == 0 {
		return l, badRequest(api.CodeInvalidParameter, "region %q is home to no shard; pin the namespace elsewhere", homeRegion)
	}
	return l, nil
}

// namespaceTask is the namespace change as the shard's writer runs it; it
// logs with the request's logger.
func (c *Coordinator) namespaceTask(reqLog *slog.Logger, namespace, home string, dur store.Durability, layout shards.Layout) func(context.Context, *writer) reply {
	return func(ctx context.Context, w *writer) reply {
		log := reqLog.With("shard", w.shard, "namespace", namespace)
		if !w.lease.Valid() {
			return c.misdirected(ctx, w.shard, "lease on shard %d ended; nothing was changed", w.shard).reply()
		}
		cur, err := c.st.GetNamespace(ctx, namespace)
		switch {
		case errors.Is(err, store.ErrNotFound):
			cur = store.Namespace{Name: namespace, Shard: shards.Of(namespace, layout.Shards)}
		case err != nil:
			log.Warn("reading namespace settings failed", "err", err)
			return unavailable("reading the settings of namespace %q failed; nothing was changed", namespace).reply()
		default:
			c.ns.put(cur)
		}
		if cur.Shard != w.shard {
			return c.misdirected(ctx, cur.Shard, "namespace %q lives on shard %d, not %d", namespace, cur.Shard, w.shard).reply()
		}
		if cur.HomeRegion == home && cur.Durability == dur {
			return settingsReply(cur)
		}
		target := layout.ShardFor(namespace, home)
		if target != cur.Shard {
			objs, _, err := c.st.List(ctx, cur.Shard, namespace)
			if err != nil {
				log.Warn("listing namespace failed", "err", err)
				return unavailable("checking that namespace %q is empty failed; nothing was changed", namespace).reply()
			}
			if len(objs) > 0 {
				return newError(http.StatusConflict, api.CodeNamespaceNotEmpty,
					"namespace %q has %d objects on shard %d; only an empty namespace can move to shard %d",
					namespace, len(objs), cur.Shard, target).reply()
			}
		}
		if !w.lease.Valid() {
			return c.misdirected(ctx, w.shard, "lease on shard %d ended; nothing was changed", w.shard).reply()
		}
		next := store.Namespace{Name: namespace, HomeRegion: home, Shard: target, Durability: dur}
		stored, err := c.st.PutNamespace(ctx, next, cur.Version)
		switch {
		case errors.Is(err, store.ErrPrecondition):
			return newError(http.StatusConflict, api.CodeConflict, "namespace %q was changed concurrently; retry", namespace).reply()
		case err != nil:
			// The change may have been stored: reload the settings before
			// applying anything else, so no write lands on a shard the
			// namespace has left.
			w.synced.Store(false)
			log.Warn("storing namespace settings failed", "err", err)
			return unavailable("storing the settings of namespace %q failed; they may or may not have changed", namespace).reply()
		}
		c.ns.put(stored)
		if err := c.ns.sync(ctx); err != nil {
			log.Warn("namespace settings reload after a change failed", "err", err)
		}
		log.Info("namespace settings changed", "home_region", home, "from_shard", cur.Shard, "to_shard", stored.Shard,
			"replicas", dur.Replicas, "majority", dur.Majority, "replica_timeout", dur.Timeout)
		return settingsReply(stored)
	}
}

func settingsReply(ns store.Namespace) reply {
	shard := ns.Shard
	body := api.NamespaceSettings{Namespace: ns.Name, HomeRegion: ns.HomeRegion, Shard: &shard}
	switch d := ns.Durability; {
	case d.Majority:
		body.Durability = &api.Durability{Majority: true, MinReplicas: d.Replicas, Timeout: d.Timeout.String()}
	case d.Replicas > 0:
		body.Durability = &api.Durability{Replicas: d.Replicas, Timeout: d.Timeout.String()}
	}
	return reply{status: http.StatusOK, body: body}
}

// parseDurability checks a namespace's durability setting; nil or zero
// replicas is none. A majority keeps its floor (minReplicas) in Replicas and
// stays a majority even with a floor of 0: it is resolved per batch
// (quorum.go). The JSON decoder already refused malformed counts
// (api.ErrInvalidDurability); the bounds are checked again for settings
// built in Go.
func parseDurability(d *api.Durability) (store.Durability, *apiError) {
	if d == nil || (!d.Majority && d.Replicas == 0 && d.MinReplicas == 0 && d.Timeout == "") {
		return store.Durability{}, nil
	}
	if d.Replicas < 0 || d.Replicas > store.MaxReplicas {
		return store.Durability{}, badRequest(api.CodeInvalidBody, "durability.replicas must be an integer 0..%d or %q, not %d", store.MaxReplicas, api.ReplicasMajority, d.Replicas)
	}
	if d.MinReplicas < 0 || d.MinReplicas > store.MaxReplicas {
		return store.Durability{}, badRequest(api.CodeInvalidBody, "durability.minReplicas %d outside 0..%d", d.MinReplicas, store.MaxReplicas)
	}
	if d.MinReplicas != 0 && !d.Majority {
		return store.Durability{}, badRequest(api.CodeInvalidBody, "durability.minReplicas goes only with \"replicas\": %q", api.ReplicasMajority)
	}
	out := store.Durability{Replicas: d.Replicas, Timeout: api.DefaultReplicaTimeout}
	if d.Majority {
		out = store.Durability{Majority: true, Replicas: d.MinReplicas, Timeout: api.DefaultReplicaTimeout}
	}
	if d.Timeout != "" {
		t, err := time.ParseDuration(d.Timeout)
		if err != nil || t < time.Millisecond || t > store.MaxReplicaTimeout {
			return store.Durability{}, badRequest(api.CodeInvalidBody, "durability.timeout %q is not a duration between 1ms and %s", d.Timeout, store.MaxReplicaTimeout)
		}
		out.Timeout = t
	}
	if out.Replicas == 0 && !out.Majority {
		return store.Durability{}, nil // a timeout with nothing to wait for
	}
	return out, nil
}
