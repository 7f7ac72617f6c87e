package embedded

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cpgw/cpgw/store"
)

// ReplicaConfig configures a Replica. The zero ReplicaConfig is a replica
// without lag.
type ReplicaConfig struct {
	// Lag is how far the replica runs behind its primary: a change becomes
	// visible on it once the change is Lag old on Clock. Zero means every
	// change is visible as soon as it is committed (read-your-writes).
	// Negative is invalid.
	Lag time.Duration
	// Clock measures the lag and the replica's TTLs. Default: the primary's
	// clock (the only sensible choice unless a test wants otherwise).
	Clock clockwork.Clock
}

// Replica is a read-only copy of a Store that lags behind it, the embedded
// stand-in for a region's Redis replica in cpgw dev. Its methods have the
// signatures of the store.Store methods of the same names.
//
// # Guarantees
//
//   - A Replica shows its primary's state as it was Lag ago: objects with their
//     revisions and change log, lease states and fencing counters, namespace
//     settings and beacons. (Idempotency records, membership and the cluster
//     shard count are not replicated; read them from the primary.)
//   - Changes are applied in the primary's commit order and never undone, so a
//     Replica that shows one change shows every change committed before it.
//     That is what makes a freshness beacon read from it a valid proof
//     (package locality).
//   - TTLs run out at the instant the primary set (commit time + TTL), as
//     Redis propagates expiry. On a replica that lags by more than a TTL, a
//     key therefore expires before its renewal becomes visible, as on Redis.
//   - A new Replica starts with a copy of the primary's current state (Redis's
//     initial full sync) and lags from there.
//
// # Non-guarantees
//
// A Replica may be fresher than Lag: when it falls more than
// Config.ReplicationBacklog changes behind it is brought forward, a change
// with a store.Durability that asks for replicas brings it up to date at
// once (durability.go), and raising
// the lag with SetLag never hides changes already shown (the replica freezes
// until the new lag catches up instead). Changes are applied lazily, on the
// Replica's reads, so a Replica needs no goroutine; a Replica that is never
// read holds back up to ReplicationBacklog entries of the primary's feed.
// After the primary is closed a Replica keeps serving what it had applied.
type Replica struct {
	primary *Store
	clock   clockwork.Clock
	state   *Store // the replica's data; changed only by replaying the feed

	// Guarded by primary.mu, so that the feed, its trimming and the cursors
	// into it move together.
	next   uint64 // sequence number of the next feed entry to replay
	lag    time.Duration
	closed bool
}

// NewReplica returns a replica of primary configured by cfg. Close it when
// done, or the primary keeps its feed for it.
func NewReplica(primary *Store, cfg ReplicaConfig) (*Replica, error) {
	if primary == nil {
		return nil, errors.New("embedded: nil primary")
	}
	if cfg.Lag < 0 {
		return nil, fmt.Errorf("embedded: negative replica Lag %s", cfg.Lag)
	}
	if cfg.Clock == nil {
		cfg.Clock = primary.clock
	}
	state, err := New(Config{Clock: cfg.Clock, LogRetention: primary.retention})
	if err != nil {
		return nil, err
	}
	r := &Replica{primary: primary, clock: cfg.Clock, state: state, lag: cfg.Lag}

	primary.mu.Lock()
	defer primary.mu.Unlock()
	if primary.closed {
		_ = state.Close()
		return nil, ErrClosed
	}
	state.mu.Lock()
	primary.copyReplicatedLocked(state)
	state.mu.Unlock()
	r.next = primary.feedStart + uint64(len(primary.feed))
	primary.replicas[r] = struct{}{}
	return r, nil
}

// SetLag changes the replica's lag; a negative d means 0. A smaller lag shows
// the changes it uncovers at the next read. A larger one cannot take back
// what was shown: the replica shows nothing new until the new lag has caught
// up, so it freezes for the difference, as a stalled Redis replica does.
func (r *Replica) SetLag(d time.Duration) {
	r.primary.mu.Lock()
	defer r.primary.mu.Unlock()
	r.lag = max(d, 0)
}

