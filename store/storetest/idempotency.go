package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/cpgw/cpgw/fencing"
	"github.com/cpgw/cpgw/store"
)

var idempotencyCases = []testCase{
	{"ReplayReturnsFirstResult", testReplayReturnsFirstResult},
	{"ReplayAfterOwnerChange", testReplayAfterOwnerChange},
	{"DeleteReplay", testDeleteReplay},
	{"FingerprintMismatch", testFingerprintMismatch},
	{"FailureReplays/IfAbsentExisting", failureReplayCase(failIfAbsentExisting)},
	{"FailureReplays/IfVersionMismatch", failureReplayCase(failIfVersionMismatch)},
	{"FailureReplays/DeleteAbsent", failureReplayCase(failDeleteAbsent)},
	{"ScopedPerNamespace", testKeysScopedPerNamespace},
	{"RecordExpires", testIdempotencyRecordExpires},
	{"SameKeyTwiceInOneBatch", testSameKeyTwiceInOneBatch},
}

// requireReplay checks that got replays first: same error or outcome and the
// same object metadata (the value is not part of the record).
func requireReplay(t *testing.T, what string, got, first store.Result) {
	t.Helper()
	if !got.Replayed {
		t.Fatalf("%s: Replayed = false, want a replay of the first result", what)
	}
	if first.Err != nil {
		for _, target := range []error{store.ErrPrecondition, store.ErrNotFound} {
			if errors.Is(first.Err, target) && !errors.Is(got.Err, target) {
				t.Fatalf("%s: replayed Err = %v, want %v as the first time", what, got.Err, target)
			}
		}
		return
	}
	if got.Err != nil || got.Outcome != first.Outcome {
		t.Fatalf("%s: replay = Err %v Outcome %v, want the first outcome %v", what, got.Err, got.Outcome, first.Outcome)
	}
	want := first.Object
	want.Value = got.Object.Value
	requireObject(t, what+": replayed Result.Object", got.Object, want)
}

func testReplayReturnsFirstResult(t *testing.T, s store.Store) {
	tok := own(t, s, 0)
	w := withKey(put("ns", "obj", `{"v":1}`), "key-1", "fp-1")
	first := applyOne(t, s, 0, tok, w)
	requireApplied(t, "first write", first, store.Created)
	// A later change to the object must not leak into the replay, and the
	// replay must not undo it.
	mustPut(t, s, 0, tok, "ns", "obj", `{"v":2}`)
	before := snapshot(t, s, 0, "ns")
	b := batch(0, tok, w)
	b.Now = testNow.Add(time.Hour)
	requireReplay(t, "repeat", apply(t, s, b)[0], first)
	requireUnchanged(t, "a replay", s, 0, before, "ns")
}

func testReplayAfterOwnerChange(t *testing.T, s store.Store) {
	a := own(t, s, 0)
	w := withKey(put("ns", "obj", `{}`), "key-1", "fp-1")
	first := applyOne(t, s, 0, a, w)
	requireApplied(t, "first write", first, store.Created)
	release(t, s, 0, ownerA, a)
	b := acquire(t, s, 0, ownerB, longTTL).Token
	before := snapshot(t, s, 0, "ns")
	r := applyOne(t, s, 0, b, w)
	requireReplay(t, "repeat under the new owner", r, first)
	if r.Object.Token != a {
		t.Fatalf("replay carries token %d, want the first write's %d", r.Object.Token, a)
	}
	requireUnchanged(t, "a replay", s, 0, before, "ns")
}

func testDeleteReplay(t *testing.T, s store.Store) {
	tok := own(t, s, 0)
	mustPut(t, s, 0, tok, "ns", "obj", `{}`)
	w := withKey(del("ns", "obj"), "del-1", "fp-del")
	first := applyOne(t, s, 0, tok, w)
	requireApplied(t, "first delete", first, store.Deleted)
	mustPut(t, s, 0, tok, "ns", "obj", `{"back":true}`)
	before := snapshot(t, s, 0, "ns")
	requireReplay(t, "repeated delete", applyOne(t, s, 0, tok, w), first)
	requireUnchanged(t, "a replayed delete", s, 0, before, "ns")
}

func testFingerprintMismatch(t *testing.T, s store.Store) {
	tok := own(t, s, 0)
	w := withKey(put("ns", "obj", `{"v":1}`), "key-1", "fp-1")
	first := applyOne(t, s, 0, tok, w)
	requireApplied(t, "first write", first, store.Created)
	before := snapshot(t, s, 0, "ns")
	for _, other := range []store.Write{
		withKey(put("ns", "obj", `{"v":2}`), "key-1", "fp-2"),
		withKey(put("ns", "elsewhere", `{}`), "key-1", "fp-3"),
		withKey(del("ns", "obj"), "key-1", "fp-4"),
	} {
		r := applyOne(t, s, 0, tok, other)
		requireFailed(t, "same key, other fingerprint ("+other.Idempotency.Fingerprint+")", r, store.ErrIdempotencyMismatch)
	}
	requireUnchanged(t, "a fingerprint mismatch", s, 0, before, "ns")
	// The mismatch must not have overwritten the record.
	requireReplay(t, "repeat with the first fingerprint", applyOne(t, s, 0, tok, w), first)
}

