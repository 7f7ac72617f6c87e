package leases

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cpgw/cpgw/store"
)

// MemberStore is what an Announcer needs from the store.
type MemberStore interface {
	Heartbeat(ctx context.Context, m store.Member, ttl time.Duration) error
	Leave(ctx context.Context, id string) error
}

// AnnouncerConfig configures an Announcer.
type AnnouncerConfig struct {
	// TTL is how long one heartbeat keeps the member alive. Default 6s.
	TTL time.Duration
	// Interval is the time between heartbeats. Default TTL/3.
	Interval time.Duration
	// LeaveTimeout bounds the Leave sent when Run stops. Default 2s.
	LeaveTimeout time.Duration
	// Clock is the time source. Default clockwork.NewRealClock().
	Clock clockwork.Clock
	// Logger default slog.Default().
	Logger *slog.Logger
}

// Announcer keeps a coordinator's membership record alive with TTL heartbeats,
// so placement counts it among the live coordinators.
type Announcer struct {
	st  MemberStore
	m   store.Member
	cfg AnnouncerConfig
}

// NewAnnouncer returns an Announcer for m, or an error for a bad config.
func NewAnnouncer(st MemberStore, m store.Member, cfg AnnouncerConfig) (*Announcer, error) {
	if st == nil {
		return nil, fmt.Errorf("%w: nil store", ErrConfig)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if cfg.TTL == 0 {
		cfg.TTL = 6 * time.Second
	}
	if cfg.Interval == 0 {
		cfg.Interval = cfg.TTL / 3
	}
	if cfg.LeaveTimeout == 0 {
		cfg.LeaveTimeout = 2 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.TTL < time.Millisecond || cfg.Interval <= 0 || cfg.Interval >= cfg.TTL {
		return nil, fmt.Errorf("%w: heartbeat interval %s must be positive and below TTL %s", ErrConfig, cfg.Interval, cfg.TTL)
	}
	return &Announcer{st: st, m: m, cfg: cfg}, nil
}

// Beat sends one heartbeat.
func (a *Announcer) Beat(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Interval)
	defer cancel()
	return a.st.Heartbeat(ctx, a.m, a.cfg.TTL)
}

// Run sends a heartbeat at once and then every Interval until ctx is done;
// then it removes the membership record (Leave) so placement reacts at once
// rather than after the TTL, and returns nil. Failed heartbeats are logged and
// retried at the next tick.
func (a *Announcer) Run(ctx context.Context) error {
	log := a.cfg.Logger.With("member", a.m.ID)
	t := a.cfg.Clock.NewTicker(a.cfg.Interval)
	defer t.Stop()
	for {
		if err := a.Beat(ctx); err != nil && ctx.Err() == nil {
			log.Warn("heartbeat failed", "err", err)
		}
		select {
		case <-ctx.Done():
			lctx, cancel := context.WithTimeout(context.Background(), a.cfg.LeaveTimeout)
			defer cancel()
			if err := a.st.Leave(lctx, a.m.ID); err != nil {
				log.Warn("leave failed; membership lapses at its TTL", "err", err)
			}
			return nil
		case <-t.Chan():
		}
	}
}
