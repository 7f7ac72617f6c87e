package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cpgw/cpgw/shards"
)

// defaultShards is the shard count a gateway proposes to InitCluster when
// Config.Shards is zero. The store's answer wins either way: the count is
// fixed when the cluster is created.
const defaultShards = 64

// Config configures a Gateway. Start from DefaultConfig and set Region; New
// also fills every zero field with its default, so a hand-built Config that
// sets only Region works too.
type Config struct {
	// Region is the gateway's region: the first half of X-Served-By on local
	// reads and part of its freshness-beacon id. Required.
	Region string
	// ID names this gateway within its region: the second half of
	// X-Served-By and part of the beacon id. Default: the host name (in
	// Kubernetes, the pod name), or "gateway" if it cannot be read.
	ID string

	// Shards is the shard count the gateway proposes when the cluster has
	// none recorded yet. The count recorded in the store (InitCluster's
	// answer) always wins, because routing with any other count would send
	// namespaces to shards that do not hold them; a mismatch is logged.
	// Default 0, which proposes 64.
	Shards int
	// RefreshInterval is how often the shard map and the namespace settings
	// are re-read from the primary. An owner change is noticed within about
	// this long (plus one load) even when no request runs into it; requests
	// that do (421, refused connection) trigger a refresh at once.
	// Default 250ms.
	RefreshInterval time.Duration
	// StoreTimeout bounds each shard-map load (by its context). A replica
	// read runs under the request's context and is bounded by the replica
	// store's own timeouts instead, which saves a timer per read: cmd/cpgw
	// gives the gateway's Redis clients StoreTimeout as their read, write
	// and connection-pool timeouts. Default 2s.
	StoreTimeout time.Duration
	// ReadyStaleAfter is how old the last successful shard-map load may be
	// before /readyz reports the gateway not ready. Must be at least
	// RefreshInterval. Default 5s.
	ReadyStaleAfter time.Duration

	// DefaultMaxStaleness is the maxStaleness of a local read that names
	// none. Default 5s (api.DefaultMaxStaleness).
	DefaultMaxStaleness time.Duration
	// Beacon configures the freshness beacon the gateway writes to the
	// primary and reads back from its replica to bound the replica's
	// staleness (package locality).
	Beacon BeaconConfig

	// ForwardTimeout bounds one attempt to forward a request to a
	// coordinator, from dialling to the end of the response headers and
	// body. An attempt that times out after it was sent has an unknown
	// outcome; it is retried (with the same Idempotency-Key) within
	// Failover.Timeout. Default 3s.
	ForwardTimeout time.Duration
	// Retry is the backoff schedule of forwarding retries.
	Retry RetryConfig
	// Failover bounds how long and how many requests are held while a
	// shard has no reachable owner.
	Failover FailoverConfig
	// Breaker configures the circuit breaker kept per coordinator address.
	Breaker BreakerConfig
	// Transport carries requests to coordinators. Default: NewTransport(),
	// an http.Transport with a keep-alive pool sized for a gateway, a short
	// dial timeout (a dead coordinator is detected quickly and the request
	// retried elsewhere) and no proxy from the environment.
	Transport http.RoundTripper

	// Authenticate, when set, wraps every /v1 route right after the
	// request-id, access-log and recover middleware, so rejected requests
	// are still logged and counted. It runs after routing, so chi's route
	// pattern and URL parameters are known (authz.Classify reads them).
	// Default nil: no authentication.
	Authenticate func(http.Handler) http.Handler

	// Clock is the gateway's time source: refresh ticks, map age, lease
	// run-down, the staleness of local reads and retry budgets.
	// Default clockwork.NewRealClock().
	Clock clockwork.Clock
	// Logger receives the access log and operational events.
	// Default slog.Default().
	Logger *slog.Logger
	// Registerer receives the gateway's metrics. Default nil: a private
	// registry (with the Go and process collectors) served at /metrics.
	// Several gateways in one process need distinct registries or a
	// prometheus.WrapRegistererWith label each.
	Registerer prometheus.Registerer
	// Gatherer is what /metrics serves. Default: Registerer when it is also
	// a Gatherer (a *prometheus.Registry is), else the private registry.
	// Validate refuses a Registerer that is not a Gatherer without one.
	Gatherer prometheus.Gatherer
}

