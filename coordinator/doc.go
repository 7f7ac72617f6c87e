// Package coordinator is the core of a shard owner process (cpgw
// coordinator). It holds shard leases, serialises, batches and fences the
// writes of the shards it owns, and serves their strong reads, all over the
// internal HTTP API of package api (prefix /internal/v1, the shard named in
// the path) that gateways call.
//
//	c, err := coordinator.New(st, cfg)
//	srv := &http.Server{Handler: c.Handler()}
//	go srv.Serve(ln)
//	err = c.Run(ctx) // returns after a graceful stop once ctx is done
//
// Run records the cluster's shard count (store.InitCluster: the count
// already recorded wins over Config.Shards; until then requests answer 503),
// loads the namespace settings, joins membership (leases.Announcer), renews
// leases (leases.Keeper) and follows the placement plan (shards.Placer). For
// every lease acquired it starts one writer goroutine for the shard, which
// ends when the lease does.
//
// # Guarantees
//
//   - Serialised, fenced writes. All writes of a shard go through its one
//     writer. The writer drains up to MaxBatch queued writes into a single
//     store.Apply carrying the lease's fencing token, checking the lease is
//     valid right before: group commit (an idle writer applies a lone write at
//     once; a busy one holds a batch open for at most BatchWait). The store applies a batch only under
//     the shard's current token, so a former owner can never write. A write
//     answered 421 or 503 no_owner was not applied and is safe to retry.
//   - Namespaces stay put. A write is refused with 421 unless its namespace
//     lives on the named shard under the current settings, checked again by
//     the writer when the batch is formed. A newly acquired shard reloads the
//     settings before serving anything, and a namespace moves (PUT settings)
//     only while empty, in a step serialised with the shard's writes.
//   - Strong reads only under a safe lease. Reads come from the primary
//     store, and are refused (421) unless the lease is valid before and
//     after the read.
//   - Idempotency. A write with an Idempotency-Key has at most one effect:
//     the store records its outcome atomically with it, a repeat with the
//     same request replays the first response (Idempotent-Replayed: true) on
//     any coordinator, the same key with another request answers 422, and a
//     repeat while the first is queued or being applied here answers 409.
//   - Replica quorums. A namespace whose settings ask for durability
//     ({"durability": {"replicas": N, "timeout": "100ms"}}) has each write
//     acknowledged only once N replicas confirmed it (one Redis WAIT per
//     batch, for the most any write of the batch asks); X-Replicas-Acked
//     says how many did. Fewer within the timeout answer 503
//     quorum_not_reached: the write was applied on the primary and may be
//     lost with it; a repeat under the same Idempotency-Key replays it and
//     waits again. With Config.Lease.Durability, lease grants and renewals
//     count only once replicas have them, so a promoted replica never grants
//     a token again or shortens a lease a holder still relies on.
//   - A lost store stops the coordinator. When the store no longer holds
//     the cluster it was bound to (store.ErrEpoch: restarted without
//     persistence, flushed), the coordinator stops serving at once and Run
//     returns the error: its tokens could otherwise be granted again.
//   - Graceful stop. When Run's context ends, new writes answer 503 no_owner,
//     queued writes are applied, the coordinator leaves membership and
//     releases its leases so another coordinator can acquire at once, and
//     Run waits for everything it started.
//
// # Non-guarantees
//
//   - A write answered 503 unavailable (a store error or timeout) may or
//     may not have been applied. Retrying it is safe only with an
//     idempotency key.
//   - A write to a namespace without durability settings waits for no
//     replica (X-Replicas-Acked: 0) and survives only as long as the primary
//     keeps it, or a replica that received it before a failover.
//   - The 409 for an in-flight idempotency key is local to this coordinator;
//     a repeat sent to another coordinator at the same moment is serialised
//     by the store instead (replayed or 422).
//   - Namespace settings are stored with a compare-and-set on their version,
//     not under the shard's fencing token: a former owner paused between its
//     checks and its store call could still change them.
//   - Local clocks: lease validity allows for the drift bound configured in
//     Config.Lease (package leases); drift beyond it can let a read be served
//     just after the lease ended. Writes stay safe through fencing.
package coordinator
