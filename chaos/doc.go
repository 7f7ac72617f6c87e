// Package chaos runs cpgw as real processes and breaks it on purpose.
//
// Start builds (or takes) the cpgw binary and starts a whole deployment
// from separate operating-system processes on loopback: a redis-server
// primary, one replica per region after the first, coordinators and one
// gateway per region. Every network path a fault is aimed at runs through a
// Link, an in-process toxiproxy proxy: gateway → coordinator (Front),
// coordinator → Redis (Back) and replica → primary (ReplicaLink). A Process
// can be killed, paused, resumed, terminated and restarted on its old
// ports; a Link can add latency, blackhole, reset or refuse connections.
//
// What the harness guarantees: every process it starts runs in its own
// process group (a signal reaches only it) and is stopped by Cluster.Stop,
// SIGKILL at the latest; every Link is closed; the logs of every process stay
// in Options.Dir for a post-mortem. Start returns only when every gateway
// is ready, every shard has a live owner and placement has stopped moving
// shards for a moment.
//
// What it does not guarantee: faults are injected when asked, not at a
// chosen point of a request; a Link changes TCP streams (latency, dropped
// data, resets, refused connections), not packets, so it cannot reorder or
// duplicate; gateways reach Redis directly, not through a Link; ports are
// chosen free but not reserved, so another program may take one between
// the choice and the bind (Start then fails and says so); clocks are not
// skewed. Correctness checks on what clients observed live elsewhere in
// the package; this part only builds and breaks the deployment.
package chaos
