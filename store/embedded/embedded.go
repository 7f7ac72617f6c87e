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
//   - The change log keeps, for each retained change, the object as the change
//     left it, so a follower can be brought up to date by applying the log in
//     revision order (the basis for simulated read replicas in cpgw dev).
//
// # Non-guarantees
//
// State lives in process memory only: nothing is durable, and it is gone when
// the process exits or the store is closed. There is no replication, so
// anything the production store does with replicas and WAIT is absent here.
// All shards share one mutex; the store is meant for one machine's worth of
// load, not for throughput comparisons with Redis.
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
}

// Store is an in-process store.Store. Create it with New; it is safe for
// concurrent use.
type Store struct {
	// Set by New, never changed.
	clock     clockwork.Clock
	retention int

	mu      sync.Mutex
	closed  bool
	shards  map[int]*shardState
	members map[string]memberRecord
	regions map[string]struct{}
	// clusterShards is the recorded shard count; 0 until InitCluster.
	clusterShards int
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
	if cfg.LogRetention == 0 {
		cfg.LogRetention = store.DefaultLogRetention
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	return &Store{
		clock:     cfg.Clock,
		retention: cfg.LogRetention,
		shards:    make(map[int]*shardState),
		members:   make(map[string]memberRecord),
		regions:   make(map[string]struct{}),
	}, nil
}

// Close drops the store's state; every later call returns ErrClosed. Closing
// twice is harmless.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.shards, s.members, s.regions = nil, nil, nil
	return nil
}

// InitCluster implements store.Store.
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
