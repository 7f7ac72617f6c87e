package coordinator

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cpgw/cpgw/store"
)

// fakeCounter answers AttachedReplicas with n or err, and counts the calls.
type fakeCounter struct {
	n     int
	err   error
	calls int
}

func (f *fakeCounter) AttachedReplicas(ctx context.Context) (int, error) {
	f.calls++
	return f.n, f.err
}

func TestQuorumResolve(t *testing.T) {
	majority := func(floor int) store.Durability {
		return store.Durability{Majority: true, Replicas: floor, Timeout: time.Second}
	}
	fixed := store.Durability{Replicas: 3, Timeout: time.Second}
	errDown := errors.New("down")
	cases := []struct {
		name string
		st   any
		// before is a count that succeeded earlier (-1: none).
		before int
		d      store.Durability
		want   int
	}{
		{"fixed count untouched", &fakeCounter{n: 10}, -1, fixed, 3},
		{"majority of 2", &fakeCounter{n: 2}, -1, majority(0), 1},
		{"majority of 4", &fakeCounter{n: 4}, -1, majority(0), 2},
		{"floor above majority", &fakeCounter{n: 1}, -1, majority(2), 2},
		{"store cannot count: floor", struct{}{}, -1, majority(1), 1},
		{"store cannot count, no floor", struct{}{}, -1, majority(0), 0},
		{"count fails, none known: floor", &fakeCounter{err: errDown}, -1, majority(1), 1},
		{"count fails: last known count", &fakeCounter{err: errDown}, 4, majority(0), 2},
		{"count fails: floor above last", &fakeCounter{err: errDown}, 1, majority(3), 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := newQuorum(c.st, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewGauge(prometheus.GaugeOpts{Name: "g"}),
				clockwork.NewFakeClock(), time.Second)
			co := &Coordinator{quorum: q}
			if c.before >= 0 {
				q.last = c.before
			}
			got := co.resolveDurability(t.Context(), c.d)
			if got.Majority || got.Replicas != c.want || got.Timeout != c.d.Timeout {
				t.Fatalf("resolveDurability(%+v) = %+v, want %d replicas", c.d, got, c.want)
			}
		})
	}
}

// TestQuorumFailureStreak: a failed count is not repeated for countRetry,
// and a later success replaces the last known count.
func TestQuorumFailureStreak(t *testing.T) {
	clock := clockwork.NewFakeClock()
	fc := &fakeCounter{n: 4}
	q := newQuorum(fc, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewGauge(prometheus.GaugeOpts{Name: "g"}), clock, time.Second)
	ctx := t.Context()
	if n := q.attached(ctx); n != 4 {
		t.Fatalf("attached = %d, want 4", n)
	}
	fc.err = errors.New("down")
	for range 10 {
		if n := q.attached(ctx); n != 4 {
			t.Fatalf("attached while failing = %d, want the last count 4", n)
		}
	}
	if fc.calls != 2 {
		t.Fatalf("%d calls to the store, want 2: no retry within countRetry", fc.calls)
	}
	fc.err, fc.n = nil, 1
	clock.Advance(countRetry)
	if n := q.attached(ctx); n != 1 || q.failing {
		t.Fatalf("attached after recovery = %d (failing %v), want 1", n, q.failing)
	}
}
