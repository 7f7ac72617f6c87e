package shards

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cpgw/cpgw/leases"
	"github.com/cpgw/cpgw/store"
)

// PlacerStore is what a Placer reads from the store each round.
type PlacerStore interface {
	LeaseReader
	Members(ctx context.Context) ([]store.Member, error)
	Regions(ctx context.Context) ([]string, error)
}

// placementReader is a PlacerStore that reads a round's members, regions
// and leases in one round trip (redisstore.Store does); a Placer uses it
// when its store has it, and the three PlacerStore calls otherwise.
type placementReader interface {
	Placement(ctx context.Context, shards []int) ([]store.Member, []string, []store.LeaseState, error)
}

// PlacerConfig configures a Placer.
type PlacerConfig struct {
	// Self is this coordinator's membership record. Required; its ID must be
	// the Keeper's Owner.
	Self store.Member
	// Shards is the cluster's shard count (from store.InitCluster). Required.
	Shards int
	// Interval is the time between placement rounds. Default 100ms: a
	// shard released by a coordinator that stops gracefully waits for the
	// next round of its successor, so the interval is most of a graceful
	// handoff; a round costs three store round trips.
	Interval time.Duration
	// Grace is how long a shard must have had no owner before a coordinator
	// outside its home region claims it. Default 5s.
	Grace time.Duration
	// Settle is how long a plan must have named another coordinator for a
	// shard this one holds before it hands the shard over, so that a
	// membership blip does not move shards back and forth. Default 1s.
	Settle time.Duration
	// Fallback is how long a shard may stay unowned before any live
	// coordinator claims it, in case the planned owner cannot. Default 3 × Grace.
	Fallback time.Duration
	// MaxHandoffs bounds the shards released per round, to move load
	// gradually. Default 4.
	MaxHandoffs int
	// OnAcquire, if set, is called with every lease the Placer acquires. It
	// must not block.
	OnAcquire func(*leases.Lease)
	// Clock default clockwork.NewRealClock(); Logger default slog.Default().
	Clock  clockwork.Clock
	Logger *slog.Logger
}

// Placer makes one coordinator follow the placement plan: it acquires the
// shards the plan gives it (at once in their home region, after Grace
// elsewhere) and hands over, by release, the shards the plan gives to another
// live coordinator. The lease store arbitrates every claim, so Placers that
// see different membership for a moment can disagree about the plan but
// never both own a shard.
type Placer struct {
	st  PlacerStore
	k   *leases.Keeper
	cfg PlacerConfig
	log *slog.Logger

	// Used only by Step's goroutine (Run or the caller).
	unownedSince map[int]time.Time // first local observation of no owner
	otherSince   map[int]planned   // shards we hold that the plan gives away
}

type planned struct {
	owner string
	since time.Time
}