// RetryConfig is an exponential backoff schedule (cenkalti/backoff/v4).
type RetryConfig struct {
	// InitialInterval is the wait before the first retry. Default 25ms.
	InitialInterval time.Duration
	// MaxInterval caps the wait between retries. Default 500ms.
	MaxInterval time.Duration
}

// FailoverConfig bounds failover buffering: while a shard has no reachable
// owner (its owner died and the lease has not run out, or ownership is
// moving), the gateway holds that shard's writes and strong reads and sends
// them to the new owner as soon as the shard map shows one.
type FailoverConfig struct {
	// Timeout bounds how long one request may be held, from its first
	// attempt. Past it the client gets 503 (no_owner if nothing can have
	// been applied, unavailable if an attempt's outcome is unknown) with
	// Retry-After. It should exceed the coordinators' lease TTL, so that an
	// owner's death is ridden out. Default 10s.
	Timeout time.Duration
	// MaxQueued bounds how many requests may be held per shard at once;
	// one more gets 503 no_owner at once rather than more memory. Default
	// 1024.
	MaxQueued int
}

// BreakerConfig configures the circuit breaker of each coordinator
// (sony/gobreaker/v2).
type BreakerConfig struct {
	// ConsecutiveFailures trips the breaker: that many failed attempts in a
	// row (connection errors, timeouts, 500/502/504) open it. Default 5.
	ConsecutiveFailures uint32
	// OpenTimeout is how long an open breaker refuses requests before it
	// lets one probe through (half-open). Measured on the real clock
	// (gobreaker takes no clock), not Config.Clock. Short, because requests
	// held for failover wait for it: a coordinator whose connections were
	// reset for a moment is tried again within a second. Default 1s.
	OpenTimeout time.Duration
}

// BeaconConfig configures the locality.Tracker the gateway runs.
type BeaconConfig struct {
	// Interval is how often a beacon is written to the primary and read
	// back from the replica. The staleness bound of a healthy replica is
	// about its replication lag plus up to two Intervals, so reads that ask
	// for a maxStaleness below that always go to the owner. Default 50ms.
	Interval time.Duration
	// TTL is how long the store keeps a beacon; at least 2 × Interval.
	// Default 1m.
	TTL time.Duration
}

// DefaultConfig returns a Config with every default filled in except Region.
func DefaultConfig() Config {
	return Config{
		ID:                  defaultID(),
		RefreshInterval:     250 * time.Millisecond,
		StoreTimeout:        2 * time.Second,
		ReadyStaleAfter:     5 * time.Second,
		DefaultMaxStaleness: 5 * time.Second,
		Beacon: BeaconConfig{
			Interval: 50 * time.Millisecond,
			TTL:      time.Minute,
		},
		ForwardTimeout: 3 * time.Second,
		Retry: RetryConfig{
			InitialInterval: 25 * time.Millisecond,
			MaxInterval:     500 * time.Millisecond,
		},
		Failover: FailoverConfig{
			Timeout:   10 * time.Second,
			MaxQueued: 1024,
		},
		Breaker: BreakerConfig{
			ConsecutiveFailures: 5,
			OpenTimeout:         time.Second,
		},
		Clock:  clockwork.NewRealClock(),
		Logger: slog.Default(),
	}
}

func defaultID() string {
	if h, err := os.Hostname(); err == nil && validToken(h) {
		return h
	}
	return "gateway"
}

// withDefaults fills zero fields from DefaultConfig. Transport, Registerer
// and Gatherer are filled by New, which owns what it creates.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	setDefault(&c.ID, d.ID)
	setDefault(&c.RefreshInterval, d.RefreshInterval)
	setDefault(&c.StoreTimeout, d.StoreTimeout)
	setDefault(&c.ReadyStaleAfter, d.ReadyStaleAfter)
	setDefault(&c.DefaultMaxStaleness, d.DefaultMaxStaleness)
	setDefault(&c.Beacon.Interval, d.Beacon.Interval)
	setDefault(&c.Beacon.TTL, d.Beacon.TTL)
	setDefault(&c.ForwardTimeout, d.ForwardTimeout)
	setDefault(&c.Retry.InitialInterval, d.Retry.InitialInterval)
	setDefault(&c.Retry.MaxInterval, d.Retry.MaxInterval)
	setDefault(&c.Failover.Timeout, d.Failover.Timeout)
	if c.Failover.MaxQueued == 0 {
		c.Failover.MaxQueued = d.Failover.MaxQueued
	}
	setDefault(&c.Breaker.ConsecutiveFailures, d.Breaker.ConsecutiveFailures)
	setDefault(&c.Breaker.OpenTimeout, d.Breaker.OpenTimeout)
	if c.Clock == nil {
		c.Clock = d.Clock
	}
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	return c
}

