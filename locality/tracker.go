package locality

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cpgw/cpgw/store"
)

// BeaconWriter writes beacons: the primary (store.Store's SetBeacon).
type BeaconWriter interface {
	SetBeacon(ctx context.Context, id string, seq uint64, ttl time.Duration) error
}

// BeaconReader reads beacons: the replica whose staleness is measured
// (store.Store's Beacon, or embedded.Replica's).
type BeaconReader interface {
	Beacon(ctx context.Context, id string) (uint64, error)
}

// ErrConfig is wrapped by every error NewTracker returns for a bad config.
var ErrConfig = errors.New("locality: invalid config")

// TrackerConfig configures a Tracker.
type TrackerConfig struct {
	// ID names the beacon. It must be unique per gateway process: another
	// writer of the same beacon could make the replica look fresher than it
	// is. Required.
	ID string
	// Interval is the time between beacons, hence the resolution of the
	// bound. Default 50ms.
	Interval time.Duration
	// TTL is the beacon's lifetime in the store, so beacons of gateways that
	// are gone do not pile up. A replica lagging by more than TTL shows no
	// beacon, hence gets no bound. At least 2 × Interval. Default 1m.
	TTL time.Duration
	// Timeout limits each store call, so that a hung primary does not keep
	// the Tracker from reading the replica, or the other way round.
	// Default 1s.
	Timeout time.Duration
	// Clock is the time source; the bound is measured on it. Default
	// clockwork.NewRealClock(), whose readings are monotonic.
	Clock clockwork.Clock
	// Logger receives failures of the beacon calls (once per run of
	// failures, not once per call). Default slog.Default().
	Logger *slog.Logger
}

func (c TrackerConfig) withDefaults() TrackerConfig {
	if c.Interval == 0 {
		c.Interval = 50 * time.Millisecond
	}
	if c.TTL == 0 {
		c.TTL = time.Minute
	}
	if c.Timeout == 0 {
		c.Timeout = time.Second
	}
	if c.Clock == nil {
		c.Clock = clockwork.NewRealClock()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c TrackerConfig) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...)
	}
	switch {
	case c.ID == "":
		return bad("ID is required")
	case c.Interval < 0:
		return bad("negative Interval %s", c.Interval)
	case c.TTL < 2*c.Interval:
		return bad("TTL %s below twice the Interval %s", c.TTL, c.Interval)
	case c.Timeout < 0:
		return bad("negative Timeout %s", c.Timeout)
	}
	return nil
}

// Tracker measures an upper bound on how stale a replica is; see the package
// documentation for why the bound holds. Create it with NewTracker and run
// it with Run; Bound and AsOf are safe for concurrent use.
type Tracker struct {
	primary BeaconWriter
	replica BeaconReader
	cfg     TrackerConfig
	clock   clockwork.Clock
	log     *slog.Logger
	running atomic.Bool

	// Owned by the goroutine in Run.
	writeFailing, readFailing bool

	mu   sync.Mutex
	next uint64 // sequence number of the next beacon
	// pending holds the send times of beacons newer than the newest seen,
	// in sequence order.
	pending []sentBeacon
	seen    sentBeacon // the newest beacon seen on the replica
	hasSeen bool
}

// sentBeacon is a beacon's sequence number and local send time.
type sentBeacon struct {
	seq  uint64
	sent time.Time
}

// NewTracker returns a Tracker that writes beacons to primary and reads them
// from replica, which may be the same store. The error wraps ErrConfig.
func NewTracker(primary BeaconWriter, replica BeaconReader, cfg TrackerConfig) (*Tracker, error) {
	if primary == nil || replica == nil {
		return nil, fmt.Errorf("%w: nil primary or replica", ErrConfig)
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Tracker{
		primary: primary,
		replica: replica,
		cfg:     cfg,
		clock:   cfg.Clock,
		log:     cfg.Logger.With("beacon", cfg.ID),
		// A random start: should a restarted process reuse the ID, its
		// sequence will not meet the old process's beacons still in the store.
		next: 1 + rand.Uint64N(1<<62),
	}, nil
}

// Run writes a beacon and reads the replica's every Interval until ctx is
// done, then returns nil. It runs on the caller's goroutine and starts none;
// calling it again while it runs is an error.
func (t *Tracker) Run(ctx context.Context) error {
	if !t.running.CompareAndSwap(false, true) {
		return errors.New("locality: Tracker.Run called twice")
	}
	defer t.running.Store(false)
	for {
		t.beacon(ctx)
		timer := t.clock.NewTimer(t.cfg.Interval)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.Chan():
		}
	}
}

