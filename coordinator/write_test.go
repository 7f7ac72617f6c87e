package coordinator_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cpgw/cpgw/api"
	"github.com/cpgw/cpgw/coordinator"
	"github.com/cpgw/cpgw/shards"
)

func TestWriteThenStrongRead(t *testing.T) {
	st := embeddedBackend.open(t)
	a := startNode(t, st, "a", nil)
	a.waitOwnsAll(t)
	const ns = "payments"
	shard := shards.Of(ns, testShards)

	created := a.put(t, ns, "limits", `{"max": 10}`, api.HeaderRequestID, "req-1")
	created.expect(t, http.StatusCreated, "")
	obj := created.object(t)
	if obj.Metadata.Namespace != ns || obj.Metadata.Name != "limits" || obj.Metadata.Version != 1 || obj.Metadata.Shard != shard {
		t.Errorf("metadata %+v", obj.Metadata)
	}
	if string(obj.Value) != `{"max":10}` {
		t.Errorf("value %s", obj.Value)
	}
	lease := leaseOf(t, st, shard)
	for h, want := range map[string]string{
		"ETag":                  `"1"`,
		api.HeaderFencingToken:  lease.Token.String(),
		api.HeaderReplicasAcked: "0",
		api.HeaderServedBy:      "us-east/a",
		api.HeaderRequestID:     "req-1",
	} {
		if got := created.header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	if obj.Metadata.FencingToken != uint64(lease.Token) || obj.Metadata.UpdatedAt.IsZero() {
		t.Errorf("metadata %+v, token %d", obj.Metadata, lease.Token)
	}

	updated := a.put(t, ns, "limits", `{"max": 20}`)
	updated.expect(t, http.StatusOK, "")
	if v := updated.object(t).Metadata.Version; v != 2 {
		t.Errorf("update version %d, want 2", v)
	}

	got := a.get(t, ns, "limits")
	got.expect(t, http.StatusOK, "")
	if got.header.Get(api.HeaderConsistency) != api.ConsistencyStrong || got.header.Get("ETag") != `"2"` ||
		got.header.Get(api.HeaderServedBy) != "us-east/a" {
		t.Errorf("read headers %v", got.header)
	}
	if o := got.object(t); string(o.Value) != `{"max":20}` || o.Metadata.Version != 2 {
		t.Errorf("read %+v %s", o.Metadata, o.Value)
	}

	a.put(t, ns, "other", `{}`).expect(t, http.StatusCreated, "")
	list := a.list(t, ns)
	list.expect(t, http.StatusOK, "")
	var l api.ObjectList
	mustJSON(t, list.body, &l)
	if len(l.Items) != 2 || l.Items[0].Metadata.Name != "limits" || l.Items[1].Metadata.Name != "other" || l.Revision != 3 {
		t.Errorf("list %s", list.body)
	}

	deleted := a.del(t, ns, "limits")
	deleted.expect(t, http.StatusOK, "")
	if m := deleted.object(t).Metadata; !m.Deleted || m.Version != 4 {
		t.Errorf("delete metadata %+v", m)
	}
	a.get(t, ns, "limits").expect(t, http.StatusNotFound, api.CodeNotFound)
	a.del(t, ns, "limits").expect(t, http.StatusNotFound, api.CodeNotFound)
}

func TestConditionalWrites(t *testing.T) {
	st := embeddedBackend.open(t)
	a := startNode(t, st, "a", nil)
	a.waitOwnsAll(t)
	const ns = "cond"
	a.put(t, ns, "x", `{"v":1}`).expect(t, http.StatusCreated, "") // version 1

	steps := []struct {
		name    string
		do      func() response
		status  int
		code    string
		version uint64 // expected object version afterwards
	}{
		{"if-match current", func() response { return a.put(t, ns, "x", `{"v":2}`, "If-Match", `"1"`) }, 200, "", 2},
		{"if-match stale", func() response { return a.put(t, ns, "x", `{"v":3}`, "If-Match", `"1"`) }, 412, api.CodePreconditionFailed, 2},
		{"if-none-match existing", func() response { return a.put(t, ns, "x", `{"v":3}`, "If-None-Match", "*") }, 412, api.CodePreconditionFailed, 2},
		{"if-none-match new", func() response { return a.put(t, ns, "y", `{}`, "If-None-Match", "*") }, 201, "", 2},
		{"if-match absent", func() response { return a.put(t, ns, "z", `{}`, "If-Match", `"1"`) }, 404, api.CodeNotFound, 2},
		{"delete if-match stale", func() response { return a.del(t, ns, "x", "If-Match", `"1"`) }, 412, api.CodePreconditionFailed, 2},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.do().expect(t, s.status, s.code)
			if v := a.get(t, ns, "x").object(t).Metadata.Version; v != s.version {
				t.Errorf("x at version %d, want %d", v, s.version)
			}
		})
	}
	a.del(t, ns, "x", "If-Match", `"2"`).expect(t, http.StatusOK, "")
}

