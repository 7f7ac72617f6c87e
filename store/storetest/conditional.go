package storetest

import (
	"testing"

	"github.com/cpgw/cpgw/store"
)

var conditionalCases = func() []testCase {
	var cs []testCase
	for _, c := range conditionalTable {
		cs = append(cs, testCase{c.name, c.run})
	}
	return cs
}()

// condCase is one conditional write against a shard holding "obj" at version
// 2 (created, then updated) and "gone" (created at 3, deleted at 4).
type condCase struct {
	name    string
	write   store.Write
	wantErr error         // nil: applied
	want    store.Outcome // when applied
}

const (
	condObjVersion  = 2
	condGoneVersion = 3 // the last version "gone" had before its delete
)

var conditionalTable = []condCase{
	{"PutIfVersionMatches", ifVersion(put("ns", "obj", `{"v":3}`), condObjVersion), nil, store.Updated},
	{"PutIfVersionOlder", ifVersion(put("ns", "obj", `{"v":3}`), condObjVersion-1), store.ErrPrecondition, 0},
	{"PutIfVersionNewer", ifVersion(put("ns", "obj", `{"v":3}`), 99), store.ErrPrecondition, 0},
	// Result.Err's doc: IfVersion on an absent object is ErrNotFound, not ErrPrecondition.
	{"PutIfVersionAbsent", ifVersion(put("ns", "absent", `{}`), 1), store.ErrNotFound, 0},
	{"PutIfVersionDeleted", ifVersion(put("ns", "gone", `{}`), condGoneVersion), store.ErrNotFound, 0},
	{"PutIfAbsentAbsent", ifAbsent(put("ns", "absent", `{}`)), nil, store.Created},
	{"PutIfAbsentDeleted", ifAbsent(put("ns", "gone", `{}`)), nil, store.Created},
	{"PutIfAbsentExisting", ifAbsent(put("ns", "obj", `{}`)), store.ErrPrecondition, 0},
	{"DeleteIfVersionMatches", ifVersion(del("ns", "obj"), condObjVersion), nil, store.Deleted},
	{"DeleteIfVersionMismatch", ifVersion(del("ns", "obj"), condObjVersion-1), store.ErrPrecondition, 0},
	{"DeleteIfVersionAbsent", ifVersion(del("ns", "absent"), 1), store.ErrNotFound, 0},
}

func ifVersion(w store.Write, v uint64) store.Write { w.IfVersion = v; return w }
func ifAbsent(w store.Write) store.Write            { w.IfAbsent = true; return w }

func (c condCase) run(t *testing.T, s store.Store) {
	tok := own(t, s, 0)
	mustPut(t, s, 0, tok, "ns", "obj", `{"v":1}`)
	if o := mustPut(t, s, 0, tok, "ns", "obj", `{"v":2}`); o.Version != condObjVersion {
		t.Fatalf("setup: obj at version %d, want %d", o.Version, condObjVersion)
	}
	if o := mustPut(t, s, 0, tok, "ns", "gone", `{}`); o.Version != condGoneVersion {
		t.Fatalf("setup: gone at version %d, want %d", o.Version, condGoneVersion)
	}
	requireApplied(t, "setup delete", applyOne(t, s, 0, tok, del("ns", "gone")), store.Deleted)

	before := snapshot(t, s, 0, "ns")
	r := applyOne(t, s, 0, tok, c.write)
	if c.wantErr != nil {
		requireFailed(t, c.name, r, c.wantErr)
		requireUnchanged(t, "a failed conditional write", s, 0, before, "ns")
		return
	}
	requireApplied(t, c.name, r, c.want)
	if r.Object.Version != before.Revision+1 {
		t.Fatalf("applied conditional write got version %d, want %d", r.Object.Version, before.Revision+1)
	}
	requireRevision(t, s, 0, before.Revision+1)
	if c.want == store.Deleted {
		requireNotFound(t, s, 0, c.write.Namespace, c.write.Name)
	} else if o := mustGet(t, s, 0, c.write.Namespace, c.write.Name); string(o.Value) != string(c.write.Value) {
		t.Fatalf("after the write Get = %s, want %s", o.Value, c.write.Value)
	}
}
