package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cpgw/cpgw/store"
)

// The stores under the suite have no replicas, so a Durability that asks for
// one is never met: Apply reports 0 replicas and applies, a grant comes back
// with a *ReplicationError, a renewal call fails as a whole. A store run
// WithoutDurability refuses such requests instead, with ErrInvalid, and
// changes nothing. Validation and the stored namespace setting are the same
// everywhere. A store that counts its replicas (AttachedReplicas, which is
// not part of store.Store) counts none; an unresolved majority is refused.

// unmet asks for one replica and waits briefly for it.
var unmet = store.Durability{Replicas: 1, Timeout: 50 * time.Millisecond}

// badDurabilities are outside the bounds store.Durability.Validate sets.
var badDurabilities = []struct {
	name string
	d    store.Durability
}{
	{"negative replicas", store.Durability{Replicas: -1, Timeout: time.Second}},
	{"more than MaxReplicas", store.Durability{Replicas: store.MaxReplicas + 1, Timeout: time.Second}},
	{"replicas without timeout", store.Durability{Replicas: 1}},
	{"timeout below 1ms", store.Durability{Replicas: 1, Timeout: 500 * time.Microsecond}},
	{"negative timeout", store.Durability{Replicas: 1, Timeout: -time.Second}},
	{"negative timeout alone", store.Durability{Timeout: -time.Second}},
	{"timeout above MaxReplicaTimeout", store.Durability{Replicas: 1, Timeout: store.MaxReplicaTimeout + time.Millisecond}},
	{"majority without timeout", store.Durability{Majority: true}},
	{"majority floor above MaxReplicas", store.Durability{Majority: true, Replicas: store.MaxReplicas + 1, Timeout: time.Second}},
}

// majority is a majority quorum with a floor of one replica.
var majority = store.Durability{Majority: true, Replicas: 1, Timeout: 50 * time.Millisecond}

// replicaCounter is what a store that counts its replicas has.
type replicaCounter interface {
	AttachedReplicas(ctx context.Context) (int, error)
}

func durabilityCases(o options) []testCase {
	cases := []testCase{
		{"InvalidBatch", testDurabilityInvalidBatch},
		{"InvalidLeaseRequest", testDurabilityInvalidAcquire},
		{"InvalidRenewal", testDurabilityInvalidRenewal},
		{"InvalidNamespace", testDurabilityInvalidNamespace},
		{"NamespaceRoundTrip", testNamespaceDurability},
		{"ZeroDurabilityReportsZero", testZeroDurability},
		{"UnresolvedMajorityRefused", testUnresolvedMajority},
	}
	if o.noDurability {
		return append(cases,
			testCase{"ApplyRefused", testDurabilityApplyRefused},
			testCase{"AcquireRefused", testDurabilityAcquireRefused},
			testCase{"RenewRefused", testDurabilityRenewRefused},
			testCase{"AttachedReplicasRefused", testAttachedReplicasRefused},
		)
	}
	return append(cases,
		testCase{"ApplyReportsCount", testDurabilityApply},
		testCase{"AcquireNotReplicated", testDurabilityAcquire},
		testCase{"RenewNotReplicated", testDurabilityRenew},
		testCase{"AttachedReplicasNone", testAttachedReplicasNone},
	)
}

// requireReplicationError checks that err reports wanted replicas of which
// acked acknowledged.
func requireReplicationError(t *testing.T, what string, err error, wanted, acked int) {
	t.Helper()
	if !errors.Is(err, store.ErrNotReplicated) {
		t.Fatalf("%s: error = %v, want ErrNotReplicated", what, err)
	}
	var re *store.ReplicationError
	if !errors.As(err, &re) {
		t.Fatalf("%s: error %v (%T) is not a *store.ReplicationError", what, err, err)
	}
	if re.Wanted != wanted || re.Acked != acked {
		t.Fatalf("%s: %+v, want %d wanted, %d acked", what, *re, wanted, acked)
	}
}

