package coordinator_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/cpgw/cpgw/api"
	"github.com/cpgw/cpgw/coordinator"
	"github.com/cpgw/cpgw/shards"
	"github.com/cpgw/cpgw/store"
)

func TestNamespacePin(t *testing.T) {
	st := embeddedBackend.open(t)
	ctx := context.Background()
	// eu-west is a region of the cluster (it heartbeated once) with no live
	// member, so us-east's coordinator owns every shard after the grace.
	if err := st.Heartbeat(ctx, store.Member{ID: "eu1", Region: "eu-west"}, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	a := startNode(t, st, "a", nil)
	a.waitOwnsAll(t)

	layout, err := shards.NewLayout(testShards, []string{"eu-west", "us-east"})
	if err != nil {
		t.Fatal(err)
	}
	if len(layout.HomedIn("eu-west")) == 0 || len(layout.HomedIn("us-east")) == 0 {
		t.Fatalf("test needs shards homed in both regions: eu-west %v", layout.HomedIn("eu-west"))
	}
	// pick returns a namespace whose natural shard is homed in region.
	used := map[string]bool{}
	pick := func(region string) string {
		for i := 0; ; i++ {
			ns := fmt.Sprintf("team-%d", i)
			if !used[ns] && layout.HomeRegion(shards.Of(ns, testShards)) == region {
				used[ns] = true
				return ns
			}
		}
	}
	settings := func(shard int, ns, body string, headers ...string) response {
		return a.request(t, http.MethodPut, api.InternalNamespacePath(shard, ns), []byte(body), headers...)
	}
	putAt := func(shard int, ns, name string) response {
		return a.request(t, http.MethodPut, api.InternalObjectPath(shard, ns, name), []byte(`{}`))
	}
	expectSettings := func(t *testing.T, res response, ns, home string, shard int) {
		t.Helper()
		res.expect(t, http.StatusOK, "")
		var got api.NamespaceSettings
		mustJSON(t, res.body, &got)
		if got.Namespace != ns || got.HomeRegion != home || got.Shard == nil || *got.Shard != shard {
			t.Errorf("settings %s, want %s in %q on shard %d", res.body, ns, home, shard)
		}
	}

	t.Run("empty namespace moves", func(t *testing.T) {
		ns := pick("us-east")
		from, to := shards.Of(ns, testShards), layout.ShardFor(ns, "eu-west")
		if from == to {
			t.Fatalf("%s does not move", ns)
		}
		expectSettings(t, settings(from, ns, `{"homeRegion":"eu-west"}`), ns, "eu-west", to)
		stored, err := st.GetNamespace(ctx, ns)
		if err != nil || stored.Shard != to || stored.HomeRegion != "eu-west" {
			t.Errorf("stored %+v, %v", stored, err)
		}
		putAt(from, ns, "x").expect(t, http.StatusMisdirectedRequest, api.CodeMisdirected)
		putAt(to, ns, "x").expect(t, http.StatusCreated, "")
		a.request(t, http.MethodGet, api.InternalObjectPath(to, ns, "x"), nil).expect(t, http.StatusOK, "")
		// Its settings are now changed through its new shard.
		settings(from, ns, `{"homeRegion":"eu-west"}`).expect(t, http.StatusMisdirectedRequest, api.CodeMisdirected)
		expectSettings(t, settings(to, ns, `{"homeRegion":"eu-west"}`), ns, "eu-west", to)

		// Moving back needs it empty again.
		settings(to, ns, `{}`).expect(t, http.StatusConflict, api.CodeNamespaceNotEmpty)
		a.request(t, http.MethodDelete, api.InternalObjectPath(to, ns, "x"), nil).expect(t, http.StatusOK, "")
		expectSettings(t, settings(to, ns, `{"homeRegion":""}`), ns, "", from)
		putAt(from, ns, "y").expect(t, http.StatusCreated, "")
	})

	t.Run("non-empty namespace stays", func(t *testing.T) {
		ns := pick("us-east")
		from := shards.Of(ns, testShards)
		putAt(from, ns, "x").expect(t, http.StatusCreated, "")
		settings(from, ns, `{"homeRegion":"eu-west"}`).expect(t, http.StatusConflict, api.CodeNamespaceNotEmpty)
		if _, err := st.GetNamespace(ctx, ns); err == nil {
			t.Error("settings stored despite 409")
		}
		putAt(from, ns, "y").expect(t, http.StatusCreated, "")
	})

	t.Run("pin to the region it lives in", func(t *testing.T) {
		ns := pick("eu-west")
		shard := shards.Of(ns, testShards)
		putAt(shard, ns, "x").expect(t, http.StatusCreated, "")
		expectSettings(t, settings(shard, ns, `{"homeRegion":"eu-west"}`), ns, "eu-west", shard)
		putAt(shard, ns, "y").expect(t, http.StatusCreated, "")
	})

	t.Run("bad requests", func(t *testing.T) {
		ns := pick("us-east")
		shard := shards.Of(ns, testShards)
		cases := []struct {
			name    string
			shard   int
			body    string
			headers []string
			status  int
			code    string
		}{
			{"unknown region", shard, `{"homeRegion":"mars"}`, nil, 400, api.CodeInvalidParameter},
			{"not an object", shard, `["eu-west"]`, nil, 400, api.CodeInvalidBody},
			{"unknown field", shard, `{"home":"eu-west"}`, nil, 400, api.CodeInvalidBody},
			{"shard set", shard, `{"homeRegion":"eu-west","shard":1}`, nil, 400, api.CodeInvalidBody},
			{"other namespace", shard, `{"namespace":"other","homeRegion":"eu-west"}`, nil, 400, api.CodeInvalidBody},
			{"content type", shard, `{}`, []string{"Content-Type", "text/plain"}, 415, api.CodeUnsupportedMedia},
			{"wrong shard", (shard + 1) % testShards, `{"homeRegion":"eu-west"}`, nil, 421, api.CodeMisdirected},
			{"conditional", shard, `{"homeRegion":"eu-west"}`, []string{"If-Match", `"1"`}, 400, api.CodeInvalidParameter},
			{"create only", shard, `{"homeRegion":"eu-west"}`, []string{"If-None-Match", "*"}, 400, api.CodeInvalidParameter},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				settings(c.shard, ns, c.body, c.headers...).expect(t, c.status, c.code)
			})
		}
		if _, err := st.GetNamespace(ctx, ns); err == nil {
			t.Error("settings stored by a bad request")
		}
	})
}

