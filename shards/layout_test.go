package shards

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// ofVectors pin Of. They were computed with hash/fnv's New64a, independently
// of this package's code. If this test fails, Of changed, and every
// namespace's data would move: do not update the vectors, fix Of.
var ofVectors = []struct {
	namespace string
	fnv       uint64
	shard     [4]int // for n = 1, 16, 64, 1024
}{
	{"", 0xcbf29ce484222325, [4]int{0, 5, 37, 805}},
	{"a", 0xaf63dc4c8601ec8c, [4]int{0, 12, 12, 140}},
	{"payments", 0xe17ac5686623db26, [4]int{0, 6, 38, 806}},
	{"billing", 0x4005570295afd25c, [4]int{0, 12, 28, 604}},
	{"orders", 0x00125d9250be8b4c, [4]int{0, 12, 12, 844}},
	{"inventory", 0x1de86446633071df, [4]int{0, 15, 31, 479}},
	{"auth", 0x5dc77a84260a774f, [4]int{0, 15, 15, 847}},
	{"users", 0x42288471628c3333, [4]int{0, 3, 51, 819}},
	{"search", 0x220bcce27242e1e9, [4]int{0, 9, 41, 489}},
	{"eu-customers", 0x97bb27de14a66507, [4]int{0, 7, 7, 263}},
	{"kube-system", 0xdf65c7bc1d82b35e, [4]int{0, 14, 30, 862}},
	{"team-42.prod", 0x1d080164907fd820, [4]int{0, 0, 32, 32}},
	{"x", 0xaf63f54c86021707, [4]int{0, 7, 7, 775}},
}

func TestOfVectors(t *testing.T) {
	for _, v := range ofVectors {
		t.Run(fmt.Sprintf("%q", v.namespace), func(t *testing.T) {
			if got := fnv1a(v.namespace); got != v.fnv {
				t.Errorf("fnv1a = %#016x, want %#016x", got, v.fnv)
			}
			for i, n := range []int{1, 16, 64, 1024} {
				if got := Of(v.namespace, n); got != v.shard[i] {
					t.Errorf("Of(%q, %d) = %d, want %d", v.namespace, n, got, v.shard[i])
				}
			}
		})
	}
}

// Of's inlined FNV-1a must stay identical to the standard library's.
func TestOfMatchesHashFNV(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := make([]byte, rng.IntN(64))
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		h := fnv.New64a()
		h.Write(b)
		n := 1 + rng.IntN(MaxShards)
		if got, want := Of(string(b), n), int(h.Sum64()%uint64(n)); got != want {
			t.Fatalf("Of(%q, %d) = %d, hash/fnv gives %d", b, n, got, want)
		}
	}
}

func TestOfBadCount(t *testing.T) {
	for _, n := range []int{0, -1, -1024} {
		if got := Of("payments", n); got != 0 {
			t.Errorf("Of(payments, %d) = %d, want 0", n, got)
		}
	}
}

// The splitmix64 reference sequence for seed 0 pins mix64 and shardKey.
func TestShardKeyIsSplitmix64(t *testing.T) {
	want := []uint64{0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f, 0xf88bb8a8724c81ec}
	for s, w := range want {
		if got := shardKey(s); got != w {
			t.Errorf("shardKey(%d) = %#016x, want %#016x", s, got, w)
		}
	}
}

