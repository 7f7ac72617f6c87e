package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cpgw/cpgw/shards"
	"github.com/cpgw/cpgw/store"
)

// errNotLoaded is what refresh reports when nobody is loading the map.
var errNotLoaded = errors.New("gateway: shard map not loaded yet")

// errStopped is what refresh reports to callers still waiting when run
// stops.
var errStopped = errors.New("gateway: shard map refresher stopped")

// snapshot is one consistent view of routing state: the shard map and the
// namespace settings, read together. Immutable once published.
type snapshot struct {
	m          shards.Map
	layout     shards.Layout
	namespaces map[string]store.Namespace
	loadedAt   time.Time // on the gateway's clock, when the load finished
}

// shardCounts returns the shards in the map and those with no owner; a nil
// snapshot (nothing loaded yet) has none.
func (s *snapshot) shardCounts() (total, unowned int) {
	if s == nil {
		return 0, 0
	}
	for _, e := range s.m.Entries() {
		total++
		if e.Owner == "" {
			unowned++
		}
	}
	return total, unowned
}

// shardOf returns the shard that holds namespace ns: the shard recorded in
// its stored settings if it has any (resolved when it was pinned, so later
// region changes cannot move it), else shards.Of.
func (s *snapshot) shardOf(ns string) int {
	if st, ok := s.namespaces[ns]; ok {
		return st.Shard
	}
	return shards.Of(ns, s.layout.Shards)
}

// target is where a request for a namespace goes.
type target struct {
	shard int
	entry shards.Entry // Address "" when the shard has no owner
}

// route resolves a namespace to its shard and that shard's owner.
func (s *snapshot) route(ns string) target {
	sh := s.shardOf(ns)
	e, _ := s.m.Entry(sh) // a recorded shard outside the layout has no owner
	return target{shard: sh, entry: e}
}

// shardCache keeps the latest snapshot and reloads it every interval and on
// demand. One goroutine (run) does every load, so demand refreshes coalesce:
// however many requests ask while a load is in flight, one more load serves
// them all.
type shardCache struct {
	primary    Primary
	clock      clockwork.Clock
	interval   time.Duration
	timeout    time.Duration
	proposed   int // the shard count proposed to InitCluster
	configured int // Config.Shards, 0 if unset: only for the mismatch warning
	log        *slog.Logger
	metrics    *metrics
	onLoad     func(*snapshot) // called by run after each successful load

	snap atomic.Pointer[snapshot]
	// published is closed (and replaced) each time a snapshot is
	// published, so requests held for failover wake up at once.
	published atomic.Pointer[chan struct{}]
	kick      chan struct{} // capacity 1: a pending demand refresh

	mu sync.Mutex
	// wanted is the number of the latest demand refresh; attempted is the
	// highest wanted value a finished load (successful or not) started
	// after. A caller that asked for refresh n waits for attempted ≥ n.
	wanted, attempted uint64
	lastErr           error         // of the last load
	changed           chan struct{} // closed and replaced when attempted moves
	running           bool
}

func newShardCache(p Primary, cfg Config, m *metrics, onLoad func(*snapshot)) *shardCache {
	proposed := cfg.Shards
	if proposed == 0 {
		proposed = defaultShards
	}
	c := &shardCache{
		primary:    p,
		clock:      cfg.Clock,
		interval:   cfg.RefreshInterval,
		timeout:    cfg.StoreTimeout,
		proposed:   proposed,
		configured: cfg.Shards,
		log:        cfg.Logger,
		metrics:    m,
		onLoad:     onLoad,
		kick:       make(chan struct{}, 1),
		changed:    make(chan struct{}),
	}
	first := make(chan struct{})
	c.published.Store(&first)
	return c
}

// updates returns a channel closed when the next snapshot is published.
func (c *shardCache) updates() <-chan struct{} { return *c.published.Load() }

// current returns the latest snapshot, or nil before the first load.
func (c *shardCache) current() *snapshot { return c.snap.Load() }

// start marks the cache as running, so refresh calls made before run's
// goroutine is scheduled wait for it rather than return at once.
func (c *shardCache) start() {
	c.mu.Lock()
	c.running = true
	c.mu.Unlock()
}

