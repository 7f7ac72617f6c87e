package storetest

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cpgw/cpgw/store"
)

var applyCases = []testCase{
	{"CreateThenGet", testCreateThenGet},
	{"Update", testUpdate},
	{"ValueStoredAsGiven", testValueStoredAsGiven},
	{"GetMissing", testGetMissing},
	{"List", testList},
	{"ListEmptyNamespace", testListEmptyNamespace},
	{"Delete", testDelete},
	{"DeleteAbsent", testDeleteAbsent},
	{"RevisionCountsAppliedChanges", testRevisionCountsAppliedChanges},
	{"ShardsAreIndependent", testShardsAreIndependent},
	{"BatchResultsInOrder", testBatchResultsInOrder},
	{"BatchSeesItsOwnWrites", testBatchSeesItsOwnWrites},
	{"NamesDoNotCollide", testNamesDoNotCollide},
	{"AnyShardNumber", testAnyShardNumber},
	{"MaxBatchWrites", testMaxBatchWrites},
}

func testCreateThenGet(t *testing.T, s store.Store) {
	tok := own(t, s, 3)
	r := applyOne(t, s, 3, tok, put("payments", "limits", `{"max":100}`))
	requireApplied(t, "create", r, store.Created)
	want := store.Object{Namespace: "payments", Name: "limits", Shard: 3, Version: 1, Token: tok, UpdatedAt: testNow, Value: []byte(`{"max":100}`)}
	requireObject(t, "Result.Object of the create", r.Object, want)
	requireObject(t, "Get after create", mustGet(t, s, 3, "payments", "limits"), want)
	requireRevision(t, s, 3, 1)
}

func testUpdate(t *testing.T, s store.Store) {
	tok := own(t, s, 0)
	first := mustPut(t, s, 0, tok, "ns", "obj", `{"v":1}`)
	later := testNow.Add(5*time.Second + 987_654*time.Nanosecond)
	b := batch(0, tok, put("ns", "obj", `{"v":2}`))
	b.Now = later
	r := apply(t, s, b)[0]
	requireApplied(t, "update", r, store.Updated)
	if r.Object.Version <= first.Version {
		t.Fatalf("update gave version %d, not above the create's %d", r.Object.Version, first.Version)
	}
	want := store.Object{Namespace: "ns", Name: "obj", Shard: 0, Version: r.Object.Version, Token: tok, UpdatedAt: later, Value: []byte(`{"v":2}`)}
	requireObject(t, "Result.Object of the update", r.Object, want)
	requireObject(t, "Get after update", mustGet(t, s, 0, "ns", "obj"), want)
}

func testValueStoredAsGiven(t *testing.T, s store.Store) {
	tok := own(t, s, 0)
	// Odd spacing, key order, escapes and non-ASCII: a store that decodes and
	// re-encodes the JSON would change these bytes.
	odd := "{ \"z\" : [1, 2.50, 3e2],\n\t\"a\":\"caf\u00e9 \\u00e9 \\\"q\\\"\", \"n\":null }"
	big := `{"blob":"` + strings.Repeat("0123456789abcdef", 16*1024) + `"}` // 256 KiB
	for name, v := range map[string]string{"odd": odd, "big": big, "scalar": `42`} {
		mustPut(t, s, 0, tok, "ns", name, v)
		if got := mustGet(t, s, 0, "ns", name).Value; string(got) != v {
			t.Errorf("Get(%s) value differs from what was written (len %d, want len %d)", name, len(got), len(v))
		}
	}
}

func testGetMissing(t *testing.T, s store.Store) {
	requireNotFound(t, s, 0, "ns", "nothing") // empty shard
	tok := own(t, s, 0)
	mustPut(t, s, 0, tok, "ns", "something", `{}`)
	requireNotFound(t, s, 0, "ns", "nothing")      // namespace exists, object not
	requireNotFound(t, s, 0, "other", "something") // same name, other namespace
}

