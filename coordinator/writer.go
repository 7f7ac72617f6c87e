package coordinator

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cpgw/cpgw/api"
	"github.com/cpgw/cpgw/fencing"
	"github.com/cpgw/cpgw/leases"
	"github.com/cpgw/cpgw/store"
)

// syncRetry is the wait after a failed reload of the namespace settings
// before a writer tries again.
const syncRetry = 200 * time.Millisecond

// op is one unit of work queued on a shard's writer: a write, which joins a
// batch, or a task (a namespace change), which runs alone between batches.
type op struct {
	write *store.Write
	task  func(ctx context.Context, w *writer) reply
	idem  *inflightKey // released when the op completes
	log   *slog.Logger
	done  chan reply // buffered: the writer never waits for the handler
}

func newOp(log *slog.Logger) *op { return &op{log: log, done: make(chan reply, 1)} }

// writer serialises one shard's writes under one lease. It drains its queue
// in batches of up to MaxBatch writes, each applied with one store.Apply
// under the lease's token: group commit. A batch is whatever queued while
// the previous one was being applied; a busy writer (its last batch held
// more than one write) also holds the next batch open for up to BatchWait
// until as many writes as last time are queued, because closed-loop callers
// answered by the last batch send their next writes a moment after it
// returns. An idle writer applies a lone write at once. The writer ends
// when the lease does, answering whatever is still queued (nothing of it
// was applied).
type writer struct {
	c       *Coordinator
	shard   int
	lease   *leases.Lease
	log     *slog.Logger
	depth   prometheus.Gauge
	wake    chan struct{} // capacity 1: "the queue changed"
	drained chan struct{} // closed once closed and idle, or at exit

	drainOnce sync.Once
	// synced is set once the namespace settings were reloaded after the
	// lease was acquired; until then the writer serves nothing.
	synced atomic.Bool

	// lastBatch is the size of the last batch applied; only run touches it.
	lastBatch int

	mu       sync.Mutex
	queue    []*op
	closed   bool // accepts nothing more
	draining bool // closed by a graceful stop, not by the lease ending
	fenced   bool // the store refused a batch and the lease was given up
}

func newWriter(c *Coordinator, l *leases.Lease) *writer {
	return &writer{
		c:       c,
		shard:   l.Shard(),
		lease:   l,
		log:     c.log.With("shard", l.Shard(), "token", l.Token()),
		depth:   c.met.queueDepth.WithLabelValues(strconv.Itoa(l.Shard())),
		wake:    make(chan struct{}, 1),
		drained: make(chan struct{}),
	}
}

// serving reports whether requests for the shard may be served here now.
func (w *writer) serving() bool { return w.synced.Load() && w.lease.Valid() }

// enqueue queues o, or says why not: errDraining, errLeaseEnded or
// errQueueFull.
func (w *writer) enqueue(o *op) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.closed && w.draining:
		return errDraining
	case w.closed:
		return errLeaseEnded
	case len(w.queue) >= w.c.cfg.QueueDepth:
		return errQueueFull
	}
	w.queue = append(w.queue, o)
	w.depth.Set(float64(len(w.queue)))
	w.signal()
	return nil
}

func (w *writer) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// drain stops accepting work; what is queued is still applied, then
// drained is closed.
func (w *writer) drain() {
	w.mu.Lock()
	if !w.closed {
		w.closed, w.draining = true, true
	}
	w.mu.Unlock()
	w.signal()
}

func (w *writer) markDrained() { w.drainOnce.Do(func() { close(w.drained) }) }

// take removes the next unit of work from the queue: a task alone, or up to
// MaxBatch consecutive writes.
func (w *writer) take() []*op {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	switch {
	case len(w.queue) == 0:
		return nil
	case w.queue[0].task != nil:
		n = 1
	default:
		for n < len(w.queue) && n < w.c.cfg.MaxBatch && w.queue[n].task == nil {
			n++
		}
	}
	ops := slices.Clone(w.queue[:n])
	rest := copy(w.queue, w.queue[n:])
	clear(w.queue[rest:])
	w.queue = w.queue[:rest]
	w.depth.Set(float64(rest))
	return ops
}

// linger holds a busy writer's next batch open: it returns once as many
// writes as the last batch held (at most MaxBatch) are queued, a task is at
// the head, the writer closed, the lease ended, or BatchWait passed. It
// returns at once when nothing is queued (run then sleeps until a write
// arrives) or the last batch was a lone write. The wait is on the real
// clock: it is a latency bound, not a lease computation.
func (w *writer) linger() {
	target := min(w.lastBatch, w.c.cfg.MaxBatch)
	if w.c.cfg.BatchWait <= 0 || target <= 1 {
		return
	}
	var timer *time.Timer
	for {
		n, ready := w.queuedWrites()
		if ready || n == 0 || n >= target {
			return
		}
		if timer == nil {
			timer = time.NewTimer(w.c.cfg.BatchWait)
			defer timer.Stop()
		}
		select {
		case <-w.wake:
		case <-timer.C:
			return
		case <-w.lease.Done():
			return
		}
	}
}

