package locality

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cpgw/cpgw/store"
)

// stuckReplica never shows a beacon.
type stuckReplica struct{}

func (stuckReplica) Beacon(context.Context, string) (uint64, error) { return 0, store.ErrNotFound }

type nopPrimary struct{}

func (nopPrimary) SetBeacon(context.Context, string, uint64, time.Duration) error { return nil }

// TestPendingBounded: with nothing ever seen, the Tracker remembers no more
// send times than beacons live in the store (TTL/Interval + 1).
func TestPendingBounded(t *testing.T) {
	clock := clockwork.NewFakeClock()
	cfg := TrackerConfig{ID: "gw", Interval: 50 * time.Millisecond, TTL: time.Second, Clock: clock, Logger: slog.New(slog.DiscardHandler)}
	tr, err := NewTracker(nopPrimary{}, stuckReplica{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	limit := int(cfg.TTL/cfg.Interval) + 1
	for i := range 500 {
		tr.beacon(t.Context())
		tr.mu.Lock()
		n := len(tr.pending)
		tr.mu.Unlock()
		if n > limit {
			t.Fatalf("after %d beacons %d send times are remembered, want at most %d", i+1, n, limit)
		}
		clock.Advance(cfg.Interval)
	}
}
