// Package storetest is the conformance suite for store.Store. It is the one
// place where the semantics of the store contract are pinned down: where the
// prose in package store leaves room for more than one reading, the cases here
// decide, and every implementation (redisstore, embedded) must pass all of them.
//
// An implementation wires it up from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return newEmptyStore(t) })
//	}
//
// The suite runs on real time (lease, membership and idempotency TTLs really
// run out), so the store must use the wall clock, not a fake one. It checks the
// invariants (fencing, growing versions, conditional writes, idempotency) on
// the unhappy paths first: a refused request must change nothing, and the suite
// looks at every piece of state that could have changed.
package storetest
