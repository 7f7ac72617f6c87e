package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cpgw/cpgw/store"
	"github.com/cpgw/cpgw/store/embedded"
)

// readSide is the read half of store.Store. Both assignments below fail to
// compile if a Replica method's signature drifts from the contract's.
type readSide interface {
	Get(ctx context.Context, shard int, namespace, name string) (store.Object, error)
	List(ctx context.Context, shard int, namespace string) ([]store.Object, uint64, error)
	Revision(ctx context.Context, shard int) (uint64, error)
	Changes(ctx context.Context, shard int, after uint64, limit int) ([]store.Change, error)
	Leases(ctx context.Context, shards []int) ([]store.LeaseState, error)
	GetNamespace(ctx context.Context, name string) (store.Namespace, error)
	Namespaces(ctx context.Context) ([]store.Namespace, error)
	Beacon(ctx context.Context, id string) (uint64, error)
}

var (
	_ readSide = store.Store(nil)
	_ readSide = (*embedded.Replica)(nil)
)

func newReplica(t testing.TB, primary *embedded.Store, cfg embedded.ReplicaConfig) *embedded.Replica {
	t.Helper()
	r, err := embedded.NewReplica(primary, cfg)
	if err != nil {
		t.Fatalf("NewReplica: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// visible reports whether the replica shows object ns/name, failing the test
// on any error but ErrNotFound.
func visible(t testing.TB, r readSide, shard int, ns, name string) bool {
	t.Helper()
	_, err := r.Get(t.Context(), shard, ns, name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(%s/%s): %v", ns, name, err)
	}
	return err == nil
}

// beaconSeq returns the beacon's sequence on r, 0 when there is none.
func beaconSeq(t testing.TB, r readSide, id string) uint64 {
	t.Helper()
	seq, err := r.Beacon(t.Context(), id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Beacon(%s): %v", id, err)
	}
	return seq
}

func TestNewReplica(t *testing.T) {
	s, _ := newFake(t, embedded.Config{})
	tests := []struct {
		name    string
		primary *embedded.Store
		cfg     embedded.ReplicaConfig
		wantErr bool
	}{
		{"zero config", s, embedded.ReplicaConfig{}, false},
		{"lag", s, embedded.ReplicaConfig{Lag: time.Second}, false},
		{"own clock", s, embedded.ReplicaConfig{Clock: clockwork.NewFakeClockAt(t0)}, false},
		{"nil primary", nil, embedded.ReplicaConfig{}, true},
		{"negative lag", s, embedded.ReplicaConfig{Lag: -time.Second}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := embedded.NewReplica(tt.primary, tt.cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("NewReplica = %v, %v; want error %v", r, err, tt.wantErr)
			}
			if r != nil {
				_ = r.Close()
			}
		})
	}
}

// TestReplicaLag: every kind of replicated change is invisible until it is
// Lag old and visible from exactly then.
func TestReplicaLag(t *testing.T) {
	const lag = 10 * time.Second
	type check func(t *testing.T, r readSide) bool // reports whether the change shows
	tests := []struct {
		name   string
		change func(t *testing.T, s *embedded.Store)
		shows  check
	}{
		{"put", func(t *testing.T, s *embedded.Store) {
			apply(t, s, 0, 1, put("ns", "x", `{"v":2}`))
		}, func(t *testing.T, r readSide) bool {
			o, err := r.Get(t.Context(), 0, "ns", "x")
			return err == nil && string(o.Value) == `{"v":2}` && o.Version == 2
		}},
		{"delete", func(t *testing.T, s *embedded.Store) {
			apply(t, s, 0, 1, del("ns", "x"))
		}, func(t *testing.T, r readSide) bool { return !visible(t, r, 0, "ns", "x") }},
		{"revision and change log", func(t *testing.T, s *embedded.Store) {
			apply(t, s, 0, 1, put("ns", "y", `{}`))
		}, func(t *testing.T, r readSide) bool {
			rev, err := r.Revision(t.Context(), 0)
			cs, err2 := r.Changes(t.Context(), 0, 1, 10)
			return err == nil && err2 == nil && rev == 2 && len(cs) == 1 && cs[0].Name == "y"
		}},
		{"list", func(t *testing.T, s *embedded.Store) {
			apply(t, s, 0, 1, put("ns", "y", `{}`))
		}, func(t *testing.T, r readSide) bool {
			objs, rev, err := r.List(t.Context(), 0, "ns")
			return err == nil && len(objs) == 2 && rev == 2
		}},
		{"lease acquire", func(t *testing.T, s *embedded.Store) {
			acquire(t, s, 1, "b", time.Minute)
		}, func(t *testing.T, r readSide) bool {
			ls, err := r.Leases(t.Context(), []int{1})
			return err == nil && ls[0].Held && ls[0].Token == 1 && ls[0].Lease.Owner == "b"
		}},
		{"lease release", func(t *testing.T, s *embedded.Store) {
			if err := s.ReleaseLease(t.Context(), 0, "a", 1); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, r readSide) bool {
			ls, err := r.Leases(t.Context(), []int{0})
			return err == nil && !ls[0].Held && ls[0].Token == 1
		}},
		{"namespace", func(t *testing.T, s *embedded.Store) {
			if _, err := s.PutNamespace(t.Context(), store.Namespace{Name: "ns", HomeRegion: "eu-west"}, 0); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, r readSide) bool {
			ns, err := r.GetNamespace(t.Context(), "ns")
			all, err2 := r.Namespaces(t.Context())
			return err == nil && err2 == nil && ns.HomeRegion == "eu-west" && len(all) == 1
		}},
		{"beacon", func(t *testing.T, s *embedded.Store) {
			if err := s.SetBeacon(t.Context(), "gw", 7, time.Hour); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, r readSide) bool { return beaconSeq(t, r, "gw") == 7 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, clock := newFake(t, embedded.Config{})
			acquire(t, s, 0, "a", time.Hour)
			apply(t, s, 0, 1, put("ns", "x", `{"v":1}`))
			r := newReplica(t, s, embedded.ReplicaConfig{Lag: lag})
			if tt.shows(t, r) {
				t.Fatal("the change shows before it was made")
			}
			tt.change(t, s)
			if !tt.shows(t, s) {
				t.Fatal("the change does not show on the primary")
			}
			for _, d := range []time.Duration{0, lag / 2, lag/2 - time.Millisecond} {
				clock.Advance(d)
				if tt.shows(t, r) {
					t.Fatalf("the change shows on the replica %s before its lag ran out", lag-clock.Since(t0))
				}
			}
			clock.Advance(time.Millisecond)
			if !tt.shows(t, r) {
				t.Fatal("the change does not show on the replica once it is Lag old")
			}
		})
	}
}

// TestReplicaOrder: whatever the lag does, a replica shows a prefix of the
// primary's history: when beacon n shows, every write before it shows too,
// and nothing once shown disappears.
func TestReplicaOrder(t *testing.T) {
	s, clock := newFake(t, embedded.Config{})
	tok := acquire(t, s, 0, "a", time.Hour).Token
	r := newReplica(t, s, embedded.ReplicaConfig{Lag: time.Second})
	rng := rand.New(rand.NewPCG(1, 2))
	var last uint64
	for i := uint64(1); i <= 500; i++ {
		apply(t, s, 0, tok, put("ns", fmt.Sprintf("x%d", i), `{}`))
		clock.Advance(time.Duration(rng.IntN(3)) * time.Millisecond) // some share a commit instant
		if err := s.SetBeacon(t.Context(), "gw", i, time.Hour); err != nil {
			t.Fatal(err)
		}
		if rng.IntN(20) == 0 {
			r.SetLag(time.Duration(rng.IntN(2000)) * time.Millisecond)
		}
		clock.Advance(time.Duration(rng.IntN(100)) * time.Millisecond)

		seq := beaconSeq(t, r, "gw")
		if seq < last {
			t.Fatalf("step %d: beacon went back from %d to %d", i, last, seq)
		}
		last = seq
		if seq > 0 && !visible(t, r, 0, "ns", fmt.Sprintf("x%d", seq)) {
			t.Fatalf("step %d: beacon %d shows but x%d, written before it, does not", i, seq, seq)
		}
		if rev, err := r.Revision(t.Context(), 0); err != nil || rev < seq {
			t.Fatalf("step %d: revision %d, %v with beacon %d showing", i, rev, err, seq)
		}
		if seq < i && visible(t, r, 0, "ns", fmt.Sprintf("x%d", seq+2)) {
			t.Fatalf("step %d: x%d shows but beacon %d, written before it, does not", i, seq+2, seq+1)
		}
	}
}

func TestReplicaSetLag(t *testing.T) {
	s, clock := newFake(t, embedded.Config{})
	tok := acquire(t, s, 0, "a", time.Hour).Token
	r := newReplica(t, s, embedded.ReplicaConfig{Lag: 10 * time.Second})
	apply(t, s, 0, tok, put("ns", "a", `{}`)) // committed at t0
	clock.Advance(5 * time.Second)
	apply(t, s, 0, tok, put("ns", "b", `{}`)) // committed at t0+5s

	steps := []struct {
		lag     time.Duration // set before the step, unless negative
		advance time.Duration
		a, b    bool
	}{
		{-1, 0, false, false},                // t0+5s, lag 10s
		{4 * time.Second, 0, true, false},    // a lowered lag shows at once
		{0, 0, true, true},                   // lag 0: read your writes
		{time.Hour, time.Minute, true, true}, // a raised lag never hides what showed
		{time.Second, 0, true, true},         // and neither does lowering it again
	}
	for i, st := range steps {
		if st.lag >= 0 {
			r.SetLag(st.lag)
			if got := r.Lag(); got != st.lag {
				t.Fatalf("step %d: Lag() = %s after SetLag(%s)", i, got, st.lag)
			}
		}
		clock.Advance(st.advance)
		if a, b := visible(t, r, 0, "ns", "a"), visible(t, r, 0, "ns", "b"); a != st.a || b != st.b {
			t.Fatalf("step %d: a shows %v, b %v; want %v, %v", i, a, b, st.a, st.b)
		}
	}

	// A raised lag freezes the replica: a change made now shows only once
	// it is as old as the new lag.
	r.SetLag(time.Minute)
	apply(t, s, 0, tok, put("ns", "c", `{}`))
	clock.Advance(time.Minute - time.Millisecond)
	if visible(t, r, 0, "ns", "c") {
		t.Fatal("c shows before the raised lag ran out")
	}
	clock.Advance(time.Millisecond)
	if !visible(t, r, 0, "ns", "c") {
		t.Fatal("c does not show once it is as old as the raised lag")
	}
	r.SetLag(-time.Second)
	if r.Lag() != 0 {
		t.Fatalf("SetLag(-1s) left Lag() = %s, want 0", r.Lag())
	}
}

func TestReplicasWithDifferentLags(t *testing.T) {
	s, clock := newFake(t, embedded.Config{})
	tok := acquire(t, s, 0, "a", time.Hour).Token
	near := newReplica(t, s, embedded.ReplicaConfig{Lag: time.Second})
	far := newReplica(t, s, embedded.ReplicaConfig{Lag: 5 * time.Second})
	now := newReplica(t, s, embedded.ReplicaConfig{})
	apply(t, s, 0, tok, put("ns", "x", `{}`))
	steps := []struct {
		advance        time.Duration
		now, near, far bool
	}{
		{0, true, false, false},
		{time.Second, true, true, false},
		{4*time.Second - time.Millisecond, true, true, false},
		{time.Millisecond, true, true, true},
	}
	for i, st := range steps {
		clock.Advance(st.advance)
		got := []bool{visible(t, now, 0, "ns", "x"), visible(t, near, 0, "ns", "x"), visible(t, far, 0, "ns", "x")}
		if got[0] != st.now || got[1] != st.near || got[2] != st.far {
			t.Fatalf("step %d: shows on (lag 0, 1s, 5s) = %v, want %v", i, got, []bool{st.now, st.near, st.far})
		}
	}
}

// TestReplicaInitialSync: a replica of a store with history starts with all
// of it, as a Redis replica's full sync does.
func TestReplicaInitialSync(t *testing.T) {
	s, _ := newFake(t, embedded.Config{LogRetention: 3})
	tok := acquire(t, s, 2, "a", time.Hour).Token
	for i := range 5 {
		apply(t, s, 2, tok, put("ns", fmt.Sprintf("o%d", i), `{}`))
	}
	apply(t, s, 2, tok, del("ns", "o0"))
	if _, err := s.PutNamespace(t.Context(), store.Namespace{Name: "ns", Shard: 2}, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.SetBeacon(t.Context(), "gw", 3, time.Hour); err != nil {
		t.Fatal(err)
	}
	r := newReplica(t, s, embedded.ReplicaConfig{Lag: time.Hour})
	requireSameReads(t, s, r, 2, "ns")
}

// requireSameReads compares everything the read side shows of shard and ns.
func requireSameReads(t *testing.T, want, got readSide, shard int, ns string) {
	t.Helper()
	ctx := t.Context()
	type view struct {
		Objects    []store.Object
		ListRev    uint64
		Rev        uint64
		Changes    []store.Change
		Leases     []store.LeaseState
		Namespaces []store.Namespace
		Beacon     uint64
	}
	read := func(r readSide) view {
		var v view
		var errs [5]error
		v.Objects, v.ListRev, errs[0] = r.List(ctx, shard, ns)
		v.Rev, errs[1] = r.Revision(ctx, shard)
		v.Changes, errs[2] = r.Changes(ctx, shard, 0, 1000)
		v.Leases, errs[3] = r.Leases(ctx, []int{shard})
		v.Namespaces, errs[4] = r.Namespaces(ctx)
		v.Beacon = beaconSeq(t, r, "gw")
		if err := errors.Join(errs[:]...); err != nil {
			t.Fatal(err)
		}
		return v
	}
	w, g := read(want), read(got)
	if fmt.Sprintf("%+v", w) != fmt.Sprintf("%+v", g) {
		t.Fatalf("replica shows\n%+v\nprimary shows\n%+v", g, w)
	}
}

// TestReplicaBacklog: a replica that falls more than the backlog behind is
// brought forward, in order, rather than let the feed grow without bound.
func TestReplicaBacklog(t *testing.T) {
	s, _ := newFake(t, embedded.Config{ReplicationBacklog: 3})
	r := newReplica(t, s, embedded.ReplicaConfig{Lag: time.Hour})
	tok := acquire(t, s, 0, "a", time.Hour).Token // change 1
	for i := 1; i <= 5; i++ {                     // changes 2..6
		apply(t, s, 0, tok, put("ns", fmt.Sprintf("x%d", i), `{}`))
	}
	// Changes 1..3 fell out of the backlog; 4..6 (x3..x5) wait for the lag.
	if rev, err := r.Revision(t.Context(), 0); err != nil || rev != 2 {
		t.Fatalf("replica revision = %d, %v; want 2", rev, err)
	}
	if ls, err := r.Leases(t.Context(), []int{0}); err != nil || !ls[0].Held {
		t.Fatalf("replica leases = %+v, %v; want the lease held", ls, err)
	}
	if visible(t, r, 0, "ns", "x3") {
		t.Fatal("x3 shows, but it is within the backlog and younger than the lag")
	}
}

// TestReplicaExpiry: TTLs run out on a replica at the instant the primary
// set, not TTL after the replica applied the change.
func TestReplicaExpiry(t *testing.T) {
	s, clock := newFake(t, embedded.Config{})
	r := newReplica(t, s, embedded.ReplicaConfig{Lag: 3 * time.Second})
	acquire(t, s, 0, "a", 10*time.Second)
	if err := s.SetBeacon(t.Context(), "gw", 1, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	clock.Advance(3 * time.Second)
	ls, err := r.Leases(t.Context(), []int{0})
	if err != nil || !ls[0].Held || ls[0].Remaining != 7*time.Second {
		t.Fatalf("replica lease after 3s = %+v, %v; want held, 7s left", ls, err)
	}
	if seq := beaconSeq(t, r, "gw"); seq != 1 {
		t.Fatalf("replica beacon after 3s = %d, want 1", seq)
	}
	clock.Advance(7 * time.Second)
	if ls, err := r.Leases(t.Context(), []int{0}); err != nil || ls[0].Held {
		t.Fatalf("replica lease after 10s = %+v, %v; want expired", ls, err)
	}
	if seq := beaconSeq(t, r, "gw"); seq != 0 {
		t.Fatalf("replica beacon after 10s = %d, want expired", seq)
	}
}

func TestReplicaClose(t *testing.T) {
	s, _ := newFake(t, embedded.Config{})
	r := newReplica(t, s, embedded.ReplicaConfig{})
	other := newReplica(t, s, embedded.ReplicaConfig{})
	for range 2 {
		if err := r.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	if _, err := r.Revision(t.Context(), 0); !errors.Is(err, embedded.ErrClosed) {
		t.Fatalf("Revision after Close = %v, want ErrClosed", err)
	}
	// The other replica and the primary carry on.
	acquire(t, s, 0, "a", time.Hour)
	if ls, err := other.Leases(t.Context(), []int{0}); err != nil || !ls[0].Held {
		t.Fatalf("other replica after one closed: %+v, %v", ls, err)
	}

	// A closed primary leaves its replicas serving what they had.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if ls, err := other.Leases(t.Context(), []int{0}); err != nil || !ls[0].Held {
		t.Fatalf("replica after its primary closed: %+v, %v; want the last state", ls, err)
	}
	if _, err := embedded.NewReplica(s, embedded.ReplicaConfig{}); !errors.Is(err, embedded.ErrClosed) {
		t.Fatalf("NewReplica of a closed store = %v, want ErrClosed", err)
	}
}

func TestReplicaContextDone(t *testing.T) {
	s, _ := newFake(t, embedded.Config{})
	r := newReplica(t, s, embedded.ReplicaConfig{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := r.Get(ctx, 0, "ns", "x"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with a cancelled context = %v, want context.Canceled", err)
	}
}

// TestReplicaConcurrent runs writers and replica readers together on the
// real clock (for -race): readers of every replica only ever see the
// history move forward and in order.
func TestReplicaConcurrent(t *testing.T) {
	s, err := embedded.New(embedded.Config{ReplicationBacklog: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tok := acquire(t, s, 0, "a", time.Hour).Token
	replicas := []*embedded.Replica{
		newReplica(t, s, embedded.ReplicaConfig{}),
		newReplica(t, s, embedded.ReplicaConfig{Lag: time.Millisecond}),
		newReplica(t, s, embedded.ReplicaConfig{Lag: 5 * time.Millisecond}),
	}
	const writes = 300
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for i := uint64(1); i <= writes; i++ {
			apply(t, s, 0, tok, put("ns", fmt.Sprintf("x%d", i), `{}`))
			if err := s.SetBeacon(t.Context(), "gw", i, time.Hour); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for _, r := range replicas {
		for range 2 { // two readers per replica: their catch-ups interleave
			wg.Add(1)
			go func() {
				defer wg.Done()
				var last uint64
				for {
					select {
					case <-done:
						return
					default:
					}
					seq := beaconSeq(t, r, "gw")
					if seq < last {
						t.Errorf("beacon went back from %d to %d", last, seq)
						return
					}
					last = seq
					if seq > 0 && !visible(t, r, 0, "ns", fmt.Sprintf("x%d", seq)) {
						t.Errorf("beacon %d shows without x%d", seq, seq)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
}
