package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/cpgw/cpgw/fencing"
	"github.com/cpgw/cpgw/store"
)

var fencingCases = []testCase{
	{"FutureTokenWhileHeld", staleCase(staleFutureToken)},
	{"OldTokenAfterRelease", staleCase(staleAfterRelease)},
	{"OldTokenAfterExpiry", staleCase(staleAfterExpiry)},
	{"CurrentTokenAfterRelease", staleCase(staleReleasedCurrent)},
	{"CurrentTokenAfterExpiry", staleCase(staleExpiredCurrent)},
	{"NeverLeasedShard", staleCase(staleNeverLeased)},
	{"NewOwnerFencesOldOne", testNewOwnerFencesOldOne},
	{"ZeroToken", testZeroToken},
}

const fenceShard = 5

// staleArrange sets a shard up so that presenting a token is refused. It
// returns the token to present, the refusal expected, and a token that may
// write afterwards (0: nobody holds the shard).
type staleArrange func(t *testing.T, s store.Store) (presented fencing.Token, want fencing.StaleError, valid fencing.Token)

// fenceBaseline writes state a refused batch could disturb: an object and an
// idempotency record.
func fenceBaseline(t *testing.T, s store.Store, tok fencing.Token) {
	t.Helper()
	r := applyOne(t, s, fenceShard, tok, withKey(put("ns", "obj", `{"v":1}`), "base", "fp-base"))
	requireApplied(t, "baseline", r, store.Created)
	mustPut(t, s, fenceShard, tok, "ns", "other", `{}`)
}

// staleCase presents a refused token with a batch that would create, update,
// delete, replay and record an idempotency key, and checks that the refusal
// is a precise *fencing.StaleError and that nothing at all changed.
func staleCase(arrange staleArrange) func(t *testing.T, s store.Store) {
	return func(t *testing.T, s store.Store) {
		presented, want, valid := arrange(t, s)
		before := snapshot(t, s, fenceShard, "ns")
		b := batch(fenceShard, presented,
			withKey(put("ns", "obj", `{"v":1}`), "base", "fp-base"), // would replay
			withKey(put("ns", "new", `{}`), "fresh", "fp-fresh"),    // would create and record
			put("ns", "obj", `{"v":2}`),                             // would update
			del("ns", "other"),                                      // would delete
		)
		rs, err := s.Apply(t.Context(), b)
		requireStale(t, err, want)
		for i, r := range rs {
			if r.Err == nil {
				t.Fatalf("refused batch returned a successful result %d: %+v", i, r)
			}
		}
		requireUnchanged(t, "a refused batch", s, fenceShard, before, "ns")
		if valid == 0 {
			valid = acquire(t, s, fenceShard, "coord-c", longTTL).Token
		}
		requireKeyUnused(t, s, fenceShard, valid, "ns", "fresh")
	}
}

func staleFutureToken(t *testing.T, s store.Store) (fencing.Token, fencing.StaleError, fencing.Token) {
	tok := own(t, s, fenceShard)
	fenceBaseline(t, s, tok)
	return tok + 1, fencing.StaleError{Shard: fenceShard, Presented: tok + 1, Current: tok, LeaseHeld: true}, tok
}

func staleAfterRelease(t *testing.T, s store.Store) (fencing.Token, fencing.StaleError, fencing.Token) {
	a := own(t, s, fenceShard)
	fenceBaseline(t, s, a)
	release(t, s, fenceShard, ownerA, a)
	b := acquire(t, s, fenceShard, ownerB, longTTL).Token
	return a, fencing.StaleError{Shard: fenceShard, Presented: a, Current: b, LeaseHeld: true}, b
}

// staleAfterExpiry: the paused owner whose lease ran out and was taken over.
// The baseline is written under a long lease so no write races the short one.
func staleAfterExpiry(t *testing.T, s store.Store) (fencing.Token, fencing.StaleError, fencing.Token) {
	first := own(t, s, fenceShard)
	fenceBaseline(t, s, first)
	release(t, s, fenceShard, ownerA, first)
	a := acquire(t, s, fenceShard, ownerA, shortTTL).Token
	time.Sleep(expiryWait)
	b := acquire(t, s, fenceShard, ownerB, longTTL).Token
	return a, fencing.StaleError{Shard: fenceShard, Presented: a, Current: b, LeaseHeld: true}, b
}

func staleReleasedCurrent(t *testing.T, s store.Store) (fencing.Token, fencing.StaleError, fencing.Token) {
	a := own(t, s, fenceShard)
	fenceBaseline(t, s, a)
	release(t, s, fenceShard, ownerA, a)
	return a, fencing.StaleError{Shard: fenceShard, Presented: a, Current: a, LeaseHeld: false}, 0
}

func staleExpiredCurrent(t *testing.T, s store.Store) (fencing.Token, fencing.StaleError, fencing.Token) {
	first := own(t, s, fenceShard)
	fenceBaseline(t, s, first)
	release(t, s, fenceShard, ownerA, first)
	a := acquire(t, s, fenceShard, ownerA, shortTTL).Token
	time.Sleep(expiryWait)
	return a, fencing.StaleError{Shard: fenceShard, Presented: a, Current: a, LeaseHeld: false}, 0
}

func staleNeverLeased(t *testing.T, s store.Store) (fencing.Token, fencing.StaleError, fencing.Token) {
	return 1, fencing.StaleError{Shard: fenceShard, Presented: 1, Current: 0, LeaseHeld: false}, 0
}

func testNewOwnerFencesOldOne(t *testing.T, s store.Store) {
	a := acquire(t, s, 0, ownerA, shortTTL)
	mustPut(t, s, 0, a.Token, "ns", "obj", `{"by":"a"}`)
	time.Sleep(expiryWait)
	b := acquire(t, s, 0, ownerB, longTTL)
	if b.Token <= a.Token {
		t.Fatalf("new owner's token %d not above the old one's %d", b.Token, a.Token)
	}
	_, err := s.Apply(t.Context(), batch(0, a.Token, put("ns", "obj", `{"by":"a, late"}`)))
	requireStale(t, err, fencing.StaleError{Shard: 0, Presented: a.Token, Current: b.Token, LeaseHeld: true})
	r := applyOne(t, s, 0, b.Token, put("ns", "obj", `{"by":"b"}`))
	requireApplied(t, "write by the new owner", r, store.Updated)
	if o := mustGet(t, s, 0, "ns", "obj"); o.Token != b.Token || string(o.Value) != `{"by":"b"}` {
		t.Fatalf("object after the new owner's write = %+v", o)
	}
}

// testZeroToken: token 0 means "never granted"; Batch.Validate calls it
// invalid and the guard calls it stale. Either refusal is conformant.
func testZeroToken(t *testing.T, s store.Store) {
	tok := own(t, s, 0)
	mustPut(t, s, 0, tok, "ns", "obj", `{}`)
	before := snapshot(t, s, 0, "ns")
	_, err := s.Apply(t.Context(), batch(0, 0, put("ns", "obj", `{"zero":true}`), put("ns", "new", `{}`)))
	if !errors.Is(err, store.ErrInvalid) && !errors.Is(err, fencing.ErrStale) {
		t.Fatalf("Apply with token 0 = %v, want ErrInvalid or fencing.ErrStale", err)
	}
	requireUnchanged(t, "a batch with token 0", s, 0, before, "ns")
}
