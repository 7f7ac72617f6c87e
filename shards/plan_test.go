package shards

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cpgw/cpgw/store"
)

var regionPool = []string{"us-east", "eu-west", "ap-south", "sa-east", "us-west"}

// cluster is a random membership: a layout and the live members per region
// (a region with none is dark).
type cluster struct {
	layout  Layout
	members map[string][]store.Member
}

func (c cluster) live() []store.Member {
	var out []store.Member
	for _, r := range c.layout.Regions {
		out = append(out, c.members[r]...)
	}
	return out
}

func member(rng *rand.Rand, region string) store.Member {
	id := fmt.Sprintf("coord-%s-%08x", region, rng.Uint32())
	return store.Member{ID: id, Region: region, Address: "https://" + id + ":7443"}
}

// randomCluster draws 1–5 regions with 1–10 live members each; with
// allowDark, each region is dark with probability 1/5.
func randomCluster(t testing.TB, rng *rand.Rand, shards int, allowDark bool) cluster {
	regions := regionPool[:1+rng.IntN(len(regionPool))]
	c := cluster{layout: mustLayout(t, shards, regions...), members: map[string][]store.Member{}}
	for _, r := range c.layout.Regions {
		if allowDark && rng.IntN(5) == 0 {
			continue
		}
		for range 1 + rng.IntN(10) {
			c.members[r] = append(c.members[r], member(rng, r))
		}
	}
	return c
}

// checkPlan asserts everything Plan promises for any input.
func checkPlan(t *testing.T, l Layout, live []store.Member, a Assignment) {
	t.Helper()
	if a.Shards() != l.Shards {
		t.Fatalf("plan covers %d shards, layout has %d", a.Shards(), l.Shards)
	}
	// Plan's documented rule for a repeated ID: the entry with the smallest
	// (Region, Address) counts.
	known := map[string]store.Member{}
	for _, m := range live {
		k, dup := known[m.ID]
		if !dup || m.Region < k.Region || (m.Region == k.Region && m.Address < k.Address) {
			known[m.ID] = m
		}
	}
	perRegion := map[string]int{}
	for _, m := range known {
		perRegion[m.Region]++
	}
	homed := map[string]int{}
	for s := range l.Shards {
		homed[l.HomeRegion(s)]++
	}
	capAll := 0
	if len(known) > 0 {
		capAll = ceilDiv(l.Shards, len(known))
	}
	regionLoad := map[string]int{} // member ID → shards of its own region
	total := map[string]int{}
	for s := range l.Shards {
		o, ok := a.Owner(s)
		home := l.HomeRegion(s)
		if len(known) == 0 {
			if ok || a.InHome(s) {
				t.Fatalf("shard %d assigned (%v) with no live members", s, o)
			}
			continue
		}
		if !ok {
			t.Fatalf("shard %d unassigned with %d live members", s, len(known))
		}
		if _, live := known[o.ID]; !live {
			t.Fatalf("shard %d assigned to %s, not a live member", s, o.ID)
		}
		total[o.ID]++
		if home != "" && perRegion[home] > 0 {
			if o.Region != home || !a.InHome(s) {
				t.Fatalf("shard %d homed in %s (live) planned for %s in %s, InHome=%v", s, home, o.ID, o.Region, a.InHome(s))
			}
			regionLoad[o.ID]++
		} else if a.InHome(s) {
			t.Fatalf("shard %d homed in dark region %q reports InHome", s, home)
		}
	}
	sum := 0
	for id, m := range known {
		capR := 0
		if k := perRegion[m.Region]; k > 0 && slices.Contains(l.Regions, m.Region) {
			capR = ceilDiv(homed[m.Region], k)
		}
		// The contract is ceil+1; the algorithm achieves ceil.
		if got := regionLoad[id]; got > capR+1 {
			t.Errorf("%s holds %d of %s's shards, contract bound %d", id, got, m.Region, capR+1)
		} else if got > capR {
			t.Errorf("%s holds %d of %s's shards, tight bound %d", id, got, m.Region, capR)
		}
		if got, bound := total[id], max(capR, capAll); got > bound {
			t.Errorf("%s holds %d shards in all, bound max(%d, %d)", id, got, capR, capAll)
		}
		if got := a.Load(id); got != total[id] {
			t.Errorf("Load(%s) = %d, counted %d", id, got, total[id])
		}
		shardsOf := a.ShardsOf(id)
		if len(shardsOf) != total[id] || !slices.IsSorted(shardsOf) {
			t.Errorf("ShardsOf(%s) = %v, inconsistent with load %d", id, shardsOf, total[id])
		}
		for _, s := range shardsOf {
			if o, _ := a.Owner(s); o.ID != id {
				t.Errorf("ShardsOf(%s) lists %d, owned by %s", id, s, o.ID)
			}
		}
		sum += a.Load(id)
	}
	if len(known) > 0 && sum != l.Shards {
		t.Errorf("loads sum to %d, want %d", sum, l.Shards)
	}
}

