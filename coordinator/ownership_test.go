package coordinator_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/cpgw/cpgw/api"
	"github.com/cpgw/cpgw/coordinator"
	"github.com/cpgw/cpgw/shards"
)

// namespaceOn returns a namespace that lives on shard.
func namespaceOn(shard int) string {
	for i := 0; ; i++ {
		ns := fmt.Sprintf("ns-%d", i)
		if shards.Of(ns, testShards) == shard {
			return ns
		}
	}
}

// A coordinator that does not own a shard answers 421 and names the owner.
func TestNotOwnerAnswers421WithOwner(t *testing.T) {
	for _, b := range bothBackends {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t)
			a := startNode(t, st, "a", nil)
			a.waitOwnsAll(t)
			bn := startNode(t, st, "b", nil)
			// Placement splits the shards between the two.
			eventually(t, 15*time.Second, func() bool {
				return len(a.c.Owned()) == testShards/2 && len(bn.c.Owned()) == testShards/2
			}, "the shards to be split between a and b")
			shard := a.c.Owned()[0]
			ns := namespaceOn(shard)
			lease := leaseOf(t, st, shard)

			for name, res := range map[string]response{
				"put":    bn.put(t, ns, "x", `{}`),
				"delete": bn.del(t, ns, "x"),
				"get":    bn.get(t, ns, "x"),
				"list":   bn.list(t, ns),
			} {
				t.Run(name, func(t *testing.T) {
					res.expect(t, http.StatusMisdirectedRequest, api.CodeMisdirected)
					want := api.Owner{ID: "a", Region: "us-east", Address: a.url, FencingToken: uint64(lease.Token)}
					if got := res.errorBody(t).Owner; got == nil || *got != want {
						t.Errorf("owner %+v, want %+v", got, want)
					}
				})
			}
			if objs := objectsIn(t, st, ns); len(objs) != 0 {
				t.Errorf("misdirected write applied: %v", objs)
			}
			a.put(t, ns, "x", `{}`).expect(t, http.StatusCreated, "")
		})
	}
}

// A namespace addressed on a shard it does not live on answers 421; so does
// a shard nobody owns (without an owner); a coordinator whose Run has not
// read the shard count yet answers 503.
func TestMisdirectedWithoutOwner(t *testing.T) {
	st := embeddedBackend.open(t)
	a := startNode(t, st, "a", nil)
	a.waitOwnsAll(t)
	ns := namespaceOn(0)
	res := a.request(t, http.MethodPut, api.InternalObjectPath(1, ns, "x"), []byte(`{}`))
	res.expect(t, http.StatusMisdirectedRequest, api.CodeMisdirected)
	if objs := objectsIn(t, st, ns); len(objs) != 0 {
		t.Errorf("write to the wrong shard applied: %v", objs)
	}
	a.stop() // releases everything

	hs := newHookStore(st)
	hs.failAcquire.Store(true)
	c := startNode(t, hs, "c", nil)
	eventually(t, 5*time.Second, func() bool {
		return c.request(t, http.MethodGet, "/readyz", nil).status == http.StatusOK
	}, "c to be ready")
	res = c.put(t, ns, "x", `{}`)
	res.expect(t, http.StatusMisdirectedRequest, api.CodeMisdirected)
	if o := res.errorBody(t).Owner; o != nil {
		t.Errorf("owner %+v named for an unowned shard", o)
	}

	cfg := testConfig("d", "us-east", "http://d.invalid")
	d, err := coordinator.New(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	idle := &node{t: t, c: d, url: newServer(t, d.Handler())} // never run
	idle.put(t, ns, "x", `{}`).expect(t, http.StatusServiceUnavailable, api.CodeUnavailable)
	if objs := objectsIn(t, st, ns); len(objs) != 0 {
		t.Errorf("writes applied: %v", objs)
	}
}

// A lease taken over while a batch is on its way to the store: the store
// refuses the batch (stale token), the write answers 421 naming the new
// owner, nothing is applied, and the coordinator stops acting as owner.
func TestLeaseLostMidFlight(t *testing.T) {
	for _, b := range bothBackends {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t)
			hs := newHookStore(st)
			a := startNode(t, hs, "a", nil)
			a.waitOwnsAll(t)
			const ns = "fenced"
			shard := shards.Of(ns, testShards)

			release := hs.hold()
			defer release()
			pending := async(func() response { return a.put(t, ns, "x", `{}`) })
			hs.waitEntered(t) // the writer checked its lease and called Apply
			stolen := thief(t, st, shard)
			release()

			res := await(t, pending)
			res.expect(t, http.StatusMisdirectedRequest, api.CodeMisdirected)
			if o := res.errorBody(t).Owner; o == nil || o.ID != "thief" || o.FencingToken != uint64(stolen.Token) {
				t.Errorf("owner %+v, want the thief with token %d", o, stolen.Token)
			}
			if objs := objectsIn(t, st, ns); len(objs) != 0 {
				t.Fatalf("write applied under a stale token: %+v", objs)
			}
			if got := a.metric(t, "cpgw_coordinator_fencing_refusals_total"); got != 1 {
				t.Errorf("fencing refusals %v, want 1", got)
			}
			eventually(t, 5*time.Second, func() bool {
				return a.metric(t, "cpgw_coordinator_lease_losses_total", "cause", "fenced") == 1
			}, "the lease to be counted lost")
			if slices.Contains(a.c.Owned(), shard) {
				t.Errorf("a still serves shard %d", shard)
			}
			a.put(t, ns, "x", `{}`).expect(t, http.StatusMisdirectedRequest, api.CodeMisdirected)
			a.get(t, ns, "x").expect(t, http.StatusMisdirectedRequest, api.CodeMisdirected)

			// Once the thief lets go, a takes the shard back.
			if err := st.ReleaseLease(context.Background(), shard, "thief", stolen.Token); err != nil {
				t.Fatal(err)
			}
			a.waitOwns(t, shard)
			a.put(t, ns, "x", `{}`).expect(t, http.StatusCreated, "")
		})
	}
}