// queuedWrites counts the writes at the head of the queue; ready says the
// batch must not wait (a task is queued behind or at the head, or the writer
// closed).
func (w *writer) queuedWrites() (n int, ready bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for n < len(w.queue) && w.queue[n].task == nil {
		n++
	}
	return n, w.closed || n < len(w.queue)
}

// takeAll empties the queue.
func (w *writer) takeAll() []*op {
	w.mu.Lock()
	defer w.mu.Unlock()
	ops := w.queue
	w.queue = nil
	w.depth.Set(0)
	return ops
}

func (w *writer) isClosed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closed
}

// finish answers o; every op is finished exactly once.
func (w *writer) finish(o *op, rep reply) {
	if o.idem != nil {
		w.c.inflight.remove(*o.idem)
	}
	o.done <- rep
}

// run is the writer's goroutine. It returns when the lease ends.
func (w *writer) run(ctx context.Context) {
	defer w.c.writersWG.Done()
	defer w.exit(ctx)
	w.log.Info("shard writer started")
	for {
		select {
		case <-w.lease.Done():
			return
		default:
		}
		if !w.synced.Load() && !w.sync(ctx) {
			continue
		}
		w.linger()
		if ops := w.take(); len(ops) > 0 {
			w.process(ctx, ops)
			continue
		}
		if w.isClosed() {
			w.markDrained()
		}
		select {
		case <-w.wake:
		case <-w.lease.Done():
			return
		}
	}
}

// sync reloads the namespace settings. A writer does it before serving
// anything: the shard may have changed hands a moment ago, and the previous
// owner may have moved namespaces off it since this coordinator's last
// reload. A failure answers what is queued with 503 (nothing was applied) and
// waits a little before the next attempt.
func (w *writer) sync(ctx context.Context) bool {
	sctx, cancel := context.WithTimeout(ctx, w.c.cfg.StoreTimeout)
	err := w.c.ns.sync(sctx)
	cancel()
	if err == nil {
		w.synced.Store(true)
		return true
	}
	w.log.Warn("namespace settings reload failed; not serving the shard yet", "err", err)
	for _, o := range w.takeAll() {
		w.finish(o, unavailable("shard %d is not ready: %v", w.shard, err).reply())
	}
	if w.isClosed() {
		w.markDrained() // nothing queued will ever be applied
	}
	select {
	case <-w.lease.Done():
	case <-w.c.clock.After(syncRetry):
	}
	return false
}

func (w *writer) process(ctx context.Context, ops []*op) {
	w.lastBatch = len(ops)
	if t := ops[0].task; t != nil {
		tctx, cancel := context.WithTimeout(ctx, w.c.cfg.StoreTimeout)
		rep := t(tctx, w)
		cancel()
		w.finish(ops[0], rep)
		return
	}
	w.apply(ctx, ops)
}

// apply writes one batch. Nothing is applied unless the lease is valid right
// before the call, and the store applies nothing unless the lease's token is
// still current, so every refusal below is safe to retry.
func (w *writer) apply(ctx context.Context, ops []*op) {
	c := w.c
	n := c.shardCount()
	batch := make([]*op, 0, len(ops))
	writes := make([]store.Write, 0, len(ops))
	wants := make([]int, 0, len(ops)) // replicas each write's namespace asks for
	var dur store.Durability          // the batch waits for the most any write asks
	var moved map[int]*api.Owner      // owner lookups, one per shard
	for _, o := range ops {
		// A namespace change ahead of this write in the queue may have
		// moved its namespace off the shard.
		if s := c.ns.shardOf(o.write.Namespace, n); s != w.shard {
			if moved == nil {
				moved = make(map[int]*api.Owner)
			}
			owner, ok := moved[s]
			if !ok {
				owner = c.ownerOf(ctx, s)
				moved[s] = owner
			}
			e := newError(http.StatusMisdirectedRequest, api.CodeMisdirected, "namespace %q lives on shard %d", o.write.Namespace, s)
			e.owner = owner
			w.finish(o, e.reply())
			continue
		}
		d := c.resolveDurability(ctx, c.ns.durabilityOf(o.write.Namespace)) // a majority becomes a count here
		dur.Replicas, dur.Timeout = max(dur.Replicas, d.Replicas), max(dur.Timeout, d.Timeout)
		batch = append(batch, o)
		writes = append(writes, *o.write)
		wants = append(wants, d.Replicas)
	}
	if len(batch) == 0 {
		return
	}
	c.met.batchSize.Observe(float64(len(batch)))
	if !w.lease.Valid() {
		w.failAll(batch, c.misdirected(ctx, w.shard, "lease on shard %d ended; nothing was applied", w.shard))
		return
	}

	actx, cancel := context.WithTimeout(ctx, c.cfg.StoreTimeout)
	results, err := c.st.Apply(actx, store.Batch{
		Shard:  w.shard,
		Token:  w.lease.Token(),
		Now:    c.clock.Now(),
		Writes: writes,

		Durability: dur,
	})
	cancel()
	switch {
	case err == nil && len(results) == len(batch):
		for i, o := range batch {
			w.finish(o, c.writeReply(results[i], w.shard, wants[i]))
		}
	case errors.Is(err, store.ErrEpoch):
		w.log.Error("store lost its state; nothing was applied", "writes", len(batch), "err", err)
		c.fail(err)
		w.giveUp(ctx)
		w.failAll(batch, unavailable("the store lost its state; coordinator %s stopped serving; nothing was applied", c.cfg.ID))
	case errors.Is(err, fencing.ErrStale):
		c.met.fencingRefusals.Inc()
		w.log.Warn("store refused the batch: lease lost", "writes", len(batch), "err", err)
		w.giveUp(ctx)
		w.failAll(batch, c.misdirected(ctx, w.shard, "lease on shard %d was lost; nothing was applied", w.shard), "err", err)
	case errors.Is(err, store.ErrInvalid):
		// Requests are validated before they are queued, so this is a bug;
		// the store refused the whole batch, so nothing was applied.
		w.log.Error("store refused the batch as invalid", "writes", len(batch), "err", err)
		w.failAll(batch, newError(http.StatusInternalServerError, api.CodeInternal, "the store refused the batch as invalid; nothing was applied"))
	default:
		if err == nil {
			err = errors.New("store answered a different number of results")
		}
		// The batch may or may not have been applied: 503 unavailable, not
		// no_owner, so that only writes with an idempotency key are retried.
		w.failAll(batch, unavailable("store error on shard %d; the writes may or may not have been applied", w.shard), "err", err)
	}
}