// run loads the map at once, then every interval and whenever refresh asks,
// until ctx is done. Call start first.
func (c *shardCache) run(ctx context.Context) {
	defer func() {
		// Release callers waiting for a load that will not happen.
		c.mu.Lock()
		c.running = false
		c.attempted, c.lastErr = c.wanted, errStopped
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
	}()

	ticker := c.clock.NewTicker(c.interval)
	defer ticker.Stop()
	var n int // the cluster's shard count, once InitCluster answered
	trigger := "start"
	for {
		c.mu.Lock()
		gen := c.wanted
		c.mu.Unlock()

		var err error
		n, err = c.load(ctx, n)
		c.metrics.refreshes.WithLabelValues(trigger, result(err)).Inc()
		if err != nil && ctx.Err() == nil {
			c.log.Warn("shard map refresh failed; routing with the previous map", "err", err)
		}

		c.mu.Lock()
		c.attempted = max(c.attempted, gen)
		c.lastErr = err
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()

		select {
		case <-ctx.Done():
			return
		case <-ticker.Chan():
			trigger = "tick"
		case <-c.kick:
			trigger = "demand"
		}
	}
}

func result(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

// load reads the shard count (once), the regions, the leases and the
// namespace settings, and publishes them as one snapshot. It returns the
// shard count to use next time.
func (c *shardCache) load(ctx context.Context, n int) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if n == 0 {
		got, err := c.primary.InitCluster(ctx, c.proposed)
		if err != nil {
			return 0, fmt.Errorf("read shard count: %w", err)
		}
		if c.configured != 0 && got != c.configured {
			c.log.Warn("configured shard count differs from the cluster's; using the cluster's",
				"configured", c.configured, "cluster", got)
		}
		n = got
	}
	regions, err := c.primary.Regions(ctx)
	if err != nil {
		return n, fmt.Errorf("read regions: %w", err)
	}
	layout, err := shards.NewLayout(n, regions)
	if err != nil {
		return n, err
	}
	m, err := shards.Load(ctx, c.primary, layout)
	if err != nil {
		return n, err
	}
	nss, err := c.primary.Namespaces(ctx)
	if err != nil {
		return n, fmt.Errorf("read namespace settings: %w", err)
	}
	byName := make(map[string]store.Namespace, len(nss))
	for _, ns := range nss {
		byName[ns.Name] = ns
	}
	s := &snapshot{m: m, layout: layout, namespaces: byName, loadedAt: c.clock.Now()}
	if prev := c.snap.Swap(s); prev != nil {
		c.logOwnerChanges(prev, s)
	}
	next := make(chan struct{})
	close(*c.published.Swap(&next))
	if c.onLoad != nil {
		c.onLoad(s)
	}
	return n, nil
}

// logOwnerChanges logs each shard whose owner moved, at debug level: a
// rolling restart moves every shard once, and that is normal.
func (c *shardCache) logOwnerChanges(prev, next *snapshot) {
	if !c.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	for _, e := range next.m.Entries() {
		old, _ := prev.m.Entry(e.Shard)
		if old.Owner != e.Owner || old.FencingToken != e.FencingToken {
			c.log.Debug("shard owner changed", "shard", e.Shard,
				"from", old.Owner, "to", e.Owner, "token", e.FencingToken)
		}
	}
}

// poke asks for a load soon, without waiting for it; pokes while a load is
// pending or running add nothing.
func (c *shardCache) poke() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// refresh asks for a load that starts after this call and waits until it
// has finished (successfully or not) or ctx is done. Concurrent callers
// share loads. It returns the load's error, or ctx's. When run is not
// running there is nobody to load, and it returns at once.
func (c *shardCache) refresh(ctx context.Context) error {
	c.mu.Lock()
	if !c.running {
		c.mu.Unlock()
		return errNotLoaded
	}
	c.wanted++
	gen := c.wanted
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default: // a demand load is already pending; it will cover gen too
	}
	for {
		c.mu.Lock()
		if c.attempted >= gen {
			err := c.lastErr
			c.mu.Unlock()
			return err
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// ready reports whether requests can be routed: a map is loaded and the
// primary answered within maxAge.
func (c *shardCache) ready(maxAge time.Duration) (bool, string) {
	s := c.current()
	if s == nil {
		return false, "shard map not loaded yet"
	}
	if age := c.clock.Since(s.loadedAt); age > maxAge {
		return false, fmt.Sprintf("shard map is %s old: the store has not answered since", age.Truncate(time.Millisecond))
	}
	return true, ""
}

// age is the time since the last successful load, or -1 before the first.
func (c *shardCache) age() time.Duration {
	s := c.current()
	if s == nil {
		return -1
	}
	return c.clock.Since(s.loadedAt)
}
