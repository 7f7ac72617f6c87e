package leases

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"

	"github.com/jonboulle/clockwork"

	"github.com/cpgw/cpgw/fencing"
	"github.com/cpgw/cpgw/store"
)

// Reasons a lease ends, returned by Lease.Err and passed to Config.OnLost.
var (
	// ErrExpired: the safe expiry passed without a successful renewal.
	ErrExpired = errors.New("leases: lease expired")
	// ErrLost: the store reported the lease gone or granted to another token.
	ErrLost = errors.New("leases: lease lost")
	// ErrReleased: the holder released the lease.
	ErrReleased = errors.New("leases: lease released")
	// ErrStopped: the Keeper stopped renewing (its Run returned).
	ErrStopped = errors.New("leases: keeper stopped")
	// ErrTooSlow: an acquire took longer than the lease's safe window, so the
	// lease was useless on arrival; it has been released again.
	ErrTooSlow = errors.New("leases: acquire outlasted the safe window")
)

// Store is what a Keeper needs from the store.
type Store interface {
	AcquireLease(ctx context.Context, req store.LeaseRequest) (store.Lease, error)
	RenewLeases(ctx context.Context, rs []store.LeaseRenewal) ([]error, error)
	ReleaseLease(ctx context.Context, shard int, owner string, token fencing.Token) error
}

// Keeper acquires and renews one coordinator's leases.
type Keeper struct {
	st    Store
	cfg   Config
	clock clockwork.Clock
	log   *slog.Logger

	mu      sync.Mutex
	held    map[int]*Lease
	seen    map[int]fencing.Token // highest token known granted, per shard
	stopped bool
}

// New returns a Keeper for cfg, or an error wrapping ErrConfig.
func New(st Store, cfg Config) (*Keeper, error) {
	if st == nil {
		return nil, fmt.Errorf("%w: nil store", ErrConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Keeper{
		st:    st,
		cfg:   cfg,
		clock: cfg.Clock,
		log:   cfg.Logger.With("owner", cfg.Owner),
		held:  make(map[int]*Lease),
		seen:  make(map[int]fencing.Token),
	}, nil
}

// Config returns the Keeper's configuration with defaults filled in.
func (k *Keeper) Config() Config { return k.cfg }

// Acquire asks the store for the shard's lease. If the shard is held by
// another owner the error matches store.ErrLeaseHeld (a *store.HeldError says
// by whom). If this Keeper already holds it, Acquire returns that Lease.
//
// The request carries the highest token this Keeper knows was granted for
// the shard (from its own grants and from Observe), so a store whose counter
// went back grants above it instead of handing a token out twice. With
// Config.Durability the grant counts only once replicas acknowledged it; if
// they do not, the lease is released again and the error matches
// store.ErrNotReplicated.
func (k *Keeper) Acquire(ctx context.Context, shard int) (*Lease, error) {
	k.mu.Lock()
	if k.stopped {
		k.mu.Unlock()
		return nil, ErrStopped
	}
	if l, ok := k.held[shard]; ok {
		k.mu.Unlock()
		return l, nil
	}
	after := k.seen[shard]
	k.mu.Unlock()

	start := k.clock.Now() // before the request: the store's TTL starts later
	g, err := k.st.AcquireLease(ctx, store.LeaseRequest{
		Shard: shard, Owner: k.cfg.Owner, Region: k.cfg.Region, Address: k.cfg.Address, TTL: k.cfg.TTL,
		After: after, Durability: k.cfg.Durability,
	})
	if g.Token != 0 {
		k.observe(shard, g.Token)
	}
	var held *store.HeldError
	switch {
	case errors.As(err, &held):
		k.observe(shard, held.Holder.Token)
		return nil, err
	case errors.Is(err, store.ErrNotReplicated) && g.Token != 0:
		// Granted on the primary only: a promoted replica might grant the
		// same token again, so this grant must not be acted on.
		_ = k.st.ReleaseLease(ctx, shard, k.cfg.Owner, g.Token)
		return nil, err
	case err != nil:
		return nil, err
	}
	if g.Regressed {
		k.log.Error("fencing counter went back: the store lost acknowledged grants (a failover to a lagging replica?); granted above the highest known token",
			"shard", shard, "highest_known", after, "granted", g.Token)
		if k.cfg.OnRegressed != nil {
			k.cfg.OnRegressed(shard, after, g.Token)
		}
	}
	safeUntil := start.Add(k.cfg.safeWindow())
	if !k.clock.Now().Before(safeUntil) {
		_ = k.st.ReleaseLease(ctx, shard, k.cfg.Owner, g.Token)
		return nil, ErrTooSlow
	}

	k.mu.Lock()
	if k.stopped {
		k.mu.Unlock()
		// Stopped while the request was out: hand the shard straight back.
		_ = k.st.ReleaseLease(ctx, shard, k.cfg.Owner, g.Token)
		return nil, ErrStopped
	}
	// The store granted a new token, so any lease of ours still recorded for
	// this shard (a concurrent Acquire that raced the early check) is older
	// and must not be acted on any more.
	old := k.held[shard]
	l := newLease(k, shard, g.Token, safeUntil)
	k.held[shard] = l
	k.mu.Unlock()
	if old != nil {
		old.lose(ErrLost)
	}
	k.log.Info("lease acquired", "shard", shard, "token", g.Token, "safe_for", k.cfg.safeWindow())
	return l, nil
}

// Observe records the shards' current tokens as seen by an observer (a
// placement round reading the lease states), so that a later Acquire asks
// the store for a token above every one of them.
func (k *Keeper) Observe(states []store.LeaseState) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, st := range states {
		k.observeLocked(st.Shard, max(st.Token, st.Lease.Token))
	}
}

func (k *Keeper) observe(shard int, t fencing.Token) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.observeLocked(shard, t)
}

