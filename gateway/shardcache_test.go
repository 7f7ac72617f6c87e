package gateway

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpgw/cpgw/store"
	"github.com/cpgw/cpgw/store/embedded"
)

// countingPrimary counts shard-map loads (one Leases call per load).
type countingPrimary struct {
	*embedded.Store
	loads atomic.Int64
	delay time.Duration
}

func (p *countingPrimary) Leases(ctx context.Context, shards []int) ([]store.LeaseState, error) {
	p.loads.Add(1)
	time.Sleep(p.delay)
	return p.Store.Leases(ctx, shards)
}

// TestRefreshCoalesces: many requests asking for a reload at once share
// loads, and each gets a load that started after it asked.
func TestRefreshCoalesces(t *testing.T) {
	st, err := embedded.New(embedded.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p := &countingPrimary{Store: st, delay: 20 * time.Millisecond}
	cfg := testConfig(t).withDefaults()
	cfg.RefreshInterval = time.Hour
	reg := newPrivateRegistry()
	m := newMetrics(gaugeReaders{})
	if err := m.register(reg); err != nil {
		t.Fatal(err)
	}
	c := newShardCache(p, cfg, m, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	c.start()
	wg.Go(func() { c.run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	eventually(t, 5*time.Second, "first load", func() bool { return c.current() != nil })

	before := p.loads.Load()
	const callers = 200
	var callersWG sync.WaitGroup
	for i := 0; i < callers; i++ {
		callersWG.Go(func() {
			asked := time.Now()
			if err := c.refresh(ctx); err != nil {
				t.Errorf("refresh: %v", err)
			}
			if s := c.current(); s.loadedAt.Before(asked) {
				t.Errorf("refresh returned a map loaded before it was asked for")
			}
		})
	}
	callersWG.Wait()
	loads := p.loads.Load() - before
	t.Logf("%d concurrent refresh requests → %d loads", callers, loads)
	if loads > 3 {
		t.Errorf("%d loads for %d concurrent refreshes; want them coalesced into a few", loads, callers)
	}
}

// TestOwnerChangeDetection measures how long the gateway takes to notice an
// owner change that no request runs into: the shard map is polled every
// RefreshInterval, so the expected worst case is one interval plus one
// load. The figure is logged (go test -v -run OwnerChange).
func TestOwnerChangeDetection(t *testing.T) {
	interval := 250 * time.Millisecond // the default
	h := newHarness(t, harnessOpts{config: func(c *Config) { c.RefreshInterval = interval }})
	const trials = 8
	shard := h.shardOf("payments")
	var lat []time.Duration
	for i := 0; i < trials; i++ {
		addr := fmt.Sprintf("http://owner-%d.invalid", i) // distinct per trial; never dialled
		h.ownShard(shard, "c", addr)
		start := time.Now()
		h.waitOwner(shard, addr)
		lat = append(lat, time.Since(start))
		// Start the next change at a different phase of the poll.
		time.Sleep(time.Duration(i) * interval / trials)
	}
	slices.Sort(lat)
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	t.Logf("owner change noticed by polling (RefreshInterval %s, %d trials): min %s, mean %s, max %s",
		interval, trials, lat[0].Round(time.Millisecond), (sum / trials).Round(time.Millisecond), lat[trials-1].Round(time.Millisecond))
	if lat[trials-1] > interval+250*time.Millisecond {
		t.Errorf("slowest detection %s; want within one interval plus a load (%s + slack)", lat[trials-1], interval)
	}
}
