package leases_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cpgw/cpgw/fencing"
	"github.com/cpgw/cpgw/leases"
	"github.com/cpgw/cpgw/store"
	"github.com/cpgw/cpgw/store/embedded"
)

var epoch = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func newEmbedded(t *testing.T, c clockwork.Clock) *embedded.Store {
	t.Helper()
	st, err := embedded.New(embedded.Config{Clock: c})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// lostLog records OnLost calls.
type lostLog struct {
	mu     sync.Mutex
	causes map[int]error
}

func (l *lostLog) record(shard int, _ fencing.Token, cause error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.causes == nil {
		l.causes = map[int]error{}
	}
	l.causes[shard] = cause
}

func (l *lostLog) cause(shard int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.causes[shard]
}

// await returns the OnLost cause for shard, waiting for the callback: the
// lease ends (Done) before OnLost is called, on purpose.
func (l *lostLog) await(t *testing.T, shard int) error {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if c := l.cause(shard); c != nil {
			return c
		}
	}
	t.Fatalf("OnLost never called for shard %d", shard)
	return nil
}

func keeper(t *testing.T, st leases.Store, c clockwork.Clock, mod func(*leases.Config)) (*leases.Keeper, *lostLog) {
	t.Helper()
	lost := &lostLog{}
	cfg := leases.DefaultConfig()
	cfg.Owner, cfg.Region, cfg.Address = "c1", "us-east", "http://c1"
	cfg.Clock = c
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.OnLost = lost.record
	if mod != nil {
		mod(&cfg)
	}
	k, err := leases.New(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return k, lost
}

func waitDone(t *testing.T, l *leases.Lease) {
	t.Helper()
	select {
	case <-l.Done():
	case <-time.After(5 * time.Second):
		t.Fatalf("lease of shard %d did not end", l.Shard())
	}
}

func TestConfigValidate(t *testing.T) {
	ok := func() leases.Config {
		c := leases.DefaultConfig()
		c.Owner, c.Region = "c1", "r1"
		return c
	}
	tests := []struct {
		name string
		mod  func(*leases.Config)
		bad  bool
	}{
		{"defaults", func(*leases.Config) {}, false},
		{"no owner", func(c *leases.Config) { c.Owner = "" }, true},
		{"no region", func(c *leases.Config) { c.Region = "" }, true},
		{"tiny TTL", func(c *leases.Config) { c.TTL = time.Millisecond }, true},
		{"drift too large", func(c *leases.Config) { c.MaxDrift = 0.5 }, true},
		{"negative margin", func(c *leases.Config) { c.Margin = -time.Second }, true},
		{"margin eats the TTL", func(c *leases.Config) { c.Margin = 6 * time.Second }, true},
		{"renewal after safe expiry", func(c *leases.Config) { c.RenewFraction = 0.9 }, true},
		{"jitter of 1", func(c *leases.Config) { c.Jitter = 1 }, true},
		{"only TTL set", func(c *leases.Config) { *c = leases.Config{Owner: "o", Region: "r", TTL: time.Second} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok()
			tt.mod(&c)
			err := c.Validate()
			if tt.bad != (err != nil) {
				t.Fatalf("Validate() = %v, want error: %v", err, tt.bad)
			}
			if err != nil && !errors.Is(err, leases.ErrConfig) {
				t.Fatalf("error %v does not match ErrConfig", err)
			}
		})
	}
}

// slowStore delays acquisitions on the fake clock, as a slow network would.
type slowStore struct {
	*embedded.Store
	clock *clockwork.FakeClock
	delay time.Duration
}

func (s slowStore) AcquireLease(ctx context.Context, r store.LeaseRequest) (store.Lease, error) {
	s.clock.Advance(s.delay)
	return s.Store.AcquireLease(ctx, r)
}

// The safe expiry counts from before the request was sent, so time spent in
// flight is taken off the lease rather than added to it.
func TestSafeExpiryCountsFromRequestStart(t *testing.T) {
	clk := clockwork.NewFakeClockAt(epoch)
	st := slowStore{newEmbedded(t, clk), clk, 2 * time.Second}
	k, lost := keeper(t, st, clk, func(c *leases.Config) {
		c.TTL, c.MaxDrift, c.Margin = 10*time.Second, 0.05, 100*time.Millisecond
	})
	l, err := k.Acquire(context.Background(), 7)
	if err != nil {
		t.Fatal(err)
	}
	want := epoch.Add(9400 * time.Millisecond) // 10s × 0.95 − 100ms
	if got := l.SafeUntil(); !got.Equal(want) {
		t.Fatalf("SafeUntil = %v, want %v", got, want)
	}
	if got := l.Remaining(); got != 7400*time.Millisecond {
		t.Fatalf("Remaining after a 2s acquire = %v, want 7.4s", got)
	}
	clk.Advance(7400*time.Millisecond - time.Millisecond)
	if !l.Valid() {
		t.Fatal("lease invalid 1ms before its safe expiry")
	}
	clk.Advance(time.Millisecond)
	if l.Valid() {
		t.Fatal("lease still valid at its safe expiry")
	}
	waitDone(t, l)
	if !errors.Is(l.Err(), leases.ErrExpired) || !errors.Is(lost.await(t, 7), leases.ErrExpired) {
		t.Fatalf("Err = %v, OnLost cause = %v; want ErrExpired", l.Err(), lost.cause(7))
	}
	if _, ok := k.Lease(7); ok {
		t.Fatal("expired lease still listed as held")
	}
}

// An acquire slower than the whole safe window yields no lease, and the grant
// is handed back so the shard is not blocked for a TTL.
func TestAcquireSlowerThanWindowReleases(t *testing.T) {
	clk := clockwork.NewFakeClockAt(epoch)
	emb := newEmbedded(t, clk)
	st := slowStore{emb, clk, 6 * time.Second}
	k, _ := keeper(t, st, clk, func(c *leases.Config) { c.TTL = 6 * time.Second })
	if _, err := k.Acquire(context.Background(), 1); !errors.Is(err, leases.ErrTooSlow) {
		t.Fatalf("Acquire = %v, want ErrTooSlow", err)
	}
	states, err := emb.Leases(context.Background(), []int{1})
	if err != nil || states[0].Held {
		t.Fatalf("lease still held in the store after ErrTooSlow: %+v, %v", states, err)
	}
}

// Invariant 2 with injected clocks: the store's clock and the holder's run
// apart, the holder's slower by up to MaxDrift. At every step, if the store
// lets the lease go the holder must already have stopped. Beyond the bound the
// same walk finds a violation, which shows the check can fail.
func TestDriftBound(t *testing.T) {
	const ttl = 2 * time.Second
	tests := []struct {
		name      string
		maxDrift  float64
		realDrift float64 // how much slower the holder's clock actually runs
		violation bool
	}{
		{"no drift", 0.05, 0, false},
		{"drift at the bound", 0.05, 0.05, false},
		{"drift below the bound, renewed", 0.10, 0.08, false},
		{"drift beyond the bound", 0.01, 0.10, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storeClock := clockwork.NewFakeClockAt(epoch)
			localClock := clockwork.NewFakeClockAt(epoch.Add(time.Hour)) // offsets do not matter, rates do
			st := newEmbedded(t, storeClock)
			k, _ := keeper(t, st, localClock, func(c *leases.Config) {
				c.TTL, c.MaxDrift, c.Margin = ttl, tt.maxDrift, time.Nanosecond // margin ~0: test the drift term alone
			})
			ctx := context.Background()
			l, err := k.Acquire(ctx, 3)
			if err != nil {
				t.Fatal(err)
			}
			violated := false
			const step = 5 * time.Millisecond
			for i := 0; i < int(3*ttl/step); i++ {
				storeClock.Advance(step)
				localClock.Advance(time.Duration(float64(step) * (1 - tt.realDrift)))
				if i == int(ttl/step)/2 {
					if err := k.Renew(ctx); err != nil {
						t.Fatal(err)
					}
				}
				s, err := st.Leases(ctx, []int{3})
				if err != nil {
					t.Fatal(err)
				}
				if l.Valid() && !s[0].Held {
					violated = true
					break
				}
			}
			if violated != tt.violation {
				t.Fatalf("violation = %v, want %v", violated, tt.violation)
			}
		})
	}
}