func TestNewLayout(t *testing.T) {
	tests := []struct {
		name    string
		shards  int
		regions []string
		want    Layout
		wantErr string
	}{
		{"default", 64, []string{"us-east", "eu-west", "ap-south"},
			Layout{64, []string{"ap-south", "eu-west", "us-east"}}, ""},
		{"dedupe", 16, []string{"b", "a", "b", "a"}, Layout{16, []string{"a", "b"}}, ""},
		{"one shard", 1, []string{"r"}, Layout{1, []string{"r"}}, ""},
		{"max shards", MaxShards, []string{"r"}, Layout{MaxShards, []string{"r"}}, ""},
		{"no regions yet", 64, nil, Layout{64, []string{}}, ""},
		{"zero shards", 0, []string{"r"}, Layout{}, "out of range"},
		{"negative shards", -3, []string{"r"}, Layout{}, "out of range"},
		{"too many shards", MaxShards + 1, []string{"r"}, Layout{}, "out of range"},
		{"empty region", 64, []string{"a", ""}, Layout{}, "empty name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.regions)
			got, err := NewLayout(tc.shards, tc.regions)
			if !slices.Equal(in, tc.regions) {
				t.Errorf("NewLayout modified its argument: %q → %q", in, tc.regions)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Shards != tc.want.Shards || !slices.Equal(got.Regions, tc.want.Regions) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func mustLayout(t testing.TB, shards int, regions ...string) Layout {
	t.Helper()
	l, err := NewLayout(shards, regions)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// refHomeRegion is HomeRegion written from its documented definition with the
// standard library's FNV, as a cross-check of the optimised code.
func refHomeRegion(regions []string, shard int) string {
	sk := func(s int) uint64 {
		z := uint64(s+1) * 0x9e3779b97f4a7c15
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		return z ^ (z >> 31)
	}
	best, bw := "", uint64(0)
	for _, r := range regions {
		h := fnv.New64a()
		h.Write([]byte(r))
		d := binary.BigEndian.Uint64([]byte("cpgw/reg"))
		z := h.Sum64() ^ d ^ sk(shard)
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		w := z ^ (z >> 31)
		if best == "" || w > bw || (w == bw && r < best) {
			best, bw = r, w
		}
	}
	return best
}

// homeVectors pin HomeRegion for the default three-region layout. Changing
// them re-homes shards and moves pinned namespaces.
var homeVectors = []struct {
	regions []string
	shards  int
	homes   string // one letter per shard: the first letter of its home
}{
	{[]string{"ap-south", "eu-west", "us-east"}, 64, "euaeeueeeeaaeuaaaeauaauaeauauuuuaueeauauauuuauaeuuueeaaeauaaueae"},
	{[]string{"eu-west", "us-east"}, 16, "euueeueeeeueeuee"},
	{[]string{"ap-south", "eu-west", "sa-east", "us-east", "us-west"}, 32, "23014321440413000103004212304333"},
}

func homesString(l Layout) string {
	var b strings.Builder
	for s := range l.Shards {
		h := l.HomeRegion(s)
		if h == "" {
			b.WriteByte('-')
			continue
		}
		// us-east and us-west share a letter; the 5-region vector uses the
		// region's index instead.
		if len(l.Regions) > 4 {
			b.WriteByte(byte('0' + slices.Index(l.Regions, h)))
			continue
		}
		b.WriteByte(h[0])
	}
	return b.String()
}

func TestHomeRegionVectors(t *testing.T) {
	for _, v := range homeVectors {
		t.Run(strings.Join(v.regions, ","), func(t *testing.T) {
			l := mustLayout(t, v.shards, v.regions...)
			if got := homesString(l); got != v.homes {
				t.Errorf("homes = %s\n         want %s", got, v.homes)
			}
			for s := range l.Shards {
				if got, want := l.HomeRegion(s), refHomeRegion(l.Regions, s); got != want {
					t.Errorf("HomeRegion(%d) = %s, reference gives %s", s, got, want)
				}
			}
		})
	}
}

func TestHomeRegionEdges(t *testing.T) {
	l := mustLayout(t, 8, "eu-west", "us-east")
	for _, s := range []int{-1, 8, 1 << 20} {
		if got := l.HomeRegion(s); got != "" {
			t.Errorf("HomeRegion(%d) = %q, want \"\"", s, got)
		}
	}
	if got := mustLayout(t, 8).HomeRegion(3); got != "" {
		t.Errorf("no regions: HomeRegion = %q, want \"\"", got)
	}
	if got := (Layout{}).HomeRegion(0); got != "" {
		t.Errorf("zero Layout: HomeRegion = %q, want \"\"", got)
	}
	one := mustLayout(t, 8, "solo")
	for s := range 8 {
		if got := one.HomeRegion(s); got != "solo" {
			t.Errorf("one region: HomeRegion(%d) = %q", s, got)
		}
	}
}

// A hand-built layout with regions out of order or repeated gives the same
// homes as the normalised one.
func TestHomeRegionOrderIndependent(t *testing.T) {
	sorted := mustLayout(t, 256, "ap-south", "eu-west", "us-east")
	messy := Layout{Shards: 256, Regions: []string{"us-east", "ap-south", "eu-west", "us-east"}}
	if a, b := homesString(sorted), homesString(messy); a != b {
		t.Errorf("homes differ:\n%s\n%s", a, b)
	}
	for s, r := range messy.homes() {
		if got := messy.Regions[r]; got != sorted.HomeRegion(s) {
			t.Fatalf("homes()[%d] = %s, HomeRegion = %s", s, got, sorted.HomeRegion(s))
		}
	}
}

// Adding a region moves only the shards the new region wins, and about
// 1/(k+1) of them.
func TestHomeRegionStableWhenRegionAdded(t *testing.T) {
	all := []string{"us-east", "eu-west", "ap-south", "sa-east", "us-west", "ap-north", "eu-north", "af-south"}
	for _, shards := range []int{64, 1024} {
		for k := 1; k < len(all); k++ {
			t.Run(fmt.Sprintf("shards=%d/regions=%d", shards, k), func(t *testing.T) {
				before := mustLayout(t, shards, all[:k]...)
				added := all[k]
				after := mustLayout(t, shards, all[:k+1]...)
				moved := 0
				for s := range shards {
					b, a := before.HomeRegion(s), after.HomeRegion(s)
					if a != b {
						moved++
						if a != added {
							t.Errorf("shard %d moved %s → %s, not to the new region %s", s, b, a, added)
						}
					}
				}
				if got := len(after.HomedIn(added)); got != moved {
					t.Errorf("%d shards moved, %d homed in %s", moved, got, added)
				}
				// Binomial(shards, 1/(k+1)): allow 5 standard deviations.
				mean := float64(shards) / float64(k+1)
				sd := math.Sqrt(mean * float64(k) / float64(k+1))
				if d := float64(moved) - mean; d > 5*sd || d < -5*sd {
					t.Errorf("%d shards moved to the new region, expected about %.0f ± %.0f", moved, mean, sd)
				}
			})
		}
	}
}

func TestHomedInPartitionsShards(t *testing.T) {
	l := mustLayout(t, 1024, "ap-south", "eu-west", "us-east")
	var union []int
	for _, r := range l.Regions {
		hs := l.HomedIn(r)
		if !slices.IsSorted(hs) {
			t.Errorf("HomedIn(%s) not sorted", r)
		}
		// 1024/3 ≈ 341 ± 15 (1 sd).
		if len(hs) < 280 || len(hs) > 400 {
			t.Errorf("HomedIn(%s) has %d shards, want about 341", r, len(hs))
		}
		for _, s := range hs {
			if l.HomeRegion(s) != r {
				t.Errorf("HomedIn(%s) lists shard %d homed in %s", r, s, l.HomeRegion(s))
			}
		}
		union = append(union, hs...)
	}
	slices.Sort(union)
	if len(union) != l.Shards || union[0] != 0 || union[len(union)-1] != l.Shards-1 || len(slices.Compact(union)) != l.Shards {
		t.Errorf("HomedIn over all regions does not partition the shards")
	}
	if got := l.HomedIn("mars"); got != nil {
		t.Errorf("HomedIn(mars) = %v, want nil", got)
	}
}

func TestShardFor(t *testing.T) {
	l := mustLayout(t, 64, "ap-south", "eu-west", "us-east")
	namespaces := make([]string, 500)
	for i := range namespaces {
		namespaces[i] = fmt.Sprintf("ns-%d", i)
	}
	t.Run("unpinned is Of", func(t *testing.T) {
		for _, ns := range namespaces {
			if got, want := l.ShardFor(ns, ""), Of(ns, 64); got != want {
				t.Fatalf("ShardFor(%s, \"\") = %d, want Of = %d", ns, got, want)
			}
		}
	})
	t.Run("pinned is homed in its region", func(t *testing.T) {
		for _, r := range l.Regions {
			used := map[int]bool{}
			for _, ns := range namespaces {
				s := l.ShardFor(ns, r)
				if h := l.HomeRegion(s); h != r {
					t.Fatalf("ShardFor(%s, %s) = %d, homed in %s", ns, r, s, h)
				}
				if again := l.ShardFor(ns, r); again != s {
					t.Fatalf("ShardFor(%s, %s) not deterministic: %d then %d", ns, r, s, again)
				}
				used[s] = true
			}
			// 500 namespaces over ~21 shards: every shard should get some.
			if len(used) != len(l.HomedIn(r)) {
				t.Errorf("%s: namespaces use %d of its %d shards", r, len(used), len(l.HomedIn(r)))
			}
		}
	})
	t.Run("pinning to the region of its shard keeps the shard", func(t *testing.T) {
		kept := 0
		for _, ns := range namespaces {
			s := Of(ns, 64)
			if got := l.ShardFor(ns, l.HomeRegion(s)); got != s {
				t.Fatalf("ShardFor(%s, %s) = %d, want Of = %d", ns, l.HomeRegion(s), got, s)
			}
			for _, r := range l.Regions {
				if l.ShardFor(ns, r) == s {
					kept++
				}
			}
		}
		if kept != len(namespaces) {
			t.Errorf("%d (namespace, region) pairs map to Of's shard, want exactly one per namespace", kept)
		}
	})
	t.Run("unknown region falls back to Of", func(t *testing.T) {
		for _, ns := range namespaces[:50] {
			if got, want := l.ShardFor(ns, "mars"), Of(ns, 64); got != want {
				t.Fatalf("ShardFor(%s, mars) = %d, want Of = %d", ns, got, want)
			}
		}
	})
	t.Run("region homing no shard falls back to Of", func(t *testing.T) {
		small := mustLayout(t, 1, "a", "b", "c")
		empty := ""
		for _, r := range small.Regions {
			if small.HomedIn(r) == nil {
				empty = r
			}
		}
		if empty == "" {
			t.Fatal("expected a region with no shard in a 1-shard, 3-region layout")
		}
		if got := small.ShardFor("payments", empty); got != 0 {
			t.Errorf("ShardFor = %d, want 0", got)
		}
	})
	t.Run("zero layout", func(t *testing.T) {
		if got := (Layout{}).ShardFor("payments", "eu-west"); got != 0 {
			t.Errorf("ShardFor on zero Layout = %d, want 0", got)
		}
	})
}

// pinnedVectors pin ShardFor for pinned namespaces in the default layout:
// like Of, this decides where data lives.
var pinnedVectors = []struct {
	namespace string
	shard     [3]int // pinned to ap-south, eu-west, us-east
}{
	{"payments", [3]int{38, 9, 5}},
	{"billing", [3]int{25, 55, 28}},
	{"orders", [3]int{14, 12, 30}},
	{"inventory", [3]int{40, 61, 31}},
	{"auth", [3]int{15, 55, 33}},
	{"users", [3]int{25, 51, 28}},
	{"search", [3]int{10, 52, 41}},
	{"eu-customers", [3]int{38, 7, 1}},
}

func TestShardForVectors(t *testing.T) {
	l := mustLayout(t, 64, "ap-south", "eu-west", "us-east")
	for _, v := range pinnedVectors {
		t.Run(v.namespace, func(t *testing.T) {
			for i, r := range l.Regions {
				if got := l.ShardFor(v.namespace, r); got != v.shard[i] {
					t.Errorf("ShardFor(%s, %s) = %d, want %d", v.namespace, r, got, v.shard[i])
				}
			}
		})
	}
}

// Adding a region only moves the pinned namespaces whose shard the new region
// took over.
func TestShardForStableWhenRegionAdded(t *testing.T) {
	before := mustLayout(t, 64, "eu-west", "us-east")
	after := mustLayout(t, 64, "ap-south", "eu-west", "us-east")
	moved := 0
	for i := range 2000 {
		ns := fmt.Sprintf("tenant-%d", i)
		for _, r := range before.Regions {
			b, a := before.ShardFor(ns, r), after.ShardFor(ns, r)
			if after.HomeRegion(b) == r && a != b {
				t.Errorf("%s pinned to %s moved %d → %d although %d is still homed there", ns, r, b, a, b)
			}
			if a != b {
				moved++
			}
		}
	}
	if moved == 0 {
		t.Error("no pinned namespace moved; the test exercises nothing")
	}
}
