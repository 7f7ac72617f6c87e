package gateway

import (
	"context"
	"sync"
	"time"
)

// holds counts, per shard, the requests held waiting for a reachable owner,
// so that a shard whose owner is gone cannot make the gateway hold without
// bound (Config.Failover.MaxQueued).
type holds struct {
	max int

	mu     sync.Mutex
	counts map[int]int // shard → held requests; absent when zero
}

func newHolds(max int) *holds { return &holds{max: max, counts: map[int]int{}} }

// acquire takes one of shard's slots; false when they are all taken. The
// caller calls release with the same shard when it stops waiting.
func (h *holds) acquire(shard int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.counts[shard] >= h.max {
		return false
	}
	h.counts[shard]++
	return true
}

func (h *holds) release(shard int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.counts[shard]--; h.counts[shard] <= 0 {
		delete(h.counts, shard)
	}
}

// total is the number of requests held over all shards (a metric).
func (h *holds) total() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, c := range h.counts {
		n += c
	}
	return n
}

// waitForOwner waits up to d before the next attempt for namespace ns, and
// returns early when a newly published shard map routes ns to an owner
// other than tried (the address the last attempt went to): that is the new
// owner appearing, and holding its requests any longer only adds latency.
// It returns false if ctx ended first.
func (g *Gateway) waitForOwner(ctx context.Context, ns, tried string, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := g.cfg.Clock.NewTimer(d)
	defer t.Stop()
	// Poll the map while waiting: a successor acquires the shard at its
	// next placement round, often well inside a long backoff step, and
	// waiting for the periodic refresh would add up to RefreshInterval to
	// every failover. Every held request pokes; the cache coalesces them
	// into one load at a time.
	poll := g.cfg.Clock.NewTicker(g.cfg.Retry.InitialInterval)
	defer poll.Stop()
	for {
		updated := g.cache.updates()
		if s := g.cache.current(); s != nil {
			if a := s.route(ns).entry.Address; a != "" && a != tried {
				return true
			}
		}
		select {
		case <-t.Chan():
			return true
		case <-ctx.Done():
			return false
		case <-poll.Chan():
			g.cache.poke()
		case <-updated:
		}
	}
}
