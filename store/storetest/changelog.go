package storetest

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/cpgw/cpgw/fencing"
	"github.com/cpgw/cpgw/store"
)

var changeLogCases = []testCase{
	{"EmptyShard", testChangesEmpty},
	{"EveryChangeInOrder", testChangesEveryChange},
	{"AfterAndLimit", testChangesAfterAndLimit},
	{"OnlyAppliedChanges", testChangesOnlyApplied},
}

// buildLog writes a known history on shard 0 across two owners and returns
// the change log it must produce.
func buildLog(t *testing.T, s store.Store) []store.Change {
	t.Helper()
	a := own(t, s, 0)
	apply(t, s, batch(0, a, put("ns", "a", `{}`), put("ns", "b", `{}`)))
	mustPut(t, s, 0, a, "other", "a", `{}`)
	mustPut(t, s, 0, a, "ns", "a", `{"v":2}`)
	applyOne(t, s, 0, a, del("ns", "b"))
	release(t, s, 0, ownerA, a)
	b := acquire(t, s, 0, ownerB, longTTL).Token
	apply(t, s, batch(0, b, put("ns", "c", `{}`), del("ns", "a")))
	ch := func(rev uint64, op store.Op, ns, name string, tok fencing.Token) store.Change {
		return store.Change{Revision: rev, Op: op, Namespace: ns, Name: name, Token: tok}
	}
	return []store.Change{
		ch(1, store.OpPut, "ns", "a", a),
		ch(2, store.OpPut, "ns", "b", a),
		ch(3, store.OpPut, "other", "a", a),
		ch(4, store.OpPut, "ns", "a", a),
		ch(5, store.OpDelete, "ns", "b", a),
		ch(6, store.OpPut, "ns", "c", b),
		ch(7, store.OpDelete, "ns", "a", b),
	}
}

func requireChanges(t *testing.T, what string, got, want []store.Change) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\ngot  %+v\nwant %+v", what, got, want)
	}
}

func testChangesEmpty(t *testing.T, s store.Store) {
	requireChanges(t, "Changes on an empty shard", changes(t, s, 0, 0, 10), nil)
}

func testChangesEveryChange(t *testing.T, s store.Store) {
	want := buildLog(t, s)
	requireChanges(t, "Changes(after 0)", changes(t, s, 0, 0, allChanges), want)
}

func testChangesAfterAndLimit(t *testing.T, s store.Store) {
	log := buildLog(t, s)
	n := uint64(len(log))
	cases := []struct {
		after uint64
		limit int
		from  uint64 // first expected revision
		count int
	}{
		{0, 1, 1, 1},
		{0, 3, 1, 3},
		{0, int(n), 1, int(n)},
		{2, allChanges, 3, int(n) - 2},
		{2, 2, 3, 2},
		{n - 1, allChanges, n, 1},
		{n - 1, 5, n, 1},
		{n, allChanges, 0, 0},
		{n + 100, allChanges, 0, 0},
	}
	for _, c := range cases {
		var want []store.Change
		if c.count > 0 {
			want = log[c.from-1 : int(c.from-1)+c.count]
		}
		requireChanges(t, fmt.Sprintf("Changes(after %d, limit %d)", c.after, c.limit), changes(t, s, 0, c.after, c.limit), want)
	}
}

// testChangesOnlyApplied: failed, replayed, refused and invalid writes leave
// no trace in the log, so revisions in it stay contiguous.
func testChangesOnlyApplied(t *testing.T, s store.Store) {
	tok := own(t, s, 0)
	keyed := withKey(put("ns", "a", `{}`), "k", "fp")
	apply(t, s, batch(0, tok, keyed))
	apply(t, s, batch(0, tok,
		keyed, // replay
		withKey(put("ns", "a", `{}`), "k", "fp-other"), // mismatch
		ifAbsent(put("ns", "a", `{}`)),                 // precondition
		ifVersion(put("ns", "a", `{}`), 7),             // precondition
		del("ns", "missing"),                           // not found
	))
	if _, err := s.Apply(t.Context(), batch(0, tok+1, put("ns", "stale", `{}`))); err == nil {
		t.Fatal("Apply with a future token succeeded")
	}
	if _, err := s.Apply(t.Context(), batch(0, tok, put("ns", "ok", `{}`), put("ns", "", `{}`))); err == nil {
		t.Fatal("Apply of an invalid batch succeeded")
	}
	mustPut(t, s, 0, tok, "ns", "b", `{}`)
	requireChanges(t, "change log", changes(t, s, 0, 0, allChanges), []store.Change{
		{Revision: 1, Op: store.OpPut, Namespace: "ns", Name: "a", Token: tok},
		{Revision: 2, Op: store.OpPut, Namespace: "ns", Name: "b", Token: tok},
	})
}