func testList(t *testing.T, s store.Store) {
	tok := own(t, s, 2)
	// Written out of order; names chosen so that byte order differs from
	// insertion order and from naive numeric or length order.
	names := []string{"b", "a.b", "a", "a-b", "aa", "z9", "z10", "0"}
	for _, n := range names {
		mustPut(t, s, 2, tok, "ns", n, `{"name":"`+n+`"}`)
	}
	// Namespaces that share a prefix with "ns" must not leak into its list.
	mustPut(t, s, 2, tok, "ns2", "a", `{}`)
	mustPut(t, s, 2, tok, "n", "sa", `{}`)

	objs, rev, err := s.List(t.Context(), 2, "ns")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if want := revision(t, s, 2); rev != want {
		t.Fatalf("List revision = %d, want the shard revision %d", rev, want)
	}
	wantOrder := []string{"0", "a", "a-b", "a.b", "aa", "b", "z10", "z9"}
	var got []string
	for _, o := range objs {
		got = append(got, o.Name)
	}
	if strings.Join(got, " ") != strings.Join(wantOrder, " ") {
		t.Fatalf("List names = %q, want %q (ordered by name, only namespace ns)", got, wantOrder)
	}
	for _, o := range objs {
		requireObject(t, "List entry "+o.Name, o, mustGet(t, s, 2, "ns", o.Name))
		if o.Namespace != "ns" || o.Shard != 2 || o.Token != tok || len(o.Value) == 0 {
			t.Fatalf("List entry %+v lacks its metadata or value", o)
		}
	}
}

func testListEmptyNamespace(t *testing.T, s store.Store) {
	objs, rev, err := s.List(t.Context(), 0, "ns")
	if err != nil || len(objs) != 0 || rev != 0 {
		t.Fatalf("List on an empty shard = %v, %d, %v; want empty, 0, nil", objs, rev, err)
	}
	tok := own(t, s, 0)
	mustPut(t, s, 0, tok, "other", "x", `{}`)
	mustPut(t, s, 0, tok, "gone", "x", `{}`)
	applyOne(t, s, 0, tok, del("gone", "x"))
	for _, ns := range []string{"ns", "gone"} {
		objs, rev, err = s.List(t.Context(), 0, ns)
		if err != nil || len(objs) != 0 || rev != 3 {
			t.Fatalf("List(%s) = %v, %d, %v; want empty, revision 3, nil", ns, objs, rev, err)
		}
	}
}

func testDelete(t *testing.T, s store.Store) {
	tok := own(t, s, 1)
	mustPut(t, s, 1, tok, "ns", "obj", `{}`)
	mustPut(t, s, 1, tok, "ns", "keep", `{}`)
	b := batch(1, tok, del("ns", "obj"))
	b.Now = testNow.Add(time.Minute)
	r := apply(t, s, b)[0]
	requireApplied(t, "delete", r, store.Deleted)
	// A delete's Result.Object is the metadata of the change: its revision,
	// token and time, and no value.
	requireObject(t, "Result.Object of the delete", r.Object,
		store.Object{Namespace: "ns", Name: "obj", Shard: 1, Version: 3, Token: tok, UpdatedAt: b.Now})
	requireNotFound(t, s, 1, "ns", "obj")
	requireRevision(t, s, 1, 3)
	objs, _, err := s.List(t.Context(), 1, "ns")
	if err != nil || len(objs) != 1 || objs[0].Name != "keep" {
		t.Fatalf("List after delete = %+v, %v; want only keep", objs, err)
	}
}

func testDeleteAbsent(t *testing.T, s store.Store) {
	tok := own(t, s, 0)
	mustPut(t, s, 0, tok, "ns", "other", `{}`)
	before := snapshot(t, s, 0, "ns")
	requireFailed(t, "delete of an absent object", applyOne(t, s, 0, tok, del("ns", "absent")), store.ErrNotFound)
	requireUnchanged(t, "delete of an absent object", s, 0, before, "ns")
}

