package embedded_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cpgw/cpgw/fencing"
	"github.com/cpgw/cpgw/store"
	"github.com/cpgw/cpgw/store/embedded"
)

func TestApplyWrites(t *testing.T) {
	at := t0.Truncate(time.Millisecond)
	ifVersion := func(w store.Write, v uint64) store.Write { w.IfVersion = v; return w }
	ifAbsent := func(w store.Write) store.Write { w.IfAbsent = true; return w }
	type want struct {
		err     error
		outcome store.Outcome
		version uint64
		value   string
	}
	tests := []struct {
		name  string
		setup []store.Write // applied first, one batch
		batch []store.Write
		want  []want
		rev   uint64 // shard revision afterwards
	}{
		{"create", nil, []store.Write{put("ns", "a", "1")},
			[]want{{nil, store.Created, 1, "1"}}, 1},
		{"update", []store.Write{put("ns", "a", "1")}, []store.Write{put("ns", "a", "2")},
			[]want{{nil, store.Updated, 2, "2"}}, 2},
		{"create-only on existing", []store.Write{put("ns", "a", "1")}, []store.Write{ifAbsent(put("ns", "a", "2"))},
			[]want{{err: store.ErrPrecondition}}, 1},
		{"create-only on absent", nil, []store.Write{ifAbsent(put("ns", "a", "1"))},
			[]want{{nil, store.Created, 1, "1"}}, 1},
		{"if-version match", []store.Write{put("ns", "a", "1")}, []store.Write{ifVersion(put("ns", "a", "2"), 1)},
			[]want{{nil, store.Updated, 2, "2"}}, 2},
		{"if-version mismatch", []store.Write{put("ns", "a", "1")}, []store.Write{ifVersion(put("ns", "a", "2"), 7)},
			[]want{{err: store.ErrPrecondition}}, 1},
		{"if-version on absent", nil, []store.Write{ifVersion(put("ns", "a", "2"), 1)},
			[]want{{err: store.ErrNotFound}}, 0},
		{"delete", []store.Write{put("ns", "a", "1")}, []store.Write{del("ns", "a")},
			[]want{{nil, store.Deleted, 2, ""}}, 2},
		{"delete absent", nil, []store.Write{del("ns", "a")},
			[]want{{err: store.ErrNotFound}}, 0},
		{"delete if-version mismatch", []store.Write{put("ns", "a", "1")}, []store.Write{ifVersion(del("ns", "a"), 9)},
			[]want{{err: store.ErrPrecondition}}, 1},
		{"re-create after delete keeps growing", []store.Write{put("ns", "a", "1"), del("ns", "a")},
			[]store.Write{put("ns", "a", "3")},
			[]want{{nil, store.Created, 3, "3"}}, 3},
		{"writes of a batch fail on their own", nil,
			[]store.Write{put("ns", "a", "1"), ifAbsent(put("ns", "a", "x")), put("ns", "b", "2"), del("ns", "zz")},
			[]want{{nil, store.Created, 1, "1"}, {err: store.ErrPrecondition}, {nil, store.Created, 2, "2"}, {err: store.ErrNotFound}}, 2},
		{"later write sees earlier write of its batch", nil,
			[]store.Write{put("ns", "a", "1"), ifVersion(put("ns", "a", "2"), 1)},
			[]want{{nil, store.Created, 1, "1"}, {nil, store.Updated, 2, "2"}}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newFake(t, embedded.Config{})
			tok := acquire(t, s, 3, "a", time.Hour).Token
			if len(tt.setup) > 0 {
				apply(t, s, 3, tok, tt.setup...)
			}
			rs := apply(t, s, 3, tok, tt.batch...)
			for i, w := range tt.want {
				r := rs[i]
				if !errors.Is(r.Err, w.err) || (w.err == nil) != (r.Err == nil) {
					t.Fatalf("write %d: Err = %v, want %v", i, r.Err, w.err)
				}
				if r.Replayed {
					t.Fatalf("write %d: Replayed without an idempotency key", i)
				}
				if w.err != nil {
					continue
				}
				o := r.Object
				if r.Outcome != w.outcome || o.Version != w.version || string(o.Value) != w.value {
					t.Fatalf("write %d = %v v%d %q, want %v v%d %q", i, r.Outcome, o.Version, o.Value, w.outcome, w.version, w.value)
				}
				if o.Shard != 3 || o.Token != tok || !o.UpdatedAt.Equal(at) || o.Namespace != "ns" {
					t.Fatalf("write %d metadata = %+v, want shard 3, token %d, at %v", i, o, tok, at)
				}
			}
			if rev, _ := s.Revision(t.Context(), 3); rev != tt.rev {
				t.Fatalf("Revision = %d, want %d", rev, tt.rev)
			}
		})
	}
}

