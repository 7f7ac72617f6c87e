// Package leases holds shard leases for a coordinator: acquire, renew, release,
// and the local judgement of whether a lease may still be acted on.
//
//	k, err := leases.New(st, cfg)   // one Keeper per coordinator
//	go k.Run(ctx)                   // renews every held lease, in one round trip
//	l, err := k.Acquire(ctx, shard) // l.Token() goes on every write
//	select { case <-l.Done(): ... } // closed when the lease is lost
//
// # Guarantees
//
// A lease is granted by the store with a server-side TTL; acquiring increments
// the shard's fencing token (package fencing), and the store refuses writes
// carrying any other token. Locally, a Lease is valid until its safe expiry:
//
//	safe expiry = start + TTL × (1 − MaxDrift) − Margin
//
// where start is read from the injected clock (monotonic, for the real clock)
// before the acquire or renew request is sent. Redis starts the TTL when it
// executes the request, which is after start, so as long as this process's
// clock runs no more than MaxDrift slower than the store's, the local lease
// ends before the store's does and no other coordinator can have acquired the
// shard while this one still believes it holds it. The holder stops at its
// safe expiry whether or not the store can be reached: Valid turns false, the
// lease's context is cancelled and Done is closed, and Config.OnLost is called.
//
// # Non-guarantees
//
// Clock drift beyond MaxDrift, or a process pause between a Valid check and
// the action it guards, can make a holder act after its lease ended. Writes are
// still safe then, because the store checks the fencing token atomically with
// the write; reads served in that window may be stale. Keep the work between a
// Valid check and its effect short, and rely on fencing for writes.
//
// Renewals run in Keeper.Run; a Keeper that is not running lets its leases
// lapse at their safe expiry. Renewal happens at a jittered fraction of the TTL
// so coordinators started together do not renew in lockstep; after a failed
// renewal the Keeper retries at RetryInterval until the leases' safe expiry.
package leases
