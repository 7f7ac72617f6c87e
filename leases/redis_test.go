package leases_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/cpgw/cpgw/fencing"
	"github.com/cpgw/cpgw/internal/redistest"
	"github.com/cpgw/cpgw/leases"
	"github.com/cpgw/cpgw/store"
	"github.com/cpgw/cpgw/store/redisstore"
)

func redisStore(t *testing.T, c *redis.Client) *redisstore.Store {
	t.Helper()
	st, err := redisstore.New(c, redisstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func realKeeper(t *testing.T, st leases.Store, owner string, ttl time.Duration) *leases.Keeper {
	t.Helper()
	cfg := leases.DefaultConfig()
	cfg.Owner, cfg.Region, cfg.TTL = owner, "us-east", ttl
	cfg.RetryInterval = ttl / 10
	cfg.Logger = slog.New(slog.DiscardHandler)
	k, err := leases.New(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Two contenders race for every shard: each shard gets exactly one owner.
func TestRedisTwoContendersOneOwner(t *testing.T) {
	rs := redistest.Start(t, 0)
	st := redisStore(t, rs.Client(t))
	ks := []*leases.Keeper{realKeeper(t, st, "a", 30*time.Second), realKeeper(t, st, "b", 30*time.Second)}
	const shards = 64
	var wins [shards]atomic.Int32
	var wg sync.WaitGroup
	for _, k := range ks {
		for s := 0; s < shards; s++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := k.Acquire(context.Background(), s)
				switch {
				case err == nil:
					wins[s].Add(1)
				case !errors.Is(err, store.ErrLeaseHeld):
					t.Errorf("shard %d: %v", s, err)
				}
			}()
		}
	}
	wg.Wait()
	for s := range wins {
		if n := wins[s].Load(); n != 1 {
			t.Errorf("shard %d has %d owners", s, n)
		}
	}
	for s := 0; s < shards; s++ {
		_, okA := ks[0].Lease(s)
		_, okB := ks[1].Lease(s)
		if okA == okB {
			t.Errorf("shard %d: held by a %v, by b %v", s, okA, okB)
		}
	}
}

// The owner stops renewing (a pause). Another coordinator acquires only after
// the TTL, with a greater token; the paused owner had already stopped acting
// (Invariant 2) and its write is refused (Invariant 1).
func TestRedisPausedOwnerIsFenced(t *testing.T) {
	rs := redistest.Start(t, 0)
	st := redisStore(t, rs.Client(t))
	ctx := context.Background()
	const ttl = 600 * time.Millisecond
	a := realKeeper(t, st, "a", ttl) // never runs its renewal loop: paused
	b := realKeeper(t, st, "b", ttl)
	la, err := a.Acquire(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	put := func(tok fencing.Token, v string) error {
		res, err := st.Apply(ctx, store.Batch{Shard: 5, Token: tok, Now: time.Now(), Writes: []store.Write{
			{Op: store.OpPut, Namespace: "ns", Name: "obj", Value: []byte(`{"v":"` + v + `"}`)},
		}})
		if err != nil {
			return err
		}
		return res[0].Err
	}
	if err := put(la.Token(), "a"); err != nil {
		t.Fatalf("owner's own write: %v", err)
	}

	var lb *leases.Lease
	deadline := time.Now().Add(10 * ttl)
	for lb == nil {
		l, err := b.Acquire(ctx, 5)
		switch {
		case err == nil:
			lb = l
		case errors.Is(err, store.ErrLeaseHeld):
			if time.Now().After(deadline) {
				t.Fatal("lease never became free")
			}
			time.Sleep(10 * time.Millisecond)
		default:
			t.Fatal(err)
		}
	}
	acquiredAt := time.Now()
	if !la.SafeUntil().Before(acquiredAt) {
		t.Fatalf("old owner safe until %v, new owner acquired at %v: two owners at once", la.SafeUntil(), acquiredAt)
	}
	if la.Valid() {
		t.Fatal("paused owner still believes it holds the lease")
	}
	if lb.Token() <= la.Token() {
		t.Fatalf("new token %d not greater than old %d", lb.Token(), la.Token())
	}
	if err := put(la.Token(), "zombie"); !errors.Is(err, fencing.ErrStale) {
		t.Fatalf("zombie write: %v, want fencing.ErrStale", err)
	}
	if err := put(lb.Token(), "b"); err != nil {
		t.Fatalf("new owner's write: %v", err)
	}
	got, err := st.Get(ctx, 5, "ns", "obj")
	if err != nil || string(got.Value) != `{"v":"b"}` || got.Token != lb.Token() {
		t.Fatalf("object after fencing: %s token %d, %v", got.Value, got.Token, err)
	}
}

// countingHook counts commands and pipelines sent to Redis.
type countingHook struct{ singles, pipelines atomic.Int64 }

func (h *countingHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.singles.Add(1); return next(ctx, cmd) }
}
func (h *countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.pipelines.Add(1); return next(ctx, cmds) }
}

// A Keeper holding 1,000 leases renews them all in one round trip.
func TestRedisRenew1000InOneRoundTrip(t *testing.T) {
	rs := redistest.Start(t, 0)
	c := rs.Client(t)
	hook := &countingHook{}
	c.AddHook(hook)
	k := realKeeper(t, redisStore(t, c), "a", 10*time.Second)
	ctx := context.Background()
	held := make([]*leases.Lease, 1000)
	for s := range held {
		l, err := k.Acquire(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		held[s] = l
	}
	if err := k.Renew(ctx); err != nil { // warm-up: loads the script
		t.Fatal(err)
	}
	before := make([]time.Time, len(held))
	for i, l := range held {
		before[i] = l.SafeUntil()
	}
	hook.singles.Store(0)
	hook.pipelines.Store(0)
	if err := k.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	if s, p := hook.singles.Load(), hook.pipelines.Load(); s != 0 || p != 1 {
		t.Fatalf("renewing 1,000 leases took %d commands and %d pipelines, want 0 and 1", s, p)
	}
	for i, l := range held {
		if !l.Valid() || !l.SafeUntil().After(before[i]) {
			t.Fatalf("lease %d not extended (valid %v)", i, l.Valid())
		}
	}
}

// With Redis frozen (SIGSTOP), renewals cannot get through; the holder stops
// at its safe expiry, not later, and says why.
func TestRedisUnreachableOwnerStopsAtSafeExpiry(t *testing.T) {
	rs := redistest.Start(t, 0)
	c := redis.NewClient(&redis.Options{Addr: rs.Primary.Addr, ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond,
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return (&net.Dialer{Timeout: 200 * time.Millisecond}).DialContext(ctx, network, addr)
		}})
	t.Cleanup(func() { c.Close() })
	lost := make(chan error, 1)
	cfg := leases.DefaultConfig()
	cfg.Owner, cfg.Region, cfg.TTL, cfg.RetryInterval = "a", "us-east", time.Second, 50*time.Millisecond
	cfg.Clock = clockwork.NewRealClock()
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.OnLost = func(_ int, _ fencing.Token, cause error) { lost <- cause }
	k, err := leases.New(redisStore(t, c), cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := k.Acquire(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); k.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()

	if err := rs.Primary.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer rs.Primary.Signal(syscall.SIGCONT)
	select {
	case cause := <-lost:
		if !errors.Is(cause, leases.ErrExpired) {
			t.Fatalf("lost with %v, want ErrExpired", cause)
		}
		if now := time.Now(); now.Before(l.SafeUntil()) {
			t.Fatalf("lease ended %v before its safe expiry", l.SafeUntil().Sub(now))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("holder kept its lease with the store unreachable")
	}
}