func TestApplyFencing(t *testing.T) {
	const ttl = 10 * time.Second
	tests := []struct {
		name string
		// prepare returns the token to write with and the StaleError expected.
		prepare func(t *testing.T, s *embedded.Store, clock *clockwork.FakeClock) (fencing.Token, fencing.StaleError)
	}{
		{"never acquired", func(t *testing.T, s *embedded.Store, _ *clockwork.FakeClock) (fencing.Token, fencing.StaleError) {
			return 1, fencing.StaleError{Shard: 1, Presented: 1, Current: 0, LeaseHeld: false}
		}},
		{"wrong token", func(t *testing.T, s *embedded.Store, _ *clockwork.FakeClock) (fencing.Token, fencing.StaleError) {
			acquire(t, s, 1, "a", ttl)
			return 5, fencing.StaleError{Shard: 1, Presented: 5, Current: 1, LeaseHeld: true}
		}},
		{"expired lease", func(t *testing.T, s *embedded.Store, c *clockwork.FakeClock) (fencing.Token, fencing.StaleError) {
			tok := acquire(t, s, 1, "a", ttl).Token
			c.Advance(ttl)
			return tok, fencing.StaleError{Shard: 1, Presented: 1, Current: 1, LeaseHeld: false}
		}},
		{"released lease", func(t *testing.T, s *embedded.Store, _ *clockwork.FakeClock) (fencing.Token, fencing.StaleError) {
			tok := acquire(t, s, 1, "a", ttl).Token
			if err := s.ReleaseLease(t.Context(), 1, "a", tok); err != nil {
				t.Fatal(err)
			}
			return tok, fencing.StaleError{Shard: 1, Presented: 1, Current: 1, LeaseHeld: false}
		}},
		{"former owner after a new acquire", func(t *testing.T, s *embedded.Store, c *clockwork.FakeClock) (fencing.Token, fencing.StaleError) {
			old := acquire(t, s, 1, "a", ttl).Token
			c.Advance(ttl)
			acquire(t, s, 1, "b", ttl)
			return old, fencing.StaleError{Shard: 1, Presented: 1, Current: 2, LeaseHeld: true}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, clock := newFake(t, embedded.Config{})
			tok, want := tt.prepare(t, s, clock)
			_, err := s.Apply(t.Context(), store.Batch{Shard: 1, Token: tok, Now: t0, Writes: []store.Write{
				put("ns", "a", "1"),
				withKey(put("ns", "b", "1"), "k", "f", 0),
			}})
			var se *fencing.StaleError
			if !errors.As(err, &se) || *se != want {
				t.Fatalf("Apply = %v, want %+v", err, want)
			}
			rev, _ := s.Revision(t.Context(), 1)
			cs, _ := s.Changes(t.Context(), 1, 0, 100)
			objs, _, _ := s.List(t.Context(), 1, "ns")
			if rev != 0 || len(cs) != 0 || len(objs) != 0 {
				t.Fatalf("refused batch changed the shard: rev %d, changes %v, objects %v", rev, cs, objs)
			}
		})
	}
}

