// Package store is cpgw's data layer: objects, the per-shard change log,
// idempotency records, lease records, the per-shard fencing counter,
// coordinator membership, namespace settings and freshness beacons.
//
// Two implementations share one contract, the Store interface: package
// redisstore (production; Lua scripts, every key of a shard under the Redis
// Cluster hash tag "{s<N>}") and package embedded (in-process, for cpgw dev and
// fast tests). The conformance suite in package storetest runs the same cases
// against both; it is where the semantics below are pinned down.
//
// # Guarantees
//
//   - Every write is fenced (package fencing): a batch is applied only when its
//     token equals the shard's current token and that token's lease is still
//     held. The check and the writes are one atomic step; a refused batch changes
//     nothing.
//
//   - Each shard has a revision counter. Every applied change (put or delete)
//     increments it, and the object's Version is the revision of its last change,
//     so versions only grow, even across delete and re-create, and the change log
//     is ordered by revision.
//
//   - A conditional write (IfVersion, IfAbsent) never applies on a mismatch.
//
//   - An idempotency record is stored in the same atomic step as the write it
//     belongs to. A repeat with the same key and fingerprint returns the first
//     outcome (Replayed set) and changes nothing; the same key with another
//     fingerprint fails with ErrIdempotencyMismatch. Outcomes that failed a
//     precondition or found nothing to delete are recorded too, so a replay
//     answers as the first attempt did even if the state has changed since.
//
//   - Acquiring a lease increments the shard's fencing token. A lease has a
//     server-side TTL; once it runs out the shard can be acquired again.
//
//   - A grant's token is above LeaseRequest.After: a counter found below it
//     is moved to After + 1 (Lease.Regressed), so tokens the caller saw
//     granted are never granted again, even by a store that lost them.
//     Tokens stop at math.MaxInt64 (Redis counters are signed); an After at
//     or above it is ErrInvalid.
//
//   - A change with a Durability that asks for replicas waits once for them
//     and reports how many acknowledged: Apply in every Result.ReplicasAcked
//     (it does not fail for too few), AcquireLease and RenewLeases with a
//     *ReplicationError when too few did (the grant is still returned; the
//     renewals were still made). A Majority Durability is a namespace
//     setting: the caller resolves it (Durability.Resolve) against the
//     replicas the store reports attached; the store waits only for counts
//     and refuses an unresolved one (ErrInvalid). Both stores report that
//     number with AttachedReplicas, which is deliberately not part of Store.
//
//   - A Store bound to its cluster by InitCluster refuses to grant, renew,
//     release or write under a lease (ErrEpoch, nothing changed) once the
//     store no longer holds that cluster, so tokens of lost state are not
//     handed out under the holders of the old ones. redisstore detects it
//     with a per-cluster epoch; the embedded store cannot lose its state.
//
//   - Namespace settings change only by compare-and-set on their Version.
//
//   - A freshness beacon (SetBeacon) replicates in order with the writes
//     around it, so a replica that shows beacon n holds every write the
//     primary acknowledged before n was sent. This holds for a replica of the
//     node that stores the beacon: a single Redis or Sentinel setup, not yet
//     a Redis Cluster with several primaries.
//
// # Non-guarantees
//
// Lease TTLs and membership expiry run on the store's clock; holders must not
// trust their own clock to agree with it (package leases computes a safe expiry
// that allows for drift). A replica's acknowledgement means it received the
// change, not that it is on disk; which changes wait, and for how many
// replicas, is for the layers above to choose (Durability), and what a
// replica acknowledged survives the primary only if that replica is promoted.
// The embedded store's replicas share its process: its Durability is a model
// for tests and cpgw dev, not durability.
package store
