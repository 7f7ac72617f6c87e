package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/cpgw/cpgw/fencing"
	"github.com/cpgw/cpgw/store"
)

var leaseCases = []testCase{
	{"AcquireFresh", testAcquireFresh},
	{"AcquireWhileHeld", testAcquireWhileHeld},
	{"TokensGrowAcrossRelease", testTokensGrowAcrossRelease},
	{"TokensGrowAcrossExpiry", testTokensGrowAcrossExpiry},
	{"ReleaseRefused", testReleaseRefused},
	{"RenewMany", testRenewMany},
	{"RenewMixed", testRenewMixed},
	{"RenewKeepsAlive", testRenewKeepsAlive},
	{"LeasesReport", testLeasesReport},
}

// requireHeldBy checks that shard's lease is live and granted to owner under tok.
func requireHeldBy(t *testing.T, s store.Store, shard int, owner string, tok fencing.Token) {
	t.Helper()
	st := leaseState(t, s, shard)
	if !st.Held || st.Lease.Owner != owner || st.Lease.Token != tok || st.Token != tok {
		t.Fatalf("shard %d lease = %+v; want held by %s under token %d", shard, st, owner, tok)
	}
}

func testAcquireFresh(t *testing.T, s store.Store) {
	req := leaseReq(4, ownerA, longTTL)
	l, err := s.AcquireLease(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	want := store.Lease{Shard: 4, Owner: ownerA, Region: req.Region, Address: req.Address, Token: 1, TTL: longTTL}
	if l != want {
		t.Fatalf("AcquireLease = %+v, want %+v", l, want)
	}
	requireHeldBy(t, s, 4, ownerA, 1)
}

func testAcquireWhileHeld(t *testing.T, s store.Store) {
	a := acquire(t, s, 0, ownerA, longTTL)
	// Another owner, and the holder itself: the lease is not re-granted while
	// held (the holder renews instead), and a refused acquire leaves the
	// token alone.
	for _, owner := range []string{ownerB, ownerA} {
		_, err := s.AcquireLease(t.Context(), leaseReq(0, owner, longTTL))
		if !errors.Is(err, store.ErrLeaseHeld) {
			t.Fatalf("AcquireLease by %s while held = %v, want ErrLeaseHeld", owner, err)
		}
		var he *store.HeldError
		if !errors.As(err, &he) {
			t.Fatalf("AcquireLease error %v (%T) is not a *store.HeldError", err, err)
		}
		h := he.Holder
		wantLease := store.Lease{Shard: 0, Owner: ownerA, Region: a.Region, Address: a.Address, Token: a.Token}
		h.Lease.TTL = 0
		if h.Shard != 0 || !h.Held || h.Lease != wantLease || h.Token != a.Token {
			t.Fatalf("HeldError.Holder = %+v, want held with lease %+v", he.Holder, wantLease)
		}
		if h.Remaining <= 0 || h.Remaining > longTTL {
			t.Fatalf("HeldError.Holder.Remaining = %s, want in (0, %s]", h.Remaining, longTTL)
		}
	}
	requireHeldBy(t, s, 0, ownerA, a.Token)
	mustPut(t, s, 0, a.Token, "ns", "obj", `{}`) // the holder still writes
}

func testTokensGrowAcrossRelease(t *testing.T, s store.Store) {
	var tokens []fencing.Token
	for _, owner := range []string{ownerA, ownerB, ownerA} {
		l := acquire(t, s, 0, owner, longTTL)
		tokens = append(tokens, l.Token)
		release(t, s, 0, owner, l.Token)
	}
	if tokens[0] != 1 || tokens[1] != 2 || tokens[2] != 3 {
		t.Fatalf("tokens across acquire/release = %v, want [1 2 3]", tokens)
	}
}

func testTokensGrowAcrossExpiry(t *testing.T, s store.Store) {
	a := acquire(t, s, 0, ownerA, shortTTL)
	time.Sleep(expiryWait)
	if st := leaseState(t, s, 0); st.Held || st.Token != a.Token {
		t.Fatalf("after expiry Leases = %+v; want not held, token still %d", st, a.Token)
	}
	b := acquire(t, s, 0, ownerB, longTTL)
	if b.Token != a.Token+1 {
		t.Fatalf("token after expiry = %d, want %d", b.Token, a.Token+1)
	}
}

// testReleaseRefused: ErrLeaseHeld's doc also speaks of renew and release,
// but ReleaseLease and RenewLeases promise ErrLeaseLost, and that is what a
// caller checks for, so the suite requires it.
func testReleaseRefused(t *testing.T, s store.Store) {
	a := acquire(t, s, 0, ownerA, longTTL)
	for _, c := range []struct {
		name  string
		owner string
		tok   fencing.Token
	}{
		{"wrong owner", ownerB, a.Token},
		{"newer token", ownerA, a.Token + 1},
		{"wrong owner and token", ownerB, a.Token + 5},
	} {
		if err := s.ReleaseLease(t.Context(), 0, c.owner, c.tok); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("release with %s = %v, want ErrLeaseLost", c.name, err)
		}
		requireHeldBy(t, s, 0, ownerA, a.Token)
	}
	mustPut(t, s, 0, a.Token, "ns", "obj", `{}`)

	// A shard nobody ever held, a released lease, and a former holder after
	// somebody else acquired.
	if err := s.ReleaseLease(t.Context(), 9, ownerA, 1); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("release of a never-held shard = %v, want ErrLeaseLost", err)
	}
	release(t, s, 0, ownerA, a.Token)
	if err := s.ReleaseLease(t.Context(), 0, ownerA, a.Token); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("second release = %v, want ErrLeaseLost", err)
	}
	b := acquire(t, s, 0, ownerB, longTTL)
	if err := s.ReleaseLease(t.Context(), 0, ownerA, a.Token); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("release by the former holder = %v, want ErrLeaseLost", err)
	}
	requireHeldBy(t, s, 0, ownerB, b.Token)
}

