package redisstore_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/cpgw/cpgw/store"
	"github.com/cpgw/cpgw/store/redisstore"
)

// payload is a small JSON document, the typical control-plane object.
const payload = `{"limits":{"max":1000,"burst":50},"owner":"team-payments","labels":{"tier":"gold"}}`

// BenchmarkFencedPut is one Apply of one put: token and lease check, record,
// revision, change-log entry. Compare with BenchmarkPlainSet for the cost of
// fencing and bookkeeping over a bare write.
func BenchmarkFencedPut(b *testing.B) {
	s, _ := startStore(b, redisstore.Config{})
	tok := hold(b, s, 0)
	ctx := context.Background()
	batch := store.Batch{Shard: 0, Token: tok, Now: testNow, Writes: []store.Write{put("ns", "obj", payload)}}
	for b.Loop() {
		if _, err := s.Apply(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPlainSet is a bare SET of the same payload on the same kind of
// server: the floor under BenchmarkFencedPut.
func BenchmarkPlainSet(b *testing.B) {
	_, c := startStore(b, redisstore.Config{})
	ctx := context.Background()
	for b.Loop() {
		if err := c.Set(ctx, "cpgw:{s0}:plain", payload, 0).Err(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenew1000 renews 1,000 held leases in one call.
func BenchmarkRenew1000(b *testing.B) {
	s, _ := startStore(b, redisstore.Config{})
	ctx := context.Background()
	rs := make([]store.LeaseRenewal, 1000)
	for i := range rs {
		rs[i] = store.LeaseRenewal{Shard: i, Owner: "coord-a", Token: hold(b, s, i), TTL: longTTL}
	}
	for b.Loop() {
		errs, err := s.RenewLeases(ctx, rs)
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range errs {
			if e != nil {
				b.Fatal(e)
			}
		}
	}
}

// BenchmarkApplyBatch64 applies a batch of 64 puts; writes/s is the number
// to compare with BenchmarkFencedPut.
func BenchmarkApplyBatch64(b *testing.B) {
	s, _ := startStore(b, redisstore.Config{})
	tok := hold(b, s, 0)
	ctx := context.Background()
	ws := make([]store.Write, 64)
	for i := range ws {
		ws[i] = put("ns", "obj-"+strconv.Itoa(i), payload)
	}
	batch := store.Batch{Shard: 0, Token: tok, Now: testNow, Writes: ws}
	for b.Loop() {
		if _, err := s.Apply(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(ws))/b.Elapsed().Seconds(), "writes/s")
}
