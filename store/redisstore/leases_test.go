package redisstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cpgw/cpgw/store"
	"github.com/cpgw/cpgw/store/redisstore"
)

// TestLeaseIsServerSideTTL: the lease is a key with a PX TTL, so it runs out
// on the server's clock whether or not its holder is still around, and the
// fencing counter outlives it.
func TestLeaseIsServerSideTTL(t *testing.T) {
	ctx := context.Background()
	s, c := startStore(t, redisstore.Config{})
	l, err := s.AcquireLease(ctx, store.LeaseRequest{Shard: 4, Owner: "a", Region: "r", Address: "http://a", TTL: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	pttl, err := c.PTTL(ctx, "cpgw:{s4}:lease").Result()
	if err != nil || pttl <= 0 || pttl > 1500*time.Millisecond {
		t.Fatalf("lease key PTTL = %s, %v; want (0, 1.5s]", pttl, err)
	}

	_, err = s.AcquireLease(ctx, store.LeaseRequest{Shard: 4, Owner: "b", TTL: time.Second})
	var held *store.HeldError
	if !errors.As(err, &held) {
		t.Fatalf("second AcquireLease = %v, want *store.HeldError", err)
	}
	want := store.Lease{Shard: 4, Owner: "a", Region: "r", Address: "http://a", Token: l.Token, TTL: 1500 * time.Millisecond}
	if h := held.Holder; !h.Held || h.Lease != want || h.Token != l.Token || h.Remaining <= 0 || h.Remaining > want.TTL {
		t.Fatalf("holder = %+v, want held %+v with time left", h, want)
	}

	// Expire the key the way the server would when the TTL runs out.
	if err := c.PExpire(ctx, "cpgw:{s4}:lease", time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	l2, err := s.AcquireLease(ctx, store.LeaseRequest{Shard: 4, Owner: "b", TTL: time.Second})
	if err != nil || l2.Token != l.Token+1 {
		t.Fatalf("AcquireLease after expiry = %+v, %v; want token %d", l2, err, l.Token+1)
	}
	if err := s.ReleaseLease(ctx, 4, "b", l2.Token); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get(ctx, "cpgw:{s4}:token").Result(); err != nil || v != l2.Token.String() {
		t.Fatalf("fencing counter after release = %q, %v; want %d (release never resets it)", v, err, l2.Token)
	}
}