func testDurabilityInvalidBatch(t *testing.T, s store.Store) {
	tok := own(t, s, 0)
	mustPut(t, s, 0, tok, "ns", "obj", `{}`)
	before := snapshot(t, s, 0, "ns")
	for _, c := range badDurabilities {
		b := batch(0, tok, withKey(put("ns", "new", `{}`), "good-key", "fp"))
		b.Durability = c.d
		_, err := s.Apply(t.Context(), b)
		requireInvalid(t, "Apply with "+c.name, err)
		requireUnchanged(t, "a batch with "+c.name, s, 0, before, "ns")
	}
	requireKeyUnused(t, s, 0, tok, "ns", "good-key")
}

func testDurabilityInvalidAcquire(t *testing.T, s store.Store) {
	for _, c := range badDurabilities {
		req := leaseReq(0, ownerA, longTTL)
		req.Durability = c.d
		_, err := s.AcquireLease(t.Context(), req)
		requireInvalid(t, "AcquireLease with "+c.name, err)
	}
	if st := leaseState(t, s, 0); st.Held || st.Token != 0 {
		t.Fatalf("refused lease requests changed shard 0: %+v", st)
	}
}

// requireRenewalInvalid accepts ErrInvalid for the call or for its one entry,
// as testInvalidRenewals does.
func requireRenewalInvalid(t *testing.T, what string, errs []error, err error) {
	t.Helper()
	if err == nil {
		if len(errs) != 1 {
			t.Fatalf("%s: %d errors for 1 renewal", what, len(errs))
		}
		err = errs[0]
	}
	requireInvalid(t, what, err)
}

func testDurabilityInvalidRenewal(t *testing.T, s store.Store) {
	const initial = 5 * time.Second
	l := acquire(t, s, 0, ownerA, initial)
	for _, c := range badDurabilities {
		errs, err := s.RenewLeases(t.Context(), []store.LeaseRenewal{{Shard: 0, Owner: ownerA, Token: l.Token, TTL: longTTL, Durability: c.d}})
		requireRenewalInvalid(t, "renewal with "+c.name, errs, err)
	}
	st := leaseState(t, s, 0)
	if !st.Held || st.Lease.TTL != initial || st.Remaining > initial {
		t.Fatalf("refused renewals changed the lease: %+v", st)
	}
}

func testDurabilityInvalidNamespace(t *testing.T, s store.Store) {
	for _, c := range badDurabilities {
		_, err := s.PutNamespace(t.Context(), store.Namespace{Name: "ns", Shard: 1, Durability: c.d}, 0)
		requireInvalid(t, "PutNamespace with "+c.name, err)
	}
	requireNamespaces(t, s)
}

// testNamespaceDurability: the setting comes back as stored, in whole
// milliseconds (rounded up, as every stored duration), and can be changed
// back to none.
func testNamespaceDurability(t *testing.T, s store.Store) {
	cases := []struct {
		ns   store.Namespace
		want store.Durability
	}{
		{store.Namespace{Name: "durable", HomeRegion: "eu-west", Shard: 3, Durability: store.Durability{Replicas: 2, Timeout: 250 * time.Millisecond}},
			store.Durability{Replicas: 2, Timeout: 250 * time.Millisecond}},
		{store.Namespace{Name: "most", Shard: 1, Durability: store.Durability{Replicas: store.MaxReplicas, Timeout: store.MaxReplicaTimeout}},
			store.Durability{Replicas: store.MaxReplicas, Timeout: store.MaxReplicaTimeout}},
		{store.Namespace{Name: "sub-ms", Shard: 2, Durability: store.Durability{Replicas: 1, Timeout: 1500 * time.Microsecond}},
			store.Durability{Replicas: 1, Timeout: 2 * time.Millisecond}},
		{store.Namespace{Name: "timeout-only", Shard: 4, Durability: store.Durability{Timeout: time.Second}},
			store.Durability{Timeout: time.Second}},
		{store.Namespace{Name: "none", Shard: 5}, store.Durability{}},
		{store.Namespace{Name: "majority", Shard: 6, Durability: store.Durability{Majority: true, Replicas: 2, Timeout: 100 * time.Millisecond}},
			store.Durability{Majority: true, Replicas: 2, Timeout: 100 * time.Millisecond}},
		{store.Namespace{Name: "majority-no-floor", Shard: 7, Durability: store.Durability{Majority: true, Timeout: 1500 * time.Microsecond}},
			store.Durability{Majority: true, Timeout: 2 * time.Millisecond}},
	}
	var all []store.Namespace
	for _, c := range cases {
		want := c.ns
		want.Durability, want.Version = c.want, 1
		requireNamespace(t, "PutNamespace "+c.ns.Name, putNamespace(t, s, c.ns, 0), want)
		requireNamespace(t, "GetNamespace "+c.ns.Name, getNamespace(t, s, c.ns.Name), want)
		all = append(all, want)
	}
	// Namespaces lists by name: durable, majority, majority-no-floor,
	// most, none, sub-ms, timeout-only.
	requireNamespaces(t, s, all[0], all[5], all[6], all[1], all[4], all[2], all[3])

	off := store.Namespace{Name: "durable", HomeRegion: "eu-west", Shard: 3}
	want := off
	want.Version = 2
	requireNamespace(t, "PutNamespace without durability", putNamespace(t, s, off, 1), want)
	requireNamespace(t, "GetNamespace after turning durability off", getNamespace(t, s, "durable"), want)
}