func TestBadInputWritesNothing(t *testing.T) {
	st := embeddedBackend.open(t)
	a := startNode(t, st, "a", nil)
	a.waitOwnsAll(t)
	const ns = "bad"
	shard := shards.Of(ns, testShards)
	path := api.InternalObjectPath(shard, ns, "obj")
	huge := `{"a":"` + strings.Repeat("x", api.MaxBodyBytes) + `"}`

	cases := []struct {
		name    string
		method  string
		path    string
		body    string
		headers []string
		status  int
		code    string
	}{
		{"namespace upper case", "PUT", api.InternalObjectPath(0, "Bad", "obj"), `{}`, nil, 400, api.CodeInvalidName},
		{"namespace leading dash", "PUT", api.InternalObjectPath(0, "-ns", "obj"), `{}`, nil, 400, api.CodeInvalidName},
		{"name with slash", "PUT", api.InternalObjectPath(shard, ns, "a/b"), `{}`, nil, 400, api.CodeInvalidName},
		{"name too long", "PUT", api.InternalObjectPath(shard, ns, strings.Repeat("a", 254)), `{}`, nil, 400, api.CodeInvalidName},
		{"delete bad name", "DELETE", api.InternalObjectPath(shard, ns, "A"), "", nil, 400, api.CodeInvalidName},
		{"shard out of range", "PUT", api.InternalObjectPath(testShards, ns, "obj"), `{}`, nil, 400, api.CodeInvalidParameter},
		{"shard not a number", "PUT", api.InternalPrefix + "/shards/x/namespaces/bad/objects/obj", `{}`, nil, 400, api.CodeInvalidParameter},
		{"body array", "PUT", path, `[1,2]`, nil, 400, api.CodeInvalidBody},
		{"body string", "PUT", path, `"s"`, nil, 400, api.CodeInvalidBody},
		{"body bad json", "PUT", path, `{"a":`, nil, 400, api.CodeInvalidBody},
		{"body two objects", "PUT", path, `{} {}`, nil, 400, api.CodeInvalidBody},
		{"body empty", "PUT", path, ``, nil, 400, api.CodeInvalidBody},
		{"body too large", "PUT", path, huge, nil, 413, api.CodeBodyTooLarge},
		{"content type text", "PUT", path, `{}`, []string{"Content-Type", "text/plain"}, 415, api.CodeUnsupportedMedia},
		{"content type missing", "PUT", path, `{}`, []string{"Content-Type", ""}, 415, api.CodeUnsupportedMedia},
		{"if-match unquoted", "PUT", path, `{}`, []string{"If-Match", "1"}, 400, api.CodeInvalidParameter},
		{"if-match zero", "PUT", path, `{}`, []string{"If-Match", `"0"`}, 400, api.CodeInvalidParameter},
		{"if-match weak", "PUT", path, `{}`, []string{"If-Match", `W/"1"`}, 400, api.CodeInvalidParameter},
		{"if-match star", "PUT", path, `{}`, []string{"If-Match", `*`}, 400, api.CodeInvalidParameter},
		{"if-match list", "PUT", path, `{}`, []string{"If-Match", `"1", "2"`}, 400, api.CodeInvalidParameter},
		{"if-none-match version", "PUT", path, `{}`, []string{"If-None-Match", `"1"`}, 400, api.CodeInvalidParameter},
		{"both conditions", "PUT", path, `{}`, []string{"If-Match", `"1"`, "If-None-Match", "*"}, 400, api.CodeInvalidParameter},
		{"delete create-only", "DELETE", path, "", []string{"If-None-Match", "*"}, 400, api.CodeInvalidParameter},
		{"idempotency key too long", "PUT", path, `{}`, []string{api.HeaderIdempotencyKey, strings.Repeat("k", 256)}, 400, api.CodeInvalidParameter},
		{"idempotency key not ascii", "PUT", path, `{}`, []string{api.HeaderIdempotencyKey, "ключ"}, 400, api.CodeInvalidParameter},
		{"method not allowed", "PATCH", path, `{}`, nil, 405, api.CodeMethodNotAllowed},
		{"unknown route", "PUT", api.InternalPrefix + "/nothing", `{}`, nil, 404, api.CodeNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body []byte
			if c.method == "PUT" || c.method == "PATCH" {
				body = []byte(c.body)
			}
			res := a.request(t, c.method, c.path, body, c.headers...)
			res.expect(t, c.status, c.code)
			if res.header.Get("Content-Type") != "application/json" {
				t.Errorf("error Content-Type %q", res.header.Get("Content-Type"))
			}
		})
	}
	// A chunked body (no Content-Length) is cut off at the limit too.
	t.Run("chunked body too large", func(t *testing.T) {
		res := rawPut(t, a.url+path, strings.NewReader(huge), -1, map[string]string{"Content-Type": "application/json"})
		res.expect(t, 413, api.CodeBodyTooLarge)
	})

	for s := range testShards {
		rev, err := st.Revision(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		if rev != 0 {
			t.Errorf("shard %d at revision %d after bad requests only; want 0", s, rev)
		}
	}
}

