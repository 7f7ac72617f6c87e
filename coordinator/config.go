package coordinator

import (
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cpgw/cpgw/leases"
	"github.com/cpgw/cpgw/shards"
	"github.com/cpgw/cpgw/store"
)

// Config configures a Coordinator. Start from DefaultConfig and set ID,
// Region and Advertise; zero fields take their defaults.
type Config struct {
	// ID is the coordinator's id: the owner recorded in its leases and its
	// membership record. Required.
	ID string
	// Region is the region the coordinator runs in. Required.
	Region string
	// Advertise is the base URL gateways use to reach this coordinator
	// (for example "http://10.0.0.7:7000"). It is recorded in every lease and
	// in the membership record. Required.
	Advertise string

	// Shards is the shard count this coordinator proposes to
	// store.InitCluster. Only the first coordinator of a new cluster decides
	// it; afterwards the count recorded in the store wins. Default 64.
	Shards int

	// Lease configures the leases: TTL (default 6s), RenewFraction (1/3),
	// Jitter (0.2), RetryInterval (TTL/10), MaxDrift (0.01), Margin
	// (100ms) and Durability (none), as in leases.DefaultConfig. Owner,
	// Region, Address, Clock, Logger, OnLost and OnRegressed are ignored:
	// the coordinator sets them. Membership
	// heartbeats use the same TTL, sent every TTL/3.
	Lease leases.Config

	// Placement tunes the placement loop (shards.Placer).
	Placement Placement

	// MaxBatch is the most writes one store.Apply carries. Default 128; at
	// most store.MaxBatch. 1 turns group commit off.
	MaxBatch int
	// BatchWait bounds how long a busy writer holds a batch open for more
	// writes: after a batch of n > 1 writes, the next one waits until n
	// writes are queued (or MaxBatch) or BatchWait has passed, whichever is
	// first. A writer whose last batch was a lone write never waits, so an
	// idle owner adds no latency. Default 200µs; negative: never wait.
	BatchWait time.Duration
	// QueueDepth is how many writes (and namespace changes) may wait for a
	// shard's writer; beyond it requests are shed with 429 overloaded.
	// Default 1024.
	QueueDepth int
	// StoreTimeout bounds each store call made for a request (an Apply, a
	// read, an owner lookup, a namespace change), as the call's context
	// deadline. The Redis store's client (go-redis) honours that deadline
	// while it waits for a pooled connection; its reads and writes on the
	// network are bounded by its own timeouts instead (5 s by default, the
	// same as this default; read_timeout= in the --redis URL). Default 5s.
	StoreTimeout time.Duration
	// NamespaceRefresh is the interval at which the namespace-settings cache
	// is reloaded from the store. Default 1s.
	NamespaceRefresh time.Duration
	// ShutdownTimeout bounds how long a graceful stop waits for queued
	// writes to be applied before it abandons them (they then answer 503).
	// Default 10s.
	ShutdownTimeout time.Duration
	// IdempotencyTTL is how long the store keeps idempotency records.
	// Default store.DefaultIdempotencyTTL (24h).
	IdempotencyTTL time.Duration

	// Clock is the time source of leases, placement and batch timestamps.
	// Default clockwork.NewRealClock().
	Clock clockwork.Clock
	// Logger receives the coordinator's logs. Default slog.Default().
	Logger *slog.Logger
	// Registerer receives the coordinator's metrics. Default (nil): a
	// private registry, served at GET /metrics and returned by Gatherer.
	// Coordinators sharing one registry in a process must each register
	// through prometheus.WrapRegistererWith with a distinguishing label.
	Registerer prometheus.Registerer
}

// Placement tunes the placement loop; see shards.PlacerConfig.
type Placement struct {
	// Interval is the time between placement rounds. Default 100ms (see
	// shards.PlacerConfig: most of a graceful handoff is this wait).
	Interval time.Duration
	// Grace is how long a shard must have had no owner before a
	// coordinator outside its home region claims it. Default 5s.
	Grace time.Duration
	// Settle is how long the plan must have named another coordinator for
	// a shard this one holds before it hands the shard over. Default 1s.
	Settle time.Duration
}