// breakableStore fails renewals while down, as an unreachable Redis would.
type breakableStore struct {
	*embedded.Store
	mu   sync.Mutex
	down bool
}

func (s *breakableStore) setDown(d bool) { s.mu.Lock(); s.down = d; s.mu.Unlock() }

func (s *breakableStore) RenewLeases(ctx context.Context, rs []store.LeaseRenewal) ([]error, error) {
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if down {
		return nil, errors.New("connection refused")
	}
	return s.Store.RenewLeases(ctx, rs)
}

func TestRenewal(t *testing.T) {
	ctx := context.Background()
	t.Run("extends from the renewal's start", func(t *testing.T) {
		clk := clockwork.NewFakeClockAt(epoch)
		k, _ := keeper(t, newEmbedded(t, clk), clk, func(c *leases.Config) { c.TTL, c.MaxDrift, c.Margin = 6*time.Second, 0.01, 100*time.Millisecond })
		l, _ := k.Acquire(ctx, 1)
		clk.Advance(2 * time.Second)
		if err := k.Renew(ctx); err != nil {
			t.Fatal(err)
		}
		// 2s + 6s × 0.99 − 100ms
		if want := epoch.Add(7840 * time.Millisecond); !l.SafeUntil().Equal(want) {
			t.Fatalf("SafeUntil = %v, want %v", l.SafeUntil(), want)
		}
	})
	t.Run("refused renewal ends that lease only", func(t *testing.T) {
		clk := clockwork.NewFakeClockAt(epoch)
		st := newEmbedded(t, clk)
		k, lost := keeper(t, st, clk, nil)
		a, _ := k.Acquire(ctx, 1)
		b, _ := k.Acquire(ctx, 2)
		// Somebody removes lease 1 behind the holder's back.
		if err := st.ReleaseLease(ctx, 1, "c1", a.Token()); err != nil {
			t.Fatal(err)
		}
		if err := k.Renew(ctx); err != nil {
			t.Fatal(err)
		}
		waitDone(t, a)
		if !errors.Is(a.Err(), leases.ErrLost) || !errors.Is(lost.await(t, 1), leases.ErrLost) {
			t.Fatalf("lease 1: Err %v, OnLost %v; want ErrLost", a.Err(), lost.cause(1))
		}
		if !b.Valid() {
			t.Fatal("lease 2 ended with lease 1")
		}
	})
	t.Run("unreachable store: lease ends at its safe expiry", func(t *testing.T) {
		clk := clockwork.NewFakeClockAt(epoch)
		st := &breakableStore{Store: newEmbedded(t, clk)}
		k, lost := keeper(t, st, clk, nil)
		l, _ := k.Acquire(ctx, 4)
		st.setDown(true)
		clk.Advance(2 * time.Second)
		if err := k.Renew(ctx); err == nil {
			t.Fatal("Renew succeeded against a store that is down")
		}
		if !l.Valid() {
			t.Fatal("a failed renewal ended the lease before its safe expiry")
		}
		clk.Advance(l.Remaining())
		if l.Valid() {
			t.Fatal("lease valid past its safe expiry with the store down")
		}
		waitDone(t, l)
		if !errors.Is(lost.await(t, 4), leases.ErrExpired) {
			t.Fatalf("OnLost cause = %v, want ErrExpired", lost.cause(4))
		}
	})
	t.Run("late renewal does not revive an expired lease", func(t *testing.T) {
		clk := clockwork.NewFakeClockAt(epoch)
		st := &breakableStore{Store: newEmbedded(t, clk)}
		k, _ := keeper(t, st, clk, nil)
		l, _ := k.Acquire(ctx, 5)
		clk.Advance(l.Remaining())
		waitDone(t, l)
		if err := k.Renew(ctx); err != nil {
			t.Fatal(err)
		}
		if l.Valid() {
			t.Fatal("renewal revived an expired lease")
		}
	})
}

