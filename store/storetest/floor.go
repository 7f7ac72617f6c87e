package storetest

import (
	"errors"
	"math"
	"testing"

	"github.com/cpgw/cpgw/fencing"
	"github.com/cpgw/cpgw/store"
)

// The token floor (LeaseRequest.After): a caller that knows a token was
// granted for a shard never gets it, or anything below it, again, even from
// a store whose counter went back.

var floorCases = []testCase{
	{"FreshShardSkipsAhead", testFloorFreshShard},
	{"BelowCounter", testFloorBelowCounter},
	{"AtCounter", testFloorAtCounter},
	{"LargeTokensExact", testFloorLarge},
	{"TooLarge", testFloorTooLarge},
	{"WhileHeld", testFloorWhileHeld},
}

func acquireAfter(t *testing.T, s store.Store, shard int, owner string, after fencing.Token) store.Lease {
	t.Helper()
	req := leaseReq(shard, owner, longTTL)
	req.After = after
	l, err := s.AcquireLease(t.Context(), req)
	if err != nil {
		t.Fatalf("AcquireLease(shard %d, %s, After %d): %v", shard, owner, after, err)
	}
	return l
}

// testFloorFreshShard: a counter below the floor (here: none at all) skips
// to floor + 1 and says so; the new token writes, the floor itself is stale,
// and the counter stays up for the next grant.
func testFloorFreshShard(t *testing.T, s store.Store) {
	l := acquireAfter(t, s, 2, ownerA, 100)
	if l.Token != 101 || !l.Regressed {
		t.Fatalf("AcquireLease(After 100) on a fresh shard = token %d, Regressed %v; want 101, true", l.Token, l.Regressed)
	}
	requireHeldBy(t, s, 2, ownerA, 101)
	mustPut(t, s, 2, 101, "ns", "obj", `{"v":1}`)
	before := snapshot(t, s, 2, "ns")
	_, err := s.Apply(t.Context(), batch(2, 100, put("ns", "obj", `{"v":2}`)))
	requireStale(t, err, fencing.StaleError{Shard: 2, Presented: 100, Current: 101, LeaseHeld: true})
	requireUnchanged(t, "a write under the floor token", s, 2, before, "ns")

	release(t, s, 2, ownerA, l.Token)
	if next := acquire(t, s, 2, ownerB, longTTL); next.Token != 102 || next.Regressed {
		t.Fatalf("next grant = token %d, Regressed %v; want 102, false (the counter was moved, not just the grant)", next.Token, next.Regressed)
	}
}

// testFloorBelowCounter: a floor the counter is already past changes
// nothing: counter + 1, not regressed.
func testFloorBelowCounter(t *testing.T, s store.Store) {
	for range 3 {
		l := acquire(t, s, 0, ownerA, longTTL)
		release(t, s, 0, ownerA, l.Token)
	}
	l := acquireAfter(t, s, 0, ownerB, 1)
	if l.Token != 4 || l.Regressed {
		t.Fatalf("AcquireLease(After 1) at counter 3 = token %d, Regressed %v; want 4, false", l.Token, l.Regressed)
	}
	mustPut(t, s, 0, l.Token, "ns", "obj", `{}`)
}

// testFloorAtCounter: a floor equal to the counter is the normal case of a
// caller that saw the last grant: the next token, no regression.
func testFloorAtCounter(t *testing.T, s store.Store) {
	first := acquire(t, s, 0, ownerA, longTTL)
	release(t, s, 0, ownerA, first.Token)
	l := acquireAfter(t, s, 0, ownerB, first.Token)
	if l.Token != first.Token+1 || l.Regressed {
		t.Fatalf("AcquireLease(After %d) at counter %d = token %d, Regressed %v; want %d, false",
			first.Token, first.Token, l.Token, l.Regressed, first.Token+1)
	}
}

// testFloorLarge: tokens far beyond 2^53 (where a float loses integers)
// come out exact.
func testFloorLarge(t *testing.T, s store.Store) {
	const after = fencing.Token(1<<62 + 3)
	l := acquireAfter(t, s, 0, ownerA, after)
	if l.Token != after+1 || !l.Regressed {
		t.Fatalf("AcquireLease(After %d) = token %d, Regressed %v; want %d, true", after, l.Token, l.Regressed, after+1)
	}
	requireHeldBy(t, s, 0, ownerA, after+1)
	mustPut(t, s, 0, after+1, "ns", "obj", `{}`)
	release(t, s, 0, ownerA, l.Token)
	if next := acquire(t, s, 0, ownerB, longTTL); next.Token != after+2 {
		t.Fatalf("next grant = token %d, want %d", next.Token, after+2)
	}
}

// testFloorTooLarge: the largest token is math.MaxInt64 (Redis counters are
// signed 64-bit), so a floor at or above it leaves nothing to grant and is
// refused as malformed, changing nothing.
func testFloorTooLarge(t *testing.T, s store.Store) {
	for _, after := range []fencing.Token{math.MaxInt64, math.MaxUint64} {
		req := leaseReq(0, ownerA, longTTL)
		req.After = after
		_, err := s.AcquireLease(t.Context(), req)
		requireInvalid(t, "AcquireLease with After "+after.String(), err)
	}
	if st := leaseState(t, s, 0); st.Held || st.Token != 0 {
		t.Fatalf("refused floors changed shard 0: %+v", st)
	}
	if l := acquireAfter(t, s, 0, ownerA, math.MaxInt64-1); l.Token != math.MaxInt64 {
		t.Fatalf("AcquireLease(After MaxInt64-1) = token %d, want MaxInt64", l.Token)
	}
}

// testFloorWhileHeld: a held lease is not granted whatever the floor, and a
// refused acquire does not move the counter.
func testFloorWhileHeld(t *testing.T, s store.Store) {
	a := acquire(t, s, 0, ownerA, longTTL)
	req := leaseReq(0, ownerB, longTTL)
	req.After = 50
	if _, err := s.AcquireLease(t.Context(), req); !errors.Is(err, store.ErrLeaseHeld) {
		t.Fatalf("AcquireLease(After 50) while held = %v, want ErrLeaseHeld", err)
	}
	requireHeldBy(t, s, 0, ownerA, a.Token)
	mustPut(t, s, 0, a.Token, "ns", "obj", `{}`)
}
