package coordinator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cpgw/cpgw/fencing"
	"github.com/cpgw/cpgw/leases"
	"github.com/cpgw/cpgw/shards"
	"github.com/cpgw/cpgw/store"
)

// Store is what a coordinator needs from the store (store.Store satisfies
// it): leases and membership for the Keeper, Announcer and Placer, fenced
// batches and primary reads for the data path, namespace settings, and the
// cluster's shard count.
type Store interface {
	leases.Store       // AcquireLease, RenewLeases, ReleaseLease
	leases.MemberStore // Heartbeat, Leave
	shards.PlacerStore // Leases, Members, Regions

	Apply(ctx context.Context, b store.Batch) ([]store.Result, error)
	Get(ctx context.Context, shard int, namespace, name string) (store.Object, error)
	List(ctx context.Context, shard int, namespace string) ([]store.Object, uint64, error)

	GetNamespace(ctx context.Context, name string) (store.Namespace, error)
	PutNamespace(ctx context.Context, ns store.Namespace, ifVersion uint64) (store.Namespace, error)
	Namespaces(ctx context.Context) ([]store.Namespace, error)

	InitCluster(ctx context.Context, shards int) (int, error)
}

// Coordinator owns shards: it serialises, batches and fences their writes
// and serves their strong reads. Create it with New, serve Handler, and call
// Run once.
type Coordinator struct {
	st        Store
	cfg       Config
	clock     clockwork.Clock
	log       *slog.Logger
	self      store.Member
	servedBy  string // X-Served-By: <region>/<id>
	keeper    *leases.Keeper
	announcer *leases.Announcer
	met       *metrics
	ns        *nsCache
	quorum    *quorum // resolves majority durabilities (quorum.go)
	inflight  inflight
	handler   http.Handler

	ran      atomic.Bool
	nshards  atomic.Int64 // the cluster's shard count; 0 until Run read it
	draining atomic.Bool  // set when a graceful stop begins
	failed   atomic.Bool  // set by fail: the store lost its state
	fatal    chan error   // capacity 1: fail's error, for Run
	lastBeat atomic.Int64 // unix nanos of the last successful heartbeat; 0 when not a member

	// workCtx is the context of the writers' store calls. Run sets it
	// before it starts anything that reads it, and cancels it only when a
	// graceful stop runs out of time (or at the very end).
	workCtx    context.Context
	cancelWork context.CancelFunc
	writersWG  sync.WaitGroup // writer goroutines, started by onAcquire

	mu      sync.Mutex
	writers map[int]*writer // by shard; the writer of the newest lease
}

