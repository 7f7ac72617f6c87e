package storetest

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cpgw/cpgw/fencing"
	"github.com/cpgw/cpgw/store"
)

var validationCases = []testCase{
	{"Batches", testInvalidBatches},
	{"LeaseRequests", testInvalidLeaseRequests},
	{"Renewals", testInvalidRenewals},
	{"Members", testInvalidMembers},
	{"Reads", testInvalidReads},
}

func requireInvalid(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("%s: error = %v, want ErrInvalid", what, err)
	}
}

// testInvalidBatches: each malformed batch is refused whole with ErrInvalid,
// even when its other writes are fine and carry idempotency keys.
func testInvalidBatches(t *testing.T, s store.Store) {
	tok := own(t, s, 0)
	mustPut(t, s, 0, tok, "ns", "obj", `{}`)
	good := withKey(put("ns", "new", `{}`), "good-key", "fp")
	w := func(f func(*store.Write)) store.Write {
		x := put("ns", "obj", `{"v":2}`)
		f(&x)
		return x
	}
	tooMany := make([]store.Write, store.MaxBatch+1)
	for i := range tooMany {
		tooMany[i] = put("ns", "n"+strconv.Itoa(i), `{}`)
	}
	tooMany[0] = good
	cases := []struct {
		name string
		b    store.Batch
	}{
		{"negative shard", store.Batch{Shard: -1, Token: tok, Now: testNow, Writes: []store.Write{good}}},
		{"empty batch", batch(0, tok)},
		{"more than MaxBatch writes", batch(0, tok, tooMany...)},
		{"empty namespace", batch(0, tok, good, w(func(x *store.Write) { x.Namespace = "" }))},
		{"empty name", batch(0, tok, good, w(func(x *store.Write) { x.Name = "" }))},
		{"put without value", batch(0, tok, good, w(func(x *store.Write) { x.Value = nil }))},
		{"put with empty value", batch(0, tok, good, w(func(x *store.Write) { x.Value = []byte{} }))},
		{"zero op", batch(0, tok, good, w(func(x *store.Write) { x.Op = 0 }))},
		{"unknown op", batch(0, tok, good, w(func(x *store.Write) { x.Op = store.OpDelete + 1 }))},
		{"IfAbsent with IfVersion", batch(0, tok, good, w(func(x *store.Write) { x.IfAbsent, x.IfVersion = true, 1 }))},
		{"delete with IfAbsent", batch(0, tok, good, store.Write{Op: store.OpDelete, Namespace: "ns", Name: "obj", IfAbsent: true})},
		{"idempotency without key", batch(0, tok, good, w(func(x *store.Write) { x.Idempotency = &store.Idempotency{Fingerprint: "fp"} }))},
		{"idempotency without fingerprint", batch(0, tok, good, w(func(x *store.Write) { x.Idempotency = &store.Idempotency{Key: "k"} }))},
		{"negative idempotency TTL", batch(0, tok, good, w(func(x *store.Write) {
			x.Idempotency = &store.Idempotency{Key: "k", Fingerprint: "fp", TTL: -time.Second}
		}))},
		{"zero Now", store.Batch{Shard: 0, Token: tok, Writes: []store.Write{good}}},
		{"namespace with a colon", batch(0, tok, good, w(func(x *store.Write) { x.Namespace = "a:b" }))},
		{"namespace with a brace", batch(0, tok, good, w(func(x *store.Write) { x.Namespace = "{s1}" }))},
		{"upper-case name", batch(0, tok, good, w(func(x *store.Write) { x.Name = "Obj" }))},
		{"name ending in a dot", batch(0, tok, good, w(func(x *store.Write) { x.Name = "obj." }))},
		{"name of 254 characters", batch(0, tok, good, w(func(x *store.Write) { x.Name = strings.Repeat("a", 254) }))},
		{"invalid write first", batch(0, tok, w(func(x *store.Write) { x.Name = "" }), good)},
	}
	before := snapshot(t, s, 0, "ns")
	for _, c := range cases {
		_, err := s.Apply(t.Context(), c.b)
		requireInvalid(t, c.name, err)
		requireUnchanged(t, "a batch with "+c.name, s, 0, before, "ns")
	}
	requireKeyUnused(t, s, 0, tok, "ns", "good-key")
}

