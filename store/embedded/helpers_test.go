package embedded_test

import (
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cpgw/cpgw/fencing"
	"github.com/cpgw/cpgw/store"
	"github.com/cpgw/cpgw/store/embedded"
)

// t0 has a sub-millisecond part so millisecond truncation is exercised.
var t0 = time.Date(2026, 11, 22, 10, 0, 0, 123_456_789, time.UTC)

// newFake returns a store on a fake clock that starts at t0.
func newFake(t testing.TB, cfg embedded.Config) (*embedded.Store, *clockwork.FakeClock) {
	t.Helper()
	clock := clockwork.NewFakeClockAt(t0)
	cfg.Clock = clock
	s, err := embedded.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, clock
}

func leaseReq(shard int, owner string, ttl time.Duration) store.LeaseRequest {
	return store.LeaseRequest{Shard: shard, Owner: owner, Region: "r-" + owner, Address: "http://" + owner, TTL: ttl}
}

func acquire(t testing.TB, s store.Store, shard int, owner string, ttl time.Duration) store.Lease {
	t.Helper()
	l, err := s.AcquireLease(t.Context(), leaseReq(shard, owner, ttl))
	if err != nil {
		t.Fatalf("AcquireLease(%d, %s): %v", shard, owner, err)
	}
	return l
}

func put(ns, name, value string) store.Write {
	return store.Write{Op: store.OpPut, Namespace: ns, Name: name, Value: []byte(value)}
}

func del(ns, name string) store.Write {
	return store.Write{Op: store.OpDelete, Namespace: ns, Name: name}
}

func withKey(w store.Write, key, fingerprint string, ttl time.Duration) store.Write {
	w.Idempotency = &store.Idempotency{Key: key, Fingerprint: fingerprint, TTL: ttl}
	return w
}

func apply(t testing.TB, s store.Store, shard int, tok fencing.Token, ws ...store.Write) []store.Result {
	t.Helper()
	rs, err := s.Apply(t.Context(), store.Batch{Shard: shard, Token: tok, Now: t0, Writes: ws})
	if err != nil {
		t.Fatalf("Apply(shard %d, token %d): %v", shard, tok, err)
	}
	if len(rs) != len(ws) {
		t.Fatalf("Apply: %d results for %d writes", len(rs), len(ws))
	}
	return rs
}

func leaseState(t testing.TB, s store.Store, shard int) store.LeaseState {
	t.Helper()
	ls, err := s.Leases(t.Context(), []int{shard})
	if err != nil {
		t.Fatalf("Leases: %v", err)
	}
	return ls[0]
}
