package embedded

import (
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cpgw/cpgw/store"
)

// TestIdempotencyRecordsAreDropped checks that expired records do not pile
// up: memory must follow the live records, not every key ever used.
func TestIdempotencyRecordsAreDropped(t *testing.T) {
	clock := clockwork.NewFakeClock()
	s, err := New(Config{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l, err := s.AcquireLease(t.Context(), store.LeaseRequest{Shard: 0, Owner: "a", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	write := func(key string, ttl time.Duration) {
		t.Helper()
		_, err := s.Apply(t.Context(), store.Batch{Shard: 0, Token: l.Token, Now: clock.Now(), Writes: []store.Write{{
			Op: store.OpPut, Namespace: "ns", Name: "a", Value: []byte("1"),
			Idempotency: &store.Idempotency{Key: key, Fingerprint: "f", TTL: ttl},
		}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	sizes := func() (int, int) {
		s.mu.Lock()
		defer s.mu.Unlock()
		idem := &s.shards[0].idem
		return len(idem.records), len(idem.byExpiry)
	}

	for i := range 100 {
		write(string(rune('A'+i%26))+string(rune('a'+i/26)), time.Duration(1+i%5)*time.Second)
	}
	write("long", time.Minute)
	if recs, heap := sizes(); recs != 101 || heap != 101 {
		t.Fatalf("before expiry: %d records, %d heap entries; want 101", recs, heap)
	}
	clock.Advance(5 * time.Second)
	write("trigger", time.Minute) // expiry runs at the start of Apply
	if recs, heap := sizes(); recs != 2 || heap != 2 {
		t.Fatalf("after expiry: %d records, %d heap entries; want 2 (long, trigger)", recs, heap)
	}
}
