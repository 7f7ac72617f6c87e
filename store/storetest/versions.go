package storetest

import (
	"strconv"
	"testing"

	"github.com/cpgw/cpgw/store"
)

// Versions only grow (invariant 4): an object's version is the shard revision
// of its last change, so nothing, not even delete and re-create, can reuse one.
var versionCases = []testCase{
	{"GrowAcrossUpdates", testVersionsGrowAcrossUpdates},
	{"GrowAcrossDeleteAndRecreate", testVersionsGrowAcrossRecreate},
	{"VersionIsShardRevision", testVersionIsShardRevision},
	{"GrowAcrossOwners", testVersionsGrowAcrossOwners},
}

func testVersionsGrowAcrossUpdates(t *testing.T, s store.Store) {
	tok := own(t, s, 0)
	var last uint64
	for i := 0; i < 5; i++ {
		o := mustPut(t, s, 0, tok, "ns", "obj", `{"i":`+strconv.Itoa(i)+`}`)
		if o.Version <= last {
			t.Fatalf("write %d: version %d after %d", i, o.Version, last)
		}
		last = o.Version
		if got := mustGet(t, s, 0, "ns", "obj").Version; got != last {
			t.Fatalf("Get version %d, the write said %d", got, last)
		}
	}
}

func testVersionsGrowAcrossRecreate(t *testing.T, s store.Store) {
	tok := own(t, s, 0)
	first := mustPut(t, s, 0, tok, "ns", "obj", `{}`)
	d := applyOne(t, s, 0, tok, del("ns", "obj"))
	requireApplied(t, "delete", d, store.Deleted)
	if d.Object.Version <= first.Version {
		t.Fatalf("delete revision %d not above version %d", d.Object.Version, first.Version)
	}
	r := applyOne(t, s, 0, tok, put("ns", "obj", `{"again":true}`))
	requireApplied(t, "re-create", r, store.Created)
	if r.Object.Version <= d.Object.Version {
		t.Fatalf("re-created object has version %d, not above the delete's %d (versions must only grow)", r.Object.Version, d.Object.Version)
	}
}

func testVersionIsShardRevision(t *testing.T, s store.Store) {
	tok := own(t, s, 0)
	mustPut(t, s, 0, tok, "ns", "a", `{}`)    // 1
	mustPut(t, s, 0, tok, "other", "b", `{}`) // 2
	mustPut(t, s, 0, tok, "ns", "c", `{}`)    // 3
	o := mustPut(t, s, 0, tok, "ns", "a", `{"again":1}`)
	if o.Version != 4 {
		t.Fatalf("version %d, want 4: an object's version is the shard revision of its last change", o.Version)
	}
	requireRevision(t, s, 0, 4)
}

func testVersionsGrowAcrossOwners(t *testing.T, s store.Store) {
	a := acquire(t, s, 0, ownerA, longTTL)
	first := mustPut(t, s, 0, a.Token, "ns", "obj", `{}`)
	release(t, s, 0, ownerA, a.Token)
	b := acquire(t, s, 0, ownerB, longTTL)
	o := mustPut(t, s, 0, b.Token, "ns", "obj", `{"owner":"b"}`)
	if o.Version <= first.Version || o.Token != b.Token {
		t.Fatalf("update under the new owner = version %d token %d; want version > %d and token %d", o.Version, o.Token, first.Version, b.Token)
	}
}
