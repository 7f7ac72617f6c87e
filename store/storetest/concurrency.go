package storetest

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/cpgw/cpgw/fencing"
	"github.com/cpgw/cpgw/store"
)

var concurrencyCases = []testCase{
	{"ParallelWrites", testParallelWrites},
	{"AcquireRace", testAcquireRace},
	{"ConditionalRace", testConditionalRace},
	{"IdempotencyRace", testIdempotencyRace},
	{"HandoverFencesInFlightWriters", testHandoverFencesWriters},
}

// parallel runs f(0..n-1) on n goroutines released together.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			f(i)
		}()
	}
	close(start)
	wg.Wait()
}

// testParallelWrites: concurrent batches are serialised per shard: every
// write gets its own revision, with no gaps and no duplicates.
func testParallelWrites(t *testing.T, s store.Store) {
	const workers, perWorker = 8, 50
	tok := own(t, s, 0)
	versions := make([][]uint64, workers)
	parallel(workers, func(g int) {
		for i := 0; i < perWorker; i++ {
			rs, err := s.Apply(t.Context(), batch(0, tok, put("ns", fmt.Sprintf("w%d-%d", g, i), `{}`)))
			if err != nil || len(rs) != 1 || rs[0].Err != nil || rs[0].Outcome != store.Created {
				t.Errorf("worker %d write %d: %+v, %v", g, i, rs, err)
				return
			}
			versions[g] = append(versions[g], rs[0].Object.Version)
		}
	})
	if t.Failed() {
		return
	}
	var all []uint64
	for _, vs := range versions {
		all = append(all, vs...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	for i, v := range all {
		if v != uint64(i+1) {
			t.Fatalf("sorted versions[%d] = %d, want %d: revisions must be exactly 1..%d", i, v, i+1, workers*perWorker)
		}
	}
	requireRevision(t, s, 0, workers*perWorker)
	cs := changes(t, s, 0, 0, allChanges)
	if len(cs) != workers*perWorker {
		t.Fatalf("change log has %d entries, want %d", len(cs), workers*perWorker)
	}
	for i, c := range cs {
		if c.Revision != uint64(i+1) {
			t.Fatalf("change %d has revision %d", i, c.Revision)
		}
	}
	objs, _, err := s.List(t.Context(), 0, "ns")
	if err != nil || len(objs) != workers*perWorker {
		t.Fatalf("List = %d objects, %v; want %d", len(objs), err, workers*perWorker)
	}
}

func testAcquireRace(t *testing.T, s store.Store) {
	const n = 10
	leases := make([]store.Lease, n)
	errs := make([]error, n)
	parallel(n, func(i int) {
		leases[i], errs[i] = s.AcquireLease(t.Context(), leaseReq(0, fmt.Sprintf("racer-%d", i), longTTL))
	})
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("racers %d and %d both acquired (tokens %d, %d)", winner, i, leases[winner].Token, leases[i].Token)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrLeaseHeld):
			t.Fatalf("racer %d: %v, want ErrLeaseHeld", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no racer acquired the lease")
	}
	if leases[winner].Token != 1 {
		t.Fatalf("winner's token = %d, want 1", leases[winner].Token)
	}
	requireHeldBy(t, s, 0, leases[winner].Owner, 1)
}

// testConditionalRace: of many writers presenting the same expected version
// (or create-only on the same name), exactly one applies.
func testConditionalRace(t *testing.T, s store.Store) {
	const n = 10
	tok := own(t, s, 0)
	base := mustPut(t, s, 0, tok, "ns", "obj", `{}`)
	for _, c := range []struct {
		name  string
		write func(i int) store.Write
	}{
		{"IfVersion", func(i int) store.Write { return ifVersion(put("ns", "obj", fmt.Sprintf(`{"by":%d}`, i)), base.Version) }},
		{"IfAbsent", func(i int) store.Write { return ifAbsent(put("ns", "fresh", fmt.Sprintf(`{"by":%d}`, i))) }},
	} {
		results := make([]store.Result, n)
		errs := make([]error, n)
		parallel(n, func(i int) {
			var rs []store.Result
			rs, errs[i] = s.Apply(t.Context(), batch(0, tok, c.write(i)))
			if len(rs) == 1 {
				results[i] = rs[0]
			}
		})
		winners := 0
		for i, r := range results {
			if errs[i] != nil {
				t.Fatalf("%s racer %d: %v", c.name, i, errs[i])
			}
			if r.Err == nil {
				winners++
			} else if !errors.Is(r.Err, store.ErrPrecondition) {
				t.Fatalf("%s racer %d: %v, want ErrPrecondition", c.name, i, r.Err)
			}
		}
		if winners != 1 {
			t.Fatalf("%s: %d writers applied, want exactly 1", c.name, winners)
		}
	}
	requireRevision(t, s, 0, base.Version+2)
}

// testIdempotencyRace: concurrent repeats of one keyed request have one effect.
func testIdempotencyRace(t *testing.T, s store.Store) {
	const n = 10
	tok := own(t, s, 0)
	results := make([]store.Result, n)
	parallel(n, func(i int) {
		rs, err := s.Apply(t.Context(), batch(0, tok, withKey(put("ns", "obj", `{}`), "race", "fp")))
		if err != nil || len(rs) != 1 {
			t.Errorf("racer %d: %v, %v", i, rs, err)
			return
		}
		results[i] = rs[0]
	})
	if t.Failed() {
		return
	}
	fresh := 0
	for i, r := range results {
		if r.Err != nil || r.Outcome != store.Created || r.Object.Version != 1 {
			t.Fatalf("racer %d: %+v; want Created at version 1 (applied or replayed)", i, r)
		}
		if !r.Replayed {
			fresh++
		}
	}
	if fresh != 1 {
		t.Fatalf("%d racers applied the write, want 1 (the rest replay it)", fresh)
	}
	requireRevision(t, s, 0, 1)
}

// testHandoverFencesWriters: writers keep using the old owner's token while
// the lease moves. Once the new owner has written, nothing under the old
// token may follow it in the log.
func testHandoverFencesWriters(t *testing.T, s store.Store) {
	const writers = 4
	a := own(t, s, 0)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				_, err := s.Apply(t.Context(), batch(0, a, put("ns", fmt.Sprintf("old-%d-%d", g, i), `{}`)))
				if err != nil && !errors.Is(err, fencing.ErrStale) {
					t.Errorf("old owner's writer: %v, want nil or fencing.ErrStale", err)
					return
				}
			}
		}()
	}
	// Let the old owner's writes get going, then hand over.
	for revision(t, s, 0) < 20 && !t.Failed() {
	}
	release(t, s, 0, ownerA, a)
	b := acquire(t, s, 0, ownerB, longTTL).Token
	marker := mustPut(t, s, 0, b, "ns", "marker", `{}`)
	for revision(t, s, 0) < marker.Version+20 {
		mustPut(t, s, 0, b, "ns", "new", `{}`)
	}
	close(stop)
	wg.Wait()
	for _, c := range changes(t, s, 0, 0, allChanges) {
		if c.Revision > marker.Version && c.Token != b {
			t.Fatalf("change %+v under token %d came after the new owner's write at revision %d", c, c.Token, marker.Version)
		}
	}
}
