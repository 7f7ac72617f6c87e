package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/cpgw/cpgw/fencing"
	"github.com/cpgw/cpgw/store"
)

const (
	// longTTL is for leases, members and records that must not run out while a
	// case runs, however slow the machine (-race, loaded CI).
	longTTL = 30 * time.Second
	// shortTTL is for cases whose point is that something runs out.
	shortTTL = 150 * time.Millisecond
	// expiryWait is how long those cases sleep: well past shortTTL on the
	// store's clock, so expiry is certain without asserting how fast it is.
	expiryWait = 3 * shortTTL

	ownerA = "coord-a"
	ownerB = "coord-b"

	// allChanges is a limit larger than any change log a case builds.
	allChanges = 100000
)

// testNow has a non-zero sub-millisecond part, so a store that keeps more
// precision than the millisecond the contract promises is caught.
var testNow = time.Date(2026, 11, 22, 10, 0, 0, 123_456_789, time.UTC)

// ms is the precision the store keeps UpdatedAt in.
func ms(t time.Time) time.Time { return t.Truncate(time.Millisecond) }

// leaseReq is a well-formed lease request; region and address derive from the
// owner so cases can check them.
func leaseReq(shard int, owner string, ttl time.Duration) store.LeaseRequest {
	return store.LeaseRequest{
		Shard:   shard,
		Owner:   owner,
		Region:  "region-" + owner,
		Address: "http://" + owner + ".test:7000",
		TTL:     ttl,
	}
}

// acquire takes shard's lease for owner and fails the test if that is refused.
func acquire(t *testing.T, s store.Store, shard int, owner string, ttl time.Duration) store.Lease {
	t.Helper()
	l, err := s.AcquireLease(t.Context(), leaseReq(shard, owner, ttl))
	if err != nil {
		t.Fatalf("AcquireLease(shard %d, %s): %v", shard, owner, err)
	}
	return l
}

// own acquires shard for ownerA with a long TTL and returns the token to write with.
func own(t *testing.T, s store.Store, shard int) fencing.Token {
	t.Helper()
	return acquire(t, s, shard, ownerA, longTTL).Token
}

func release(t *testing.T, s store.Store, shard int, owner string, tok fencing.Token) {
	t.Helper()
	if err := s.ReleaseLease(t.Context(), shard, owner, tok); err != nil {
		t.Fatalf("ReleaseLease(shard %d, %s, token %d): %v", shard, owner, tok, err)
	}
}

func put(ns, name, value string) store.Write {
	return store.Write{Op: store.OpPut, Namespace: ns, Name: name, Value: []byte(value)}
}

func del(ns, name string) store.Write {
	return store.Write{Op: store.OpDelete, Namespace: ns, Name: name}
}

// withKey attaches an idempotency key and fingerprint to w.
func withKey(w store.Write, key, fingerprint string) store.Write {
	w.Idempotency = &store.Idempotency{Key: key, Fingerprint: fingerprint}
	return w
}

func batch(shard int, tok fencing.Token, ws ...store.Write) store.Batch {
	return store.Batch{Shard: shard, Token: tok, Now: testNow, Writes: ws}
}

// apply runs a batch that must pass the fencing check and returns its results,
// one per write.
func apply(t *testing.T, s store.Store, b store.Batch) []store.Result {
	t.Helper()
	rs, err := s.Apply(t.Context(), b)
	if err != nil {
		t.Fatalf("Apply(shard %d, token %d): %v", b.Shard, b.Token, err)
	}
	if len(rs) != len(b.Writes) {
		t.Fatalf("Apply returned %d results for %d writes", len(rs), len(b.Writes))
	}
	return rs
}

func applyOne(t *testing.T, s store.Store, shard int, tok fencing.Token, w store.Write) store.Result {
	t.Helper()
	return apply(t, s, batch(shard, tok, w))[0]
}

// requireApplied checks that r is a fresh (not replayed) success with outcome want.
func requireApplied(t *testing.T, what string, r store.Result, want store.Outcome) {
	t.Helper()
	if r.Err != nil {
		t.Fatalf("%s: Result.Err = %v, want nil", what, r.Err)
	}
	if r.Outcome != want {
		t.Fatalf("%s: Outcome = %v, want %v", what, r.Outcome, want)
	}
	if r.Replayed {
		t.Fatalf("%s: Replayed = true for a write applied now", what)
	}
}

// requireFailed checks that r is a per-write failure matching target.
func requireFailed(t *testing.T, what string, r store.Result, target error) {
	t.Helper()
	if !errors.Is(r.Err, target) {
		t.Fatalf("%s: Result.Err = %v, want %v", what, r.Err, target)
	}
}

// mustPut writes one object and returns it as the write left it.
func mustPut(t *testing.T, s store.Store, shard int, tok fencing.Token, ns, name, value string) store.Object {
	t.Helper()
	r := applyOne(t, s, shard, tok, put(ns, name, value))
	if r.Err != nil {
		t.Fatalf("put %s/%s: %v", ns, name, r.Err)
	}
	return r.Object
}

func mustGet(t *testing.T, s store.Store, shard int, ns, name string) store.Object {
	t.Helper()
	o, err := s.Get(t.Context(), shard, ns, name)
	if err != nil {
		t.Fatalf("Get(shard %d, %s/%s): %v", shard, ns, name, err)
	}
	return o
}

func requireNotFound(t *testing.T, s store.Store, shard int, ns, name string) {
	t.Helper()
	o, err := s.Get(t.Context(), shard, ns, name)
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(shard %d, %s/%s) = %+v, %v; want ErrNotFound", shard, ns, name, o, err)
	}
}

