package shards_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cpgw/cpgw/internal/redistest"
	"github.com/cpgw/cpgw/leases"
	"github.com/cpgw/cpgw/shards"
	"github.com/cpgw/cpgw/store"
	"github.com/cpgw/cpgw/store/embedded"
	"github.com/cpgw/cpgw/store/redisstore"
)

// A coordinator outside a shard's home region waits Grace before claiming it;
// a coordinator inside claims at once.
func TestPlacerGraceOutsideHomeRegion(t *testing.T) {
	clk := clockwork.NewFakeClockAt(time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC))
	st, err := embedded.New(embedded.Config{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	const n = 8
	// us-east is known (it announced once) but has no live member now.
	if err := st.Heartbeat(ctx, store.Member{ID: "gone", Region: "us-east"}, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	self := store.Member{ID: "eu1", Region: "eu-west", Address: "http://eu1"}
	if err := st.Heartbeat(ctx, self, time.Hour); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second) // "gone" expires
	kcfg := leases.DefaultConfig()
	kcfg.Owner, kcfg.Region, kcfg.Clock = self.ID, self.Region, clk
	k, err := leases.New(st, kcfg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := shards.NewPlacer(st, k, shards.PlacerConfig{Self: self, Shards: n, Grace: 5 * time.Second, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	layout, _ := shards.NewLayout(n, []string{"eu-west", "us-east"})
	home := map[string][]int{}
	for s := 0; s < n; s++ {
		home[layout.HomeRegion(s)] = append(home[layout.HomeRegion(s)], s)
	}
	if len(home["us-east"]) == 0 || len(home["eu-west"]) == 0 {
		t.Fatalf("test needs shards homed in both regions: %v", home)
	}
	held := func() map[int]bool {
		m := map[int]bool{}
		for _, l := range k.Held() {
			m[l.Shard()] = true
		}
		return m
	}

	if err := p.Step(ctx); err != nil {
		t.Fatal(err)
	}
	for _, s := range home["eu-west"] {
		if !held()[s] {
			t.Errorf("home shard %d not claimed at once", s)
		}
	}
	for _, s := range home["us-east"] {
		if held()[s] {
			t.Errorf("foreign shard %d claimed before the grace period", s)
		}
	}
	clk.Advance(4 * time.Second)
	k.Renew(ctx)
	if err := p.Step(ctx); err != nil {
		t.Fatal(err)
	}
	for _, s := range home["us-east"] {
		if held()[s] {
			t.Errorf("foreign shard %d claimed after 4s of a 5s grace", s)
		}
	}
	clk.Advance(time.Second)
	k.Renew(ctx)
	if err := p.Step(ctx); err != nil {
		t.Fatal(err)
	}
	for s := 0; s < n; s++ {
		if !held()[s] {
			t.Errorf("shard %d not held after the grace period", s)
		}
	}
}

// node is one coordinator of the placement test: keeper, announcer, placer.
type node struct {
	member store.Member
	keeper *leases.Keeper
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	leases []acquired // every lease the placer acquired
}

type acquired struct {
	*leases.Lease
	at time.Time
}

// crashStore drops Leave so a stopped node vanishes only when its heartbeat
// expires, as a crashed process would.
type crashStore struct{ *redisstore.Store }

func (crashStore) Leave(context.Context, string) error { return nil }

const (
	testTTL   = time.Second
	testGrace = time.Second
)

func startNode(t *testing.T, st *redisstore.Store, id, region string, n int) *node {
	t.Helper()
	nd := &node{member: store.Member{ID: id, Region: region, Address: "http://" + id}}
	kcfg := leases.DefaultConfig()
	kcfg.Owner, kcfg.Region, kcfg.Address, kcfg.TTL = id, region, nd.member.Address, testTTL
	kcfg.RetryInterval = testTTL / 10
	k, err := leases.New(st, kcfg)
	if err != nil {
		t.Fatal(err)
	}
	nd.keeper = k
	ann, err := leases.NewAnnouncer(crashStore{st}, nd.member, leases.AnnouncerConfig{TTL: testTTL})
	if err != nil {
		t.Fatal(err)
	}
	p, err := shards.NewPlacer(st, k, shards.PlacerConfig{
		Self: nd.member, Shards: n, Interval: 50 * time.Millisecond, Grace: testGrace, Settle: 200 * time.Millisecond,
		OnAcquire: func(l *leases.Lease) {
			nd.mu.Lock()
			nd.leases = append(nd.leases, acquired{l, time.Now()})
			nd.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := ann.Beat(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	nd.cancel = cancel
	for _, run := range []func(context.Context) error{k.Run, ann.Run, p.Run} {
		nd.wg.Add(1)
		go func() { defer nd.wg.Done(); run(ctx) }()
	}
	t.Cleanup(nd.stop)
	return nd
}

// stop crashes the node: its loops end, its leases end locally without being
// released, and its membership lapses at its TTL.
func (nd *node) stop() { nd.cancel(); nd.wg.Wait() }

// owners returns, per shard, the ids of nodes that believe they hold it now.
func owners(nodes []*node, n int) [][]string {
	out := make([][]string, n)
	for _, nd := range nodes {
		for _, l := range nd.keeper.Held() {
			if l.Valid() {
				out[l.Shard()] = append(out[l.Shard()], nd.member.ID)
			}
		}
	}
	return out
}

// Placement end to end on real Redis: a region goes dark, its shards move to
// the other region only after the grace period, and return by handoff when
// the region comes back. An observer checks throughout that no shard is
// believed held by two coordinators at once (Invariant 2).
func TestPlacementRegionOutageAndReturn(t *testing.T) {
	rs := redistest.Start(t, 0)
	st, err := redisstore.New(rs.Client(t), redisstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 16
	layout, _ := shards.NewLayout(n, []string{"eu-west", "us-east"})

	var mu sync.Mutex
	nodes := []*node{
		startNode(t, st, "us1", "us-east", n), startNode(t, st, "us2", "us-east", n),
		startNode(t, st, "eu1", "eu-west", n), startNode(t, st, "eu2", "eu-west", n),
	}
	region := map[string]string{"us1": "us-east", "us2": "us-east", "eu1": "eu-west", "eu2": "eu-west", "us3": "us-east", "us4": "us-east"}
	snapshot := func() [][]string {
		mu.Lock()
		defer mu.Unlock()
		return owners(nodes, n)
	}

	// The observer.
	stopObs := make(chan struct{})
	obsDone := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stopObs:
				obsDone <- nil
				return
			case <-time.After(5 * time.Millisecond):
			}
			for s, ids := range snapshot() {
				if len(ids) > 1 {
					obsDone <- fmt.Errorf("shard %d held by %v at once", s, ids)
					return
				}
			}
		}
	}()
	defer func() {
		close(stopObs)
		if err := <-obsDone; err != nil {
			t.Error(err)
		}
	}()

	waitFor := func(what string, limit time.Duration, ok func([][]string) bool) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for !ok(snapshot()) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not reached within %v; owners %v", what, limit, snapshot())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	allHome := func(o [][]string) bool {
		for s, ids := range o {
			if len(ids) != 1 || region[ids[0]] != layout.HomeRegion(s) {
				return false
			}
		}
		return true
	}
	waitFor("every shard owned in its home region", 10*time.Second, allHome)
	checkBalance(t, layout, snapshot())

	// us-east goes dark.
	darkAt := time.Now()
	nodes[0].stop()
	nodes[1].stop()
	waitFor("us-east shards moved to eu-west", 10*time.Second, func(o [][]string) bool {
		for _, ids := range o {
			if len(ids) != 1 || region[ids[0]] != "eu-west" {
				return false
			}
		}
		return true
	})
	// Nobody may claim a foreign shard before it was unowned for Grace, and it
	// cannot be unowned before the dead owner's lease ran out.
	for _, nd := range nodes[2:] {
		nd.mu.Lock()
		for _, l := range nd.leases {
			if layout.HomeRegion(l.Shard()) == "us-east" {
				if l.at.Before(darkAt.Add(testGrace)) {
					t.Errorf("%s claimed us-east shard %d %v after the outage, before the grace period", nd.member.ID, l.Shard(), l.at.Sub(darkAt))
				}
			}
		}
		nd.mu.Unlock()
	}

	// us-east comes back (new processes, new ids).
	back := []*node{startNode(t, st, "us3", "us-east", n), startNode(t, st, "us4", "us-east", n)}
	mu.Lock()
	nodes = append(nodes, back...)
	mu.Unlock()
	waitFor("us-east shards returned home", 10*time.Second, allHome)
	checkBalance(t, layout, snapshot())

	// The return was a handoff: eu-west released its foreign leases rather
	// than letting them expire.
	for _, nd := range nodes[2:4] {
		nd.mu.Lock()
		for _, l := range nd.leases {
			if layout.HomeRegion(l.Shard()) == "us-east" && !errors.Is(l.Err(), leases.ErrReleased) {
				t.Errorf("%s gave shard %d back with %v, want a release", nd.member.ID, l.Shard(), l.Err())
			}
		}
		nd.mu.Unlock()
	}
}

// checkBalance asserts the steady-state bound: nobody holds more than
// ceil(region's shards / region's live coordinators) + 1 of its region's shards.
func checkBalance(t *testing.T, layout shards.Layout, o [][]string) {
	t.Helper()
	perRegion := map[string]int{}
	load := map[string]int{}
	holders := map[string]map[string]bool{}
	for s, ids := range o {
		r := layout.HomeRegion(s)
		perRegion[r]++
		for _, id := range ids {
			load[id]++
			if holders[r] == nil {
				holders[r] = map[string]bool{}
			}
			holders[r][id] = true
		}
	}
	for r, hs := range holders {
		limit := (perRegion[r]+len(hs)-1)/len(hs) + 1
		for id := range hs {
			if load[id] > limit {
				t.Errorf("%s holds %d shards of %s, bound %d", id, load[id], r, limit)
			}
		}
	}
}
