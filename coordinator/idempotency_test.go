package coordinator_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/cpgw/cpgw/api"
)

// expectReplay checks that again repeats first exactly, marked as replayed.
func expectReplay(t *testing.T, first, again response) {
	t.Helper()
	if again.status != first.status || !bytes.Equal(again.body, first.body) {
		t.Fatalf("replay %d %s\nfirst  %d %s", again.status, again.body, first.status, first.body)
	}
	if again.header.Get(api.HeaderIdempotentReplayed) != "true" {
		t.Errorf("replay without %s: %v", api.HeaderIdempotentReplayed, again.header)
	}
	if first.header.Get(api.HeaderIdempotentReplayed) != "" {
		t.Errorf("first response marked replayed")
	}
	for _, h := range []string{"ETag", api.HeaderFencingToken} {
		if again.header.Get(h) != first.header.Get(h) {
			t.Errorf("%s: replay %q, first %q", h, again.header.Get(h), first.header.Get(h))
		}
	}
}

func TestIdempotentReplay(t *testing.T) {
	st := embeddedBackend.open(t)
	a := startNode(t, st, "a", nil)
	a.waitOwnsAll(t)
	const ns = "idem"
	key := func(k string) []string { return []string{api.HeaderIdempotencyKey, k} }

	t.Run("put", func(t *testing.T) {
		first := a.put(t, ns, "x", `{"a": 1}`, key("k-put")...)
		first.expect(t, http.StatusCreated, "")
		a.put(t, ns, "x", `{"a":2}`).expect(t, http.StatusOK, "") // moves the object on
		// Whitespace does not make it another request.
		expectReplay(t, first, a.put(t, ns, "x", `{ "a" : 1 }`, key("k-put")...))
		if v := a.get(t, ns, "x").object(t).Metadata.Version; v != 2 {
			t.Errorf("replay changed the object: version %d", v)
		}
	})
	t.Run("delete", func(t *testing.T) {
		first := a.del(t, ns, "x", key("k-del")...)
		first.expect(t, http.StatusOK, "")
		expectReplay(t, first, a.del(t, ns, "x", key("k-del")...))
	})
	t.Run("failed precondition", func(t *testing.T) {
		a.put(t, ns, "y", `{}`).expect(t, http.StatusCreated, "")
		first := a.put(t, ns, "y", `{}`, append(key("k-412"), "If-None-Match", "*")...)
		first.expect(t, http.StatusPreconditionFailed, api.CodePreconditionFailed)
		a.del(t, ns, "y").expect(t, http.StatusOK, "") // the condition would hold now
		expectReplay(t, first, a.put(t, ns, "y", `{}`, append(key("k-412"), "If-None-Match", "*")...))
	})
	t.Run("same key other request", func(t *testing.T) {
		a.put(t, ns, "z", `{"v":1}`, key("k-reuse")...).expect(t, http.StatusCreated, "")
		for name, res := range map[string]response{
			"body":      a.put(t, ns, "z", `{"v":2}`, key("k-reuse")...),
			"condition": a.put(t, ns, "z", `{"v":1}`, append(key("k-reuse"), "If-Match", `"1"`)...),
			"method":    a.del(t, ns, "z", key("k-reuse")...),
		} {
			t.Run(name, func(t *testing.T) {
				res.expect(t, http.StatusUnprocessableEntity, api.CodeIdempotencyMismatch)
			})
		}
		if o := a.get(t, ns, "z").object(t); string(o.Value) != `{"v":1}` {
			t.Errorf("z is %s after refused reuses", o.Value)
		}
	})
}

// A repeat while the first request is still being applied answers 409; once
// the first completes, the repeat replays it.
func TestIdempotencyInFlight(t *testing.T) {
	hs := newHookStore(embeddedBackend.open(t))
	a := startNode(t, hs, "a", nil)
	a.waitOwnsAll(t)
	const ns = "flight"
	hdr := []string{api.HeaderIdempotencyKey, "k1"}

	release := hs.hold()
	defer release()
	firstCh := async(func() response { return a.put(t, ns, "x", `{"n":1}`, hdr...) })
	hs.waitEntered(t)
	a.put(t, ns, "x", `{"n":1}`, hdr...).expect(t, http.StatusConflict, api.CodeIdempotencyInFlight)
	a.put(t, ns, "x", `{"n":2}`, hdr...).expect(t, http.StatusConflict, api.CodeIdempotencyInFlight)
	// The key is scoped to its namespace.
	other := async(func() response { return a.put(t, "flight-2", "x", `{}`, hdr...) })
	release()

	first := await(t, firstCh)
	first.expect(t, http.StatusCreated, "")
	await(t, other).expect(t, http.StatusCreated, "")
	expectReplay(t, first, a.put(t, ns, "x", `{"n":1}`, hdr...))
}

// The idempotency record lives in the store, so a replay works after the
// shard moved to another coordinator.
func TestIdempotentReplayAfterHandover(t *testing.T) {
	for _, b := range bothBackends {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t)
			a := startNode(t, st, "a", nil)
			a.waitOwnsAll(t)
			const ns = "handover"
			hdr := []string{api.HeaderIdempotencyKey, "order-42"}
			first := a.put(t, ns, "order", `{"qty":3}`, hdr...)
			first.expect(t, http.StatusCreated, "")
			firstDel := a.del(t, ns, "gone", api.HeaderIdempotencyKey, "del-1")
			firstDel.expect(t, http.StatusNotFound, api.CodeNotFound)
			a.stop()

			bn := startNode(t, st, "b", nil)
			bn.waitOwnsAll(t)
			again := bn.put(t, ns, "order", `{"qty":3}`, hdr...)
			expectReplay(t, first, again)
			if got := again.header.Get(api.HeaderServedBy); got != "us-east/b" {
				t.Errorf("replay served by %q", got)
			}
			expectReplay(t, firstDel, bn.del(t, ns, "gone", api.HeaderIdempotencyKey, "del-1"))
			bn.put(t, ns, "order", `{"qty":4}`, hdr...).expect(t, http.StatusUnprocessableEntity, api.CodeIdempotencyMismatch)
		})
	}
}