func testRevisionCountsAppliedChanges(t *testing.T, s store.Store) {
	tok := own(t, s, 0)
	requireRevision(t, s, 0, 0)
	steps := []struct {
		w       store.Write
		applied bool
	}{
		{put("ns", "a", `{}`), true},
		{put("ns", "a", `{"x":1}`), true},
		{store.Write{Op: store.OpPut, Namespace: "ns", Name: "a", Value: []byte(`{}`), IfVersion: 99}, false},
		{store.Write{Op: store.OpPut, Namespace: "ns", Name: "a", Value: []byte(`{}`), IfAbsent: true}, false},
		{del("ns", "missing"), false},
		{del("ns", "a"), true},
		{put("ns", "b", `{}`), true},
	}
	var want uint64
	for i, st := range steps {
		r := applyOne(t, s, 0, tok, st.w)
		if (r.Err == nil) != st.applied {
			t.Fatalf("step %d: Result.Err = %v, want applied=%v", i, r.Err, st.applied)
		}
		if st.applied {
			want++
		}
		requireRevision(t, s, 0, want)
	}
}

func testShardsAreIndependent(t *testing.T, s store.Store) {
	tok1 := own(t, s, 1)
	if st := leaseState(t, s, 2); st.Held || st.Token != 0 {
		t.Fatalf("acquiring shard 1 touched shard 2's lease: %+v", st)
	}
	mustPut(t, s, 1, tok1, "ns", "a", `{"shard":1}`)
	mustPut(t, s, 1, tok1, "ns", "b", `{"shard":1}`)
	requireRevision(t, s, 2, 0)
	requireNotFound(t, s, 2, "ns", "a")
	if cs := changes(t, s, 2, 0, allChanges); len(cs) != 0 {
		t.Fatalf("shard 2 change log has shard 1's writes: %+v", cs)
	}

	tok2 := acquire(t, s, 2, ownerB, longTTL).Token
	if tok2 != 1 {
		t.Fatalf("first token of shard 2 = %d, want 1 (tokens are per shard)", tok2)
	}
	o := mustPut(t, s, 2, tok2, "ns", "a", `{"shard":2}`)
	if o.Version != 1 {
		t.Fatalf("first write on shard 2 got version %d, want 1 (revisions are per shard)", o.Version)
	}
	requireRevision(t, s, 1, 2)
	if got := mustGet(t, s, 1, "ns", "a"); string(got.Value) != `{"shard":1}` || got.Version != 1 {
		t.Fatalf("shard 1's object changed by a write to shard 2: %+v", got)
	}
}

func testBatchResultsInOrder(t *testing.T, s store.Store) {
	tok := own(t, s, 0)
	mustPut(t, s, 0, tok, "ns", "existing", `{}`) // revision 1
	rs := apply(t, s, batch(0, tok,
		put("ns", "a", `{"a":1}`),
		del("ns", "missing"),
		store.Write{Op: store.OpPut, Namespace: "ns", Name: "existing", Value: []byte(`{}`), IfAbsent: true},
		put("ns", "b", `{"b":1}`),
		store.Write{Op: store.OpPut, Namespace: "ns", Name: "existing", Value: []byte(`{}`), IfVersion: 42},
		del("ns", "existing"),
	))
	requireApplied(t, "write 0", rs[0], store.Created)
	requireFailed(t, "write 1", rs[1], store.ErrNotFound)
	requireFailed(t, "write 2", rs[2], store.ErrPrecondition)
	requireApplied(t, "write 3", rs[3], store.Created)
	requireFailed(t, "write 4", rs[4], store.ErrPrecondition)
	requireApplied(t, "write 5", rs[5], store.Deleted)
	// Failed writes take no revision, so the applied ones are consecutive.
	for i, want := range map[int]uint64{0: 2, 3: 3, 5: 4} {
		if rs[i].Object.Version != want {
			t.Fatalf("write %d: version %d, want %d", i, rs[i].Object.Version, want)
		}
	}
	requireRevision(t, s, 0, 4)
	if o := mustGet(t, s, 0, "ns", "b"); o.Version != 3 {
		t.Fatalf("b has version %d, want 3", o.Version)
	}
	requireNotFound(t, s, 0, "ns", "existing")
}