func samePlan(a, b Assignment) (int, bool) {
	if a.Shards() != b.Shards() {
		return -1, false
	}
	for s := range a.Shards() {
		x, okx := a.Owner(s)
		y, oky := b.Owner(s)
		if x != y || okx != oky || a.InHome(s) != b.InHome(s) {
			return s, false
		}
	}
	return 0, true
}

func TestPlanRandomClusters(t *testing.T) {
	for _, shards := range []int{64, 1024} {
		for _, dark := range []bool{false, true} {
			t.Run(fmt.Sprintf("shards=%d/dark=%v", shards, dark), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(shards), 7))
				for range 200 {
					c := randomCluster(t, rng, shards, dark)
					live := c.live()
					a := Plan(c.layout, live)
					checkPlan(t, c.layout, live, a)
					for range 3 {
						rng.Shuffle(len(live), func(i, j int) { live[i], live[j] = live[j], live[i] })
						if s, ok := samePlan(a, Plan(c.layout, live)); !ok {
							t.Fatalf("plan changed at shard %d when live was reordered", s)
						}
					}
				}
			})
		}
	}
}

// planVector pins Plan on a small cluster. Unlike Of and HomeRegion this is
// not a data contract, but coordinators of different versions must agree on
// plans during a rolling upgrade, so a change should be deliberate.
func TestPlanVector(t *testing.T) {
	l := mustLayout(t, 16, "eu-west", "us-east")
	live := []store.Member{
		{ID: "c1", Region: "us-east"}, {ID: "c2", Region: "us-east"},
		{ID: "c3", Region: "eu-west"}, {ID: "c4", Region: "eu-west"}, {ID: "c5", Region: "eu-west"},
	}
	a := Plan(l, live)
	var got []string
	for s := range l.Shards {
		o, _ := a.Owner(s)
		got = append(got, o.ID)
	}
	const want = "c4 c2 c1 c3 c4 c2 c4 c5 c3 c4 c1 c3 c3 c2 c5 c5"
	if g := strings.Join(got, " "); g != want {
		t.Errorf("plan = %s\n  want %s", g, want)
	}
}

