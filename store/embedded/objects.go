package embedded

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cpgw/cpgw/fencing"
	"github.com/cpgw/cpgw/store"
)

// logEntry is one change-log record. Besides the store.Change it carries the
// object as the change left it (for a delete: metadata only, nil Value), so a
// follower could rebuild the shard by applying entries in revision order. The
// Value is shared with the object map and never mutated.
type logEntry struct {
	op     store.Op
	object store.Object
}

func (e logEntry) change() store.Change {
	return store.Change{
		Revision:  e.object.Version,
		Op:        e.op,
		Namespace: e.object.Namespace,
		Name:      e.object.Name,
		Token:     e.object.Token,
	}
}

// Apply implements store.Store.
func (s *Store) Apply(ctx context.Context, b store.Batch) ([]store.Result, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()

	now := s.clock.Now()
	// Look the shard up without creating it: a refused batch leaves no trace.
	var current fencing.Token
	held := false
	if sh := s.shards[b.Shard]; sh != nil {
		current, held = sh.token, sh.leaseHeldLocked(now)
	}
	if err := fencing.Check(b.Shard, b.Token, current, held); err != nil {
		return nil, err
	}

	sh := s.shardLocked(b.Shard)
	sh.idem.expireLocked(now)
	// Redis keeps milliseconds; storing the same here makes both stores agree.
	at := time.UnixMilli(b.Now.UnixMilli()).UTC()
	results := make([]store.Result, len(b.Writes))
	for i, w := range b.Writes {
		r := s.applyWriteLocked(sh, b.Shard, b.Token, at, now, w)
		r.Object = cloneObject(r.Object)
		results[i] = r
	}
	// Apply reports the count and does not judge it: each write's caller
	// knows how many replicas it needs.
	if acked := s.waitLocked(b.Durability); acked > 0 {
		for i := range results {
			results[i].ReplicasAcked = acked
		}
	}
	return results, nil
}

// applyWriteLocked applies one write of an already fenced batch: idempotency
// replay or mismatch first, then preconditions, then the change. The result's
// Object shares its Value with the store or the request; the caller copies it.
func (s *Store) applyWriteLocked(sh *shardState, shard int, token fencing.Token, at, now time.Time, w store.Write) store.Result {
	id := w.Idempotency
	if id != nil {
		if rec := sh.idem.getLocked(w.Namespace, id.Key, now); rec != nil {
			if rec.fingerprint != id.Fingerprint {
				return store.Result{Err: store.ErrIdempotencyMismatch}
			}
			r := rec.result
			r.Replayed = true
			if r.Err == nil && r.Outcome != store.Deleted {
				r.Object.Value = w.Value // copied by the caller
			}
			return r
		}
	}
	r := s.writeLocked(sh, shard, token, at, w)
	if id != nil {
		// Failed preconditions are recorded too: a replay answers as the
		// first attempt did even if the object has changed since.
		rec := r
		rec.Object.Value = nil
		sh.idem.putLocked(w.Namespace, id.Key, id.Fingerprint, rec, now.Add(msTTL(id.EffectiveTTL())))
	}
	return r
}

// writeLocked checks w's preconditions and applies it.
func (s *Store) writeLocked(sh *shardState, shard int, token fencing.Token, at time.Time, w store.Write) store.Result {
	cur := sh.objects[w.Namespace][w.Name]
	switch {
	case w.IfAbsent && cur != nil:
		return store.Result{Err: store.ErrPrecondition}
	case w.IfVersion != 0 && cur == nil:
		return store.Result{Err: store.ErrNotFound}
	case w.IfVersion != 0 && cur.Version != w.IfVersion:
		return store.Result{Err: store.ErrPrecondition}
	case w.Op == store.OpDelete && cur == nil:
		return store.Result{Err: store.ErrNotFound}
	}

	obj := store.Object{
		Namespace: w.Namespace,
		Name:      w.Name,
		Shard:     shard,
		Version:   sh.revision + 1,
		Token:     token,
		UpdatedAt: at,
	}
	outcome := store.Deleted
	if w.Op == store.OpPut {
		obj.Value = bytes.Clone(w.Value)
		outcome = store.Updated
		if cur == nil {
			outcome = store.Created
		}
	}
	e := logEntry{op: w.Op, object: obj}
	sh.commitLocked(e, s.retention)
	s.publishLocked(mutation{kind: mutObject, shard: shard, entry: e})
	return store.Result{Outcome: outcome, Object: obj}
}