// testInvalidLeaseRequests: a refused request grants nothing and leaves the
// token counter alone.
func testInvalidLeaseRequests(t *testing.T, s store.Store) {
	cases := []struct {
		name string
		req  store.LeaseRequest
	}{
		{"negative shard", leaseReq(-1, ownerA, longTTL)},
		{"no owner", leaseReq(0, "", longTTL)},
		{"zero TTL", leaseReq(0, ownerA, 0)},
		{"TTL below 1ms", leaseReq(0, ownerA, 999*time.Microsecond)},
		{"negative TTL", leaseReq(0, ownerA, -time.Second)},
	}
	for _, c := range cases {
		_, err := s.AcquireLease(t.Context(), c.req)
		requireInvalid(t, "AcquireLease with "+c.name, err)
	}
	if st := leaseState(t, s, 0); st.Held || st.Token != 0 {
		t.Fatalf("refused lease requests changed shard 0: %+v", st)
	}
	if l := acquire(t, s, 0, ownerA, longTTL); l.Token != 1 {
		t.Fatalf("first valid acquire got token %d, want 1", l.Token)
	}
}

// testInvalidRenewals: the contract does not say whether a malformed renewal
// fails the whole call or only its entry; either is conformant, as long as it
// is ErrInvalid and the lease is left as it was.
func testInvalidRenewals(t *testing.T, s store.Store) {
	l := acquire(t, s, 0, ownerA, longTTL)
	cases := []struct {
		name string
		r    store.LeaseRenewal
	}{
		{"negative shard", store.LeaseRenewal{Shard: -1, Owner: ownerA, Token: l.Token, TTL: longTTL}},
		{"no owner", store.LeaseRenewal{Shard: 0, Token: l.Token, TTL: longTTL}},
		{"zero token", store.LeaseRenewal{Shard: 0, Owner: ownerA, TTL: longTTL}},
		{"TTL below 1ms", store.LeaseRenewal{Shard: 0, Owner: ownerA, Token: l.Token, TTL: 500 * time.Microsecond}},
	}
	for _, c := range cases {
		errs, err := s.RenewLeases(t.Context(), []store.LeaseRenewal{c.r})
		if err == nil {
			if len(errs) != 1 {
				t.Fatalf("renewal with %s: %d errors for 1 renewal", c.name, len(errs))
			}
			err = errs[0]
		}
		requireInvalid(t, "renewal with "+c.name, err)
		requireHeldBy(t, s, 0, ownerA, l.Token)
	}
}

func testInvalidMembers(t *testing.T, s store.Store) {
	cases := []struct {
		name string
		m    store.Member
		ttl  time.Duration
	}{
		{"no id", store.Member{Region: "r1", Address: "x"}, longTTL},
		{"no region", store.Member{ID: "m", Address: "x"}, longTTL},
		{"zero TTL", member("m", "r-zero"), 0},
		{"negative TTL", member("m", "r-neg"), -time.Second},
	}
	for _, c := range cases {
		requireInvalid(t, "Heartbeat with "+c.name, s.Heartbeat(t.Context(), c.m, c.ttl))
	}
	requireMembers(t, s)
	requireRegions(t, s)
	requireInvalid(t, "Leave with an empty id", s.Leave(t.Context(), ""))
}

// testInvalidReads: a bad shard number or an empty name is malformed in a read
// as much as in a write.
func testInvalidReads(t *testing.T, s store.Store) {
	cases := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Get negative shard", func(ctx context.Context) error { _, err := s.Get(ctx, -1, "ns", "obj"); return err }},
		{"Get empty namespace", func(ctx context.Context) error { _, err := s.Get(ctx, 0, "", "obj"); return err }},
		{"Get empty name", func(ctx context.Context) error { _, err := s.Get(ctx, 0, "ns", ""); return err }},
		{"List negative shard", func(ctx context.Context) error { _, _, err := s.List(ctx, -1, "ns"); return err }},
		{"List empty namespace", func(ctx context.Context) error { _, _, err := s.List(ctx, 0, ""); return err }},
		{"Revision negative shard", func(ctx context.Context) error { _, err := s.Revision(ctx, -1); return err }},
		{"Changes negative shard", func(ctx context.Context) error { _, err := s.Changes(ctx, -1, 0, 10); return err }},
		{"Leases negative shard", func(ctx context.Context) error { _, err := s.Leases(ctx, []int{0, -1}); return err }},
		{"ReleaseLease negative shard", func(ctx context.Context) error {
			return s.ReleaseLease(ctx, -1, ownerA, fencing.Token(1))
		}},
	}
	for _, c := range cases {
		requireInvalid(t, c.name, c.call(t.Context()))
	}
}