func TestRunRenewsUntilStopped(t *testing.T) {
	clk := clockwork.NewFakeClockAt(epoch)
	k, lost := keeper(t, newEmbedded(t, clk), clk, nil)
	l, err := k.Acquire(context.Background(), 9)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); k.Run(ctx) }()

	cfg := k.Config()
	longest := time.Duration(float64(cfg.TTL) * cfg.RenewFraction * (1 + cfg.Jitter))
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	for elapsed := time.Duration(0); elapsed < 5*cfg.TTL; elapsed += longest {
		// Two waiters: the lease's expiry timer and Run's renewal timer.
		if err := clk.BlockUntilContext(wctx, 2); err != nil {
			t.Fatal("Run never armed its renewal timer:", err)
		}
		clk.Advance(longest)
	}
	if err := clk.BlockUntilContext(wctx, 2); err != nil {
		t.Fatal(err)
	}
	if !l.Valid() {
		t.Fatalf("lease lapsed while Run was renewing: %v", l.Err())
	}
	cancel()
	<-done
	waitDone(t, l)
	if !errors.Is(lost.await(t, 9), leases.ErrStopped) {
		t.Fatalf("OnLost cause after stop = %v, want ErrStopped", lost.cause(9))
	}
	if _, err := k.Acquire(context.Background(), 10); !errors.Is(err, leases.ErrStopped) {
		t.Fatalf("Acquire after stop = %v, want ErrStopped", err)
	}
}

func TestReleaseHandsOverAtOnce(t *testing.T) {
	clk := clockwork.NewFakeClockAt(epoch)
	st := newEmbedded(t, clk)
	ctx := context.Background()
	a, lostA := keeper(t, st, clk, nil)
	b, _ := keeper(t, st, clk, func(c *leases.Config) { c.Owner = "c2" })
	la, _ := a.Acquire(ctx, 2)
	if _, err := b.Acquire(ctx, 2); !errors.Is(err, store.ErrLeaseHeld) {
		t.Fatalf("second owner acquired a held lease: %v", err)
	}
	if err := a.ReleaseAll(ctx); err != nil {
		t.Fatal(err)
	}
	if la.Valid() || !errors.Is(la.Err(), leases.ErrReleased) {
		t.Fatalf("released lease: valid %v, err %v", la.Valid(), la.Err())
	}
	if lostA.cause(2) != nil {
		t.Fatalf("OnLost called for a release: %v", lostA.cause(2))
	}
	lb, err := b.Acquire(ctx, 2)
	if err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	if lb.Token() <= la.Token() {
		t.Fatalf("token went from %d to %d", la.Token(), lb.Token())
	}
}