// testZeroDurability: without Durability nothing waits and no count is
// reported, on any store.
func testZeroDurability(t *testing.T, s store.Store) {
	tok := own(t, s, 0)
	for i, r := range apply(t, s, batch(0, tok, put("ns", "a", `{}`), del("ns", "absent"))) {
		if r.ReplicasAcked != 0 {
			t.Fatalf("write %d without Durability: ReplicasAcked = %d, want 0", i, r.ReplicasAcked)
		}
	}
}

// testDurabilityApply: the batch is applied; every result, failed or
// replayed ones included, reports the replicas that acknowledged: none.
func testDurabilityApply(t *testing.T, s store.Store) {
	tok := own(t, s, 0)
	first := applyOne(t, s, 0, tok, withKey(put("ns", "keyed", `{"v":1}`), "k1", "fp1"))
	b := batch(0, tok,
		put("ns", "a", `{"v":1}`),
		withKey(put("ns", "keyed", `{"v":1}`), "k1", "fp1"), // a replay
		ifAbsent(put("ns", "a", `{}`)),                      // fails: exists
	)
	b.Durability = unmet
	rs := apply(t, s, b)
	requireApplied(t, "durable put", rs[0], store.Created)
	requireReplay(t, "durable replay", rs[1], first)
	requireFailed(t, "durable create-only put", rs[2], store.ErrPrecondition)
	for i, r := range rs {
		if r.ReplicasAcked != 0 {
			t.Fatalf("write %d: ReplicasAcked = %d, want 0 (the store has no replicas)", i, r.ReplicasAcked)
		}
	}
	requireObject(t, "Get after a durable batch", mustGet(t, s, 0, "ns", "a"), rs[0].Object)
}

// testDurabilityAcquire: the grant is made and returned with the error; the
// caller decides what to do with it.
func testDurabilityAcquire(t *testing.T, s store.Store) {
	req := leaseReq(3, ownerA, longTTL)
	req.Durability = unmet
	l, err := s.AcquireLease(t.Context(), req)
	requireReplicationError(t, "AcquireLease", err, 1, 0)
	want := store.Lease{Shard: 3, Owner: ownerA, Region: req.Region, Address: req.Address, Token: 1, TTL: longTTL}
	if l != want {
		t.Fatalf("AcquireLease = %+v with the error, want the grant %+v", l, want)
	}
	requireHeldBy(t, s, 3, ownerA, 1)
	release(t, s, 3, ownerA, l.Token)
}

// testDurabilityRenew: the call fails as a whole, but the renewals were made
// on the store (ErrNotReplicated: made, not acknowledged).
func testDurabilityRenew(t *testing.T, s store.Store) {
	const initial = 2 * time.Second
	l := acquire(t, s, 0, ownerA, initial)
	other := acquire(t, s, 1, ownerA, initial)
	errs, err := s.RenewLeases(t.Context(), []store.LeaseRenewal{
		{Shard: 0, Owner: ownerA, Token: l.Token, TTL: longTTL, Durability: unmet},
		{Shard: 1, Owner: ownerA, Token: other.Token, TTL: longTTL}, // the call's wait covers it too
	})
	if errs != nil {
		t.Fatalf("RenewLeases returned per-renewal errors %v with a failed call", errs)
	}
	requireReplicationError(t, "RenewLeases", err, 1, 0)
	for _, st := range leaseStates(t, s, 0, 1) {
		if !st.Held || st.Lease.TTL != longTTL || st.Remaining <= initial {
			t.Fatalf("lease after an unreplicated renewal = %+v; want renewed to %s on the store", st, longTTL)
		}
	}
}

