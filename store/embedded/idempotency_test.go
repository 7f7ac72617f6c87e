package embedded_test

import (
	"errors"
	"testing"
	"time"

	"github.com/cpgw/cpgw/store"
	"github.com/cpgw/cpgw/store/embedded"
)

func TestIdempotency(t *testing.T) {
	type want struct {
		err      error
		outcome  store.Outcome
		version  uint64
		replayed bool
	}
	ifAbsent := func(w store.Write) store.Write { w.IfAbsent = true; return w }
	type step struct {
		w       store.Write
		advance time.Duration // before the write
		want    want
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"replay returns the first outcome", []step{
			{w: withKey(put("ns", "a", "1"), "k", "f", 0), want: want{nil, store.Created, 1, false}},
			{w: put("ns", "a", "2"), want: want{nil, store.Updated, 2, false}},
			{w: withKey(put("ns", "a", "1"), "k", "f", 0), want: want{nil, store.Created, 1, true}},
		}},
		{"other fingerprint is refused", []step{
			{w: withKey(put("ns", "a", "1"), "k", "f", 0), want: want{nil, store.Created, 1, false}},
			{w: withKey(put("ns", "a", "2"), "k", "g", 0), want: want{err: store.ErrIdempotencyMismatch}},
			{w: put("ns", "b", "1"), want: want{nil, store.Created, 2, false}}, // the mismatch used no revision
		}},
		{"failed precondition replays", []step{
			{w: put("ns", "a", "1"), want: want{nil, store.Created, 1, false}},
			{w: withKey(ifAbsent(put("ns", "a", "2")), "k", "f", 0), want: want{err: store.ErrPrecondition}},
			{w: del("ns", "a"), want: want{nil, store.Deleted, 2, false}},
			{w: withKey(ifAbsent(put("ns", "a", "2")), "k", "f", 0), want: want{err: store.ErrPrecondition, replayed: true}},
		}},
		{"not found replays", []step{
			{w: withKey(del("ns", "a"), "k", "f", 0), want: want{err: store.ErrNotFound}},
			{w: put("ns", "a", "1"), want: want{nil, store.Created, 1, false}},
			{w: withKey(del("ns", "a"), "k", "f", 0), want: want{err: store.ErrNotFound, replayed: true}},
		}},
		{"keys are scoped to the namespace", []step{
			{w: withKey(put("ns", "a", "1"), "k", "f", 0), want: want{nil, store.Created, 1, false}},
			{w: withKey(put("ns2", "a", "1"), "k", "g", 0), want: want{nil, store.Created, 2, false}},
		}},
		{"replays until the TTL, applies at the TTL", []step{
			{w: withKey(put("ns", "a", "1"), "k", "f", 10*time.Second), want: want{nil, store.Created, 1, false}},
			{advance: 10*time.Second - time.Millisecond, w: withKey(put("ns", "a", "1"), "k", "f", 10*time.Second), want: want{nil, store.Created, 1, true}},
			{advance: time.Millisecond, w: withKey(put("ns", "a", "1"), "k", "f", 10*time.Second), want: want{nil, store.Updated, 2, false}},
			{w: withKey(put("ns", "a", "1"), "k", "g", 0), want: want{err: store.ErrIdempotencyMismatch}},
		}},
		{"default TTL is a day", []step{
			{w: withKey(put("ns", "a", "1"), "k", "f", 0), want: want{nil, store.Created, 1, false}},
			{advance: store.DefaultIdempotencyTTL - time.Millisecond, w: withKey(put("ns", "a", "1"), "k", "g", 0), want: want{err: store.ErrIdempotencyMismatch}},
			{advance: time.Millisecond, w: withKey(put("ns", "a", "1"), "k", "g", 0), want: want{nil, store.Updated, 2, false}},
		}},
		{"sub-millisecond TTL is rounded up like Redis", []step{
			{w: withKey(put("ns", "a", "1"), "k", "f", 2*time.Millisecond+100*time.Microsecond), want: want{nil, store.Created, 1, false}},
			{advance: 3*time.Millisecond - time.Nanosecond, w: withKey(put("ns", "a", "1"), "k", "f", 0), want: want{nil, store.Created, 1, true}},
			{advance: time.Nanosecond, w: withKey(put("ns", "a", "1"), "k", "f", 0), want: want{nil, store.Updated, 2, false}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, clock := newFake(t, embedded.Config{})
			// A lease longer than any advance, so only idempotency expires.
			tok := acquire(t, s, 0, "a", 48*time.Hour).Token
			for i, st := range tt.steps {
				clock.Advance(st.advance)
				r := apply(t, s, 0, tok, st.w)[0]
				w := st.want
				if !errors.Is(r.Err, w.err) || (w.err == nil) != (r.Err == nil) || r.Replayed != w.replayed {
					t.Fatalf("step %d: Err %v Replayed %v, want %v %v", i, r.Err, r.Replayed, w.err, w.replayed)
				}
				if w.err == nil && (r.Outcome != w.outcome || r.Object.Version != w.version) {
					t.Fatalf("step %d: %v v%d, want %v v%d", i, r.Outcome, r.Object.Version, w.outcome, w.version)
				}
			}
		})
	}
}

func TestIdempotencyWithinBatch(t *testing.T) {
	s, _ := newFake(t, embedded.Config{})
	tok := acquire(t, s, 0, "a", time.Hour).Token
	rs := apply(t, s, 0, tok,
		withKey(put("ns", "a", "1"), "k", "f", 0),
		withKey(put("ns", "a", "1"), "k", "f", 0),
		withKey(put("ns", "a", "2"), "k", "g", 0))
	if rs[0].Replayed || !rs[1].Replayed || rs[1].Object.Version != 1 || !errors.Is(rs[2].Err, store.ErrIdempotencyMismatch) {
		t.Fatalf("results = %+v", rs)
	}
}

func TestRefusedBatchRecordsNoKey(t *testing.T) {
	s, _ := newFake(t, embedded.Config{})
	tok := acquire(t, s, 0, "a", time.Hour).Token
	_, err := s.Apply(t.Context(), store.Batch{Shard: 0, Token: tok + 1, Now: t0, Writes: []store.Write{withKey(put("ns", "a", "1"), "k", "f", 0)}})
	if err == nil {
		t.Fatal("stale batch applied")
	}
	if r := apply(t, s, 0, tok, withKey(put("ns", "a", "2"), "k", "g", 0))[0]; r.Err != nil || r.Replayed {
		t.Fatalf("key used by a refused batch is not free: %+v", r)
	}
}