func TestApplyInvalid(t *testing.T) {
	s, _ := newFake(t, embedded.Config{})
	tok := acquire(t, s, 0, "a", time.Hour).Token
	tests := []struct {
		name string
		b    store.Batch
	}{
		{"negative shard", store.Batch{Shard: -1, Token: tok, Writes: []store.Write{put("ns", "a", "1")}}},
		{"zero token", store.Batch{Shard: 0, Writes: []store.Write{put("ns", "a", "1")}}},
		{"empty", store.Batch{Shard: 0, Token: tok}},
		{"one bad write", store.Batch{Shard: 0, Token: tok, Writes: []store.Write{put("ns", "a", "1"), put("ns", "", "1")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Apply(t.Context(), tt.b); !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("Apply = %v, want ErrInvalid", err)
			}
			if rev, _ := s.Revision(t.Context(), 0); rev != 0 {
				t.Fatalf("Revision = %d after an invalid batch", rev)
			}
		})
	}
}

func TestReadsInvalid(t *testing.T) {
	s, _ := newFake(t, embedded.Config{})
	tests := []struct {
		name string
		call func() error
	}{
		{"Get negative shard", func() error { _, err := s.Get(t.Context(), -1, "ns", "a"); return err }},
		{"Get empty name", func() error { _, err := s.Get(t.Context(), 0, "ns", ""); return err }},
		{"List empty namespace", func() error { _, _, err := s.List(t.Context(), 0, ""); return err }},
		{"Revision negative shard", func() error { _, err := s.Revision(t.Context(), -1); return err }},
		{"Changes zero limit", func() error { _, err := s.Changes(t.Context(), 0, 0, 0); return err }},
		{"Changes negative shard", func() error { _, err := s.Changes(t.Context(), -2, 0, 1); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}
}

func TestGetAndList(t *testing.T) {
	s, _ := newFake(t, embedded.Config{})
	tok := acquire(t, s, 2, "a", time.Hour).Token
	apply(t, s, 2, tok, put("ns", "c", "3"), put("ns", "a", "1"), put("other", "x", "9"), put("ns", "b", "2"), del("ns", "c"))

	if _, err := s.Get(t.Context(), 2, "ns", "c"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get deleted = %v, want ErrNotFound", err)
	}
	if _, err := s.Get(t.Context(), 1, "ns", "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get on another shard = %v, want ErrNotFound", err)
	}
	o, err := s.Get(t.Context(), 2, "ns", "b")
	if err != nil || o.Version != 4 || string(o.Value) != "2" {
		t.Fatalf("Get b = %+v, %v", o, err)
	}
	objs, rev, err := s.List(t.Context(), 2, "ns")
	if err != nil || rev != 5 {
		t.Fatalf("List = rev %d, %v; want rev 5", rev, err)
	}
	var names []string
	for _, o := range objs {
		names = append(names, o.Name)
	}
	if !reflect.DeepEqual(names, []string{"a", "b"}) {
		t.Fatalf("List names = %v, want [a b]", names)
	}
	if objs, rev, err := s.List(t.Context(), 9, "ns"); err != nil || rev != 0 || len(objs) != 0 {
		t.Fatalf("List of an untouched shard = %v, %d, %v", objs, rev, err)
	}
}

func TestChanges(t *testing.T) {
	revs := func(cs []store.Change) []uint64 {
		out := []uint64{}
		for _, c := range cs {
			out = append(out, c.Revision)
		}
		return out
	}
	tests := []struct {
		name      string
		retention int
		after     uint64
		limit     int
		want      []uint64
	}{
		{"all", 0, 0, 100, []uint64{1, 2, 3, 4, 5}},
		{"after", 0, 2, 100, []uint64{3, 4, 5}},
		{"limit", 0, 1, 2, []uint64{2, 3}},
		{"huge limit", 0, 0, int(^uint(0) >> 1), []uint64{1, 2, 3, 4, 5}},
		{"after the end", 0, 5, 100, []uint64{}},
		{"far after the end", 0, 1 << 63, 100, []uint64{}},
		{"retention drops the oldest", 3, 0, 100, []uint64{3, 4, 5}},
		{"retention, after inside", 3, 3, 100, []uint64{4, 5}},
		{"retention of one", 1, 0, 100, []uint64{5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newFake(t, embedded.Config{LogRetention: tt.retention})
			tok := acquire(t, s, 0, "a", time.Hour).Token
			for _, w := range []store.Write{put("ns", "a", "1"), put("ns", "b", "1"), del("ns", "a"), put("ns", "a", "2"), put("ns", "b", "2")} {
				apply(t, s, 0, tok, w)
			}
			cs, err := s.Changes(t.Context(), 0, tt.after, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if got := revs(cs); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Changes(after %d, limit %d) revisions = %v, want %v", tt.after, tt.limit, got, tt.want)
			}
		})
	}

	t.Run("entries", func(t *testing.T) {
		s, _ := newFake(t, embedded.Config{})
		tok := acquire(t, s, 0, "a", time.Hour).Token
		apply(t, s, 0, tok, put("ns", "a", "1"), del("ns", "a"))
		cs, _ := s.Changes(t.Context(), 0, 0, 10)
		want := []store.Change{
			{Revision: 1, Op: store.OpPut, Namespace: "ns", Name: "a", Token: tok},
			{Revision: 2, Op: store.OpDelete, Namespace: "ns", Name: "a", Token: tok},
		}
		if !reflect.DeepEqual(cs, want) {
			t.Fatalf("Changes = %+v, want %+v", cs, want)
		}
	})
}

func TestReturnedValuesAreCopies(t *testing.T) {
	s, _ := newFake(t, embedded.Config{})
	tok := acquire(t, s, 0, "a", time.Hour).Token
	in := []byte(`"orig"`)
	w := withKey(store.Write{Op: store.OpPut, Namespace: "ns", Name: "a", Value: in}, "k", "f", 0)
	rs := apply(t, s, 0, tok, w)
	scribble := func(b []byte) {
		for i := range b {
			b[i] = 'X'
		}
	}
	scribble(in)
	scribble(rs[0].Object.Value)

	tests := []struct {
		name string
		get  func() []byte
	}{
		{"Get", func() []byte {
			o, err := s.Get(t.Context(), 0, "ns", "a")
			if err != nil {
				t.Fatal(err)
			}
			return o.Value
		}},
		{"List", func() []byte {
			objs, _, err := s.List(t.Context(), 0, "ns")
			if err != nil || len(objs) != 1 {
				t.Fatal(objs, err)
			}
			return objs[0].Value
		}},
		{"idempotent replay", func() []byte {
			// A replay takes its value from the request (the fingerprint
			// says it is the same request), and must not hand that slice back.
			req := []byte(`"orig"`)
			r := apply(t, s, 0, tok, withKey(store.Write{Op: store.OpPut, Namespace: "ns", Name: "a", Value: req}, "k", "f", 0))[0]
			if !r.Replayed {
				t.Fatalf("not replayed: %+v", r)
			}
			scribble(r.Object.Value)
			if string(req) != `"orig"` {
				t.Fatalf("scribbling on the replayed value changed the request to %q", req)
			}
			return []byte(`"orig"`)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Each read sees the original value and may scribble on it
			// without the next read noticing.
			got := tt.get()
			if string(got) != `"orig"` {
				t.Fatalf("value = %q, want %q", got, `"orig"`)
			}
			scribble(got)
		})
	}
}

func TestLeasesAndMembersAreCopies(t *testing.T) {
	s, _ := newFake(t, embedded.Config{})
	acquire(t, s, 0, "a", time.Hour)
	ls, _ := s.Leases(t.Context(), []int{0})
	ls[0].Lease.Owner = "mallory"
	if got := leaseState(t, s, 0); got.Lease.Owner != "a" {
		t.Fatalf("lease owner = %q after mutating a returned state", got.Lease.Owner)
	}
	if err := s.Heartbeat(t.Context(), store.Member{ID: "m", Region: "r"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	ms, _ := s.Members(t.Context())
	ms[0].Region = "x"
	rs, _ := s.Regions(t.Context())
	rs[0] = "x"
	ms, _ = s.Members(t.Context())
	rs, _ = s.Regions(t.Context())
	if ms[0].Region != "r" || rs[0] != "r" {
		t.Fatalf("members %v, regions %v after mutating returned slices", ms, rs)
	}
}