// Writes queued while a batch is being applied go to the store together:
// fewer Apply calls than requests, never more than MaxBatch writes per call,
// and every write gets its own version, in one gap-free increasing run.
func TestConcurrentWritesCoalesce(t *testing.T) {
	const maxBatch, queued = 8, 30
	hs := newHookStore(embeddedBackend.open(t))
	a := startNode(t, hs, "a", func(c *coordinator.Config) { c.MaxBatch = maxBatch })
	a.waitOwnsAll(t)
	const ns = "burst"
	shard := strconv.Itoa(shards.Of(ns, testShards))

	release := hs.hold()
	defer release()
	first := async(func() response { return a.put(t, ns, "first", `{}`) })
	hs.waitEntered(t)
	before := hs.applies.Load()

	var pending []<-chan response
	for i := range queued {
		pending = append(pending, async(func() response { return a.put(t, ns, fmt.Sprintf("obj-%02d", i), fmt.Sprintf(`{"i":%d}`, i)) }))
	}
	eventually(t, 10e9, func() bool {
		return a.metric(t, "cpgw_coordinator_queue_depth", "shard", shard) == queued
	}, "%d writes to queue", queued)
	release()

	versions := []uint64{await(t, first).object(t).Metadata.Version}
	for _, ch := range pending {
		r := await(t, ch)
		r.expect(t, http.StatusCreated, "")
		versions = append(versions, r.object(t).Metadata.Version)
	}
	slices.Sort(versions)
	for i, v := range versions {
		if v != uint64(i+1) {
			t.Fatalf("versions %v are not 1..%d", versions, queued+1)
		}
	}
	wantApplies := before + (queued+maxBatch-1)/maxBatch
	if got := hs.applies.Load(); got != wantApplies {
		t.Errorf("%d Apply calls for %d writes, want %d (batches of at most %d)", got, queued+1, wantApplies, maxBatch)
	}
	if got := a.metric(t, "cpgw_coordinator_batch_size"); got != float64(wantApplies) {
		t.Errorf("batch_size has %v samples, want %d", got, wantApplies)
	}
}