// New returns a Coordinator for st and cfg. It does no I/O: Run records the
// cluster's shard count with store.InitCluster (Handler answers 503 until
// then) and joins the cluster.
func New(st Store, cfg Config) (*Coordinator, error) {
	if st == nil {
		return nil, fmt.Errorf("%w: nil store", ErrConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	met, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	var c *Coordinator // the lease callbacks run only once Run has started
	lc := cfg.leaseConfig()
	lc.OnLost = func(_ int, _ fencing.Token, cause error) {
		if errors.Is(cause, store.ErrEpoch) {
			c.fail(cause)
		}
	}
	lc.OnRegressed = func(int, fencing.Token, fencing.Token) { met.tokenRegressions.Inc() }
	keeper, err := leases.New(st, lc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	c = &Coordinator{
		st:       st,
		cfg:      cfg,
		clock:    cfg.Clock,
		log:      cfg.Logger.With("coordinator", cfg.ID, "region", cfg.Region),
		self:     store.Member{ID: cfg.ID, Region: cfg.Region, Address: cfg.Advertise},
		servedBy: cfg.Region + "/" + cfg.ID,
		keeper:   keeper,
		met:      met,
		ns:       newNSCache(st),
		writers:  make(map[int]*writer),
		fatal:    make(chan error, 1),
	}
	c.workCtx, c.cancelWork = context.WithCancel(context.Background())
	c.quorum = newQuorum(st, c.log, met.attachedReplicas, cfg.Clock, cfg.StoreTimeout)
	c.announcer, err = leases.NewAnnouncer(memberTracker{st: st, c: c}, c.self, leases.AnnouncerConfig{
		TTL:    keeper.Config().TTL,
		Clock:  cfg.Clock,
		Logger: c.log,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	c.handler = c.routes()
	return c, nil
}

// Handler returns the coordinator's HTTP handler: the internal API
// (api.InternalPrefix), GET /healthz, GET /readyz and GET /metrics.
func (c *Coordinator) Handler() http.Handler { return c.handler }

// Gatherer returns the registry the metrics are registered on, when it can
// be gathered: the private registry if Config.Registerer was nil, the
// Registerer itself if it is also a prometheus.Gatherer, otherwise nil.
func (c *Coordinator) Gatherer() prometheus.Gatherer { return c.met.gatherer }

// Owned returns the shards this coordinator currently serves (valid lease,
// writer ready), in ascending order.
func (c *Coordinator) Owned() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int
	for s, w := range c.writers {
		if w.serving() {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// Run joins the cluster and owns shards until ctx is done, then stops
// gracefully and returns nil. In order, Run:
//
//   - records the shard count (store.InitCluster with Config.Shards; the
//     count already recorded wins) and loads the namespace settings,
//     retrying with backoff until the store answers;
//   - sends a first heartbeat, then runs the Keeper (lease renewals), the
//     Announcer (membership), the namespace-settings refresh and the Placer,
//     which starts a writer for every lease it acquires.
//
// When ctx is done it stops gracefully: new writes answer 503 no_owner, the
// Placer stops, queued writes are applied (for at most
// Config.ShutdownTimeout), the coordinator leaves membership and releases
// every lease so others can acquire at once, and Run waits for every
// goroutine it started. It returns an error if it could not start, or if
// the store lost its state (the error matches store.ErrEpoch): its tokens
// could then be granted again, so it stops serving at once, stops as above
// and returns. A restarted coordinator joins the store's new cluster.
func (c *Coordinator) Run(ctx context.Context) error {
	if !c.ran.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer c.cancelWork()
	n, err := c.initCluster(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	placer, err := shards.NewPlacer(c.st, c.keeper, shards.PlacerConfig{
		Self:      c.self,
		Shards:    n,
		Interval:  c.cfg.Placement.Interval,
		Grace:     c.cfg.Placement.Grace,
		Settle:    c.cfg.Placement.Settle,
		OnAcquire: c.onAcquire,
		Clock:     c.clock,
		Logger:    c.log,
	})
	if err != nil {
		return fmt.Errorf("coordinator: %w", err)
	}
	c.nshards.Store(int64(n))
	c.log.Info("coordinator starting", "shards", n, "advertise", c.cfg.Advertise)

	// Joining before the first placement round lets it plan with us.
	if err := c.announcer.Beat(ctx); err != nil && ctx.Err() == nil {
		c.log.Warn("first heartbeat failed; the announcer retries", "err", err)
	}

	// Each loop gets its own context so that the stop can end them in order.
	keeperCtx, stopKeeper := context.WithCancel(context.WithoutCancel(ctx))
	memberCtx, stopMember := context.WithCancel(context.WithoutCancel(ctx))
	nsCtx, stopNS := context.WithCancel(context.WithoutCancel(ctx))
	placerCtx, stopPlacer := context.WithCancel(context.WithoutCancel(ctx))
	var keeperWG, memberWG, nsWG, placerWG sync.WaitGroup
	keeperWG.Go(func() { _ = c.keeper.Run(keeperCtx) })
	memberWG.Go(func() { _ = c.announcer.Run(memberCtx) })
	nsWG.Go(func() { c.refreshNamespaces(nsCtx) })
	placerWG.Go(func() {
		if err := placer.Run(placerCtx); err != nil {
			c.fail(err)
		}
	})

	var fatal error
	select {
	case <-ctx.Done():
	case fatal = <-c.fatal:
	}
	start := c.clock.Now()
	c.log.Info("coordinator stopping")
	c.draining.Store(true)

	// No new shards from here on, so the set of writers is final.
	stopPlacer()
	placerWG.Wait()
	c.drainWriters()

	// Leave before releasing: while the others' plans still name us they
	// would not claim the shards we free.
	stopMember()
	memberWG.Wait()
	c.lastBeat.Store(0)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.StoreTimeout)
	if err := c.keeper.ReleaseAll(rctx); err != nil {
		c.log.Warn("releasing leases failed; they lapse at their TTL", "err", err)
	}
	cancel()

	stopKeeper() // ends anything ReleaseAll could not
	keeperWG.Wait()
	stopNS()
	nsWG.Wait()
	c.writersWG.Wait() // every writer ends with its lease
	c.log.Info("coordinator stopped", "took", c.clock.Since(start))
	if fatal != nil {
		return fmt.Errorf("coordinator: %w", fatal)
	}
	return nil
}

// fail stops the coordinator for good because the store lost its state:
// nothing is served from here on, and Run stops and returns err.
func (c *Coordinator) fail(err error) {
	if !c.failed.CompareAndSwap(false, true) {
		return
	}
	c.log.Error("the store lost its state (restarted without persistence, flushed, or replaced); refusing service rather than reuse fencing tokens; restart to join the new cluster", "err", err)
	c.fatal <- err
}

// initCluster records the shard count, and loads the namespace settings,
// retrying until both succeed or ctx is done. Requests cannot be routed
// correctly without either.
func (c *Coordinator) initCluster(ctx context.Context) (int, error) {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = 100*time.Millisecond, 5*time.Second, 0
	b.Reset()
	n := 0
	for {
		err := c.initOnce(ctx, &n)
		if err == nil {
			return n, nil
		}
		if errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrEpoch) {
			return 0, fmt.Errorf("coordinator: init cluster: %w", err)
		}
		wait := b.NextBackOff()
		c.log.Warn("store not ready; retrying", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-c.clock.After(wait):
		}
	}
}

func (c *Coordinator) initOnce(ctx context.Context, n *int) error {
	if *n == 0 {
		sctx, cancel := context.WithTimeout(ctx, c.cfg.StoreTimeout)
		got, err := c.st.InitCluster(sctx, c.cfg.Shards)
		cancel()
		if err != nil {
			return err
		}
		if got < 1 || got > shards.MaxShards {
			return fmt.Errorf("%w: recorded shard count %d", store.ErrInvalid, got)
		}
		if got != c.cfg.Shards {
			c.log.Info("cluster shard count already recorded", "shards", got, "configured", c.cfg.Shards)
		}
		*n = got
	}
	sctx, cancel := context.WithTimeout(ctx, c.cfg.StoreTimeout)
	defer cancel()
	return c.ns.sync(sctx)
}

// refreshNamespaces reloads the namespace settings every NamespaceRefresh
// until ctx is done.
func (c *Coordinator) refreshNamespaces(ctx context.Context) {
	t := c.clock.NewTicker(c.cfg.NamespaceRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.Chan():
		}
		sctx, cancel := context.WithTimeout(ctx, c.cfg.StoreTimeout)
		if err := c.ns.sync(sctx); err != nil && ctx.Err() == nil {
			c.log.Warn("namespace settings refresh failed", "err", err)
		}
		cancel()
	}
}

// drainWriters stops every writer from accepting work and waits, for at
// most ShutdownTimeout, until each has applied what was queued. Past the
// deadline the writers' store calls are cancelled: their requests answer
// 503 unavailable.
func (c *Coordinator) drainWriters() {
	c.mu.Lock()
	ws := make([]*writer, 0, len(c.writers))
	for _, w := range c.writers {
		ws = append(ws, w)
	}
	c.mu.Unlock()
	for _, w := range ws {
		w.drain()
	}
	deadline := c.clock.NewTimer(c.cfg.ShutdownTimeout)
	defer deadline.Stop()
	for _, w := range ws {
		select {
		case <-w.drained:
		case <-deadline.Chan():
			c.log.Warn("queued writes not applied in time; abandoning them", "timeout", c.cfg.ShutdownTimeout)
			c.cancelWork()
			return
		}
	}
}

// onAcquire starts a writer for a lease the Placer acquired. It runs on the
// Placer's goroutine and must not block.
func (c *Coordinator) onAcquire(l *leases.Lease) {
	c.mu.Lock()
	if cur := c.writers[l.Shard()]; cur != nil && cur.lease == l {
		// The Keeper hands back a lease it still holds; its writer runs.
		c.mu.Unlock()
		return
	}
	w := newWriter(c, l)
	c.writers[l.Shard()] = w
	c.writersWG.Add(1)
	c.mu.Unlock()
	c.met.leaseAcquisitions.Inc()
	c.met.ownedShards.Inc()
	go w.run(c.workCtx)
}

// writerOf returns the writer of a shard, or nil.
func (c *Coordinator) writerOf(shard int) *writer {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writers[shard]
}

// forget removes w from the registry if it is still the shard's writer.
func (c *Coordinator) forget(w *writer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writers[w.shard] == w {
		delete(c.writers, w.shard)
	}
}

// shardCount is the cluster's shard count, 0 before Run has read it.
func (c *Coordinator) shardCount() int { return int(c.nshards.Load()) }

// member reports whether the last heartbeat is recent enough that the
// membership record is still alive.
func (c *Coordinator) member() bool {
	last := c.lastBeat.Load()
	if last == 0 {
		return false
	}
	return c.clock.Since(time.Unix(0, last)) < c.keeper.Config().TTL
}

// memberTracker is the Announcer's store: it notes every successful
// heartbeat, for readiness.
type memberTracker struct {
	st Store
	c  *Coordinator
}

func (m memberTracker) Heartbeat(ctx context.Context, mem store.Member, ttl time.Duration) error {
	start := m.c.clock.Now() // the record lives ttl from at least this instant
	err := m.st.Heartbeat(ctx, mem, ttl)
	if err == nil && !m.c.draining.Load() {
		m.c.lastBeat.Store(start.UnixNano())
	}
	return err
}

func (m memberTracker) Leave(ctx context.Context, id string) error {
	m.c.lastBeat.Store(0)
	return m.st.Leave(ctx, id)
}