// failureArrange makes a keyed write fail, then changes the shard so that the
// same write would now succeed; a replay must still answer with the failure.
type failureArrange func(t *testing.T, s store.Store, tok fencing.Token) (w store.Write, makeApplicable func(), want error)

func failIfAbsentExisting(t *testing.T, s store.Store, tok fencing.Token) (store.Write, func(), error) {
	mustPut(t, s, 0, tok, "ns", "obj", `{}`)
	return withKey(ifAbsent(put("ns", "obj", `{"new":true}`)), "k", "fp"), func() {
		applyOne(t, s, 0, tok, del("ns", "obj"))
	}, store.ErrPrecondition
}

func failIfVersionMismatch(t *testing.T, s store.Store, tok fencing.Token) (store.Write, func(), error) {
	mustPut(t, s, 0, tok, "ns", "obj", `{}`) // version 1
	return withKey(ifVersion(put("ns", "obj", `{"new":true}`), 2), "k", "fp"), func() {
		mustPut(t, s, 0, tok, "ns", "obj", `{"v":2}`) // version 2
	}, store.ErrPrecondition
}

func failDeleteAbsent(t *testing.T, s store.Store, tok fencing.Token) (store.Write, func(), error) {
	return withKey(del("ns", "obj"), "k", "fp"), func() {
		mustPut(t, s, 0, tok, "ns", "obj", `{}`)
	}, store.ErrNotFound
}

func failureReplayCase(arrange failureArrange) func(t *testing.T, s store.Store) {
	return func(t *testing.T, s store.Store) {
		tok := own(t, s, 0)
		w, makeApplicable, want := arrange(t, s, tok)
		first := applyOne(t, s, 0, tok, w)
		requireFailed(t, "first attempt", first, want)
		if first.Replayed {
			t.Fatalf("first attempt reported Replayed")
		}
		makeApplicable()
		before := snapshot(t, s, 0, "ns")
		r := applyOne(t, s, 0, tok, w)
		requireReplay(t, "repeat of a failed write", r, first)
		requireUnchanged(t, "the replay of a failure", s, 0, before, "ns")
	}
}

func testKeysScopedPerNamespace(t *testing.T, s store.Store) {
	tok := own(t, s, 0)
	r1 := applyOne(t, s, 0, tok, withKey(put("ns1", "obj", `{}`), "shared", "fp-1"))
	r2 := applyOne(t, s, 0, tok, withKey(put("ns2", "obj", `{}`), "shared", "fp-2"))
	requireApplied(t, "key in ns1", r1, store.Created)
	requireApplied(t, "same key in ns2", r2, store.Created)
	// And with the same fingerprint: still two effects, one per namespace.
	r3 := applyOne(t, s, 0, tok, withKey(put("ns3", "obj", `{}`), "shared", "fp-1"))
	requireApplied(t, "same key and fingerprint in ns3", r3, store.Created)
	requireRevision(t, s, 0, 3)
}

func testIdempotencyRecordExpires(t *testing.T, s store.Store) {
	tok := own(t, s, 0)
	short := func(w store.Write) store.Write { w.Idempotency.TTL = 200 * time.Millisecond; return w }
	same := short(withKey(put("ns", "a", `{}`), "short-same", "fp"))
	other := short(withKey(put("ns", "b", `{}`), "short-other", "fp-1"))
	kept := withKey(put("ns", "c", `{}`), "default-ttl", "fp")
	var keptFirst store.Result
	for _, w := range []store.Write{same, other, kept} {
		keptFirst = applyOne(t, s, 0, tok, w)
		requireApplied(t, "first use of "+w.Idempotency.Key, keptFirst, store.Created)
	}
	time.Sleep(600 * time.Millisecond)

	r := applyOne(t, s, 0, tok, same)
	requireApplied(t, "same key and fingerprint after the record expired", r, store.Updated)
	otherAgain := withKey(put("ns", "b", `{"v":2}`), "short-other", "fp-2")
	requireApplied(t, "same key, new fingerprint after the record expired", applyOne(t, s, 0, tok, otherAgain), store.Updated)
	requireReplay(t, "key with the default TTL", applyOne(t, s, 0, tok, kept), keptFirst)
}

func testSameKeyTwiceInOneBatch(t *testing.T, s store.Store) {
	tok := own(t, s, 0)
	w := withKey(put("ns", "obj", `{}`), "twice", "fp")
	rs := apply(t, s, batch(0, tok, w, w))
	requireApplied(t, "first of the pair", rs[0], store.Created)
	requireReplay(t, "second of the pair", rs[1], rs[0])
	requireRevision(t, s, 0, 1)

	rs = apply(t, s, batch(0, tok,
		withKey(put("ns", "x", `{"v":1}`), "pair", "fp-1"),
		withKey(put("ns", "x", `{"v":2}`), "pair", "fp-2"),
	))
	requireApplied(t, "first of a mismatched pair", rs[0], store.Created)
	requireFailed(t, "second of a mismatched pair", rs[1], store.ErrIdempotencyMismatch)
	if o := mustGet(t, s, 0, "ns", "x"); string(o.Value) != `{"v":1}` {
		t.Fatalf("x = %s, the mismatched write was applied", o.Value)
	}
	requireRevision(t, s, 0, 2)
}