func TestPlanEdgeCases(t *testing.T) {
	l := mustLayout(t, 64, "eu-west", "us-east")
	us := store.Member{ID: "u1", Region: "us-east", Address: "a"}
	tests := []struct {
		name   string
		layout Layout
		live   []store.Member
		check  func(t *testing.T, a Assignment)
	}{
		{"no live members", l, nil, func(t *testing.T, a Assignment) {
			for s := range 64 {
				if _, ok := a.Owner(s); ok || a.InHome(s) {
					t.Fatalf("shard %d assigned", s)
				}
			}
		}},
		{"zero layout", Layout{}, []store.Member{us}, func(t *testing.T, a Assignment) {
			if a.Shards() != 0 || a.Load("u1") != 0 || a.ShardsOf("u1") != nil {
				t.Errorf("zero layout planned shards: %d", a.Shards())
			}
		}},
		{"one member takes everything", l, []store.Member{us}, func(t *testing.T, a Assignment) {
			if a.Load("u1") != 64 {
				t.Errorf("Load = %d, want 64", a.Load("u1"))
			}
			for s := range 64 {
				if a.InHome(s) != (l.HomeRegion(s) == "us-east") {
					t.Errorf("shard %d InHome = %v, home %s", s, a.InHome(s), l.HomeRegion(s))
				}
			}
		}},
		{"no regions in layout", mustLayout(t, 10), []store.Member{us, {ID: "u2", Region: "us-east"}, {ID: "u3", Region: "eu-west"}},
			func(t *testing.T, a Assignment) {
				// Every shard is homeless: spread with cap ceil(10/3) = 4.
				for _, id := range []string{"u1", "u2", "u3"} {
					if got := a.Load(id); got < 2 || got > 4 {
						t.Errorf("Load(%s) = %d, want 2..4", id, got)
					}
				}
				for s := range 10 {
					if a.InHome(s) {
						t.Errorf("shard %d InHome with no regions", s)
					}
				}
			}},
		{"member of an unknown region gets only homeless shards", l,
			[]store.Member{us, {ID: "e1", Region: "eu-west"}, {ID: "m1", Region: "mars"}},
			func(t *testing.T, a Assignment) {
				if got := a.Load("m1"); got != 0 {
					t.Errorf("Load(m1) = %d, want 0: every home region is live", got)
				}
			}},
		{"unknown-region member helps with a dark region", l,
			[]store.Member{us, {ID: "m1", Region: "mars"}},
			func(t *testing.T, a Assignment) {
				// eu-west is dark; its shards go to u1 or m1 with cap 32.
				if got := a.Load("m1"); got == 0 || got > 32 {
					t.Errorf("Load(m1) = %d, want 1..32", got)
				}
			}},
		{"duplicate IDs: the smallest (Region, Address) wins", l,
			[]store.Member{{ID: "x", Region: "us-east", Address: "b"}, {ID: "x", Region: "eu-west", Address: "z"}, {ID: "x", Region: "us-east", Address: "a"}},
			func(t *testing.T, a Assignment) {
				for s := range 64 {
					if o, _ := a.Owner(s); o != (store.Member{ID: "x", Region: "eu-west", Address: "z"}) {
						t.Fatalf("shard %d owner %+v", s, o)
					}
				}
			}},
		{"out-of-range queries", l, []store.Member{us}, func(t *testing.T, a Assignment) {
			for _, s := range []int{-1, 64, 1000} {
				if _, ok := a.Owner(s); ok || a.InHome(s) {
					t.Errorf("shard %d reported assigned", s)
				}
			}
			if a.Load("nobody") != 0 || a.ShardsOf("nobody") != nil {
				t.Error("unknown member has shards")
			}
		}},
		{"zero Assignment", l, nil, func(t *testing.T, _ Assignment) {
			var z Assignment
			if _, ok := z.Owner(0); ok || z.InHome(0) || z.Load("x") != 0 || z.ShardsOf("x") != nil || z.Shards() != 0 {
				t.Error("zero Assignment is not empty")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.live)
			a := Plan(tc.layout, tc.live)
			if !slices.Equal(in, tc.live) {
				t.Error("Plan modified its argument")
			}
			if tc.layout.Shards > 0 {
				checkPlan(t, tc.layout, tc.live, a)
			}
			tc.check(t, a)
		})
	}
}

// A region that goes dark hands all its shards to other regions without
// disturbing theirs, and gets exactly its old plan back when it returns.
func TestPlanRegionDarkAndBack(t *testing.T) {
	for _, shards := range []int{64, 1024} {
		rng := rand.New(rand.NewPCG(uint64(shards), 11))
		l := mustLayout(t, shards, "ap-south", "eu-west", "us-east")
		for _, dark := range l.Regions {
			t.Run(fmt.Sprintf("shards=%d/%s", shards, dark), func(t *testing.T) {
				c := cluster{layout: l, members: map[string][]store.Member{}}
				for _, r := range l.Regions {
					for range 2 + rng.IntN(4) {
						c.members[r] = append(c.members[r], member(rng, r))
					}
				}
				before := Plan(l, c.live())
				away := c.members[dark]
				c.members[dark] = nil
				during := Plan(l, c.live())
				checkPlan(t, l, c.live(), during)
				for s := range shards {
					o, ok := during.Owner(s)
					if l.HomeRegion(s) == dark {
						if !ok || o.Region == dark || during.InHome(s) {
							t.Fatalf("shard %d of dark %s: owner %+v ok=%v InHome=%v", s, dark, o, ok, during.InHome(s))
						}
						continue
					}
					if b, _ := before.Owner(s); b != o || !during.InHome(s) {
						t.Fatalf("shard %d of live %s moved %s → %s while %s was dark", s, l.HomeRegion(s), b.ID, o.ID, dark)
					}
				}
				c.members[dark] = away
				after := Plan(l, c.live())
				if s, ok := samePlan(before, after); !ok {
					t.Fatalf("plan after %s returned differs at shard %d", dark, s)
				}
				for _, s := range l.HomedIn(dark) {
					if !after.InHome(s) {
						t.Fatalf("shard %d did not come home to %s", s, dark)
					}
				}
			})
		}
	}
}

