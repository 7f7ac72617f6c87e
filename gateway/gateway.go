package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cpgw/cpgw/locality"
	"github.com/cpgw/cpgw/store"
)

// Primary is what the gateway needs of the store's primary: the shard map
// (shard count, regions, leases), namespace settings, and somewhere to
// write its freshness beacon. store.Store satisfies it.
type Primary interface {
	// Leases, Regions and InitCluster build the shard map (shards.Load).
	Leases(ctx context.Context, shards []int) ([]store.LeaseState, error)
	Regions(ctx context.Context) ([]string, error)
	InitCluster(ctx context.Context, shards int) (int, error)
	// Namespaces gives the stored shard of every pinned namespace.
	Namespaces(ctx context.Context) ([]store.Namespace, error)
	// SetBeacon feeds the staleness tracker.
	SetBeacon(ctx context.Context, id string, seq uint64, ttl time.Duration) error
}

// Replica is what the gateway needs of its region's replica: fast-path reads
// and the beacon that bounds how stale they are. store.Store and
// *embedded.Replica satisfy it; a gateway without a replica of its own
// passes the primary.
type Replica interface {
	Get(ctx context.Context, shard int, namespace, name string) (store.Object, error)
	List(ctx context.Context, shard int, namespace string) ([]store.Object, uint64, error)
	Beacon(ctx context.Context, id string) (uint64, error)
}

// Gateway is a regional gateway. Create it with New, serve Handler, and
// keep Run running: without it the shard map is never loaded and no
// request can be routed.
type Gateway struct {
	cfg      Config
	replica  Replica
	cache    *shardCache
	holds    *holds // requests held for failover, per shard
	breakers *breakers
	tracker  *locality.Tracker
	metrics  *metrics
	gatherer prometheus.Gatherer
	client   *http.Client
	handler  http.Handler
	// servedBy is the X-Served-By value of local reads, built once.
	servedBy string
	// ownTransport is the transport New created, closed by Run on exit;
	// nil when Config.Transport was given (its owner closes it).
	ownTransport *http.Transport

	running atomic.Bool
}

// New returns a gateway that routes by the shard map in primary and serves
// local reads from replica. It does no I/O: Run loads the map.
func New(primary Primary, replica Replica, cfg Config) (*Gateway, error) {
	if primary == nil || replica == nil {
		return nil, errors.New("gateway: nil primary or replica")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	// Every line names its gateway: several run in one process under cpgw dev.
	cfg.Logger = cfg.Logger.With("gateway", cfg.ID, "region", cfg.Region)
	g := &Gateway{cfg: cfg, replica: replica, servedBy: cfg.Region + "/" + cfg.ID}

	reg, gath := cfg.Registerer, cfg.Gatherer
	if reg == nil {
		private := newPrivateRegistry()
		reg, gath = private, private
	}
	if gath == nil {
		gath = reg.(prometheus.Gatherer) // Validate checked
	}
	g.gatherer = gath

	tracker, err := locality.NewTracker(primary, replica, locality.TrackerConfig{
		// Per region as well as per gateway: ids are unique only within a
		// region, and every region's gateways write to the same primary.
		ID:       "gateway/" + cfg.Region + "/" + cfg.ID,
		Interval: cfg.Beacon.Interval,
		TTL:      cfg.Beacon.TTL,
		Clock:    cfg.Clock,
		Logger:   cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	g.tracker = tracker

	m := newMetrics(gaugeReaders{
		staleness: g.tracker.Bound,
		mapAge:    func() time.Duration { return g.cache.age() },
		held:      func() int { return g.holds.total() },
		shards:    func() (int, int) { return g.cache.current().shardCounts() },
	})
	g.metrics = m
	g.breakers = newBreakers(cfg.Breaker, m, cfg.Logger)
	g.holds = newHolds(cfg.Failover.MaxQueued)
	g.cache = newShardCache(primary, cfg, m, g.breakers.retainMap)
	// Registered only now: a scrape of a shared registry may run at once,
	// and its gauges read the tracker and the cache.
	if err := m.register(reg); err != nil {
		if isAlreadyRegistered(err) {
			return nil, fmt.Errorf("gateway: metrics already registered (two gateways on one Registerer need prometheus.WrapRegistererWith): %w", err)
		}
		return nil, fmt.Errorf("gateway: register metrics: %w", err)
	}

	rt := cfg.Transport
	if rt == nil {
		g.ownTransport = NewTransport()
		rt = g.ownTransport
	}
	g.client = &http.Client{
		Transport: rt,
		// A coordinator's redirect is relayed, not followed: the gateway
		// decides where requests go.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	g.handler = g.routes()
	return g, nil
}

// Handler returns the gateway's HTTP handler: the public v1 API, /healthz,
// /readyz and /metrics.
func (g *Gateway) Handler() http.Handler { return g.handler }

// Run keeps the shard map and namespace settings fresh and runs the
// replica staleness tracker until ctx is done, then waits for both to stop.
// It returns nil after ctx ends, or the tracker's error if it fails first.
// Run may be called once.
func (g *Gateway) Run(ctx context.Context) error {
	if !g.running.CompareAndSwap(false, true) {
		return errors.New("gateway: Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var wg sync.WaitGroup
	var trackerErr error
	g.cache.start()
	wg.Go(func() { g.cache.run(ctx) })
	wg.Go(func() {
		trackerErr = g.tracker.Run(ctx)
		if ctx.Err() == nil {
			// The tracker gave up on its own: without it every local read
			// would fall back to the owner unnoticed. Stop and say so.
			cancel()
		}
	})
	wg.Wait()
	if g.ownTransport != nil {
		g.ownTransport.CloseIdleConnections()
	}
	if trackerErr != nil && !errors.Is(trackerErr, context.Canceled) && !errors.Is(trackerErr, context.DeadlineExceeded) {
		return fmt.Errorf("gateway: staleness tracker: %w", trackerErr)
	}
	return nil
}
