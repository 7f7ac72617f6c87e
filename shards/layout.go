package shards

import (
	"fmt"
	"slices"
)

// MaxShards is the largest shard count a Layout accepts. Shard numbers appear
// in Redis hash tags and in the shard map served to every gateway; more than
// this many would make both unwieldy without spreading load any better.
const MaxShards = 1 << 16

// Of returns the shard that holds a namespace in a cluster of n shards: the
// 64-bit FNV-1a hash (hash/fnv's New64a) of the namespace's bytes, modulo n.
//
// This is a stable contract. Every object of a namespace is stored under the
// shard Of returns, so changing the function would strand every namespace's
// data on a shard nobody looks at. The shard count is fixed when the cluster
// is created for the same reason.
//
// Of returns 0 when n < 1; no valid cluster has fewer than one shard (see
// NewLayout), so that case only arises from a bug and must not panic in a
// request path.
func Of(namespace string, n int) int {
	if n < 1 {
		return 0
	}
	return int(fnv1a(namespace) % uint64(n))
}

// Layout is the static shape of a cluster: its shard count and every region
// it has ever known. Build it with NewLayout. Regions lists every known
// region, including ones that are down at the moment: home regions are
// computed from this list, so leaving a dead region out would re-home its
// shards (and pinned namespaces) while it is away.
//
// The methods give the same answers whatever the order of Regions, and do not
// panic on a Layout that did not come from NewLayout; they just have fewer
// regions or shards to work with.
type Layout struct {
	Shards  int      // number of shards, 1..MaxShards
	Regions []string // sorted, unique, non-empty names
}

// NewLayout validates a shard count and a region list and returns the Layout
// with the regions sorted and deduplicated (in a new slice; the caller's is
// not modified). An empty region list is allowed: a brand-new cluster knows
// no region until its first member heartbeats, and Plan then spreads every
// shard over whoever is live.
func NewLayout(shards int, regions []string) (Layout, error) {
	if shards < 1 || shards > MaxShards {
		return Layout{}, fmt.Errorf("shards: shard count %d out of range 1..%d", shards, MaxShards)
	}
	rs := slices.Clone(regions)
	for i, r := range rs {
		if r == "" {
			return Layout{}, fmt.Errorf("shards: region %d has an empty name", i)
		}
	}
	slices.Sort(rs)
	return Layout{Shards: shards, Regions: slices.Compact(rs)}, nil
}

// HomeRegion returns the region a shard prefers to be owned in: of all of
// l.Regions, the one with the highest rendezvous weight for the shard.
// Rendezvous hashing keeps homes stable as regions are added: a new region
// takes over exactly the shards for which it now has the highest weight, and
// no other shard changes home. Removing a region from the list would likewise
// move only its own shards, which is why Regions keeps regions that are down.
//
// HomeRegion returns "" for a shard outside 0..l.Shards-1 or when there are no
// regions.
func (l Layout) HomeRegion(shard int) string {
	if shard < 0 || shard >= l.Shards {
		return ""
	}
	best, bw := "", uint64(0)
	for _, r := range l.Regions {
		w := weight(seed(domainRegion, r), shard)
		if best == "" || beats(w, r, bw, best) {
			best, bw = r, w
		}
	}
	return best
}

// homes returns, for every shard, the index in l.Regions of its home region,
// or -1 when there are no regions. It is HomeRegion for all shards at once,
// hashing each region name once.
func (l Layout) homes() []int {
	if l.Shards < 1 {
		return nil
	}
	seeds := make([]uint64, len(l.Regions))
	for i, r := range l.Regions {
		seeds[i] = seed(domainRegion, r)
	}
	hs := make([]int, l.Shards)
	for s := range hs {
		key := shardKey(s)
		best, bw := -1, uint64(0)
		for i, sd := range seeds {
			w := weightK(sd, key)
			if best < 0 || beats(w, l.Regions[i], bw, l.Regions[best]) {
				best, bw = i, w
			}
		}
		hs[s] = best
	}
	return hs
}

// HomedIn returns the shards whose home region is region, in ascending
// order, or nil if there are none. A namespace-settings handler can use it to
// refuse a pin to a region that homes no shard (see ShardFor).
func (l Layout) HomedIn(region string) []int {
	var out []int
	for s, r := range l.homes() {
		if r >= 0 && l.Regions[r] == region {
			out = append(out, s)
		}
	}
	return out
}

// ShardFor returns the shard that holds a namespace.
//
// An unpinned namespace (homeRegion == "") lives on Of(namespace, l.Shards).
//
// A namespace pinned to a region lives on one of the shards homed in that
// region, so that its owner is normally in the namespace's home region. If
// Of(namespace, l.Shards) is homed there, that is the shard (pinning a
// namespace to the region it already lives in moves no data); otherwise it is
// the shard homed there with the highest rendezvous weight for the namespace.
// Adding a region to the layout only moves the pinned namespaces whose chosen
// shard is re-homed to the new region; everything else stays put.
//
// If no shard is homed in homeRegion (an unknown region, or a layout with
// more regions than shards where this one drew none), ShardFor falls back to
// Of(namespace, l.Shards): every namespace must map to some shard, and the
// unpinned placement is the natural one. Callers that must not accept that
// fallback check HomedIn when the namespace is pinned.
//
// Note that a pinned namespace's shard depends on the region list, not just
// the shard count: if the cluster learns a new region, about 1/(regions+1) of
// the pinned namespaces map to a different shard. Whoever pins a namespace
// should record the resolved shard rather than recompute it forever.
func (l Layout) ShardFor(namespace, homeRegion string) int {
	if homeRegion == "" {
		return Of(namespace, l.Shards)
	}
	return l.pick(namespace, l.HomedIn(homeRegion))
}

// pick is ShardFor for a pinned namespace given the shards homed in its
// region, in ascending order.
func (l Layout) pick(namespace string, homed []int) int {
	natural := Of(namespace, l.Shards)
	if _, ok := slices.BinarySearch(homed, natural); ok || len(homed) == 0 {
		return natural
	}
	sd := seed(domainNamespace, namespace)
	best, bw := homed[0], weight(sd, homed[0])
	for _, s := range homed[1:] {
		// homed is ascending, so on a (64-bit) tie the lower shard stays.
		if w := weight(sd, s); w > bw {
			best, bw = s, w
		}
	}
	return best
}