// topOf returns the member of ms with the highest rendezvous weight for a
// shard: where the shard goes when loads do not bind.
func topOf(ms []store.Member, shard int) string {
	best, bw := "", uint64(0)
	for _, m := range ms {
		w := weight(seed(domainMember, m.ID), shard)
		if best == "" || beats(w, m.ID, bw, best) {
			best, bw = m.ID, w
		}
	}
	return best
}

// movement compares two plans on the shards homed in region, whose live
// members were ms0 before and ms1 after. It returns the number of shards
// whose owner changed, and the provable upper bound on that number: a shard
// that is on its top-ranked member in both plans, and whose top-ranked member
// is the same in both, cannot have moved. So moved ≤ |top changed| +
// |overflow before| + |overflow after|, where the overflow of a plan is the
// set of shards the load cap pushed off their top-ranked member.
func movement(l Layout, region string, a0, a1 Assignment, ms0, ms1 []store.Member) (moved, bound int) {
	for _, s := range l.HomedIn(region) {
		o0, _ := a0.Owner(s)
		o1, _ := a1.Owner(s)
		t0, t1 := topOf(ms0, s), topOf(ms1, s)
		if o0 != o1 {
			moved++
		}
		if t0 != t1 || o0.ID != t0 || o1.ID != t1 {
			bound++
		}
	}
	return moved, bound
}

// Adding a member to a region moves only that region's shards: about
// |S_R|/(k+1) to the new member, plus a cascade from the tighter load cap.
func TestPlanAddMemberMovement(t *testing.T) {
	for _, shards := range []int{64, 1024} {
		for _, dark := range []bool{false, true} {
			t.Run(fmt.Sprintf("shards=%d/dark=%v", shards, dark), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(shards), 13))
				var sumMoved, sumIdeal int
				for range 300 {
					c := randomCluster(t, rng, shards, dark)
					var liveRegions []string
					for _, r := range c.layout.Regions {
						if len(c.members[r]) > 0 {
							liveRegions = append(liveRegions, r)
						}
					}
					if len(liveRegions) == 0 {
						continue
					}
					r := liveRegions[rng.IntN(len(liveRegions))]
					before := Plan(c.layout, c.live())
					ms0 := c.members[r]
					newcomer := member(rng, r)
					c.members[r] = append(slices.Clone(ms0), newcomer)
					after := Plan(c.layout, c.live())
					checkPlan(t, c.layout, c.live(), after)

					// Shards homed in other live regions never move.
					for s := range shards {
						h := c.layout.HomeRegion(s)
						if h == r || len(c.members[h]) == 0 {
							continue
						}
						if o0, _ := before.Owner(s); o0 != mustOwner(t, after, s) {
							t.Fatalf("adding to %s moved shard %d of %s", r, s, h)
						}
					}
					moved, bound := movement(c.layout, r, before, after, ms0, c.members[r])
					if moved > bound {
						t.Fatalf("moved %d > provable bound %d", moved, bound)
					}
					// The cascade is bounded by the overflow, which for
					// random weights is O(sqrt(|S_R|·k)): allow that much
					// beyond the ideal ceil(|S_R|/(k+1)).
					sr, k := len(c.layout.HomedIn(r)), len(ms0)
					ideal := ceilDiv(sr, k+1)
					if slack := int(math.Sqrt(float64(sr*(k+1)))) + 2; moved > ideal+slack {
						t.Errorf("|S_R|=%d k=%d: moved %d, ideal %d + slack %d", sr, k, moved, ideal, slack)
					}
					if sr >= 12*(k+1) && moved > 2*ideal {
						t.Errorf("|S_R|=%d k=%d: moved %d, more than twice the ideal %d", sr, k, moved, ideal)
					}
					inRegion := 0
					for _, s := range c.layout.HomedIn(r) {
						if mustOwner(t, after, s).ID == newcomer.ID {
							inRegion++
						}
					}
					if inRegion > ideal {
						t.Errorf("newcomer holds %d of %s's shards, cap %d", inRegion, r, ideal)
					}
					sumMoved += moved
					sumIdeal += ideal
				}
				ratio := float64(sumMoved) / float64(sumIdeal)
				t.Logf("moved %d shards where the ideal is %d (×%.2f)", sumMoved, sumIdeal, ratio)
				if ratio > 1.5 {
					t.Errorf("on aggregate moved ×%.2f the ideal, want ≤ ×1.5", ratio)
				}
			})
		}
	}
}