// Defaults of Config.
const (
	DefaultShards           = 64
	DefaultMaxBatch         = 128
	DefaultBatchWait        = 200 * time.Microsecond
	DefaultQueueDepth       = 1024
	DefaultStoreTimeout     = 5 * time.Second
	DefaultNamespaceRefresh = time.Second
	DefaultShutdownTimeout  = 10 * time.Second
)

// maxBatchWait bounds Config.BatchWait: a hold of more than a second is a
// misconfiguration (the useful range is tens to hundreds of microseconds).
const maxBatchWait = time.Second

// DefaultConfig returns a Config with every default filled in except ID,
// Region and Advertise.
func DefaultConfig() Config {
	return Config{
		Shards: DefaultShards,
		Lease:  leases.DefaultConfig(),
		Placement: Placement{
			Interval: 100 * time.Millisecond,
			Grace:    5 * time.Second,
			Settle:   time.Second,
		},
		MaxBatch:         DefaultMaxBatch,
		BatchWait:        DefaultBatchWait,
		QueueDepth:       DefaultQueueDepth,
		StoreTimeout:     DefaultStoreTimeout,
		NamespaceRefresh: DefaultNamespaceRefresh,
		ShutdownTimeout:  DefaultShutdownTimeout,
		IdempotencyTTL:   store.DefaultIdempotencyTTL,
		Clock:            clockwork.NewRealClock(),
		Logger:           slog.Default(),
	}
}

// withDefaults fills the zero fields of c from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	setDefault(&c.Shards, d.Shards)
	setDefault(&c.Lease.TTL, d.Lease.TTL)
	setDefault(&c.Placement.Interval, d.Placement.Interval)
	setDefault(&c.Placement.Grace, d.Placement.Grace)
	setDefault(&c.Placement.Settle, d.Placement.Settle)
	setDefault(&c.MaxBatch, d.MaxBatch)
	setDefault(&c.BatchWait, d.BatchWait)
	setDefault(&c.QueueDepth, d.QueueDepth)
	setDefault(&c.StoreTimeout, d.StoreTimeout)
	setDefault(&c.NamespaceRefresh, d.NamespaceRefresh)
	setDefault(&c.ShutdownTimeout, d.ShutdownTimeout)
	setDefault(&c.IdempotencyTTL, d.IdempotencyTTL)
	if c.Clock == nil {
		c.Clock = d.Clock
	}
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	return c
}

func setDefault[T comparable](field *T, def T) {
	var zero T
	if *field == zero {
		*field = def
	}
}

// leaseConfig is the Keeper's configuration: Lease with the coordinator's
// identity, clock and logger.
func (c Config) leaseConfig() leases.Config {
	l := c.Lease
	l.Owner, l.Region, l.Address = c.ID, c.Region, c.Advertise
	l.Clock, l.Logger, l.OnLost, l.OnRegressed = c.Clock, c.Logger, nil, nil
	return l
}

// Validate reports a Config New would refuse, with an error wrapping
// ErrConfig. It checks the Config as New uses it, with defaults filled in.
func (c Config) Validate() error {
	c = c.withDefaults()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...)
	}
	switch {
	case c.ID == "":
		return bad("ID is required")
	case c.Region == "":
		return bad("Region is required")
	case c.Advertise == "":
		return bad("Advertise is required")
	case c.Shards < 1 || c.Shards > shards.MaxShards:
		return bad("Shards %d outside 1..%d", c.Shards, shards.MaxShards)
	case c.Placement.Interval < 0 || c.Placement.Grace < 0 || c.Placement.Settle < 0:
		return bad("negative placement durations")
	case c.MaxBatch < 1 || c.MaxBatch > store.MaxBatch:
		return bad("MaxBatch %d outside 1..%d", c.MaxBatch, store.MaxBatch)
	case c.QueueDepth < 1:
		return bad("QueueDepth %d below 1", c.QueueDepth)
	case c.BatchWait > maxBatchWait:
		return bad("BatchWait %s above %s", c.BatchWait, maxBatchWait)
	case c.StoreTimeout < 0 || c.NamespaceRefresh < 0 || c.ShutdownTimeout < 0 || c.IdempotencyTTL < 0:
		return bad("negative timeouts")
	}
	u, err := url.Parse(c.Advertise)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad("Advertise %q is not an http(s) URL", c.Advertise)
	}
	if err := c.leaseConfig().Validate(); err != nil {
		return bad("lease: %v", err)
	}
	return nil
}
