package storetest

import (
	"context"
	"testing"

	"github.com/cpgw/cpgw/store"
)

var contextCases = []testCase{
	{"Cancelled", testCancelledContext},
}

// testCancelledContext: every call honours an already-cancelled context by
// returning an error. Which error is the implementation's business.
func testCancelledContext(t *testing.T, s store.Store) {
	tok := own(t, s, 0)
	mustPut(t, s, 0, tok, "ns", "obj", `{}`)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	calls := []struct {
		name string
		call func() error
	}{
		{"Apply", func() error { _, err := s.Apply(ctx, batch(0, tok, put("ns", "obj", `{"v":2}`))); return err }},
		{"Get", func() error { _, err := s.Get(ctx, 0, "ns", "obj"); return err }},
		{"List", func() error { _, _, err := s.List(ctx, 0, "ns"); return err }},
		{"Revision", func() error { _, err := s.Revision(ctx, 0); return err }},
		{"Changes", func() error { _, err := s.Changes(ctx, 0, 0, 10); return err }},
		{"AcquireLease", func() error { _, err := s.AcquireLease(ctx, leaseReq(1, ownerA, longTTL)); return err }},
		{"RenewLeases", func() error {
			_, err := s.RenewLeases(ctx, []store.LeaseRenewal{{Shard: 0, Owner: ownerA, Token: tok, TTL: longTTL}})
			return err
		}},
		{"ReleaseLease", func() error { return s.ReleaseLease(ctx, 0, ownerA, tok) }},
		{"Leases", func() error { _, err := s.Leases(ctx, []int{0}); return err }},
		{"Heartbeat", func() error { return s.Heartbeat(ctx, member("m", "r1"), longTTL) }},
		{"Leave", func() error { return s.Leave(ctx, "m") }},
		{"Members", func() error { _, err := s.Members(ctx); return err }},
		{"Regions", func() error { _, err := s.Regions(ctx); return err }},
		{"InitCluster", func() error { _, err := s.InitCluster(ctx, 64); return err }},
		{"GetNamespace", func() error { _, err := s.GetNamespace(ctx, "ns"); return err }},
		{"PutNamespace", func() error { _, err := s.PutNamespace(ctx, store.Namespace{Name: "ns"}, 0); return err }},
		{"Namespaces", func() error { _, err := s.Namespaces(ctx); return err }},
		{"SetBeacon", func() error { return s.SetBeacon(ctx, "gw", 1, longTTL) }},
		{"Beacon", func() error { _, err := s.Beacon(ctx, "gw"); return err }},
	}
	for _, c := range calls {
		if err := c.call(); err == nil {
			t.Errorf("%s with a cancelled context returned no error", c.name)
		}
	}
	// The store still works for callers whose context is alive.
	mustPut(t, s, 0, tok, "ns", "after", `{}`)
}
