package storetest

import (
	"testing"

	"github.com/cpgw/cpgw/store"
)

// NewStore returns a fresh, empty store for one subtest. It is called once per
// subtest; an implementation backed by a shared server empties it here, which
// is why no subtest runs in parallel with another. The store must run on the
// wall clock and keep at least store.MaxBatch change-log entries per shard
// (the default retention does). Closing the store is up to NewStore (for
// example with t.Cleanup); the suite never calls Close.
type NewStore func(t *testing.T) store.Store

// testCase is one subtest: it gets its own empty store.
type testCase struct {
	name string
	run  func(t *testing.T, s store.Store)
}

// Run runs the whole conformance suite against the implementation newStore
// builds.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
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