// beacon sends the next beacon to the primary, then reads the replica's.
func (t *Tracker) beacon(ctx context.Context) {
	t.mu.Lock()
	b := sentBeacon{seq: t.next, sent: t.clock.Now()} // before sending: the bound may only grow by it
	t.next++
	t.pending = append(t.pending, b)
	t.forgetExpiredLocked(b.sent)
	t.mu.Unlock()

	wctx, cancel := context.WithTimeout(ctx, t.cfg.Timeout)
	err := t.primary.SetBeacon(wctx, t.cfg.ID, b.seq, t.cfg.TTL)
	cancel()
	// A failed write may still have landed: its send time stays pending.
	t.writeFailing = t.noteFailure(ctx, "write beacon to the primary", t.writeFailing, err)

	rctx, cancel := context.WithTimeout(ctx, t.cfg.Timeout)
	seq, err := t.replica.Beacon(rctx, t.cfg.ID)
	cancel()
	if errors.Is(err, store.ErrNotFound) {
		t.observeNone()
		err = nil
	} else if err == nil {
		t.observe(seq)
	}
	t.readFailing = t.noteFailure(ctx, "read beacon from the replica", t.readFailing, err)
}

// observe records that the replica shows beacon seq.
func (t *Tracker) observe(seq uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if seq == t.seen.seq && seq != 0 { // sequences start at 1
		// Nothing new; or, after the replica went backwards, it shows the
		// newest beacon seen again, whose send time is still known.
		t.hasSeen = true
		return
	}
	if t.hasSeen && seq < t.seen.seq {
		// Replicas only move forward; this is another or a rebuilt one, and
		// the send time of what it shows was forgotten. No bound until it
		// shows a beacon newer than the newest seen.
		t.log.Warn("replica went backwards; no staleness bound until it catches up", "seen", t.seen.seq, "now", seq)
		t.hasSeen = false
		return
	}
	for i, b := range t.pending {
		if b.seq == seq {
			t.seen, t.hasSeen = b, true
			t.pending = append(t.pending[:0], t.pending[i+1:]...)
			return
		}
	}
	// Not a beacon this Tracker remembers (older than TTL, or not ours):
	// ignoring it only keeps the bound larger.
}

// observeNone records that the replica shows no beacon.
func (t *Tracker) observeNone() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.hasSeen {
		t.log.Warn("replica lost the beacon; no staleness bound until it shows a new one", "seen", t.seen.seq)
		t.hasSeen = false
	}
}

// forgetExpiredLocked drops the send times of beacons older than TTL: they
// have expired in the store, and a replica that shows one anyway is at
// least TTL stale, which ignoring it cannot understate.
func (t *Tracker) forgetExpiredLocked(now time.Time) {
	i := 0
	for i < len(t.pending) && now.Sub(t.pending[i].sent) > t.cfg.TTL {
		i++
	}
	t.pending = append(t.pending[:0], t.pending[i:]...)
}

// noteFailure logs the first failure of a run of failures and the recovery
// after one, and returns whether the call failed.
func (t *Tracker) noteFailure(ctx context.Context, what string, failing bool, err error) bool {
	switch {
	case err != nil && !failing && ctx.Err() == nil:
		t.log.Warn("cannot "+what+"; the staleness bound grows meanwhile", "err", err)
	case err == nil && failing:
		t.log.Info("can " + what + " again")
	}
	return err != nil
}

// AsOf returns the instant, on the Tracker's clock, before which every write
// the primary acknowledged is on the replica; false when there is no such
// instant yet (no beacon seen, or the replica went backwards). Take it
// before a read; clock.Since(asOf) after the read bounds the read's
// staleness.
func (t *Tracker) AsOf() (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.seen.sent, t.hasSeen
}

// Bound returns an upper bound on the replica's staleness now: the time
// since the newest beacon seen on it was sent. False when there is no bound
// (see AsOf).
func (t *Tracker) Bound() (time.Duration, bool) {
	asOf, ok := t.AsOf()
	if !ok {
		return 0, false
	}
	return t.clock.Since(asOf), true
}
