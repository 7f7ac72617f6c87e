package leases

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cpgw/cpgw/fencing"
	"github.com/cpgw/cpgw/store"
)

// Config configures a Keeper. Start from DefaultConfig and set Owner and Region.
type Config struct {
	// Owner is the coordinator's id, recorded in every lease. Required.
	Owner string
	// Region is the coordinator's region. Required.
	Region string
	// Address is where the coordinator serves its shards (recorded in the lease
	// so gateways can route). Optional.
	Address string

	// TTL is the server-side lifetime of a lease from each acquire or renew.
	// Default 6s.
	TTL time.Duration
	// RenewFraction is the fraction of TTL between renewals. Default 1/3:
	// two renewals can fail before a lease is in danger.
	RenewFraction float64
	// Jitter spreads renewals uniformly over ±Jitter × the renew interval.
	// Default 0.2.
	Jitter float64
	// RetryInterval is the wait after a failed renewal. Default TTL/10.
	RetryInterval time.Duration
	// MaxDrift bounds how much slower this process's clock may run than the
	// store's, as a fraction. Default 0.01 (1%, far above what NTP-disciplined
	// clocks drift, to cover VM pauses and frequency steps). Zero means the
	// default: leases are never computed without a drift allowance.
	MaxDrift float64
	// Margin is subtracted from every safe expiry to absorb scheduling delay
	// between a Valid check and the action it guards. Default 100ms; like
	// MaxDrift, zero means the default.
	Margin time.Duration

	// Durability is how many store replicas must acknowledge a grant or a
	// renewal before it counts (Redis WAIT). Default none, right for a store
	// without replicas. Set it when a replica may be promoted on the loss of
	// the primary: otherwise the promoted replica may lack the latest grant
	// (and grant its token again) or the latest renewal (and let another
	// coordinator acquire while this one still holds the lease). An
	// unacknowledged grant is released; an unacknowledged renewal is retried.
	Durability store.Durability

	// Clock is the time source. Default clockwork.NewRealClock().
	Clock clockwork.Clock
	// Logger receives lease events. Default slog.Default().
	Logger *slog.Logger
	// OnLost, if set, is called once for every lease that ends other than by
	// Release: its safe expiry passed (ErrExpired), the store said it is gone
	// (ErrLost), or the Keeper stopped (ErrStopped). It runs on the Keeper's
	// goroutines and must not block.
	OnLost func(shard int, token fencing.Token, cause error)
	// OnRegressed, if set, is called when a grant found the store's fencing
	// counter below the highest token this Keeper knew of (the store lost
	// acknowledged state) and was granted above it. It must not block.
	OnRegressed func(shard int, highestKnown, granted fencing.Token)
}

// DefaultConfig returns a Config with every default filled in except Owner
// and Region.
func DefaultConfig() Config {
	return Config{
		TTL:           6 * time.Second,
		RenewFraction: 1.0 / 3,
		Jitter:        0.2,
		RetryInterval: 600 * time.Millisecond,
		MaxDrift:      0.01,
		Margin:        100 * time.Millisecond,
	}
}

// withDefaults fills zero fields, so a Config built by hand with only Owner,
// Region and TTL also works.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.TTL == 0 {
		c.TTL = d.TTL
	}
	if c.RenewFraction == 0 {
		c.RenewFraction = d.RenewFraction
	}
	if c.Jitter == 0 {
		c.Jitter = d.Jitter
	}
	if c.RetryInterval == 0 {
		c.RetryInterval = c.TTL / 10
	}
	if c.MaxDrift == 0 {
		c.MaxDrift = d.MaxDrift
	}
	if c.Margin == 0 {
		c.Margin = d.Margin
	}
	if c.Clock == nil {
		c.Clock = clockwork.NewRealClock()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// ErrConfig is wrapped by every error Validate returns.
var ErrConfig = errors.New("leases: invalid config")

// Validate reports a Config that cannot give safe leases. It checks the
// config as New would use it, with defaults filled in.
func (c Config) Validate() error {
	c = c.withDefaults()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...)
	}
	switch {
	case c.Owner == "":
		return bad("Owner is required")
	case c.Region == "":
		return bad("Region is required")
	case c.TTL < 10*time.Millisecond:
		return bad("TTL %s below 10ms", c.TTL)
	case c.MaxDrift < 0 || c.MaxDrift >= 0.5:
		return bad("MaxDrift %v outside [0, 0.5)", c.MaxDrift)
	case c.Margin < 0:
		return bad("negative Margin")
	case c.Jitter < 0 || c.Jitter >= 1:
		return bad("Jitter %v outside [0, 1)", c.Jitter)
	case c.RenewFraction <= 0 || c.RenewFraction >= 1:
		return bad("RenewFraction %v outside (0, 1)", c.RenewFraction)
	case c.RetryInterval <= 0:
		return bad("RetryInterval must be positive")
	}
	if err := c.Durability.Validate(); err != nil {
		return bad("Durability: %v", err)
	}
	if c.Durability.Timeout >= c.safeWindow() {
		return bad("Durability.Timeout %s does not fit the safe window %s", c.Durability.Timeout, c.safeWindow())
	}
	window := c.safeWindow()
	if window <= 0 {
		return bad("TTL %s leaves no safe window after drift %v and margin %s", c.TTL, c.MaxDrift, c.Margin)
	}
	// The latest renewal must be sent before the lease's safe expiry, or a
	// healthy keeper would lose its leases between renewals.
	latest := time.Duration(float64(c.TTL) * c.RenewFraction * (1 + c.Jitter))
	if latest >= window {
		return bad("renewal every %s (with jitter) does not fit the safe window %s", latest, window)
	}
	return nil
}

// safeWindow is how long after the start of a successful acquire or renew the
// lease may be acted on.
func (c Config) safeWindow() time.Duration {
	return time.Duration(float64(c.TTL)*(1-c.MaxDrift)) - c.Margin
}

// renewInterval picks the wait before the next renewal; r is uniform in [0, 1).
func (c Config) renewInterval(r float64) time.Duration {
	base := float64(c.TTL) * c.RenewFraction
	return time.Duration(base * (1 + c.Jitter*(2*r-1)))
}
