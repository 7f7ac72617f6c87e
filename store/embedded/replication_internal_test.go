package embedded

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cpgw/cpgw/store"
)

func feedLen(s *Store) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.feed)
}

// TestFeedBounded: the feed holds only what some replica still needs, and
// never more than the backlog.
func TestFeedBounded(t *testing.T) {
	ctx := context.Background()
	clock := clockwork.NewFakeClock()
	s, err := New(Config{Clock: clock, ReplicationBacklog: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	write := func(n int) {
		for i := range n {
			if err := s.SetBeacon(ctx, "gw", uint64(i), time.Hour); err != nil {
				t.Fatal(err)
			}
		}
	}
	read := func(r *Replica) {
		if _, err := r.Beacon(ctx, "gw"); err != nil {
			t.Fatal(err)
		}
	}

	write(5)
	if n := feedLen(s); n != 0 {
		t.Fatalf("feed of a store without replicas holds %d entries", n)
	}
	now, err := NewReplica(s, ReplicaConfig{})
	if err != nil {
		t.Fatal(err)
	}
	late, err := NewReplica(s, ReplicaConfig{Lag: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		do   func()
		want int
	}{
		{"written", func() { write(4) }, 4},
		{"read by the replica without lag", func() { read(now) }, 4}, // late still needs them
		{"lag passed, read by the late one", func() { clock.Advance(time.Second); read(late) }, 0},
		{"written past the backlog", func() { write(25) }, 10},
		{"read by both", func() { read(now); clock.Advance(time.Second); read(late) }, 0},
		{"written, late closed", func() { write(3); read(now); _ = late.Close() }, 0},
		{"written, nobody reads", func() { write(3) }, 3},
		{"last replica closed", func() { _ = now.Close() }, 0},
		{"written without replicas", func() { write(3) }, 0},
	}
	for _, st := range steps {
		st.do()
		if n := feedLen(s); n != st.want {
			t.Fatalf("%s: feed holds %d entries, want %d", st.name, n, st.want)
		}
	}
}

// TestBeaconsForgotten: expired beacons do not pile up, on the primary or
// on a replica, as gateways come and go with fresh ids.
func TestBeaconsForgotten(t *testing.T) {
	ctx := context.Background()
	clock := clockwork.NewFakeClock()
	s, err := New(Config{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := NewReplica(s, ReplicaConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i := range 100 {
		if err := s.SetBeacon(ctx, fmt.Sprintf("gw-%d", i), 1, time.Second); err != nil {
			t.Fatal(err)
		}
		clock.Advance(100 * time.Millisecond)
		if _, err := r.Beacon(ctx, "gw-0"); err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
	}
	for name, st := range map[string]*Store{"primary": s, "replica": r.state} {
		st.mu.Lock()
		n := len(st.beacons)
		st.mu.Unlock()
		if n > 10 {
			t.Errorf("%s keeps %d beacons; at most 10 are live", name, n)
		}
	}
}
