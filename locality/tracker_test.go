package locality_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cpgw/cpgw/fencing"
	"github.com/cpgw/cpgw/locality"
	"github.com/cpgw/cpgw/store"
	"github.com/cpgw/cpgw/store/embedded"
)

const interval = 50 * time.Millisecond

var quiet = slog.New(slog.DiscardHandler)

// Both stores write beacons, and both they and an embedded replica read them.
var (
	_ locality.BeaconWriter = store.Store(nil)
	_ locality.BeaconReader = store.Store(nil)
	_ locality.BeaconReader = (*embedded.Replica)(nil)
)

// rig is an embedded primary, a lagging replica of it and a Tracker between
// them, all on one fake clock. Between steps the Tracker's Run waits on its
// timer, so the test reads a state nothing else is changing.
type rig struct {
	clock   *clockwork.FakeClock
	primary *embedded.Store
	replica *embedded.Replica
	tracker *locality.Tracker
	reader  *switchReader

	// Markers: object "m" is rewritten with the step number at every mark, so
	// the replica's copy tells which writes it is missing.
	token   fencing.Token
	markers []time.Time // markers[i] = commit time of marker i+1
}

// newRig starts a rig whose replica lags by lag; cfg.ID and cfg.Clock are
// filled in.
func newRig(t *testing.T, lag time.Duration, cfg locality.TrackerConfig) *rig {
	t.Helper()
	clock := clockwork.NewFakeClock()
	primary, err := embedded.New(embedded.Config{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = primary.Close() })
	replica, err := embedded.NewReplica(primary, embedded.ReplicaConfig{Lag: lag})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = replica.Close() })
	l, err := primary.AcquireLease(t.Context(), store.LeaseRequest{Shard: 0, Owner: "test", TTL: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{clock: clock, primary: primary, replica: replica, token: l.Token, reader: &switchReader{}}
	r.reader.set(replica)
	cfg.ID, cfg.Clock = "gw-test", clock
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	if r.tracker, err = locality.NewTracker(primary, r.reader, cfg); err != nil {
		t.Fatal(err)
	}
	return r
}

// run starts the Tracker and waits for its first beacon; it is stopped at
// cleanup.
func (r *rig) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.tracker.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	r.settle(t)
}

// settle waits until the Tracker is back on its timer.
func (r *rig) settle(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := r.clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatalf("the Tracker did not get back to its timer: %v", err)
	}
}

// step advances the clock by d (one tick at most) and lets the Tracker act.
func (r *rig) step(t *testing.T, d time.Duration) {
	t.Helper()
	r.clock.Advance(d)
	r.settle(t)
}

