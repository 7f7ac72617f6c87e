package shards

// The hashes below are part of the cluster's persistent contract: Of decides
// where every namespace's data lives, and the rendezvous weights decide home
// regions and which shard a pinned namespace uses. Changing any constant or
// formula here moves data. The tests pin them with fixed vectors.

// FNV-1a, 64-bit (the same function as hash/fnv's New64a), written out so
// hashing a string neither allocates nor goes through an interface.
const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

func fnv1a(s string) uint64 {
	h := uint64(fnvOffset64)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime64
	}
	return h
}

// mix64 is the splitmix64 finaliser (Stafford's "Mix13"): a bijection on
// uint64 in which every input bit affects every output bit. FNV-1a passes a
// key's last byte through a single multiplication, so keys that differ only
// at the end ("c1", "c2") get related hashes; rendezvous ranking compares
// such hashes directly and needs them unrelated.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// golden is 2^64/φ, splitmix64's increment.
const golden = 0x9e3779b97f4a7c15

// shardKey is the (shard+1)-th output of splitmix64 seeded with 0: a
// well-spread 64-bit value per shard, so that neighbouring shard numbers get
// unrelated weights.
func shardKey(shard int) uint64 { return mix64(uint64(shard+1) * golden) }

// Domains keep the weights of a region, a member and a namespace that happen
// to share a name independent of each other. The values are the ASCII bytes
// of the names; any fixed distinct constants would do.
const (
	domainRegion    = 0x637067772f726567 // "cpgw/reg"
	domainMember    = 0x637067772f6d656d // "cpgw/mem"
	domainNamespace = 0x637067772f6e7320 // "cpgw/ns "
)

// seed is the per-key half of a rendezvous weight. Callers ranking many
// shards for the same key compute it once.
func seed(domain uint64, key string) uint64 { return fnv1a(key) ^ domain }

// weight is the rendezvous (highest random weight) score of a key, given by
// its seed, for a shard. The key with the highest weight wins the shard; ties
// (which need a 64-bit collision) are broken by the key's name.
func weight(seed uint64, shard int) uint64 { return mix64(seed ^ shardKey(shard)) }

// weightK is weight with shardKey(shard) already computed.
func weightK(seed, key uint64) uint64 { return mix64(seed ^ key) }

// beats reports whether candidate (w, name) outranks the current best
// (bw, bname) in a rendezvous ranking.
func beats(w uint64, name string, bw uint64, bname string) bool {
	if w != bw {
		return w > bw
	}
	return name < bname
}