// A coordinator that acquires a shard after another one moved a namespace
// off it refuses the namespace there, even though its cache was loaded
// before the move and its periodic reload is far off: a writer reloads the
// settings when its lease starts.
func TestNamespaceMoveSeenByNextOwner(t *testing.T) {
	st := embeddedBackend.open(t)
	ctx := context.Background()
	if err := st.Heartbeat(ctx, store.Member{ID: "eu1", Region: "eu-west"}, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	slowReload := func(c *coordinator.Config) { c.NamespaceRefresh = time.Hour }

	// c runs first, but can neither join nor acquire for now.
	hc := newHookStore(st)
	hc.failAcquire.Store(true)
	hc.failHeartbeat.Store(true)
	c := startNode(t, hc, "c", slowReload)
	eventually(t, 5*time.Second, func() bool {
		return c.put(t, "probe", "x", `{}`).status == http.StatusMisdirectedRequest
	}, "c to have loaded the cluster state")

	a := startNode(t, st, "a", slowReload)
	a.waitOwnsAll(t)
	layout, _ := shards.NewLayout(testShards, []string{"eu-west", "us-east"})
	var ns string
	for i := 0; ns == ""; i++ {
		if n := fmt.Sprintf("mover-%d", i); layout.ShardFor(n, "eu-west") != shards.Of(n, testShards) {
			ns = n
		}
	}
	from, to := shards.Of(ns, testShards), layout.ShardFor(ns, "eu-west")
	a.request(t, http.MethodPut, api.InternalNamespacePath(from, ns), []byte(`{"homeRegion":"eu-west"}`)).expect(t, http.StatusOK, "")
	a.stop()

	hc.failAcquire.Store(false)
	hc.failHeartbeat.Store(false)
	c.waitOwnsAll(t)
	c.request(t, http.MethodPut, api.InternalObjectPath(from, ns, "x"), []byte(`{}`)).expect(t, http.StatusMisdirectedRequest, api.CodeMisdirected)
	c.request(t, http.MethodPut, api.InternalObjectPath(to, ns, "x"), []byte(`{}`)).expect(t, http.StatusCreated, "")
	if objs, _, _ := st.List(ctx, from, ns); len(objs) != 0 {
		t.Errorf("write landed on the shard the namespace left: %+v", objs)
	}
}

// A namespace change queued behind writes runs after them, and writes queued
// behind it see its outcome: a write to the namespace's old shard that was
// accepted before the move is refused (421), never applied there.
func TestNamespaceMoveSerialisedWithWrites(t *testing.T) {
	st := embeddedBackend.open(t)
	ctx := context.Background()
	if err := st.Heartbeat(ctx, store.Member{ID: "eu1", Region: "eu-west"}, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	hs := newHookStore(st)
	a := startNode(t, hs, "a", nil)
	a.waitOwnsAll(t)
	layout, _ := shards.NewLayout(testShards, []string{"eu-west", "us-east"})
	var ns string
	for i := 0; ns == ""; i++ {
		if n := fmt.Sprintf("queued-%d", i); layout.ShardFor(n, "eu-west") != shards.Of(n, testShards) {
			ns = n
		}
	}
	from, to := shards.Of(ns, testShards), layout.ShardFor(ns, "eu-west")
	var other string // another namespace on the same shard
	for i := 0; other == ""; i++ {
		if n := fmt.Sprintf("neighbour-%d", i); shards.Of(n, testShards) == from {
			other = n
		}
	}

	release := hs.hold()
	defer release()
	first := async(func() response { return a.put(t, other, "x", `{}`) })
	hs.waitEntered(t)
	move := async(func() response {
		return a.request(t, http.MethodPut, api.InternalNamespacePath(from, ns), []byte(`{"homeRegion":"eu-west"}`))
	})
	eventually(t, 5*time.Second, func() bool {
		return a.metric(t, "cpgw_coordinator_queue_depth", "shard", itoa(from)) == 1
	}, "the namespace change to queue")
	late := async(func() response {
		return a.request(t, http.MethodPut, api.InternalObjectPath(from, ns, "x"), []byte(`{}`))
	})
	eventually(t, 5*time.Second, func() bool {
		return a.metric(t, "cpgw_coordinator_queue_depth", "shard", itoa(from)) == 2
	}, "the write to queue behind the change")
	release()

	await(t, first).expect(t, http.StatusCreated, "")
	await(t, move).expect(t, http.StatusOK, "")
	await(t, late).expect(t, http.StatusMisdirectedRequest, api.CodeMisdirected)
	if objs, _, _ := st.List(ctx, from, ns); len(objs) != 0 {
		t.Fatalf("write applied on the shard the namespace left: %+v", objs)
	}
	a.request(t, http.MethodPut, api.InternalObjectPath(to, ns, "x"), []byte(`{}`)).expect(t, http.StatusCreated, "")
}
