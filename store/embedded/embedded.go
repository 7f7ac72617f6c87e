// Package embedded is the in-process implementation of store.Store: the
// backend of cpgw dev (nothing to install) and of fast tests of the layers
// above the store, which drive time with a fake clock.
//
// # Guarantees
//
//   - The same semantics as package redisstore, pinned by the conformance suite
//     in package storetest: fenced batches that change nothing when refused,
//     per-shard revisions with no gaps, idempotency records stored with their
//     write, leases that bump the fencing token, expiring membership.
//   - Every expiry (lease TTLs, membership TTLs, idempotency TTLs, the
//     Remaining of a lease) is computed from Config.Clock, so a
//     clockwork.FakeClock controls it completely. TTLs are rounded up to whole
//     milliseconds, as in Redis, and Batch.Now is stored with millisecond
//     precision, so both stores report the same values.
//   - Values handed in and out are copied: callers may reuse or mutate their
//     slices freely.
//   - Namespace durability timeouts are kept in whole milliseconds, rounded
//     up, as redisstore keeps them.
//   - Read replicas with a configurable replication lag (NewReplica) stand in
//     for a Redis replica per region: a Replica shows the store as it was Lag
//     ago and applies the store's changes in commit order, so freshness
//     beacons prove on it what they prove on Redis (see replica.go).
//
// # Non-guarantees
//
// State lives in process memory only: nothing is durable, and it is gone when
// the process exits or the store is closed. Replicas live in the same process
// and cannot fail independently. A store.Durability is modelled, not
// provided: a change that asks for replicas brings every open Replica up to
// date at once and counts them as its acknowledgements (durability.go);
// nothing here models a failover. All shards share one mutex; the store is
// meant for one machine's worth of load, not for throughput comparisons with
// Redis.
//
// The store's state cannot be lost or replaced under a Store (it lives and
// dies with the Store), so InitCluster binds to nothing and store.ErrEpoch
// never occurs here.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cpgw/cpgw/fencing"
	"github.com/cpgw/cpgw/store"
)

// Errors of this package. Errors shared with other implementations live in
// package store.
var (
	// ErrClosed is returned by every call made after Close.
	ErrClosed = errors.New("embedded: store closed")
)

var _ store.Store = (*Store)(nil)

// Config configures a Store. The zero Config is valid.
type Config struct {
	// Clock is the store's clock: every expiry is computed from it. Tests pass
	// a clockwork.FakeClock and Advance it. Default: clockwork.NewRealClock().
	Clock clockwork.Clock
	// LogRetention is how many change-log entries each shard keeps; older
	// entries are dropped. Entries hold the value they wrote, so superseded
	// values stay in memory until their entry is dropped. Zero means
	// store.DefaultLogRetention; negative is invalid.
	LogRetention int
	// ReplicationBacklog is how many changes the store keeps for replicas
	// that have not applied them yet. A replica that falls further behind is
	// brought forward at once, as a Redis replica that falls out of the
	// backlog resyncs: it then shows newer state than its Lag asks for.
	// Zero means DefaultReplicationBacklog; negative is invalid.
	ReplicationBacklog int
}

// DefaultReplicationBacklog is the ReplicationBacklog of the zero Config.
const DefaultReplicationBacklog = 1 << 16

// Store is an in-process store.Store. Create it with New; it is safe for
// concurrent use.
type Store struct {
	// Set by New, never changed.
	clock     clockwork.Clock
	retention int
	backlog   int

	mu         sync.Mutex
	closed     bool
	shards     map[int]*shardState
	members    map[string]memberRecord
	regions    map[string]struct{}
	namespaces map[string]store.Namespace
	beacons    map[string]beaconRecord
	// clusterShards is the recorded shard count; 0 until InitCluster.
	clusterShards int
	// feed holds the committed changes some replica has not applied yet, in
	// commit order; feed[0] has sequence number feedStart (replication.go).
	feed      []mutation
	feedStart uint64
	replicas  map[*Replica]struct{}
}

// shardState is everything the store keeps for one shard. The Store's mu
// guards it.
type shardState struct {
	revision uint64
	token    fencing.Token                       // the fencing counter; only grows
	lease    *leaseRecord                        // nil when never granted or released; may be expired
	objects  map[string]map[string]*store.Object // namespace → name → object
	log      []logEntry                          // ordered by revision, contiguous
	idem     idempotencyTable
}

// New returns an empty store configured by cfg.
func New(cfg Config) (*Store, error) {
	if cfg.LogRetention < 0 {
		return nil, fmt.Errorf("embedded: negative LogRetention %d", cfg.LogRetention)
	}
	if cfg.ReplicationBacklog < 0 {
		return nil, fmt.Errorf("embedded: negative ReplicationBacklog %d", cfg.ReplicationBacklog)
	}
	if cfg.LogRetention == 0 {
		cfg.LogRetention = store.DefaultLogRetention
	}
	if cfg.ReplicationBacklog == 0 {
		cfg.ReplicationBacklog = DefaultReplicationBacklog
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	return &Store{
		clock:      cfg.Clock,
		retention:  cfg.LogRetention,
		backlog:    cfg.ReplicationBacklog,
		shards:     make(map[int]*shardState),
		members:    make(map[string]memberRecord),
		regions:    make(map[string]struct{}),
		namespaces: make(map[string]store.Namespace),
		beacons:    make(map[string]beaconRecord),
		replicas:   make(map[*Replica]struct{}),
	}, nil
}

// Close drops the store's state; every later call returns ErrClosed. Closing
// twice is harmless. Replicas of the store keep serving what they had
// applied, as a Redis replica keeps serving when its primary is gone.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.shards, s.members, s.regions, s.namespaces, s.beacons = nil, nil, nil, nil, nil
	s.feed, s.replicas = nil, nil
	return nil
}

// InitCluster implements store.Store. There is no epoch to bind to: the
// state cannot vanish while the Store exists, so it never fails with
// store.ErrEpoch.
func (s *Store) InitCluster(ctx context.Context, shards int) (int, error) {
	if shards < 1 {
		return 0, invalid("shard count %d", shards)
	}
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	if s.clusterShards == 0 {
		s.clusterShards = shards
	}
	return s.clusterShards, nil
}

// lock checks ctx, takes s.mu and checks that the store is open. On success
// the caller holds s.mu and must unlock it; on error it is not held.
func (s *Store) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	return nil
}

// shardLocked returns the state of shard n, creating it on first use.
func (s *Store) shardLocked(n int) *shardState {
	sh := s.shards[n]
	if sh == nil {
		sh = &shardState{objects: make(map[string]map[string]*store.Object)}
		s.shards[n] = sh
	}
	return sh
}

// msTTL rounds d up to whole milliseconds, the resolution of Redis TTLs (and
// the rounding redisstore uses), so that both stores expire things at the same
// instant. Callers validated d ≥ 1ms, or defaulted it.
func msTTL(d time.Duration) time.Duration {
	return (d + time.Millisecond - 1).Truncate(time.Millisecond)
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{store.ErrInvalid}, args...)...)
}

func validShard(n int) error {
	if n < 0 {
		return invalid("shard %d", n)
	}
	return nil
}