func testDurabilityApplyRefused(t *testing.T, s store.Store) {
	tok := own(t, s, 0)
	mustPut(t, s, 0, tok, "ns", "obj", `{}`)
	before := snapshot(t, s, 0, "ns")
	b := batch(0, tok, put("ns", "new", `{}`))
	b.Durability = unmet
	_, err := s.Apply(t.Context(), b)
	requireInvalid(t, "Apply with Durability on a store without it", err)
	requireUnchanged(t, "a refused durable batch", s, 0, before, "ns")
}

func testDurabilityAcquireRefused(t *testing.T, s store.Store) {
	req := leaseReq(0, ownerA, longTTL)
	req.Durability = unmet
	_, err := s.AcquireLease(t.Context(), req)
	requireInvalid(t, "AcquireLease with Durability on a store without it", err)
	if st := leaseState(t, s, 0); st.Held || st.Token != 0 {
		t.Fatalf("a refused durable acquire changed shard 0: %+v", st)
	}
}

func testDurabilityRenewRefused(t *testing.T, s store.Store) {
	const initial = 5 * time.Second
	l := acquire(t, s, 0, ownerA, initial)
	errs, err := s.RenewLeases(t.Context(), []store.LeaseRenewal{{Shard: 0, Owner: ownerA, Token: l.Token, TTL: longTTL, Durability: unmet}})
	requireRenewalInvalid(t, "renewal with Durability on a store without it", errs, err)
	if st := leaseState(t, s, 0); !st.Held || st.Lease.TTL != initial || st.Remaining > initial {
		t.Fatalf("a refused durable renewal changed the lease: %+v", st)
	}
}

// testUnresolvedMajority: a store waits for a count, never for a majority it
// would have to resolve itself; the request is refused and changes nothing.
func testUnresolvedMajority(t *testing.T, s store.Store) {
	tok := own(t, s, 0)
	mustPut(t, s, 0, tok, "ns", "obj", `{}`)
	before := snapshot(t, s, 0, "ns")
	b := batch(0, tok, put("ns", "new", `{}`))
	b.Durability = majority
	_, err := s.Apply(t.Context(), b)
	requireInvalid(t, "Apply with an unresolved majority", err)
	requireUnchanged(t, "a batch with an unresolved majority", s, 0, before, "ns")

	req := leaseReq(1, ownerA, longTTL)
	req.Durability = majority
	_, err = s.AcquireLease(t.Context(), req)
	requireInvalid(t, "AcquireLease with an unresolved majority", err)
	errs, err := s.RenewLeases(t.Context(), []store.LeaseRenewal{{Shard: 0, Owner: ownerA, Token: tok, TTL: longTTL, Durability: majority}})
	requireRenewalInvalid(t, "renewal with an unresolved majority", errs, err)
}

// testAttachedReplicasNone: the suite's stores have no replicas, so one that
// counts them counts none (the count with replicas is each store's own test).
func testAttachedReplicasNone(t *testing.T, s store.Store) {
	rc, ok := s.(replicaCounter)
	if !ok {
		t.Skipf("%T does not count its replicas", s)
	}
	n, err := rc.AttachedReplicas(t.Context())
	if err != nil || n != 0 {
		t.Fatalf("AttachedReplicas = %d, %v; want 0 on a store without replicas", n, err)
	}
}

// testAttachedReplicasRefused: a store without durability cannot count the
// replicas a wait would need either.
func testAttachedReplicasRefused(t *testing.T, s store.Store) {
	rc, ok := s.(replicaCounter)
	if !ok {
		t.Skipf("%T does not count its replicas", s)
	}
	_, err := rc.AttachedReplicas(t.Context())
	requireInvalid(t, "AttachedReplicas on a store without durability", err)
}
