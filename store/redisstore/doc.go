// Package redisstore is the production store.Store, on Redis 7 or later
// through go-redis. The same keys and Lua scripts run unchanged on a single
// server, behind Sentinel and on Redis Cluster.
//
// # Guarantees
//
//   - Every operation that reads or writes more than one key is one Lua
//     script (Leave: one MULTI; InitCluster: one script on the "{cluster}"
//     keys, then one pipeline of single-key commands, one per shard), and
//     every key of a shard carries the hash tag "{s<N>}", so each of them
//     touches exactly one cluster slot and runs atomically. Scripts declare
//     every key they touch in KEYS.
//   - Apply is one script call per batch, whatever its size (up to
//     store.MaxBatch writes). The script checks the epoch (if bound), then the
//     fencing token and the lease and refuses the whole batch, writing nothing, when the token is not
//     the shard's current one or that token's lease is gone. It then decides
//     every write before it makes the first change, so a corrupt record fails
//     the batch without applying part of it (Redis does not roll scripts back).
//   - RenewLeases and Leases are one pipeline, hence one round trip per
//     server, for any number of shards.
//   - Durability is WAIT in the same pipeline as the script(s) it waits for:
//     a durable Apply, AcquireLease or RenewLeases is still one round trip
//     (RenewLeases sends one WAIT, for the largest Replicas and longest
//     Timeout any renewal asks). A batch that only replays idempotency
//     records rewrites one of them as it is (SET KEEPTTL), so that its WAIT
//     covers the replayed write and not just the connection's earlier ones.
//   - AttachedReplicas is INFO replication (replicas with state=online),
//     cached for Config.ReplicaCountTTL so majority quorums cost no round
//     trip per batch.
//   - InitCluster binds the Store to the cluster's epoch (see below); from
//     then on the acquire, renew, release and apply scripts compare it with
//     the shard's copy first and refuse, writing nothing, on a mismatch or a
//     missing copy (store.ErrEpoch; for RenewLeases the whole call fails). A
//     bound Store therefore serves only shards below the recorded count, the
//     ones InitCluster gave a copy. An unbound Store does not check.
//   - Lease TTLs and membership expiry run on the Redis server's clock (PX
//     TTLs, and TIME inside the heartbeat and members scripts).
//   - Scripts are run with EVALSHA; when the server's script cache is empty
//     (SCRIPT FLUSH, restart, failover) they are loaded again transparently.
//   - A corrupt record is reported as an error, never guessed at.
//   - PutNamespace is one script: the version check and the write are atomic.
//   - Every read is a read-only command or a "no-writes" script, so a Store on
//     a client of a replica serves the read side of the contract (Get, List,
//     Revision, Changes, Leases, GetNamespace, Namespaces, Beacon).
//
// # Beacons and Redis Cluster
//
// A beacon (SetBeacon) proves that a replica which shows it holds every write
// the primary acknowledged before the beacon was written. That holds because
// one primary replicates to a replica one ordered stream; it holds only for
// the data of the primary that holds the beacon. Beacons live under the
// "{cluster}" tag, so on a single server or behind Sentinel (one primary for
// everything) they prove the freshness of every key. On a Redis Cluster with
// several primaries, shard data lives on other nodes than the beacon and a
// beacon says nothing about their replicas: a staleness bound there needs one
// beacon per node, written under a hash tag of a slot that node serves. cpgw
// does not do that yet, so local reads on a multi-primary Cluster must not
// rely on beacons.
//
// # The cluster epoch
//
// InitCluster creates, with the shard count, a random 128-bit epoch
// ("{cluster}" tag) and copies it to every shard below the count (each
// shard's own tag, so the check is part of the shard's one-slot script and a
// Cluster node that lost some shards is caught too). A Redis that loses its
// data (restart without persistence, FLUSHALL, failover to an empty replica)
// loses the copies with the fencing counters, and a bound Store then refuses
// rather than grant tokens from a counter that started again at zero. A
// bound Store's InitCluster only reads: finding another epoch, or none, is
// store.ErrEpoch, and the Store stays bound to the lost one; a new Store (a
// restarted process) creates or joins the new cluster. A shard copy of
// another epoch is mixed state and fails InitCluster on any Store. A cluster
// recorded before epochs existed gets one on the next InitCluster.
//
// # Durability and the client
//
// WAIT counts the replicas that acknowledged its own connection's writes, so
// Durability needs a *redis.Client (one server, or Sentinel), whose pipeline
// is one connection. On a ClusterClient (or any other UniversalClient) a
// Durability that asks for replicas is refused with store.ErrInvalid: not
// supported yet.
//
// go-redis reads a pipeline's replies under one ReadTimeout deadline, not
// extended for a WAIT inside it, and may resend a pipeline that timed out.
// The WAIT timeout is therefore capped to leave a quarter of the client's
// ReadTimeout (at least 250 ms) for the rest: 3.75 s with go-redis's default of 5 s.
// A capped wait reports the replicas that acknowledged in time, fewer
// perhaps, which the caller counts as not durable. Give the client a
// ReadTimeout above the largest Durability.Timeout (plus the margin) to get
// the full wait.
//
// # Requirements on the server
//
// Redis 7.0 or later (script flags, EVAL_RO, SET NX GET). maxmemory-policy
// must be noeviction: evicting a lease, a fencing counter, an epoch copy or
// an idempotency record would break fencing or idempotency. Durability
// across the loss of the primary needs replicas, and Durability on the
// writes and leases that must survive it.
//
// # Key layout
//
// <p> is Config.KeyPrefix ("cpgw" by default) and N the shard number.
//
//	<p>:{sN}:token             string  fencing counter; INCR on every lease grant (first SET to
//	                                   LeaseRequest.After if below it), never reset or lowered
//	<p>:{sN}:epoch             string  copy of the cluster epoch, for shards below the count;
//	                                   SET NX by InitCluster
//	<p>:{sN}:lease             hash    owner, region, addr, token, ttl (ms); PX TTL = the lease
//	<p>:{sN}:rev               string  revision counter; +1 per applied put or delete
//	<p>:{sN}:obj:<ns>          hash    one per namespace; field = object name,
//	                                   value = "<version> <token> <updatedUnixMs> <value>"
//	<p>:{sN}:log               stream  change log; entry ID "<revision>-0", fields op
//	                                   ("put"|"delete"), namespace, name, token; trimmed
//	                                   once per batch with XTRIM MAXLEN ~ Config.LogRetention
//	<p>:{sN}:idem:<ns>:<key>   string  idempotency record, PX TTL = the write's TTL:
//	                                   "<code> <version> <token> <updatedUnixMs> <fingerprint>",
//	                                   code C/U/D (created, updated, deleted) or
//	                                   P/N (precondition failed, not found)
//
//	<p>:{cluster}:members         zset    member id → expiry (server clock, Unix ms)
//	<p>:{cluster}:member-records  hash    member id → {"region","address"} JSON
//	<p>:{cluster}:regions         set     every region that ever sent a heartbeat
//	<p>:{cluster}:shards          string  the cluster's shard count (set once)
//	<p>:{cluster}:epoch           string  the cluster epoch: 32 hex digits (128 random bits),
//	                                      set once, with the count or on the first
//	                                      InitCluster after it
//	<p>:{cluster}:namespaces      hash    namespace name → "<version> <json>", json
//	                                      {"homeRegion","shard","replicas","replicaTimeoutMs"}
//	                                      (the last two omitted when zero; the timeout in
//	                                      whole ms, rounded up); version first so the
//	                                      compare-and-set script reads it without JSON
//	<p>:{cluster}:beacon:<id>     string  freshness beacon: the sequence number; PX TTL
//
// Object records keep the version first so that the apply script can read it
// with string.match without decoding the JSON value. In idempotency keys, '%'
// and ':' in the namespace are percent-escaped so that distinct (namespace,
// key) pairs never share a record. Idempotency records do not repeat the
// written value: a replay has the same fingerprint, hence the same request and
// value, and its result carries that value.
package redisstore