func revision(t *testing.T, s store.Store, shard int) uint64 {
	t.Helper()
	r, err := s.Revision(t.Context(), shard)
	if err != nil {
		t.Fatalf("Revision(%d): %v", shard, err)
	}
	return r
}

func requireRevision(t *testing.T, s store.Store, shard int, want uint64) {
	t.Helper()
	if got := revision(t, s, shard); got != want {
		t.Fatalf("Revision(%d) = %d, want %d", shard, got, want)
	}
}

func changes(t *testing.T, s store.Store, shard int, after uint64, limit int) []store.Change {
	t.Helper()
	cs, err := s.Changes(t.Context(), shard, after, limit)
	if err != nil {
		t.Fatalf("Changes(shard %d, after %d, limit %d): %v", shard, after, limit, err)
	}
	return cs
}

func leaseStates(t *testing.T, s store.Store, shards ...int) []store.LeaseState {
	t.Helper()
	ls, err := s.Leases(t.Context(), shards)
	if err != nil {
		t.Fatalf("Leases(%v): %v", shards, err)
	}
	if len(ls) != len(shards) {
		t.Fatalf("Leases(%v) returned %d states", shards, len(ls))
	}
	return ls
}

func leaseState(t *testing.T, s store.Store, shard int) store.LeaseState {
	t.Helper()
	return leaseStates(t, s, shard)[0]
}

// requireObject compares every field of an object; UpdatedAt at the
// millisecond the store keeps.
func requireObject(t *testing.T, what string, got, want store.Object) {
	t.Helper()
	var diffs []string
	if got.Namespace != want.Namespace || got.Name != want.Name {
		diffs = append(diffs, fmt.Sprintf("name %s/%s, want %s/%s", got.Namespace, got.Name, want.Namespace, want.Name))
	}
	if got.Shard != want.Shard {
		diffs = append(diffs, fmt.Sprintf("Shard %d, want %d", got.Shard, want.Shard))
	}
	if got.Version != want.Version {
		diffs = append(diffs, fmt.Sprintf("Version %d, want %d", got.Version, want.Version))
	}
	if got.Token != want.Token {
		diffs = append(diffs, fmt.Sprintf("Token %d, want %d", got.Token, want.Token))
	}
	if !got.UpdatedAt.Equal(ms(want.UpdatedAt)) {
		diffs = append(diffs, fmt.Sprintf("UpdatedAt %s, want %s", got.UpdatedAt.Format(time.RFC3339Nano), ms(want.UpdatedAt).Format(time.RFC3339Nano)))
	}
	if !bytes.Equal(got.Value, want.Value) {
		diffs = append(diffs, fmt.Sprintf("Value %q, want %q", got.Value, want.Value))
	}
	if len(diffs) > 0 {
		t.Fatalf("%s: %v", what, diffs)
	}
}

// objectState is an Object in comparable form.
type objectState struct {
	Name      string
	Version   uint64
	Token     fencing.Token
	UpdatedAt int64 // Unix milliseconds
	Value     string
}

// shardState is everything a refused request could have changed on a shard
// that is visible through the API: revision, change log and the objects of
// the namespaces a case uses. (Idempotency records are checked by reusing
// their key; see requireKeyUnused.)
type shardState struct {
	Revision uint64
	Changes  []store.Change
	Objects  map[string][]objectState
}

func snapshot(t *testing.T, s store.Store, shard int, namespaces ...string) shardState {
	t.Helper()
	st := shardState{
		Revision: revision(t, s, shard),
		Changes:  changes(t, s, shard, 0, allChanges),
		Objects:  map[string][]objectState{},
	}
	for _, ns := range namespaces {
		objs, _, err := s.List(t.Context(), shard, ns)
		if err != nil {
			t.Fatalf("List(shard %d, %s): %v", shard, ns, err)
		}
		for _, o := range objs {
			st.Objects[ns] = append(st.Objects[ns], objectState{o.Name, o.Version, o.Token, o.UpdatedAt.UnixMilli(), string(o.Value)})
		}
	}
	return st
}

// requireUnchanged fails when the shard's visible state differs from before.
func requireUnchanged(t *testing.T, what string, s store.Store, shard int, before shardState, namespaces ...string) {
	t.Helper()
	after := snapshot(t, s, shard, namespaces...)
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("%s changed the shard:\nbefore %+v\nafter  %+v", what, before, after)
	}
}

// requireKeyUnused shows that no idempotency record exists for key in ns: a
// write under the key with a fingerprint never used before must apply now
// rather than replay or fail with ErrIdempotencyMismatch. It writes, so call
// it after any snapshot comparison.
func requireKeyUnused(t *testing.T, s store.Store, shard int, tok fencing.Token, ns, key string) {
	t.Helper()
	r := applyOne(t, s, shard, tok, withKey(put(ns, "probe-"+key, `{"probe":true}`), key, "probe-fingerprint"))
	if r.Err != nil || r.Replayed {
		t.Fatalf("idempotency key %q in %s should be unused, but a fresh write under it got Err=%v Replayed=%v", key, ns, r.Err, r.Replayed)
	}
}

// requireStale checks that err is a fencing refusal with the given details.
func requireStale(t *testing.T, err error, want fencing.StaleError) {
	t.Helper()
	if !errors.Is(err, fencing.ErrStale) {
		t.Fatalf("Apply error = %v, want one matching fencing.ErrStale", err)
	}
	var se *fencing.StaleError
	if !errors.As(err, &se) {
		t.Fatalf("Apply error %v (%T) is not a *fencing.StaleError", err, err)
	}
	if *se != want {
		t.Fatalf("StaleError = %+v, want %+v", *se, want)
	}
}
