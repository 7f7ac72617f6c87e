package shards

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cpgw/cpgw/fencing"
	"github.com/cpgw/cpgw/store"
	"github.com/cpgw/cpgw/store/embedded"
)

func TestEntryMarshalJSON(t *testing.T) {
	tests := []struct {
		name  string
		entry Entry
		want  string
	}{
		{"held", Entry{Shard: 12, Owner: "coord-1", Region: "eu-west", Address: "https://10.0.0.7:7443", FencingToken: 3, LeaseRemaining: 4321*time.Millisecond + 999*time.Microsecond},
			`{"shard":12,"owner":"coord-1","region":"eu-west","address":"https://10.0.0.7:7443","fencingToken":3,"leaseRemainingMs":4321}`},
		{"not held", Entry{Shard: 5, FencingToken: 9},
			`{"shard":5,"owner":"","region":"","address":"","fencingToken":9,"leaseRemainingMs":0}`},
		{"never granted", Entry{},
			`{"shard":0,"owner":"","region":"","address":"","fencingToken":0,"leaseRemainingMs":0}`},
		{"negative remaining clamps", Entry{Shard: 1, Owner: "c", FencingToken: 1, LeaseRemaining: -time.Second},
			`{"shard":1,"owner":"c","region":"","address":"","fencingToken":1,"leaseRemainingMs":0}`},
		{"escaping", Entry{Shard: 2, Owner: `a"b<c>`, FencingToken: 1 << 40, LeaseRemaining: time.Hour},
			`{"shard":2,"owner":"a\"b\u003cc\u003e","region":"","address":"","fencingToken":1099511627776,"leaseRemainingMs":3600000}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := json.Marshal(tc.entry)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	t.Run("in a slice and by pointer", func(t *testing.T) {
		e := Entry{Shard: 1, FencingToken: 2}
		got, err := json.Marshal(struct {
			Shards []Entry `json:"shards"`
			One    *Entry  `json:"one"`
		}{[]Entry{e}, &e})
		if err != nil {
			t.Fatal(err)
		}
		const one = `{"shard":1,"owner":"","region":"","address":"","fencingToken":2,"leaseRemainingMs":0}`
		if want := `{"shards":[` + one + `],"one":` + one + `}`; string(got) != want {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	})
}

// leasesFunc is an in-memory LeaseReader.
type leasesFunc func(ctx context.Context, shards []int) ([]store.LeaseState, error)

func (f leasesFunc) Leases(ctx context.Context, shards []int) ([]store.LeaseState, error) {
	return f(ctx, shards)
}

// table answers with the given states, unheld for every other shard, and
// counts calls.
func table(calls *int, held map[int]store.LeaseState) leasesFunc {
	return func(_ context.Context, shards []int) ([]store.LeaseState, error) {
		*calls++
		out := make([]store.LeaseState, len(shards))
		for i, s := range shards {
			if st, ok := held[s]; ok {
				out[i] = st
			} else {
				out[i] = store.LeaseState{Shard: s, Token: fencing.Token(s % 3)}
			}
		}
		return out, nil
	}
}

func heldState(shard int, owner, region string, token fencing.Token, left time.Duration) store.LeaseState {
	return store.LeaseState{
		Shard: shard, Held: true, Token: token, Remaining: left,
		Lease: store.Lease{Shard: shard, Owner: owner, Region: region, Address: "https://" + owner, Token: token, TTL: 10 * time.Second},
	}
}

func TestLoad(t *testing.T) {
	ctx := context.Background()
	l := mustLayout(t, 64, "ap-south", "eu-west", "us-east")
	held := map[int]store.LeaseState{}
	for s := range 64 {
		if s%4 != 0 {
			held[s] = heldState(s, "coord-"+l.HomeRegion(s), l.HomeRegion(s), fencing.Token(s+1), time.Duration(s)*time.Second)
		}
	}
	calls := 0
	m, err := Load(ctx, table(&calls, held), l)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Errorf("Load made %d Leases calls, want 1", calls)
	}

	t.Run("entries", func(t *testing.T) {
		for s := range 64 {
			e, ok := m.Entry(s)
			if !ok || e.Shard != s {
				t.Fatalf("Entry(%d) = %+v, %v", s, e, ok)
			}
			if s%4 == 0 {
				if want := (Entry{Shard: s, FencingToken: fencing.Token(s % 3)}); e != want {
					t.Errorf("unheld Entry(%d) = %+v, want %+v", s, e, want)
				}
				continue
			}
			h := l.HomeRegion(s)
			want := Entry{Shard: s, Owner: "coord-" + h, Region: h, Address: "https://coord-" + h,
				FencingToken: fencing.Token(s + 1), LeaseRemaining: time.Duration(s) * time.Second}
			if e != want {
				t.Errorf("Entry(%d) = %+v, want %+v", s, e, want)
			}
		}
		for _, s := range []int{-1, 64} {
			if _, ok := m.Entry(s); ok {
				t.Errorf("Entry(%d) reported present", s)
			}
		}
		es := m.Entries()
		if len(es) != 64 || es[7] != must(m.Entry(7)) {
			t.Fatalf("Entries() = %d entries", len(es))
		}
		es[7].Owner = "mutated"
		if must(m.Entry(7)).Owner == "mutated" {
			t.Error("Entries() shares the map's storage")
		}
	})

	t.Run("lookup", func(t *testing.T) {
		for _, ns := range []string{"payments", "billing", "orders", "a", ""} {
			if got, want := m.Lookup(ns, ""), must(m.Entry(Of(ns, 64))); got != want {
				t.Errorf("Lookup(%s, \"\") = %+v, want shard %d", ns, got, want.Shard)
			}
			for _, r := range append(slices.Clone(l.Regions), "mars") {
				got := m.Lookup(ns, r)
				if want := l.ShardFor(ns, r); got.Shard != want {
					t.Errorf("Lookup(%s, %s) = shard %d, ShardFor gives %d", ns, r, got.Shard, want)
				}
			}
		}
		var zero Map
		if got := zero.Lookup("payments", ""); got != (Entry{}) {
			t.Errorf("zero Map Lookup = %+v", got)
		}
	})

	t.Run("layout is a copy", func(t *testing.T) {
		regions := []string{"b", "a"}
		lay := Layout{Shards: 4, Regions: regions}
		m, err := Load(ctx, table(new(int), nil), lay)
		if err != nil {
			t.Fatal(err)
		}
		regions[0] = "zzz"
		got := m.Layout()
		if got.Shards != 4 || !slices.Equal(got.Regions, []string{"b", "a"}) {
			t.Errorf("Layout() = %+v after the caller changed its slice", got)
		}
		got.Regions[0] = "yyy"
		if m.Layout().Regions[0] != "b" {
			t.Error("Layout() shares the map's storage")
		}
	})
}

func must[T any](v T, ok bool) T {
	if !ok {
		panic("not ok")
	}
	return v
}

func TestLoadErrors(t *testing.T) {
	ctx := context.Background()
	l := mustLayout(t, 8, "eu-west")
	boom := errors.New("boom")
	tests := []struct {
		name    string
		layout  Layout
		reader  leasesFunc
		wantErr string
		wantIs  error
	}{
		{"reader fails", l, func(context.Context, []int) ([]store.LeaseState, error) { return nil, boom }, "boom", boom},
		{"short answer", l, func(_ context.Context, s []int) ([]store.LeaseState, error) {
			return make([]store.LeaseState, len(s)-1), nil
		}, "asked for 8 leases, got 7", nil},
		{"answer out of order", l, func(_ context.Context, s []int) ([]store.LeaseState, error) {
			out := make([]store.LeaseState, len(s))
			for i := range out {
				out[i].Shard = len(s) - 1 - i
			}
			return out, nil
		}, "lease 0 is for shard 7", nil},
		{"invalid layout", Layout{}, func(context.Context, []int) ([]store.LeaseState, error) {
			t.Error("Leases called for an invalid layout")
			return nil, nil
		}, "out of range", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(ctx, tc.reader, tc.layout)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.wantIs)
			}
		})
	}
}

// Load against the in-process store: held, expired and never-granted leases.
func TestLoadEmbedded(t *testing.T) {
	ctx := context.Background()
	clock := clockwork.NewFakeClock()
	st, err := embedded.New(embedded.Config{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	acquire := func(shard int, owner string, ttl time.Duration) store.Lease {
		t.Helper()
		lease, err := st.AcquireLease(ctx, store.LeaseRequest{Shard: shard, Owner: owner, Region: "eu-west", Address: "https://" + owner, TTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		return lease
	}
	acquire(2, "c1", time.Second) // will expire
	clock.Advance(2 * time.Second)
	second := acquire(2, "c2", 10*time.Second) // token 2
	first := acquire(5, "c1", 10*time.Second)  // token 1
	acquire(6, "c3", time.Second)              // will expire, token stays 1
	clock.Advance(4 * time.Second)

	l := mustLayout(t, 8, "eu-west", "us-east")
	m, err := Load(ctx, st, l)
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{
		{Shard: 0}, {Shard: 1},
		{Shard: 2, Owner: "c2", Region: "eu-west", Address: "https://c2", FencingToken: second.Token, LeaseRemaining: 6 * time.Second},
		{Shard: 3}, {Shard: 4},
		{Shard: 5, Owner: "c1", Region: "eu-west", Address: "https://c1", FencingToken: first.Token, LeaseRemaining: 6 * time.Second},
		{Shard: 6, FencingToken: 1},
		{Shard: 7},
	}
	if second.Token != 2 || first.Token != 1 {
		t.Fatalf("tokens %d, %d; want 2, 1", second.Token, first.Token)
	}
	if got := m.Entries(); !slices.Equal(got, want) {
		t.Errorf("entries:\n got %+v\nwant %+v", got, want)
	}
	b, err := json.Marshal(must(m.Entry(2)))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"shard":2,"owner":"c2","region":"eu-west","address":"https://c2","fencingToken":2,"leaseRemainingMs":6000}`; string(b) != want {
		t.Errorf("JSON %s, want %s", b, want)
	}
}