// commitLocked makes the change e describes: the object map, the revision
// and the change log. Replicas replay the same entry through it.
func (sh *shardState) commitLocked(e logEntry, retention int) {
	obj := e.object
	switch e.op {
	case store.OpPut:
		ns := sh.objects[obj.Namespace]
		if ns == nil {
			ns = make(map[string]*store.Object)
			sh.objects[obj.Namespace] = ns
		}
		// Stored objects are immutable: an update replaces the pointer, so
		// the change log (and replicas) can share the value instead of
		// copying it.
		ns[obj.Name] = &obj
	case store.OpDelete:
		ns := sh.objects[obj.Namespace]
		delete(ns, obj.Name)
		if len(ns) == 0 {
			delete(sh.objects, obj.Namespace)
		}
	}
	sh.revision = obj.Version
	sh.appendLocked(e, retention)
}

// appendLocked adds e to the change log and drops the oldest entry beyond
// retention. Appending to the resliced log copies only live entries when it
// grows, so trimming is amortised O(1).
func (sh *shardState) appendLocked(e logEntry, retention int) {
	sh.log = append(sh.log, e)
	if len(sh.log) > retention {
		sh.log[0] = logEntry{} // let the dropped value be collected
		sh.log = sh.log[1:]
	}
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, shard int, namespace, name string) (store.Object, error) {
	if err := validShard(shard); err != nil {
		return store.Object{}, err
	}
	if namespace == "" || name == "" {
		return store.Object{}, invalid("empty namespace or name")
	}
	if err := s.lock(ctx); err != nil {
		return store.Object{}, err
	}
	defer s.mu.Unlock()
	if sh := s.shards[shard]; sh != nil {
		if obj := sh.objects[namespace][name]; obj != nil {
			return cloneObject(*obj), nil
		}
	}
	return store.Object{}, fmt.Errorf("%w: %s/%s on shard %d", store.ErrNotFound, namespace, name, shard)
}

// List implements store.Store.
func (s *Store) List(ctx context.Context, shard int, namespace string) ([]store.Object, uint64, error) {
	if err := validShard(shard); err != nil {
		return nil, 0, err
	}
	if namespace == "" {
		return nil, 0, invalid("empty namespace")
	}
	if err := s.lock(ctx); err != nil {
		return nil, 0, err
	}
	defer s.mu.Unlock()
	sh := s.shards[shard]
	if sh == nil {
		return []store.Object{}, 0, nil
	}
	ns := sh.objects[namespace]
	out := make([]store.Object, 0, len(ns))
	for _, obj := range ns {
		out = append(out, cloneObject(*obj))
	}
	slices.SortFunc(out, func(a, b store.Object) int { return strings.Compare(a.Name, b.Name) })
	return out, sh.revision, nil
}

// Revision implements store.Store.
func (s *Store) Revision(ctx context.Context, shard int) (uint64, error) {
	if err := validShard(shard); err != nil {
		return 0, err
	}
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	if sh := s.shards[shard]; sh != nil {
		return sh.revision, nil
	}
	return 0, nil
}

// Changes implements store.Store.
func (s *Store) Changes(ctx context.Context, shard int, after uint64, limit int) ([]store.Change, error) {
	if err := validShard(shard); err != nil {
		return nil, err
	}
	if limit < 1 {
		return nil, invalid("limit %d", limit)
	}
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	sh := s.shards[shard]
	if sh == nil || len(sh.log) == 0 {
		return []store.Change{}, nil
	}
	// The log holds contiguous revisions first..last, so the start is an
	// index computation, not a search.
	first := sh.log[0].object.Version
	start := 0
	if after >= first {
		if after-first >= uint64(len(sh.log)) {
			return []store.Change{}, nil
		}
		start = int(after-first) + 1
	}
	entries := sh.log[start:]
	if limit < len(entries) { // compared this way round so a huge limit cannot overflow
		entries = entries[:limit]
	}
	out := make([]store.Change, len(entries))
	for i, e := range entries {
		out[i] = e.change()
	}
	return out, nil
}

// cloneObject returns o with a private copy of its value, so callers cannot
// reach the store's memory.
func cloneObject(o store.Object) store.Object {
	o.Value = bytes.Clone(o.Value)
	return o
}
