package storetest

import (
	"testing"

	"github.com/cpgw/cpgw/store"
)

// NewStore returns a fresh, empty store for one subtest. It is called once per
// subtest; an implementation backed by a shared server empties it here, which
// is why no subtest runs in parallel with another. The store must run on the
// wall clock, keep at least store.MaxBatch change-log entries per shard
// (the default retention does) and have no replicas (a store.Durability
// that asks for one is never met). Closing the store is up to NewStore (for
// example with t.Cleanup); the suite never calls Close.
type NewStore func(t *testing.T) store.Store

// testCase is one subtest: it gets its own empty store.
type testCase struct {
	name string
	run  func(t *testing.T, s store.Store)
}

// Option adjusts what the suite expects of an implementation.
type Option func(*options)

type options struct {
	noDurability bool
}

// WithoutDurability declares a store that refuses every store.Durability
// asking for replicas with store.ErrInvalid (redisstore on a Redis Cluster).
// The suite then checks that the refusal changes nothing, instead of how an
// unmet Durability is reported.
func WithoutDurability() Option {
	return func(o *options) { o.noDurability = true }
}

// Run runs the whole conformance suite against the implementation newStore
// builds.
func Run(t *testing.T, newStore func(t *testing.T) store.Store, opts ...Option) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	groups := []struct {
		name  string
		cases []testCase
	}{
		{"Apply", applyCases},
		{"Versions", versionCases},
		{"Fencing", fencingCases},
		{"Conditional", conditionalCases},
		{"Idempotency", idempotencyCases},
		{"ChangeLog", changeLogCases},
		{"Leases", leaseCases},
		{"TokenFloor", floorCases},
		{"Durability", durabilityCases(o)},
		{"Membership", membershipCases},
		{"Cluster", clusterCases},
		{"Namespaces", namespaceCases},
		{"Beacons", beaconCases},
		{"Validation", validationCases},
		{"Concurrency", concurrencyCases},
		{"Context", contextCases},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					c.run(t, newStore(t))
				})
			}
		})
	}
}
