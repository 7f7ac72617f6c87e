package embedded_test

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cpgw/cpgw/store"
	"github.com/cpgw/cpgw/store/embedded"
)

func TestConcurrentApplyRevisions(t *testing.T) {
	tests := []struct {
		name                      string
		goroutines, batches, size int
	}{
		{"one write per batch", 16, 50, 1},
		{"batches of 8", 8, 25, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newFake(t, embedded.Config{})
			tok := acquire(t, s, 0, "a", time.Hour).Token
			revs := make([][]uint64, tt.goroutines)
			var wg sync.WaitGroup
			for g := range tt.goroutines {
				wg.Go(func() {
					for i := range tt.batches {
						ws := make([]store.Write, tt.size)
						for j := range ws {
							ws[j] = put("ns", string(rune('a'+g))+"-"+string(rune('a'+j)), `{"i":`+string(rune('0'+i%10))+`}`)
						}
						rs, err := s.Apply(t.Context(), store.Batch{Shard: 0, Token: tok, Now: t0, Writes: ws})
						if err != nil {
							t.Error(err)
							return
						}
						for _, r := range rs {
							if r.Err != nil {
								t.Error(r.Err)
								return
							}
							revs[g] = append(revs[g], r.Object.Version)
						}
					}
				})
			}
			wg.Wait()
			n := uint64(tt.goroutines * tt.batches * tt.size)
			all := slices.Concat(revs...)
			slices.Sort(all)
			for i, r := range all {
				if r != uint64(i+1) {
					t.Fatalf("revisions are not exactly 1..%d: position %d holds %d", n, i, r)
				}
			}
			if uint64(len(all)) != n {
				t.Fatalf("%d revisions, want %d", len(all), n)
			}
			cs, err := s.Changes(t.Context(), 0, 0, int(n)+1)
			if err != nil || uint64(len(cs)) != n {
				t.Fatalf("Changes: %d entries, %v; want %d", len(cs), err, n)
			}
			for i, c := range cs {
				if c.Revision != uint64(i+1) {
					t.Fatalf("change log position %d holds revision %d", i, c.Revision)
				}
			}
		})
	}
}

func TestConcurrentAcquireLease(t *testing.T) {
	const n = 10
	s, _ := newFake(t, embedded.Config{})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.AcquireLease(t.Context(), leaseReq(0, string(rune('a'+i)), time.Minute))
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrLeaseHeld):
			t.Fatalf("AcquireLease: %v, want success or ErrLeaseHeld", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d acquires succeeded, want exactly 1", won)
	}
	if st := leaseState(t, s, 0); st.Token != 1 || !st.Held {
		t.Fatalf("lease state %+v, want held with token 1", st)
	}
}

// TestConcurrentMixed runs every kind of call at once so the race detector
// sees them interleave; it asserts only that nothing fails unexpectedly.
func TestConcurrentMixed(t *testing.T) {
	s, clock := newFake(t, embedded.Config{LogRetention: 64})
	toks := make([]store.Lease, 4)
	for i := range toks {
		toks[i] = acquire(t, s, i, "a", time.Hour)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			shard := g % 4
			tok := toks[shard].Token
			for i := range 100 {
				w := withKey(put("ns", "o", "1"), string(rune('a'+i%7)), "f", time.Second)
				if _, err := s.Apply(t.Context(), store.Batch{Shard: shard, Token: tok, Now: t0, Writes: []store.Write{w, del("ns", "gone")}}); err != nil {
					t.Error(err)
					return
				}
				_, _ = s.Get(t.Context(), shard, "ns", "o")
				_, _, _ = s.List(t.Context(), shard, "ns")
				_, _ = s.Changes(t.Context(), shard, uint64(i), 10)
				_, _ = s.Leases(t.Context(), []int{0, 1, 2, 3})
				_, _ = s.RenewLeases(t.Context(), []store.LeaseRenewal{{Shard: shard, Owner: "a", Token: tok, TTL: time.Hour}})
				_ = s.Heartbeat(t.Context(), store.Member{ID: string(rune('a' + g)), Region: "r"}, time.Second)
				_, _ = s.Members(t.Context())
				_, _ = s.Regions(t.Context())
				if g == 0 {
					clock.Advance(10 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
}