// Lag returns the replica's configured lag.
func (r *Replica) Lag() time.Duration {
	r.primary.mu.Lock()
	defer r.primary.mu.Unlock()
	return r.lag
}

// Close detaches the replica from its primary and drops its state; every
// later read returns ErrClosed. Closing twice is harmless.
func (r *Replica) Close() error {
	p := r.primary
	p.mu.Lock()
	if !r.closed {
		r.closed = true
		if !p.closed {
			delete(p.replicas, r)
			p.trimFeedLocked()
		}
	}
	p.mu.Unlock()
	return r.state.Close()
}

// catchUp replays every change of the primary that is at least the lag old.
// It runs under the primary's lock, so two reads of the replica cannot replay
// out of order and the primary cannot trim what the replica still needs.
func (r *Replica) catchUp(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p := r.primary
	p.mu.Lock()
	defer p.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	if p.closed {
		return nil // keep serving what was applied
	}
	horizon := r.clock.Now().Add(-r.lag)
	start := int(r.next - p.feedStart)
	end := start
	for end < len(p.feed) && !p.feed[end].at.After(horizon) {
		end++
	}
	if end > start {
		r.replayLocked(p.feed[start:end])
		p.trimFeedLocked()
	}
	return nil
}

// replayLocked applies ms, the next entries of the feed, to the replica's
// state and moves its cursor past them. The caller holds primary.mu.
func (r *Replica) replayLocked(ms []mutation) {
	r.state.mu.Lock()
	defer r.state.mu.Unlock()
	for _, m := range ms {
		r.state.applyLocked(m)
	}
	r.next += uint64(len(ms))
}

// Get is store.Store's Get on the replica.
func (r *Replica) Get(ctx context.Context, shard int, namespace, name string) (store.Object, error) {
	if err := r.catchUp(ctx); err != nil {
		return store.Object{}, err
	}
	return r.state.Get(ctx, shard, namespace, name)
}

// List is store.Store's List on the replica.
func (r *Replica) List(ctx context.Context, shard int, namespace string) ([]store.Object, uint64, error) {
	if err := r.catchUp(ctx); err != nil {
		return nil, 0, err
	}
	return r.state.List(ctx, shard, namespace)
}

// Revision is store.Store's Revision on the replica.
func (r *Replica) Revision(ctx context.Context, shard int) (uint64, error) {
	if err := r.catchUp(ctx); err != nil {
		return 0, err
	}
	return r.state.Revision(ctx, shard)
}

// Changes is store.Store's Changes on the replica.
func (r *Replica) Changes(ctx context.Context, shard int, after uint64, limit int) ([]store.Change, error) {
	if err := r.catchUp(ctx); err != nil {
		return nil, err
	}
	return r.state.Changes(ctx, shard, after, limit)
}

// Leases is store.Store's Leases on the replica.
func (r *Replica) Leases(ctx context.Context, shards []int) ([]store.LeaseState, error) {
	if err := r.catchUp(ctx); err != nil {
		return nil, err
	}
	return r.state.Leases(ctx, shards)
}

// GetNamespace is store.Store's GetNamespace on the replica.
func (r *Replica) GetNamespace(ctx context.Context, name string) (store.Namespace, error) {
	if err := r.catchUp(ctx); err != nil {
		return store.Namespace{}, err
	}
	return r.state.GetNamespace(ctx, name)
}

// Namespaces is store.Store's Namespaces on the replica.
func (r *Replica) Namespaces(ctx context.Context) ([]store.Namespace, error) {
	if err := r.catchUp(ctx); err != nil {
		return nil, err
	}
	return r.state.Namespaces(ctx)
}

// Beacon is store.Store's Beacon on the replica.
func (r *Replica) Beacon(ctx context.Context, id string) (uint64, error) {
	if err := r.catchUp(ctx); err != nil {
		return 0, err
	}
	return r.state.Beacon(ctx, id)
}