// writeReply is the response to one applied write: resultReply, or 503
// quorum_not_reached when the write's namespace asked for more replicas
// than acknowledged the batch.
func (c *Coordinator) writeReply(res store.Result, shard, want int) reply {
	rep := resultReply(res, shard)
	if res.Err != nil || res.ReplicasAcked >= want {
		return rep
	}
	c.met.quorumMisses.Inc()
	q := newError(http.StatusServiceUnavailable, api.CodeQuorumNotReached,
		"the write was applied on the primary but only %d of %d replicas acknowledged it in time; it may be lost if the primary fails: repeat it with the same Idempotency-Key",
		res.ReplicasAcked, want).reply()
	q.header.Set(api.HeaderReplicasAcked, strconv.Itoa(res.ReplicasAcked))
	q.header.Set(api.HeaderFencingToken, res.Object.Token.String())
	return q
}

// failAll answers every op with e, logging each under its request's id.
func (w *writer) failAll(ops []*op, e *apiError, logArgs ...any) {
	for _, o := range ops {
		if len(logArgs) > 0 {
			o.log.Warn("write failed", append([]any{"shard", w.shard, "status", e.status}, logArgs...)...)
		}
		w.finish(o, e.reply())
	}
}

// giveUp ends the lease after the store refused a batch: the store no longer
// honours its token, so nothing more may be served under it.
func (w *writer) giveUp(ctx context.Context) {
	w.mu.Lock()
	w.fenced = true
	w.mu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, w.c.cfg.StoreTimeout)
	defer cancel()
	// The store already dropped the lease or granted a newer token, so
	// ErrLeaseLost is the expected answer; Release ends it locally anyway.
	if err := w.lease.Release(rctx); err != nil && !errors.Is(err, store.ErrLeaseLost) {
		w.log.Debug("release after fencing refusal failed", "err", err)
	}
}

// exit runs when the lease has ended: it closes the writer and answers what
// is still queued. Nothing of it was applied, so it is safe to retry: 421
// sends the gateway to the new owner, 503 no_owner (during a stop) asks it to
// retry shortly.
func (w *writer) exit(ctx context.Context) {
	w.mu.Lock()
	w.closed = true
	rest := w.queue
	w.queue = nil
	draining, fenced := w.draining || w.c.draining.Load(), w.fenced
	w.mu.Unlock()
	w.c.forget(w)
	w.markDrained()
	if w.c.writerOf(w.shard) == nil { // a newer writer owns the series now
		w.depth.Set(0)
	}

	cause := lossCause(w.lease.Err(), fenced)
	w.c.met.leaseLosses.WithLabelValues(cause).Inc()
	w.c.met.ownedShards.Dec()
	w.log.Info("shard writer stopped", "cause", cause, "unapplied", len(rest))
	if len(rest) == 0 {
		return
	}
	var e *apiError
	if draining {
		e = noOwner("coordinator %s stopped before the write was applied; nothing was applied", w.c.cfg.ID)
	} else {
		e = w.c.misdirected(ctx, w.shard, "lease on shard %d ended before the write was applied; nothing was applied", w.shard)
	}
	w.failAll(rest, e)
}

// lossCause labels why a lease ended, for the lease-loss metric.
func lossCause(err error, fenced bool) string {
	switch {
	case fenced:
		return "fenced"
	case errors.Is(err, leases.ErrExpired):
		return "expired"
	case errors.Is(err, leases.ErrLost):
		return "lost"
	case errors.Is(err, leases.ErrReleased):
		return "released"
	case errors.Is(err, leases.ErrStopped):
		return "stopped"
	}
	return "other"
}