// mark writes the next marker to the primary.
func (r *rig) mark(t *testing.T) {
	t.Helper()
	n := len(r.markers) + 1
	_, err := r.primary.Apply(t.Context(), store.Batch{Shard: 0, Token: r.token, Now: r.clock.Now(), Writes: []store.Write{
		{Op: store.OpPut, Namespace: "ns", Name: "m", Value: []byte(strconv.Itoa(n))},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r.markers = append(r.markers, r.clock.Now())
}

// missing returns how long the oldest marker the replica does not show has
// been committed: a lower bound on the staleness of a read of it now.
func (r *rig) missing(t *testing.T) time.Duration {
	t.Helper()
	shown := 0
	o, err := r.replica.Get(t.Context(), 0, "ns", "m")
	switch {
	case err == nil:
		if shown, err = strconv.Atoi(string(o.Value)); err != nil {
			t.Fatal(err)
		}
	case !errors.Is(err, store.ErrNotFound):
		t.Fatal(err)
	}
	if shown == len(r.markers) {
		return 0
	}
	return r.clock.Since(r.markers[shown])
}

// requireSound checks Bound against the markers: it may be absent, but it
// must never be below the staleness a read would actually have.
func (r *rig) requireSound(t *testing.T, what string) (time.Duration, bool) {
	t.Helper()
	b, ok := r.tracker.Bound()
	if ok {
		if miss := r.missing(t); b < miss {
			t.Fatalf("%s: Bound = %s, but the replica misses a write committed %s ago", what, b, miss)
		}
	}
	return b, ok
}

// switchReader lets a test swap the replica under a running Tracker, or make
// reads fail.
type switchReader struct {
	mu   sync.Mutex
	r    locality.BeaconReader
	fail error
}

func (s *switchReader) set(r locality.BeaconReader) { s.mu.Lock(); s.r = r; s.mu.Unlock() }
func (s *switchReader) failWith(err error)          { s.mu.Lock(); s.fail = err; s.mu.Unlock() }

func (s *switchReader) Beacon(ctx context.Context, id string) (uint64, error) {
	s.mu.Lock()
	r, fail := s.r, s.fail
	s.mu.Unlock()
	if fail != nil {
		return 0, fail
	}
	return r.Beacon(ctx, id)
}

// failingWriter fails every write while fail is set.
type failingWriter struct {
	w    locality.BeaconWriter
	fail atomic.Bool
}

func (f *failingWriter) SetBeacon(ctx context.Context, id string, seq uint64, ttl time.Duration) error {
	if f.fail.Load() {
		return errors.New("primary unreachable")
	}
	return f.w.SetBeacon(ctx, id, seq, ttl)
}

func TestNewTracker(t *testing.T) {
	s, err := embedded.New(embedded.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tests := []struct {
		name    string
		w       locality.BeaconWriter
		r       locality.BeaconReader
		cfg     locality.TrackerConfig
		wantErr bool
	}{
		{"defaults", s, s, locality.TrackerConfig{ID: "gw"}, false},
		{"explicit", s, s, locality.TrackerConfig{ID: "gw", Interval: time.Second, TTL: 2 * time.Second, Timeout: time.Second}, false},
		{"no ID", s, s, locality.TrackerConfig{}, true},
		{"nil writer", nil, s, locality.TrackerConfig{ID: "gw"}, true},
		{"nil reader", s, nil, locality.TrackerConfig{ID: "gw"}, true},
		{"negative interval", s, s, locality.TrackerConfig{ID: "gw", Interval: -time.Second}, true},
		{"TTL below two intervals", s, s, locality.TrackerConfig{ID: "gw", Interval: time.Second, TTL: 1999 * time.Millisecond}, true},
		{"negative timeout", s, s, locality.TrackerConfig{ID: "gw", Timeout: -time.Second}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := locality.NewTracker(tt.w, tt.r, tt.cfg)
			if tt.wantErr {
				if !errors.Is(err, locality.ErrConfig) || tr != nil {
					t.Fatalf("NewTracker = %v, %v; want nil and ErrConfig", tr, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewTracker: %v", err)
			}
			if _, ok := tr.Bound(); ok {
				t.Fatal("Bound available before Run")
			}
		})
	}
}

// TestBoundTracksLag: with a steady lag the bound is never below the lag
// (nor below what a read misses) and, once warm, within two intervals of it.
func TestBoundTracksLag(t *testing.T) {
	for _, lag := range []time.Duration{0, 20 * time.Millisecond, 130 * time.Millisecond, time.Second, 7 * time.Second} {
		t.Run(lag.String(), func(t *testing.T) {
			r := newRig(t, lag, locality.TrackerConfig{Interval: interval})
			r.run(t)
			const step = 10 * time.Millisecond
			warm := lag + 2*interval
			for elapsed := time.Duration(0); elapsed < lag+3*time.Second; elapsed += step {
				r.mark(t)
				b, ok := r.requireSound(t, fmt.Sprintf("after %s", elapsed))
				switch {
				case ok && b < lag:
					t.Fatalf("after %s: Bound = %s, below the lag %s", elapsed, b, lag)
				case elapsed >= warm && !ok:
					t.Fatalf("after %s: no Bound", elapsed)
				case elapsed >= warm && b > lag+2*interval:
					t.Fatalf("after %s: Bound = %s, more than two intervals above the lag %s", elapsed, b, lag)
				}
				r.step(t, step)
			}
		})
	}
}

// TestBoundNeverUnderstates: whatever the replica's lag does, and however
// the clock steps, the bound is never below what a read of the replica misses.
func TestBoundNeverUnderstates(t *testing.T) {
	for seed := range uint64(5) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			r := newRig(t, 0, locality.TrackerConfig{Interval: interval})
			r.run(t)
			seen := 0
			for i := range 1500 {
				if rng.IntN(40) == 0 {
					r.replica.SetLag(time.Duration(rng.IntN(3000)) * time.Millisecond)
				}
				r.mark(t)
				if _, ok := r.requireSound(t, fmt.Sprintf("step %d (lag %s)", i, r.replica.Lag())); ok {
					seen++
				}
				r.step(t, time.Duration(1+rng.IntN(70))*time.Millisecond)
			}
			if seen < 100 {
				t.Fatalf("a bound was available at only %d steps; the test checked little", seen)
			}
		})
	}
}

func TestNoBoundWithoutBeacon(t *testing.T) {
	tests := []struct {
		name  string
		lag   time.Duration
		setup func(r *rig)
	}{
		{"replica far behind", time.Hour, func(*rig) {}},
		{"replica lags beyond the TTL", 2 * time.Second, func(*rig) {}},
		{"replica unreachable", 0, func(r *rig) { r.reader.failWith(errors.New("connection refused")) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, tt.lag, locality.TrackerConfig{Interval: interval, TTL: time.Second})
			tt.setup(r)
			if _, ok := r.tracker.Bound(); ok {
				t.Fatal("Bound before Run")
			}
			r.run(t)
			for i := range 200 {
				if b, ok := r.tracker.Bound(); ok {
					t.Fatalf("step %d: Bound = %s with no beacon on the replica", i, b)
				}
				r.step(t, interval)
			}
		})
	}
}

// TestBoundSameStore: a Tracker whose replica is the primary itself bounds
// staleness by about one interval.
func TestBoundSameStore(t *testing.T) {
	r := newRig(t, 0, locality.TrackerConfig{Interval: interval})
	r.reader.set(r.primary)
	r.run(t)
	for i := range 100 {
		b, ok := r.tracker.Bound()
		if !ok || b > interval {
			t.Fatalf("step %d: Bound = %s, %v; want at most one interval", i, b, ok)
		}
		r.step(t, 7*time.Millisecond)
	}
}

// TestBoundGrowsWhileFrozen: a replica that stops applying changes has a
// bound that grows with the clock, without limit, and comes back when it
// catches up.
func TestBoundGrowsWhileFrozen(t *testing.T) {
	const lag = 100 * time.Millisecond
	r := newRig(t, lag, locality.TrackerConfig{Interval: interval, TTL: time.Hour})
	r.run(t)
	for range 20 {
		r.step(t, interval)
	}
	frozenAt := r.clock.Now()
	r.replica.SetLag(24 * time.Hour)
	var last time.Duration
	for i := range 1200 { // a minute
		r.mark(t)
		b, ok := r.requireSound(t, fmt.Sprintf("frozen step %d", i))
		if !ok || b < last || b < r.clock.Since(frozenAt) {
			t.Fatalf("frozen for %s: Bound = %s, %v; want at least that, and not below the previous %s",
				r.clock.Since(frozenAt), b, ok, last)
		}
		last = b
		r.step(t, interval)
	}
	if last < time.Minute {
		t.Fatalf("Bound after a minute frozen = %s", last)
	}
	r.replica.SetLag(lag)
	r.step(t, interval)
	if b, ok := r.tracker.Bound(); !ok || b > lag+2*interval {
		t.Fatalf("Bound after the replica caught up = %s, %v; want at most %s", b, ok, lag+2*interval)
	}
}

// TestBoundWhenReplicaGoesBackwards: switching to a staler replica withdraws
// the bound until that replica shows a beacon newer than any seen before; a
// bound carried over from the fresher replica would understate its
// staleness.
func TestBoundWhenReplicaGoesBackwards(t *testing.T) {
	const staleLag = 2 * time.Second
	r := newRig(t, 0, locality.TrackerConfig{Interval: interval})
	stale, err := embedded.NewReplica(r.primary, embedded.ReplicaConfig{Lag: staleLag})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stale.Close() })
	r.run(t)
	for range 60 { // 3s: the stale replica shows beacons by now, older ones
		r.step(t, interval)
	}
	if _, ok := r.tracker.Bound(); !ok {
		t.Fatal("no Bound from the fresh replica")
	}
	switched := r.clock.Now()
	r.reader.set(stale)
	for r.clock.Since(switched) < 2*staleLag {
		r.step(t, interval)
		since := r.clock.Since(switched)
		b, ok := r.tracker.Bound()
		switch {
		case ok && since < staleLag:
			t.Fatalf("%s after the switch: Bound = %s; the stale replica shows no beacon newer than seen", since, b)
		case ok && b < staleLag:
			t.Fatalf("%s after the switch: Bound = %s, below the stale replica's lag %s", since, b, staleLag)
		case !ok && since >= staleLag+interval:
			t.Fatalf("%s after the switch: no Bound, though the stale replica caught up", since)
		}
	}
}