func testBatchSeesItsOwnWrites(t *testing.T, s store.Store) {
	tok := own(t, s, 0)
	rs := apply(t, s, batch(0, tok,
		put("ns", "x", `{"n":1}`),
		store.Write{Op: store.OpPut, Namespace: "ns", Name: "x", Value: []byte(`{"n":2}`), IfVersion: 1},
		store.Write{Op: store.OpDelete, Namespace: "ns", Name: "x", IfVersion: 2},
		store.Write{Op: store.OpPut, Namespace: "ns", Name: "x", Value: []byte(`{"n":3}`), IfAbsent: true},
	))
	for i, want := range []store.Outcome{store.Created, store.Updated, store.Deleted, store.Created} {
		requireApplied(t, "write "+want.String(), rs[i], want)
		if rs[i].Object.Version != uint64(i+1) {
			t.Fatalf("write %d: version %d, want %d", i, rs[i].Object.Version, i+1)
		}
	}
	if o := mustGet(t, s, 0, "ns", "x"); o.Version != 4 || string(o.Value) != `{"n":3}` {
		t.Fatalf("after the batch x = %+v, want version 4 value {\"n\":3}", o)
	}
}

// testNamesDoNotCollide uses pairs that a store joining namespace and name
// with one of the characters names may contain ('.', '-', '_') would confuse.
func testNamesDoNotCollide(t *testing.T, s store.Store) {
	tok := own(t, s, 0)
	pairs := [][2]string{{"a", "b.c"}, {"a.b", "c"}, {"a", "b-c"}, {"a-b", "c"}, {"a", "b_c"}, {"a_b", "c"}}
	for _, p := range pairs {
		r := applyOne(t, s, 0, tok, store.Write{Op: store.OpPut, Namespace: p[0], Name: p[1], Value: []byte(`"` + p[0] + "/" + p[1] + `"`), IfAbsent: true})
		requireApplied(t, "create "+p[0]+"/"+p[1], r, store.Created)
	}
	for _, p := range pairs {
		if o := mustGet(t, s, 0, p[0], p[1]); string(o.Value) != `"`+p[0]+"/"+p[1]+`"` {
			t.Fatalf("Get(%s/%s) = %s", p[0], p[1], o.Value)
		}
	}
	for ns, want := range map[string]int{"a": 3, "a.b": 1, "a-b": 1, "a_b": 1} {
		objs, _, err := s.List(t.Context(), 0, ns)
		if err != nil || len(objs) != want {
			t.Fatalf("List(%s) = %d objects, %v; want %d", ns, len(objs), err, want)
		}
	}
}

// testAnyShardNumber: the store does not know the shard count, so any shard
// number works like any other. The Store is not bound by InitCluster: a
// bound redisstore.Store checks each shard's copy of the cluster epoch, and
// only shards below the recorded count have one.
func testAnyShardNumber(t *testing.T, s store.Store) {
	const shard = 100000
	tok := own(t, s, shard)
	o := mustPut(t, s, shard, tok, "ns", "far", `{}`)
	if o.Shard != shard || o.Version != 1 {
		t.Fatalf("object on shard %d = %+v", shard, o)
	}
	requireObject(t, "Get on a high shard", mustGet(t, s, shard, "ns", "far"), o)
}

func testMaxBatchWrites(t *testing.T, s store.Store) {
	tok := own(t, s, 0)
	ws := make([]store.Write, store.MaxBatch)
	for i := range ws {
		ws[i] = put("ns", "obj-"+strconv.Itoa(i), `{}`)
	}
	rs := apply(t, s, batch(0, tok, ws...))
	for i, r := range rs {
		if r.Err != nil || r.Object.Version != uint64(i+1) {
			t.Fatalf("write %d of a full batch: Err=%v version %d, want nil and %d", i, r.Err, r.Object.Version, i+1)
		}
	}
	requireRevision(t, s, 0, store.MaxBatch)
}