func setDefault[T comparable](p *T, d T) {
	var zero T
	if *p == zero {
		*p = d
	}
}

// Validate reports a Config that New would refuse. Zero fields are valid:
// they stand for their defaults.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Region == "" {
		bad("Region is required")
	} else if !validToken(c.Region) {
		bad("Region %q: want printable ASCII without spaces or '/'", c.Region)
	}
	if c.ID != "" && !validToken(c.ID) {
		bad("ID %q: want printable ASCII without spaces or '/'", c.ID)
	}
	if c.Shards < 0 || c.Shards > shards.MaxShards {
		bad("Shards %d out of range 0..%d", c.Shards, shards.MaxShards)
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{
		{"RefreshInterval", c.RefreshInterval},
		{"StoreTimeout", c.StoreTimeout},
		{"ReadyStaleAfter", c.ReadyStaleAfter},
		{"DefaultMaxStaleness", c.DefaultMaxStaleness},
		{"Beacon.Interval", c.Beacon.Interval},
		{"Beacon.TTL", c.Beacon.TTL},
		{"ForwardTimeout", c.ForwardTimeout},
		{"Retry.InitialInterval", c.Retry.InitialInterval},
		{"Retry.MaxInterval", c.Retry.MaxInterval},
		{"Failover.Timeout", c.Failover.Timeout},
		{"Breaker.OpenTimeout", c.Breaker.OpenTimeout},
	} {
		if f.d < 0 {
			bad("%s %s is negative", f.name, f.d)
		}
	}
	if c.Failover.MaxQueued < 0 {
		bad("Failover.MaxQueued %d is negative", c.Failover.MaxQueued)
	}
	d := c.withDefaults()
	if d.Retry.MaxInterval < d.Retry.InitialInterval {
		bad("Retry.MaxInterval %s below Retry.InitialInterval %s", d.Retry.MaxInterval, d.Retry.InitialInterval)
	}
	if d.ReadyStaleAfter < d.RefreshInterval {
		bad("ReadyStaleAfter %s below RefreshInterval %s: the gateway would flap between ready and not",
			d.ReadyStaleAfter, d.RefreshInterval)
	}
	if d.Beacon.TTL < 2*d.Beacon.Interval {
		bad("Beacon.TTL %s below twice Beacon.Interval %s", d.Beacon.TTL, d.Beacon.Interval)
	}
	if c.Registerer != nil && c.Gatherer == nil {
		if _, ok := c.Registerer.(prometheus.Gatherer); !ok {
			bad("Registerer is not a prometheus.Gatherer: set Gatherer so /metrics has something to serve")
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("gateway: config: %w", errors.Join(errs...))
	}
	return nil
}

// validToken reports whether s can go into a header and a beacon id as is:
// 1..128 printable ASCII characters without spaces or '/' (X-Served-By joins
// region and id with '/').
func validToken(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] > 0x7e || s[i] == '/' {
			return false
		}
	}
	return true
}

// NewTransport returns the default Transport for coordinator calls: a
// keep-alive pool large enough that a busy gateway does not re-dial its
// coordinators, a dial timeout short enough that a dead coordinator costs
// little of the retry budget, and no proxy (coordinator traffic is
// in-cluster; a proxy from the environment would be a surprise). It speaks
// HTTP/1.1 over many kept-alive connections, not HTTP/2: measured with
// cmd/cpbench, Go's HTTP/2 client and server spent about a quarter more CPU
// per forwarded write (HPACK, a TLS record and a write per frame).
func NewTransport() *http.Transport {
	dialer := &net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   128,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}
