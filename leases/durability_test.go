package leases_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cpgw/cpgw/fencing"
	"github.com/cpgw/cpgw/leases"
	"github.com/cpgw/cpgw/store"
	"github.com/cpgw/cpgw/store/embedded"
)

// faultyStore is an embedded store whose grants and renewals can be made to
// report too few replica acknowledgements, or a lost store.
type faultyStore struct {
	*embedded.Store
	mu         sync.Mutex
	acquireErr error // returned with the grant, after granting it
	renewErr   error // returned after renewing
	renewed    int
}

func (s *faultyStore) set(acquire, renew error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acquireErr, s.renewErr = acquire, renew
}

func (s *faultyStore) AcquireLease(ctx context.Context, r store.LeaseRequest) (store.Lease, error) {
	g, err := s.Store.AcquireLease(ctx, r)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil && s.acquireErr != nil {
		return g, s.acquireErr
	}
	return g, err
}

func (s *faultyStore) RenewLeases(ctx context.Context, rs []store.LeaseRenewal) ([]error, error) {
	errs, err := s.Store.RenewLeases(ctx, rs)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.renewed++
	if err == nil && s.renewErr != nil {
		return nil, s.renewErr
	}
	return errs, err
}

func held(t *testing.T, st *embedded.Store, shard int) store.LeaseState {
	t.Helper()
	states, err := st.Leases(context.Background(), []int{shard})
	if err != nil {
		t.Fatal(err)
	}
	return states[0]
}

func TestUnreplicatedGrantIsReleased(t *testing.T) {
	ctx := context.Background()
	clk := clockwork.NewFakeClockAt(epoch)
	st := &faultyStore{Store: newEmbedded(t, clk)}
	k, _ := keeper(t, st, clk, nil)
	st.set(&store.ReplicationError{Wanted: 1, Acked: 0}, nil)
	if l, err := k.Acquire(ctx, 3); !errors.Is(err, store.ErrNotReplicated) || l != nil {
		t.Fatalf("Acquire = %v, %v; want nil, ErrNotReplicated", l, err)
	}
	if s := held(t, st.Store, 3); s.Held {
		t.Fatalf("unreplicated grant still held in the store: %+v", s)
	}
	if _, ok := k.Lease(3); ok {
		t.Fatal("keeper records an unreplicated grant as held")
	}
	// Once replicas acknowledge again, the next grant counts and is above
	// the released one.
	st.set(nil, nil)
	l, err := k.Acquire(ctx, 3)
	if err != nil || l.Token() != 2 {
		t.Fatalf("Acquire after recovery = %v, %v; want token 2", l, err)
	}
}

func TestUnreplicatedRenewalDoesNotExtend(t *testing.T) {
	ctx := context.Background()
	clk := clockwork.NewFakeClockAt(epoch)
	st := &faultyStore{Store: newEmbedded(t, clk)}
	k, _ := keeper(t, st, clk, nil)
	l, err := k.Acquire(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	before := l.SafeUntil()
	clk.Advance(2 * time.Second)
	st.set(nil, &store.ReplicationError{Wanted: 1, Acked: 0})
	if err := k.Renew(ctx); !errors.Is(err, store.ErrNotReplicated) {
		t.Fatalf("Renew = %v, want ErrNotReplicated", err)
	}
	if !l.SafeUntil().Equal(before) {
		t.Fatalf("SafeUntil moved from %v to %v on a renewal no replica acknowledged", before, l.SafeUntil())
	}
	if !l.Valid() {
		t.Fatal("lease ended before its safe expiry")
	}
}

func TestLostStoreEndsLeasesAtOnce(t *testing.T) {
	ctx := context.Background()
	clk := clockwork.NewFakeClockAt(epoch)
	st := &faultyStore{Store: newEmbedded(t, clk)}
	k, lost := keeper(t, st, clk, nil)
	a, _ := k.Acquire(ctx, 1)
	b, _ := k.Acquire(ctx, 2)
	st.set(nil, store.ErrEpoch)
	if err := k.Renew(ctx); !errors.Is(err, store.ErrEpoch) {
		t.Fatalf("Renew = %v, want ErrEpoch", err)
	}
	for _, l := range []*leases.Lease{a, b} {
		waitDone(t, l)
		if !errors.Is(l.Err(), store.ErrEpoch) || !errors.Is(lost.await(t, l.Shard()), store.ErrEpoch) {
			t.Fatalf("shard %d: Err %v, OnLost %v; want ErrEpoch", l.Shard(), l.Err(), lost.cause(l.Shard()))
		}
	}
}

func TestGrantStaysAboveKnownTokens(t *testing.T) {
	ctx := context.Background()
	type regression struct{ shard, known, granted int }
	tests := []struct {
		name      string
		grants    int           // grants and releases before the test
		observed  fencing.Token // a token seen in the shard map
		want      fencing.Token
		regressed bool
	}{
		{"nothing observed", 0, 0, 1, false},
		{"observed token below the counter", 3, 1, 4, false},
		{"counter went back below an observed token", 0, 40, 41, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clockwork.NewFakeClockAt(epoch)
			st := newEmbedded(t, clk)
			var mu sync.Mutex
			var got []regression
			k, _ := keeper(t, st, clk, func(c *leases.Config) {
				c.OnRegressed = func(shard int, known, granted fencing.Token) {
					mu.Lock()
					defer mu.Unlock()
					got = append(got, regression{shard, int(known), int(granted)})
				}
			})
			for range tt.grants {
				g, err := st.AcquireLease(ctx, store.LeaseRequest{Shard: 5, Owner: "c9", TTL: time.Second})
				if err != nil {
					t.Fatal(err)
				}
				if err := st.ReleaseLease(ctx, 5, "c9", g.Token); err != nil {
					t.Fatal(err)
				}
			}
			k.Observe([]store.LeaseState{{Shard: 5, Token: tt.observed}})
			l, err := k.Acquire(ctx, 5)
			if err != nil {
				t.Fatal(err)
			}
			if l.Token() != tt.want {
				t.Fatalf("token %d, want %d", l.Token(), tt.want)
			}
			mu.Lock()
			defer mu.Unlock()
			if tt.regressed != (len(got) == 1) {
				t.Fatalf("OnRegressed calls %v, want regressed=%v", got, tt.regressed)
			}
			if tt.regressed && got[0] != (regression{5, int(tt.observed), int(tt.want)}) {
				t.Fatalf("OnRegressed(%v), want shard 5, known %d, granted %d", got[0], tt.observed, tt.want)
			}
		})
	}
}

func TestHeldErrorTeachesTheFloor(t *testing.T) {
	ctx := context.Background()
	clk := clockwork.NewFakeClockAt(epoch)
	st := newEmbedded(t, clk)
	other, _ := keeper(t, st, clk, func(c *leases.Config) { c.Owner = "c2" })
	l, err := other.Acquire(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := keeper(t, st, clk, nil)
	if _, err := k.Acquire(ctx, 7); !errors.Is(err, store.ErrLeaseHeld) {
		t.Fatalf("Acquire of a held shard = %v, want ErrLeaseHeld", err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := k.Acquire(ctx, 7)
	if err != nil || got.Token() != l.Token()+1 {
		t.Fatalf("Acquire after release = %v, %v; want token %d", got, err, l.Token()+1)
	}
}