// A lease that cannot be renewed expires: writes queued behind it and
// writes arriving afterwards answer 421 and are never applied, even though
// the coordinator's old token is the shard's latest.
func TestLeaseExpiry(t *testing.T) {
	for _, b := range bothBackends {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t)
			hs := newHookStore(st)
			a := startNode(t, hs, "a", func(c *coordinator.Config) { c.Lease.TTL = time.Second })
			a.waitOwnsAll(t)
			const ns = "expiring"
			shard := shards.Of(ns, testShards)

			release := hs.hold()
			defer release()
			inApply := async(func() response { return a.put(t, ns, "in-apply", `{}`) })
			hs.waitEntered(t)
			queued := async(func() response { return a.put(t, ns, "queued", `{}`) })
			eventually(t, 5*time.Second, func() bool {
				return a.metric(t, "cpgw_coordinator_queue_depth", "shard", fmt.Sprint(shard)) == 1
			}, "a write to queue")

			// The store becomes unreachable for leases: no renewal, no
			// acquisition. The lease runs out locally, then in the store.
			hs.failRenew.Store(true)
			hs.failAcquire.Store(true)
			eventually(t, 5*time.Second, func() bool { return !slices.Contains(a.c.Owned(), shard) }, "the lease to expire locally")
			eventually(t, 5*time.Second, func() bool { return !leaseOf(t, st, shard).Held }, "the lease to expire in the store")
			release()

			for name, ch := range map[string]<-chan response{"in-apply": inApply, "queued": queued} {
				t.Run(name, func(t *testing.T) {
					res := await(t, ch)
					res.expect(t, http.StatusMisdirectedRequest, api.CodeMisdirected)
					if res.errorBody(t).Owner != nil {
						t.Errorf("owner named for an unowned shard: %s", res.body)
					}
				})
			}
			a.put(t, ns, "after", `{}`).expect(t, http.StatusMisdirectedRequest, api.CodeMisdirected)
			if objs := objectsIn(t, st, ns); len(objs) != 0 {
				t.Fatalf("writes applied after the lease expired: %+v", objs)
			}

			hs.failRenew.Store(false)
			hs.failAcquire.Store(false)
			a.waitOwns(t, shard)
			a.put(t, ns, "after", `{}`).expect(t, http.StatusCreated, "")
		})
	}
}

