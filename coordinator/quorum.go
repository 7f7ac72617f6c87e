package coordinator

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cpgw/cpgw/store"
)

// replicaCounter is a store that can say how many replicas are attached to
// its primary (redisstore and embedded can; it is not part of store.Store).
type replicaCounter interface {
	AttachedReplicas(ctx context.Context) (int, error)
}

// quorum resolves "replicas": "majority" durabilities against the replicas
// attached to the store's primary. The store caches its count (redisstore
// for 250 ms by default), so resolving per write costs no round trip.
//
// When the count is not known, because the store cannot count or counting
// failed, a majority resolves against the last count that succeeded (0
// before any): the floor the operator set always holds, and a short outage
// of INFO does not drop the quorum to the floor when replicas were there a
// moment ago. It never guesses a count above what was seen, which would
// answer 503 quorum_not_reached for writes the replicas did acknowledge.
// The first failure of a streak is logged at warn, not every batch, and
// after a failure the store is not asked again for countRetry, so a batch of
// writes to a store that hangs waits for one count, not one per write.
type quorum struct {
	counter replicaCounter // nil: the store cannot count
	log     *slog.Logger
	gauge   prometheus.Gauge
	clock   clockwork.Clock
	timeout time.Duration // bounds a count that has to ask the store

	mu      sync.Mutex
	last    int       // the last count that succeeded
	failing bool      // in a failure streak, already logged
	retryAt time.Time // after a failure: ask the store again from then on
}

// countRetry is how long a failed count is not repeated.
const countRetry = 250 * time.Millisecond

// newQuorum type-asserts st once; a store that cannot count resolves every
// majority to its floor.
func newQuorum(st any, log *slog.Logger, gauge prometheus.Gauge, clock clockwork.Clock, timeout time.Duration) *quorum {
	rc, _ := st.(replicaCounter)
	return &quorum{counter: rc, log: log, gauge: gauge, clock: clock, timeout: timeout}
}

// resolveDurability returns d unchanged unless it asks for a majority, and
// otherwise the count it stands for now (store.Durability.Resolve).
func (c *Coordinator) resolveDurability(ctx context.Context, d store.Durability) store.Durability {
	if !d.Majority {
		return d
	}
	return d.Resolve(c.quorum.attached(ctx))
}

// attached returns the replicas attached now, or the last known count when
// that cannot be had.
func (q *quorum) attached(ctx context.Context) int {
	if q.counter == nil {
		return q.failed(nil)
	}
	q.mu.Lock()
	wait, last := q.clock.Now().Before(q.retryAt), q.last
	q.mu.Unlock()
	if wait {
		return last
	}
	cctx, cancel := context.WithTimeout(ctx, q.timeout)
	n, err := q.counter.AttachedReplicas(cctx)
	cancel()
	if err != nil {
		return q.failed(err)
	}
	q.mu.Lock()
	recovered := q.failing
	q.last, q.failing = n, false
	q.mu.Unlock()
	q.gauge.Set(float64(n))
	if recovered {
		q.log.Info("counting the store's replicas again", "attached_replicas", n)
	}
	return n
}

// failed records a count that could not be had and returns the last known
// one; err nil means the store cannot count at all.
func (q *quorum) failed(err error) int {
	q.mu.Lock()
	first := !q.failing
	q.failing = true
	q.retryAt = q.clock.Now().Add(countRetry)
	last := q.last
	q.mu.Unlock()
	if first {
		if err == nil {
			q.log.Warn("the store cannot count its replicas; \"replicas\": \"majority\" namespaces wait for their minReplicas only")
		} else {
			q.log.Warn("counting the store's replicas failed; majority quorums use the last count until it works again",
				"last_count", last, "err", err)
		}
	}
	return last
}
