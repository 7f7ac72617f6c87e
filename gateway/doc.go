// Package gateway is cpgw's stateless regional HTTP front. It serves the
// public v1 API (DESIGN.md, "HTTP API"): it validates every request, routes
// it to the coordinator that owns the namespace's shard, serves fast-path
// reads from the region's replica, and answers /healthz, /readyz, /metrics
// and GET /v1/shards itself.
//
//	g, err := gateway.New(primary, replica, cfg) // cfg := gateway.DefaultConfig(); cfg.Region = "eu-west"
//	go g.Run(ctx)                                 // shard map refresh + replica staleness tracker
//	srv := &http.Server{Handler: g.Handler()}
//
// Routing: namespace → shard by the stored namespace settings (a pinned
// namespace's recorded shard) or shards.Of; shard → owner by the shard map,
// reloaded from the primary every Config.RefreshInterval and at once when a
// request finds the map wrong (421 Misdirected, a refused connection, an
// open breaker, 503 no_owner). Concurrent demands for a reload share one.
//
// # Guarantees
//
//   - Nothing reaches a coordinator or the replica before the request passed
//     every check (names, headers, query parameters, Content-Type, body size,
//     body is a JSON object); a refused request changed nothing.
//   - A local read is answered from the replica only when the staleness bound
//     (package locality), taken before the read and increased by the read's
//     own duration, is within the request's maxStaleness, and the replica has
//     reached minVersion; X-Staleness-Ms reports that bound, rounded up.
//     Otherwise the owner answers (X-Consistency: strong). An unknown bound
//     counts as too stale.
//   - Every object write carries an Idempotency-Key to its owner: the
//     client's, or one the gateway makes (prefix cpgw-gw-) before the first
//     attempt. A forwarded request is retried with the same body and key
//     when its previous attempt cannot have been applied (the connection
//     could not be made, the breaker refused it, the coordinator answered
//     421 or 503 no_owner), and also when the attempt failed after it was
//     sent (a timeout, a dropped connection, or the owner's 503 unavailable
//     after a store error or a primary failover): a read has no effect, and
//     the owner applies one key at most once, replaying the first outcome.
//     503 quorum_not_reached is relayed, with the key to repeat it under.
//   - While a shard has no reachable owner, its requests are held (at most
//     Config.Failover.MaxQueued per shard) and go to the new owner as soon
//     as the shard map shows one. At Config.Failover.Timeout the client gets
//     503 with Retry-After: no_owner if nothing was applied, unavailable with
//     the Idempotency-Key header if an attempt's outcome is unknown. A
//     namespace settings change is not retried after an unanswered attempt,
//     even with a key (its owner does not record keys): 503 unavailable at
//     once.
//   - Coordinator answers (status, body, ETag, X-Fencing-Token,
//     X-Replicas-Acked, Idempotent-Replayed, X-Served-By, Retry-After) are
//     relayed as they are. Every error the gateway makes itself is an
//     api.ErrorBody.
//
// # Non-guarantees
//
//   - The shard map is polled: an owner change nobody runs into is noticed
//     within about RefreshInterval plus one load (the tests measure it; see
//     TestOwnerChangeDetection). Until then requests go to the former owner,
//     which answers 421; that costs a reload, not correctness, because
//     ownership is enforced by leases and fencing in the store.
//   - A write whose outcome stays unknown until Failover.Timeout (every
//     attempt failed after it was sent) may or may not have been applied:
//     the 503 names the Idempotency-Key to repeat it under, which applies it
//     at most once. A namespace settings change has no such key.
//   - Local reads are not linearizable: they may miss writes acknowledged
//     within their staleness bound. A client that needs its own writes uses
//     minVersion or consistency=strong.
//   - The gateway itself does not authenticate: Config.Authenticate is the
//     hook (package authz's middleware, wired by cmd/cpgw), and TLS is the
//     listener's business. Without the hook every /v1 request is served.
//     Watch answers 501 until a later issue.
package gateway