func testRenewMany(t *testing.T, s store.Store) {
	const initial = 2 * time.Second
	shards := []int{0, 1, 2, 3, 4}
	var rs []store.LeaseRenewal
	for _, sh := range shards {
		l := acquire(t, s, sh, ownerA, initial)
		rs = append(rs, store.LeaseRenewal{Shard: sh, Owner: ownerA, Token: l.Token, TTL: longTTL})
	}
	errs, err := s.RenewLeases(t.Context(), rs)
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) != len(rs) {
		t.Fatalf("RenewLeases returned %d errors for %d renewals", len(errs), len(rs))
	}
	for i, e := range errs {
		if e != nil {
			t.Fatalf("renewal %d: %v", i, e)
		}
	}
	// Remaining beyond the initial TTL shows each lease was extended by the
	// renewal's TTL.
	for _, st := range leaseStates(t, s, shards...) {
		if !st.Held || st.Token != 1 || st.Remaining <= initial || st.Remaining > longTTL {
			t.Fatalf("after renewal %+v; want held, token 1, Remaining in (%s, %s]", st, initial, longTTL)
		}
	}
}

func testRenewMixed(t *testing.T, s store.Store) {
	ok0 := acquire(t, s, 0, ownerA, longTTL)
	released := acquire(t, s, 1, ownerA, longTTL)
	release(t, s, 1, ownerA, released.Token)
	old := acquire(t, s, 2, ownerA, longTTL)
	release(t, s, 2, ownerA, old.Token)
	newer := acquire(t, s, 2, ownerB, longTTL)
	expired := acquire(t, s, 3, ownerA, shortTTL)
	held5 := acquire(t, s, 5, ownerA, longTTL)
	ok6 := acquire(t, s, 6, ownerA, longTTL)
	time.Sleep(expiryWait)

	rs := []store.LeaseRenewal{
		{Shard: 0, Owner: ownerA, Token: ok0.Token, TTL: longTTL},
		{Shard: 1, Owner: ownerA, Token: released.Token, TTL: longTTL},
		{Shard: 2, Owner: ownerA, Token: old.Token, TTL: longTTL},
		{Shard: 3, Owner: ownerA, Token: expired.Token, TTL: longTTL},
		{Shard: 4, Owner: ownerA, Token: 1, TTL: longTTL}, // never held
		{Shard: 5, Owner: ownerB, Token: held5.Token, TTL: longTTL},
		{Shard: 6, Owner: ownerA, Token: ok6.Token, TTL: longTTL},
	}
	errs, err := s.RenewLeases(t.Context(), rs)
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) != len(rs) {
		t.Fatalf("RenewLeases returned %d errors for %d renewals", len(errs), len(rs))
	}
	for i, e := range errs {
		wantOK := i == 0 || i == 6
		if wantOK && e != nil {
			t.Fatalf("renewal of shard %d: %v, want nil", rs[i].Shard, e)
		}
		if !wantOK && !errors.Is(e, store.ErrLeaseLost) {
			t.Fatalf("renewal of shard %d: %v, want ErrLeaseLost", rs[i].Shard, e)
		}
	}
	// A refused renewal must not resurrect or take over a lease.
	st := leaseStates(t, s, 1, 3, 4)
	for _, x := range st {
		if x.Held {
			t.Fatalf("refused renewal left shard %d held: %+v", x.Shard, x)
		}
	}
	requireHeldBy(t, s, 2, ownerB, newer.Token)
	requireHeldBy(t, s, 5, ownerA, held5.Token)
}