// Removing a member moves its shards plus a cascade from the looser cap.
func TestPlanRemoveMemberMovement(t *testing.T) {
	for _, shards := range []int{64, 1024} {
		for _, dark := range []bool{false, true} {
			t.Run(fmt.Sprintf("shards=%d/dark=%v", shards, dark), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(shards), 17))
				var sumMoved, sumLoad int
				for range 300 {
					c := randomCluster(t, rng, shards, dark)
					var candidates []string
					for _, r := range c.layout.Regions {
						if len(c.members[r]) > 1 {
							candidates = append(candidates, r)
						}
					}
					if len(candidates) == 0 {
						continue
					}
					r := candidates[rng.IntN(len(candidates))]
					before := Plan(c.layout, c.live())
					ms0 := c.members[r]
					i := rng.IntN(len(ms0))
					gone := ms0[i]
					c.members[r] = slices.Delete(slices.Clone(ms0), i, i+1)
					after := Plan(c.layout, c.live())
					checkPlan(t, c.layout, c.live(), after)

					for s := range shards {
						h := c.layout.HomeRegion(s)
						if h == r || len(c.members[h]) == 0 {
							continue
						}
						if o0, _ := before.Owner(s); o0 != mustOwner(t, after, s) {
							t.Fatalf("removing from %s moved shard %d of %s", r, s, h)
						}
					}
					moved, bound := movement(c.layout, r, before, after, ms0, c.members[r])
					if moved > bound {
						t.Fatalf("moved %d > provable bound %d", moved, bound)
					}
					load := 0
					for _, s := range c.layout.HomedIn(r) {
						if o, _ := before.Owner(s); o.ID == gone.ID {
							load++
						}
					}
					sr, k := len(c.layout.HomedIn(r)), len(c.members[r])
					if slack := int(math.Sqrt(float64(sr*(k+1)))) + 2; moved > load+slack {
						t.Errorf("|S_R|=%d k=%d: moved %d, its load %d + slack %d", sr, k, moved, load, slack)
					}
					// Once members hold a dozen or more shards each, the
					// cascade stays below the removed member's own load.
					if sr >= 12*(k+1) && moved > 2*load {
						t.Errorf("|S_R|=%d k=%d: moved %d, more than twice its load %d", sr, k, moved, load)
					}
					sumMoved += moved
					sumLoad += load
				}
				ratio := float64(sumMoved) / float64(sumLoad)
				t.Logf("moved %d shards where the removed members held %d (×%.2f)", sumMoved, sumLoad, ratio)
				if ratio > 1.5 {
					t.Errorf("on aggregate moved ×%.2f the removed load, want ≤ ×1.5", ratio)
				}
			})
		}
	}
}

func mustOwner(t *testing.T, a Assignment, s int) store.Member {
	t.Helper()
	o, ok := a.Owner(s)
	if !ok {
		t.Fatalf("shard %d unassigned", s)
	}
	return o
}
