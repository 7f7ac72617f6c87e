// Package chaos runs cpgw as real processes and breaks it on purpose.
//
// Start builds (or takes) the cpgw binary and starts a whole deployment
// from separate operating-system processes on loopback: Redis nodes,
// coordinators and one gateway per region.
//
// Redis topology. Node 0 is the primary (first region), node 1 the first
// region's standby replica, node i+1 the replica of region i. Every node
// has a stable node link (RedisNode.Link), whose upstream is the node's
// current redis-server process, so the addresses cpgw processes are given
// never change when a node's process is replaced; and a replication link
// (RedisNode.Replication), whose upstream is the current primary's
// process, that the node replicates through while it is a replica.
// Failover kills the primary, waits DownAfter and promotes the replica
// with the highest replication offset, as Sentinel would, and repoints
// the replication links; RecoverNode brings a dead node back as a fresh
// replica of the new primary. Clients find the primary by asking every
// node its ROLE, so nothing they were given changes.
//
// Coordinators get --redis naming one Back link per node (Back[i]
// forwards to node i's link) and --lease-replicas 1: a lease grant or
// renewal counts once a replica has it. Gateways get --redis naming every
// node link and --redis-replica the node link of their region's own
// replica (the standby in the first region). The workload sets a
// durability of one replica on its namespaces (Workload.Prepare), so an
// acknowledged write survives a failover (Invariant 3).
//
// Every network path a fault is aimed at runs through a Link, an
// in-process toxiproxy proxy: gateway → coordinator (Front), coordinator →
// Redis node (Back), replica → primary (Replication). A Process can be
// killed, paused, resumed, terminated and restarted on its old ports (with
// extra flags for one run: RestartWith); a Link can add latency,
// blackhole, reset or refuse connections, and be repointed at another
// upstream on the same address.
//
// Scenarios (Scenarios): owner-sigkill, owner-sigstop,
// owner-partitioned-from-redis (every Back link of the owner blackholed),
// latency-spike-500ms, connection-resets, replica-lagging (region 2's
// replication link 3s slow), primary-failover (Failover, held 3s, then
// RecoverNode; each round kills the primary of the moment), clock-skew
// (the owner restarted with --clock-offset 90s --clock-rate 0.995, inside
// the leases' 1% drift bound, for two TTLs, then restarted normally) and
// rolling-restart.
//
// What the harness guarantees: every process it starts runs in its own
// process group (a signal reaches only it) and is stopped by Cluster.Stop,
// SIGKILL at the latest, replaced Redis processes included; every Link is
// closed; the logs of every process stay in Options.Dir for a post-mortem.
// Start returns only when every replica is in sync, every gateway is
// ready, every shard has a live owner and placement has stopped moving
// shards for a moment.
//
// What it does not guarantee: faults are injected when asked, not at a
// chosen point of a request; a Link changes TCP streams (latency, dropped
// data, resets, refused connections), not packets, so it cannot reorder or
// duplicate; gateways reach the Redis nodes through the node links, which
// are repointed but never faulted; ports are chosen free but not reserved,
// so another program may take one between the choice and the bind (Start
// then fails and says so); only a coordinator's clock can be skewed, and
// only by the flags it offers for tests. Correctness checks on what
// clients observed live elsewhere in the package; this part only builds
// and breaks the deployment.
package chaos