// testRenewKeepsAlive renews a lease every third of its TTL for over three
// TTLs. The TTL leaves room for a scheduling stall of a few hundred ms.
func testRenewKeepsAlive(t *testing.T, s store.Store) {
	const ttl = 600 * time.Millisecond
	a := acquire(t, s, 0, ownerA, ttl)
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(ttl / 3)
		errs, err := s.RenewLeases(t.Context(), []store.LeaseRenewal{{Shard: 0, Owner: ownerA, Token: a.Token, TTL: ttl}})
		if err != nil || len(errs) != 1 || errs[0] != nil {
			t.Fatalf("renewal = %v, %v; want [nil], nil", errs, err)
		}
	}
	requireHeldBy(t, s, 0, ownerA, a.Token)
	if _, err := s.AcquireLease(t.Context(), leaseReq(0, ownerB, longTTL)); !errors.Is(err, store.ErrLeaseHeld) {
		t.Fatalf("acquire of a renewed lease = %v, want ErrLeaseHeld", err)
	}
	mustPut(t, s, 0, a.Token, "ns", "obj", `{}`)
}

func testLeasesReport(t *testing.T, s store.Store) {
	a := acquire(t, s, 7, ownerA, longTTL)
	r := acquire(t, s, 3, ownerA, longTTL)
	release(t, s, 3, ownerA, r.Token)
	acquire(t, s, 1, ownerA, longTTL)
	release(t, s, 1, ownerA, 1)
	b := acquire(t, s, 1, ownerB, 10*time.Second)

	sts := leaseStates(t, s, 7, 3, 9, 1)
	held := func(st store.LeaseState, shard int, l store.Lease, ttl time.Duration) {
		t.Helper()
		got := st.Lease
		got.TTL = 0
		want := store.Lease{Shard: shard, Owner: l.Owner, Region: l.Region, Address: l.Address, Token: l.Token}
		if st.Shard != shard || !st.Held || got != want || st.Token != l.Token {
			t.Fatalf("Leases entry = %+v; want shard %d held with %+v", st, shard, want)
		}
		if st.Remaining <= 0 || st.Remaining > ttl {
			t.Fatalf("shard %d Remaining = %s, want in (0, %s]", shard, st.Remaining, ttl)
		}
	}
	// Not held: Lease is zero except for Shard, no time remaining, and Token
	// is the shard's current token (0 if never granted).
	notHeld := func(st store.LeaseState, shard int, tok fencing.Token) {
		t.Helper()
		want := store.LeaseState{Shard: shard, Lease: store.Lease{Shard: shard}, Token: tok}
		if st != want {
			t.Fatalf("Leases entry = %+v, want %+v", st, want)
		}
	}
	held(sts[0], 7, a, longTTL)
	notHeld(sts[1], 3, r.Token)
	notHeld(sts[2], 9, 0)
	held(sts[3], 1, b, 10*time.Second)
	if b.Token != 2 {
		t.Fatalf("second grant of shard 1 has token %d, want 2", b.Token)
	}
}