func (k *Keeper) observeLocked(shard int, t fencing.Token) {
	if t > k.seen[shard] {
		k.seen[shard] = t
	}
}

// Held returns the leases this Keeper holds, ordered by shard. Some may have
// just expired; check Valid before acting.
func (k *Keeper) Held() []*Lease {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]*Lease, 0, len(k.held))
	for _, l := range k.held {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].shard < out[j].shard })
	return out
}

// Lease returns the held lease of shard, if any.
func (k *Keeper) Lease(shard int) (*Lease, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	l, ok := k.held[shard]
	return l, ok
}

// Renew renews every held lease in one store round trip. A renewal the store
// refuses ends that lease with ErrLost; a failed round trip changes nothing
// locally (the leases run on to their safe expiry) and is returned.
func (k *Keeper) Renew(ctx context.Context) error {
	held := k.Held()
	if len(held) == 0 {
		return nil
	}
	rs := make([]store.LeaseRenewal, len(held))
	for i, l := range held {
		rs[i] = store.LeaseRenewal{Shard: l.shard, Owner: k.cfg.Owner, Token: l.token, TTL: k.cfg.TTL, Durability: k.cfg.Durability}
	}
	start := k.clock.Now()
	// No point waiting past the point where the renewal could still help.
	ctx, cancel := context.WithTimeout(ctx, k.cfg.safeWindow())
	defer cancel()
	errs, err := k.st.RenewLeases(ctx, rs)
	if errors.Is(err, store.ErrEpoch) {
		// The store lost its state: our tokens may be granted again by the
		// new one, so stop at once instead of at the safe expiry.
		for _, l := range held {
			l.lose(store.ErrEpoch)
		}
		return fmt.Errorf("leases: renew %d leases: %w", len(rs), err)
	}
	if err != nil {
		// Including store.ErrNotReplicated: a renewal only the primary saw
		// does not move the safe expiry.
		return fmt.Errorf("leases: renew %d leases: %w", len(rs), err)
	}
	if len(errs) != len(held) {
		return fmt.Errorf("leases: renew: store answered %d of %d renewals", len(errs), len(held))
	}
	safeUntil := start.Add(k.cfg.safeWindow())
	for i, l := range held {
		if errs[i] != nil {
			k.log.Warn("lease renewal refused", "shard", l.shard, "token", l.token, "err", errs[i])
			l.lose(ErrLost)
			continue
		}
		l.extend(safeUntil)
	}
	return nil
}

// Run renews the held leases at a jittered fraction of the TTL until ctx is
// done, then ends every lease still held with ErrStopped (they are not
// released: call ReleaseAll first for a graceful handoff) and returns nil.
func (k *Keeper) Run(ctx context.Context) error {
	failed := false
	for {
		wait := k.cfg.renewInterval(rand.Float64())
		if failed {
			wait = k.cfg.RetryInterval
		}
		timer := k.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			k.stop()
			return nil
		case <-timer.Chan():
		}
		err := k.Renew(ctx)
		failed = err != nil
		if failed && ctx.Err() == nil {
			k.log.Warn("lease renewal failed; retrying", "err", err, "retry_in", k.cfg.RetryInterval)
		}
	}
}

// ReleaseAll releases every held lease (each stops being acted on first). It
// returns the first error; the others are logged.
func (k *Keeper) ReleaseAll(ctx context.Context) error {
	var first error
	for _, l := range k.Held() {
		if err := l.Release(ctx); err != nil {
			k.log.Warn("lease release failed", "shard", l.shard, "err", err)
			if first == nil {
				first = err
			}
		}
	}
	return first
}

func (k *Keeper) stop() {
	k.mu.Lock()
	k.stopped = true
	k.mu.Unlock()
	for _, l := range k.Held() {
		l.lose(ErrStopped)
	}
}

// forget removes l from the held set if it is still the lease held there.
func (k *Keeper) forget(l *Lease) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.held[l.shard] == l {
		delete(k.held, l.shard)
	}
}

func (k *Keeper) lost(l *Lease, cause error) {
	k.log.Warn("lease lost", "shard", l.shard, "token", l.token, "cause", cause)
	if k.cfg.OnLost != nil {
		k.cfg.OnLost(l.shard, l.token, cause)
	}
}