// TestBoundWhenBeaconVanishes: a replica that shows no beacon after showing
// one (rebuilt, or emptied) has no bound until it shows one again.
func TestBoundWhenBeaconVanishes(t *testing.T) {
	r := newRig(t, 0, locality.TrackerConfig{Interval: interval})
	empty, err := embedded.New(embedded.Config{Clock: r.clock})
	if err != nil {
		t.Fatal(err)
	}
	defer empty.Close()
	r.run(t)
	r.step(t, interval)
	r.reader.set(empty)
	for range 20 {
		r.step(t, interval)
		if b, ok := r.tracker.Bound(); ok {
			t.Fatalf("Bound = %s from a replica without a beacon", b)
		}
	}
	r.reader.set(r.replica)
	r.step(t, interval)
	if b, ok := r.tracker.Bound(); !ok || b > interval {
		t.Fatalf("Bound once the beacon is back = %s, %v", b, ok)
	}
}

// TestBoundWhileCallsFail: failing calls neither reset nor refresh the
// bound; it keeps growing, and recovers with the calls.
func TestBoundWhileCallsFail(t *testing.T) {
	tests := []struct {
		name string
		fail func(r *rig, w *failingWriter, on bool)
	}{
		{"primary write", func(_ *rig, w *failingWriter, on bool) { w.fail.Store(on) }},
		{"replica read", func(r *rig, _ *failingWriter, on bool) {
			var err error
			if on {
				err = errors.New("i/o timeout")
			}
			r.reader.failWith(err)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, 0, locality.TrackerConfig{Interval: interval})
			w := &failingWriter{w: r.primary}
			var err error
			r.tracker, err = locality.NewTracker(w, r.reader, locality.TrackerConfig{ID: "gw-fail", Interval: interval, Clock: r.clock, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			r.run(t)
			r.step(t, interval)
			tt.fail(r, w, true)
			failedAt := r.clock.Now()
			var last time.Duration
			for range 100 {
				r.step(t, interval)
				b, ok := r.tracker.Bound()
				if !ok || b < last || b < r.clock.Since(failedAt) {
					t.Fatalf("%s failing: Bound = %s, %v after %s (previous %s)", tt.name, b, ok, r.clock.Since(failedAt), last)
				}
				last = b
			}
			tt.fail(r, w, false)
			r.step(t, interval)
			if b, ok := r.tracker.Bound(); !ok || b > interval {
				t.Fatalf("after recovery: Bound = %s, %v", b, ok)
			}
		})
	}
}

func TestRunTwice(t *testing.T) {
	r := newRig(t, 0, locality.TrackerConfig{})
	r.run(t)
	if err := r.tracker.Run(t.Context()); err == nil {
		t.Fatal("a second concurrent Run returned nil")
	}
}