// A graceful stop releases every lease, so another coordinator takes over
// at once rather than after the TTL.
func TestGracefulStopHandsOverAtOnce(t *testing.T) {
	const ttl = 10 * time.Second
	for _, b := range bothBackends {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t)
			long := func(c *coordinator.Config) { c.Lease.TTL = ttl }
			a := startNode(t, st, "a", long)
			a.waitOwnsAll(t)
			bn := startNode(t, st, "b", long)
			eventually(t, 15*time.Second, func() bool { return len(bn.c.Owned()) == testShards/2 }, "b to take half the shards")
			if got := a.metric(t, "cpgw_coordinator_owned_shards"); got != testShards/2 {
				t.Errorf("a owned_shards %v", got)
			}

			start := time.Now()
			a.stop()
			for s := range testShards {
				if l := leaseOf(t, st, s); l.Held && l.Lease.Owner == "a" {
					t.Errorf("shard %d still leased to a after its stop", s)
				}
			}
			bn.waitOwnsAll(t)
			took := time.Since(start)
			if took > ttl/4 {
				t.Errorf("takeover took %s; the TTL is %s", took, ttl)
			}
			t.Logf("b owned every shard %s after a began to stop", took)
			if got := a.metric(t, "cpgw_coordinator_lease_losses_total", "cause", "released"); got < testShards/2 {
				t.Errorf("a released %v leases, want %d", got, testShards/2)
			}
			ns := namespaceOn(0)
			bn.put(t, ns, "x", `{}`).expect(t, http.StatusCreated, "")
		})
	}
}

// A stop applies what is queued, answers new writes 503 no_owner with
// Retry-After, and only then releases the leases.
func TestGracefulStopDrainsQueue(t *testing.T) {
	st := embeddedBackend.open(t)
	hs := newHookStore(st)
	a := startNode(t, hs, "a", nil)
	a.waitOwnsAll(t)
	const ns = "drain"
	shard := shards.Of(ns, testShards)

	release := hs.hold()
	defer release()
	var pending []<-chan response
	for i := range 3 {
		pending = append(pending, async(func() response { return a.put(t, ns, fmt.Sprintf("o%d", i), `{}`) }))
		if i == 0 {
			hs.waitEntered(t)
		}
	}
	eventually(t, 5*time.Second, func() bool {
		return a.metric(t, "cpgw_coordinator_queue_depth", "shard", fmt.Sprint(shard)) == 2
	}, "two writes to queue")

	a.request(t, http.MethodGet, "/readyz", nil).expect(t, http.StatusOK, "")
	stopped := make(chan struct{})
	go func() { a.stop(); close(stopped) }()
	// Readiness drops first; a write sent before that would have queued.
	eventually(t, 5*time.Second, func() bool {
		return a.request(t, http.MethodGet, "/readyz", nil).status == http.StatusServiceUnavailable
	}, "a to report not ready")
	refused := a.put(t, ns, "late", `{}`)
	refused.expect(t, http.StatusServiceUnavailable, api.CodeNoOwner)
	if refused.header.Get(api.HeaderRetryAfter) == "" {
		t.Error("503 without Retry-After")
	}
	if !leaseOf(t, st, shard).Held {
		t.Error("lease released before the queue drained")
	}

	release()
	for _, ch := range pending {
		await(t, ch).expect(t, http.StatusCreated, "")
	}
	select {
	case <-stopped:
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return")
	}
	if n := len(objectsIn(t, st, ns)); n != 3 {
		t.Errorf("%d objects after the stop, want 3", n)
	}
	for s := range testShards {
		if leaseOf(t, st, s).Held {
			t.Errorf("shard %d still leased after the stop", s)
		}
	}
	members, err := st.Members(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(members) != 0 {
		t.Errorf("still a member after the stop: %v", members)
	}
}