// NewPlacer returns a Placer driving k, or an error for a bad config.
func NewPlacer(st PlacerStore, k *leases.Keeper, cfg PlacerConfig) (*Placer, error) {
	if st == nil || k == nil {
		return nil, errors.New("shards: placer needs a store and a keeper")
	}
	if err := cfg.Self.Validate(); err != nil {
		return nil, fmt.Errorf("shards: placer: %w", err)
	}
	if cfg.Self.ID != k.Config().Owner {
		return nil, fmt.Errorf("shards: placer member %q is not the keeper's owner %q", cfg.Self.ID, k.Config().Owner)
	}
	if cfg.Shards < 1 {
		return nil, fmt.Errorf("shards: placer: shard count %d", cfg.Shards)
	}
	if cfg.Interval == 0 {
		cfg.Interval = 100 * time.Millisecond
	}
	if cfg.Grace == 0 {
		cfg.Grace = 5 * time.Second
	}
	if cfg.Settle == 0 {
		cfg.Settle = time.Second
	}
	if cfg.Fallback == 0 {
		cfg.Fallback = 3 * cfg.Grace
	}
	if cfg.MaxHandoffs == 0 {
		cfg.MaxHandoffs = 4
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Interval < 0 || cfg.Grace < 0 || cfg.Settle < 0 || cfg.Fallback < cfg.Grace || cfg.MaxHandoffs < 0 {
		return nil, errors.New("shards: placer: negative durations, or Fallback below Grace")
	}
	return &Placer{
		st: st, k: k, cfg: cfg,
		log:          cfg.Logger.With("member", cfg.Self.ID),
		unownedSince: map[int]time.Time{},
		otherSince:   map[int]planned{},
	}, nil
}

// Run calls Step every Interval until ctx is done, and returns nil then.
// Errors are logged and the next round tries again, except one matching
// store.ErrEpoch: the store lost its state, acquiring from it could reuse
// tokens, and Run returns that error at once.
func (p *Placer) Run(ctx context.Context) error {
	t := p.cfg.Clock.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		err := p.Step(ctx)
		if errors.Is(err, store.ErrEpoch) {
			return err
		}
		if err != nil && ctx.Err() == nil {
			p.log.Warn("placement round failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.Chan():
		}
	}
}

// observe reads the round's members, regions and the lease of every shard.
func (p *Placer) observe(ctx context.Context) ([]store.Member, []string, []store.LeaseState, error) {
	all := make([]int, p.cfg.Shards)
	for i := range all {
		all[i] = i
	}
	if pr, ok := p.st.(placementReader); ok {
		return pr.Placement(ctx, all)
	}
	members, err := p.st.Members(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	regions, err := p.st.Regions(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	states, err := p.st.Leases(ctx, all)
	if err != nil {
		return nil, nil, nil, err
	}
	return members, regions, states, nil
}

// Step runs one placement round: observe membership and leases, plan, then
// acquire and hand off. It is not safe to call concurrently with itself.
func (p *Placer) Step(ctx context.Context) error {
	members, regions, states, err := p.observe(ctx)
	if err != nil {
		return err
	}
	layout, err := NewLayout(p.cfg.Shards, append(regions, p.cfg.Self.Region))
	if err != nil {
		return err
	}
	p.k.Observe(states)
	plan := Plan(layout, members)
	now := p.cfg.Clock.Now()
	self := p.cfg.Self.ID
	handoffs := 0
	for _, s := range states {
		shard := s.Shard
		if s.Held {
			delete(p.unownedSince, shard)
		} else if _, seen := p.unownedSince[shard]; !seen {
			p.unownedSince[shard] = now
		}
		owner, planned := plan.Owner(shard)
		held, iHold := p.k.Lease(shard)
		iHold = iHold && held.Valid()

		switch {
		case iHold && planned && owner.ID != self:
			if p.shouldHandOff(shard, owner.ID, now) && handoffs < p.cfg.MaxHandoffs {
				handoffs++
				delete(p.otherSince, shard)
				p.log.Info("handing shard off", "shard", shard, "to", owner.ID, "token", held.Token())
				if err := held.Release(ctx); err != nil {
					p.log.Warn("release failed; the lease lapses at its TTL", "shard", shard, "err", err)
				}
			}
		case iHold:
			delete(p.otherSince, shard)
		case !s.Held:
			delete(p.otherSince, shard)
			unowned := now.Sub(p.unownedSince[shard])
			mine := planned && owner.ID == self
			if (mine && (plan.InHome(shard) || unowned >= p.cfg.Grace)) || unowned >= p.cfg.Fallback {
				if err := p.acquire(ctx, shard); err != nil {
					return err
				}
			}
		default:
			delete(p.otherSince, shard)
		}
	}
	return nil
}

// shouldHandOff reports whether the plan has named owner for this shard for
// at least Settle.
func (p *Placer) shouldHandOff(shard int, owner string, now time.Time) bool {
	prev, ok := p.otherSince[shard]
	if !ok || prev.owner != owner {
		p.otherSince[shard] = planned{owner: owner, since: now}
		return p.cfg.Settle == 0
	}
	return now.Sub(prev.since) >= p.cfg.Settle
}

// acquire tries to take shard. It returns only the errors that end the
// Placer (store.ErrEpoch); the others are logged and the next round retries.
func (p *Placer) acquire(ctx context.Context, shard int) error {
	l, err := p.k.Acquire(ctx, shard)
	switch {
	case err == nil:
		delete(p.unownedSince, shard)
		if p.cfg.OnAcquire != nil {
			p.cfg.OnAcquire(l)
		}
	case errors.Is(err, store.ErrLeaseHeld):
		// Somebody else was quicker; the store decided.
	case errors.Is(err, store.ErrEpoch):
		return err
	default:
		p.log.Warn("acquire failed", "shard", shard, "err", err)
	}
	return nil
}
