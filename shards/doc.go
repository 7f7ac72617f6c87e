// Package shards maps namespaces to shards and shards to coordinators.
//
// A cluster has a fixed number of shards (Layout.Shards) and a list of every
// region it has known (Layout.Regions). Of is the namespace → shard function;
// each shard has a home region (Layout.HomeRegion); Plan decides which live
// coordinator should own each shard; Load reads the shard map — who actually
// holds each shard's lease — from the store, for GET /v1/shards and for the
// gateways' routing.
//
// # Guarantees
//
//   - Of is a stable contract: FNV-1a 64 of the namespace modulo the shard
//     count, pinned by fixed test vectors. Home regions and the shard of a
//     pinned namespace (Layout.ShardFor) are likewise fixed functions of the
//     layout, also pinned by vectors. They decide where data lives; changing
//     them moves data.
//   - Home regions use rendezvous hashing, so adding a region re-homes only
//     the shards the new region wins (about 1/(regions+1) of them).
//   - Plan is deterministic: the same layout and the same set of live members
//     give the same plan, whatever the order of the members.
//   - A shard whose home region has a live member is planned for a member of
//     that region, and no member is planned more than
//     ceil(shards homed in its region / live members in its region) of its
//     region's shards. The documented contract is that bound plus one; the
//     current algorithm meets the bound itself. Shards of a region with no
//     live member are spread over all live members, no member exceeding
//     ceil(all shards / live members) because of them.
//   - Membership changes in one region do not change the plan for shards
//     homed in another region that has live members; within the region most
//     shards keep their owner (rendezvous ranking), and a region that comes
//     back gets exactly its earlier plan back.
//
// # Non-guarantees
//
//   - A plan is only as good as the membership view it was computed from.
//     Coordinators read membership at different moments, so their plans can
//     differ for a while after a member joins, leaves or expires.
//   - The plan is a wish, not ownership. The lease store decides who owns a
//     shard: whoever holds its lease, with its fencing token. A coordinator
//     acquires the shards planned for it and releases the others; until that
//     settles, a shard may be owned outside its home region or by a member
//     the plan no longer names, and that is safe because of leases and
//     fencing, not because of the plan.
//   - A Map is a snapshot. Its lease times were measured by the store when it
//     was read and only run down afterwards; routing with it can hit a
//     former owner, which answers 421 and makes the gateway reload.
//   - Layout.ShardFor for a pinned namespace depends on the region list, so a
//     namespace's shard should be resolved and recorded when it is pinned.
package shards
