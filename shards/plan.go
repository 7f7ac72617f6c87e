package shards

import (
	"cmp"
	"slices"

	"github.com/cpgw/cpgw/store"
)

// Assignment is a placement plan: the member that should own each shard. It
// is what Plan computes from a Layout and a membership view; leases, not the
// plan, decide who actually owns a shard (see the package documentation).
// The zero Assignment has no shards.
type Assignment struct {
	members []store.Member // the live members, sorted by ID, IDs unique
	owner   []int32        // per shard: index into members, or -1 when unassigned
	inHome  []bool         // per shard: the owner is in the shard's home region
	load    []int          // per member: number of shards assigned
}

// Shards returns the number of shards the plan covers (the Layout's count).
func (a Assignment) Shards() int { return len(a.owner) }

// Owner returns the member a shard should be owned by, and false when the
// shard is unassigned (no live members, or a shard outside the layout).
func (a Assignment) Owner(shard int) (store.Member, bool) {
	if shard < 0 || shard >= len(a.owner) || a.owner[shard] < 0 {
		return store.Member{}, false
	}
	return a.members[a.owner[shard]], true
}

// InHome reports whether the shard's planned owner is in the shard's home
// region. It is false for unassigned shards and for shards whose home region
// has no live member.
func (a Assignment) InHome(shard int) bool {
	return shard >= 0 && shard < len(a.inHome) && a.inHome[shard]
}

// Load returns the number of shards planned for a member (0 for a member
// the plan does not know).
func (a Assignment) Load(memberID string) int {
	if i, ok := a.member(memberID); ok {
		return a.load[i]
	}
	return 0
}

// ShardsOf returns the shards planned for a member, in ascending order, or
// nil if there are none.
func (a Assignment) ShardsOf(memberID string) []int {
	i, ok := a.member(memberID)
	if !ok || a.load[i] == 0 {
		return nil
	}
	out := make([]int, 0, a.load[i])
	for s, o := range a.owner {
		if int(o) == i {
			out = append(out, s)
		}
	}
	return out
}

func (a Assignment) member(id string) (int, bool) {
	return slices.BinarySearchFunc(a.members, id, func(m store.Member, id string) int {
		return cmp.Compare(m.ID, id)
	})
}

// Plan computes where every shard of l should be owned, given the live
// members. It is a pure function of l and the set of members: the order of
// live does not matter, and every member that computes a plan from the same
// view gets the same one. If live names an ID more than once, the entry with
// the smallest (Region, Address) is used.
//
// The algorithm is rendezvous ranking with bounded loads:
//
//  1. Every shard whose home region R has live members goes to one of them.
//     Shards are taken in index order; each goes to the member of R with the
//     highest rendezvous weight for the shard among those whose load is below
//     capR = ceil(shards homed in R / live members in R). So no member holds
//     more than capR of its region's shards.
//  2. Shards whose home region has no live member (a region that is down, or
//     a layout with no regions) are spread the same way over all live
//     members, counting the loads from step 1, with
//     capAll = ceil(l.Shards / live members).
//  3. With no live members every shard is unassigned.
//
// Members whose region is not in l.Regions (a layout read before their region
// was recorded) take part only in step 2.
//
// Step 1 is per region: a membership change in one region does not move any
// shard homed in another region that has live members. Within the region,
// most shards keep their owner: a shard can only move if its top-ranked
// member changed (about |S_R|/(k+1) shards when a (k+1)-th member joins, the
// unavoidable part) or if the load cap keeps it off its top-ranked member in
// the old or the new plan (the cascade). In randomised tests (plan_test.go)
// a join or leave moves on average about 1.1× the unavoidable number with
// ~100 shards per member and up to about 1.3× with a handful.
func Plan(l Layout, live []store.Member) Assignment {
	n := max(l.Shards, 0)
	members := uniqueMembers(live)
	a := Assignment{
		members: members,
		owner:   make([]int32, n),
		inHome:  make([]bool, n),
		load:    make([]int, len(members)),
	}
	for s := range a.owner {
		a.owner[s] = -1
	}
	if n == 0 || len(members) == 0 {
		return a
	}

	// Region indexes follow l.Regions; if a hand-built layout lists a name
	// twice, homes() only ever picks its first index, and so does this map.
	regionIndex := make(map[string]int, len(l.Regions))
	for i, r := range l.Regions {
		if _, dup := regionIndex[r]; !dup {
			regionIndex[r] = i
		}
	}
	inRegion := make([][]int, len(l.Regions)) // member indexes, ascending
	all := make([]int, len(members))
	seeds := make([]uint64, len(members))
	for i, m := range members {
		all[i] = i
		seeds[i] = seed(domainMember, m.ID)
		if r, ok := regionIndex[m.Region]; ok {
			inRegion[r] = append(inRegion[r], i)
		}
	}

	homes := l.homes()
	homed := make([]int, len(l.Regions))
	for _, r := range homes {
		if r >= 0 {
			homed[r]++
		}
	}
	caps := make([]int, len(l.Regions))
	for r, ms := range inRegion {
		if len(ms) > 0 {
			caps[r] = ceilDiv(homed[r], len(ms))
		}
	}

	// Step 1. Feasible: |members of R| × capR ≥ |shards homed in R|, so while
	// a shard of R is still unplaced some member of R is below capR.
	keys := make([]uint64, n)
	dark := false
	for s, r := range homes {
		keys[s] = shardKey(s)
		if r < 0 || len(inRegion[r]) == 0 {
			dark = true
			continue
		}
		i := a.pick(inRegion[r], seeds, keys[s], caps[r])
		a.assign(s, i)
		a.inHome[s] = true
	}
	if !dark {
		return a
	}

	// Step 2. Feasible although step 1 may have left some members above
	// capAll: while a shard is unplaced fewer than n shards are placed, and
	// n ≤ |members| × capAll, so if every member had load ≥ capAll at least n
	// shards would be placed — a contradiction. Some member is below capAll.
	capAll := ceilDiv(n, len(members))
	for s, r := range homes {
		if r >= 0 && len(inRegion[r]) > 0 {
			continue
		}
		a.assign(s, a.pick(all, seeds, keys[s], capAll))
	}
	return a
}

// pick returns the candidate with the highest weight for the shard whose key
// is key among those with load below limit. Candidates are in ascending ID
// order, so keeping the first of equal weights breaks ties by ID. Callers
// guarantee that some candidate is below limit (see Plan).
func (a *Assignment) pick(cands []int, seeds []uint64, key uint64, limit int) int {
	best, bw := -1, uint64(0)
	for _, i := range cands {
		if a.load[i] >= limit {
			continue
		}
		if w := weightK(seeds[i], key); best < 0 || w > bw {
			best, bw = i, w
		}
	}
	return best
}

func (a *Assignment) assign(shard, member int) {
	a.owner[shard] = int32(member)
	a.load[member]++
}

// uniqueMembers returns the members sorted by ID with one entry per ID, in a
// new slice.
func uniqueMembers(live []store.Member) []store.Member {
	ms := slices.Clone(live)
	slices.SortFunc(ms, func(x, y store.Member) int {
		return cmp.Or(cmp.Compare(x.ID, y.ID), cmp.Compare(x.Region, y.Region), cmp.Compare(x.Address, y.Address))
	})
	return slices.CompactFunc(ms, func(x, y store.Member) bool { return x.ID == y.ID })
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
