// Package locality measures how stale a region's replica may be, so that a
// gateway can serve local reads within a staleness bound (DESIGN.md,
// invariant 6) and send the rest to the shard's owner.
//
//	t, err := locality.NewTracker(primary, replica, locality.TrackerConfig{ID: id})
//	go t.Run(ctx)                  // beacons every Interval until ctx is done
//	asOf, ok := t.AsOf()           // before the read
//	obj, err := replica.Get(...)   // the local read
//	staleness := clock.Since(asOf) // after it: the read is at most this stale
//
// # How the bound works
//
// Every Interval the Tracker writes a freshness beacon, the next number of a
// sequence, to the primary, noting the local time just before it sends it,
// and reads the beacon back from the replica. The primary replicates its
// writes in one ordered stream, so a replica that shows beacon n holds every
// write the primary acknowledged before beacon n was sent; and a replica only
// moves forward, so every read of it from then on holds them too. Whatever
// such a read misses was therefore acknowledged after sent(n), and
//
//	staleness of the read ≤ now − sent(n)
//
// where n is the newest beacon seen on the replica. Both instants are read
// from this process's monotonic clock, so clock skew between machines plays
// no part. The bound is about the real lag plus up to two intervals plus the
// time a beacon takes to reach the primary; with the replica being the
// primary itself it is about one interval.
//
// # Guarantees
//
//   - Bound and AsOf never claim more freshness than the replica has, as long
//     as the replica applies the primary's writes in order (Redis replicas,
//     embedded.Replica) and the Tracker's ID is used by no other writer.
//   - A replica that stops (paused, partitioned, frozen) shows no new beacon,
//     so its Bound grows with the clock, without limit; a replica that still
//     answers but lags by more than the beacon TTL shows no beacon at all and
//     has no bound.
//   - A replica that goes backwards (shows an older beacon than before, or
//     none, e.g. because a load balancer switched replicas or the replica was
//     rebuilt) loses its bound: Bound reports false until a beacon newer
//     than any seen before shows up.
//   - Memory is bounded: the Tracker remembers send times only for beacons
//     newer than the newest seen and younger than TTL (at most TTL/Interval+1).
//
// # Non-guarantees
//
//   - A bound is an upper bound, not an estimate of the lag, and it is
//     measured when it is asked for: take AsOf before a read and subtract it
//     from the clock after the read. A Bound taken after the read could
//     count a beacon the read did not see.
//   - Writes the primary acknowledged and then lost (a failover without
//     WAIT) are outside any bound.
//   - On a Redis Cluster with several primaries a beacon proves the freshness
//     only of the node that holds it (see package redisstore).
//   - The bound is in this process's clock rate; a clock that runs slow by a
//     fraction understates it by that fraction (parts per million in practice).
package locality
