// Package primary gives a go-redis client that follows the Redis primary
// among a fixed list of candidate addresses, so that coordinators and
// gateways keep working after a failover done with REPLICAOF NO ONE (by an
// operator, a script or Sentinel).
//
//	c, err := primary.NewClient(opts, []string{"10.0.0.1:6379", "10.0.0.2:6379"}, log)
//	...
//	defer c.Close()
//
// The result is an ordinary *redis.Client. Its Options.Dialer ignores the
// address go-redis hands it and dials the current primary; its OnConnect
// checks with ROLE that a new connection reached a master; a hook re-runs a
// command that failed only because it reached a non-primary.
//
// # What it guarantees
//
//   - A new connection is only ever handed to go-redis after ROLE on it said
//     "master". A command that reaches a replica fails with READONLY, never
//     silently succeeds; the hook re-runs it on a fresh connection (the
//     server refused it unseen, so that is safe even with MaxRetries -1,
//     which cmd/cpgw sets so that go-redis never resends a timed-out script).
//   - The primary is cached: while it answers, a dial costs one TCP (and TLS)
//     handshake plus one ROLE, as without this package. The candidates are
//     probed again (ROLE on each, in parallel, with a short timeout) only
//     after a dial to the cached primary failed, a new connection's ROLE was
//     not master, or a command got READONLY.
//   - After each probe, connections to any candidate other than the chosen
//     primary are retired: closed, and refused for further writes with an
//     error go-redis treats as retryable. Pooled connections to a demoted
//     primary therefore do not linger.
//   - With no master among the candidates, dials fail with an error that
//     says so ("no primary among N candidates: ...", errors.Is ErrNoPrimary)
//     and lists what each candidate answered; commands fail and callers retry
//     later. The next dial probes again, so the client recovers on its own
//     once a candidate is promoted.
//   - A change of primary is logged at Warn (from, to).
//
// The Redis user needs the ROLE command (the default user has it; an ACL
// user needs +role): without it every new connection fails its check.
//
// # What it does not do
//
// It is not Sentinel. It does not promote anything, it has no quorum and no
// view of its own: it believes ROLE. If several candidates claim to be master
// (split brain, or an old primary not yet demoted) it picks the one with the
// most connected replicas, then the last primary it used, then the first in
// list order — a heuristic, logged at Warn. Safety against split brain comes
// from the store's fencing tokens and WAIT-based durability, not from this
// package: a write that reached a stale master cannot gather the replica
// quorum its namespace asks for there (its replicas follow the new one), so
// it is not acknowledged as durable; a write to a namespace that asks for no
// quorum can be lost, as with any asynchronous replication.
//
// Commands in flight on a connection that gets retired fail (their outcome
// is unknown, as with any connection lost mid-command). Pipelines and
// transactions are not re-run by the hook (go-redis's own retries still
// apply); a READONLY in one only triggers a re-probe, so the next call goes
// to the new primary.
//
// # Lifecycle
//
// There is nothing to close besides the client: the package starts no
// goroutines of its own that outlive a call (a probe runs one goroutine per
// candidate and waits for all of them), and each probe uses a short-lived
// client per candidate that is closed before the probe returns.
// go-redis's own pool goroutines stop on Client.Close as usual.
package primary
