package embedded_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cpgw/cpgw/store"
	"github.com/cpgw/cpgw/store/embedded"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     embedded.Config
		wantErr bool
	}{
		{"zero config", embedded.Config{}, false},
		{"explicit retention", embedded.Config{LogRetention: 5}, false},
		{"negative retention", embedded.Config{LogRetention: -1}, true},
		{"explicit backlog", embedded.Config{ReplicationBacklog: 3}, false},
		{"negative backlog", embedded.Config{ReplicationBacklog: -1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := embedded.New(tt.cfg)
			if tt.wantErr {
				if err == nil || s != nil {
					t.Fatalf("New(%+v) = %v, %v; want nil and an error", tt.cfg, s, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%+v): %v", tt.cfg, err)
			}
			defer s.Close()
			// The zero Config must give a working store on the real clock.
			l := acquire(t, s, 0, "a", time.Minute)
			rs := apply(t, s, 0, l.Token, put("ns", "obj", `{}`))
			if rs[0].Err != nil || rs[0].Object.Version != 1 {
				t.Fatalf("first put = %+v", rs[0])
			}
		})
	}
}

// methods calls every Store method once, for the tests of what all of them
// must do (closed store, done context).
var methods = []struct {
	name string
	call func(ctx context.Context, s store.Store) error
}{
	{"Apply", func(ctx context.Context, s store.Store) error {
		_, err := s.Apply(ctx, store.Batch{Shard: 0, Token: 1, Now: t0, Writes: []store.Write{put("ns", "a", "{}")}})
		return err
	}},
	{"Get", func(ctx context.Context, s store.Store) error { _, err := s.Get(ctx, 0, "ns", "a"); return err }},
	{"List", func(ctx context.Context, s store.Store) error { _, _, err := s.List(ctx, 0, "ns"); return err }},
	{"Revision", func(ctx context.Context, s store.Store) error { _, err := s.Revision(ctx, 0); return err }},
	{"Changes", func(ctx context.Context, s store.Store) error { _, err := s.Changes(ctx, 0, 0, 10); return err }},
	{"AcquireLease", func(ctx context.Context, s store.Store) error {
		_, err := s.AcquireLease(ctx, leaseReq(0, "a", time.Second))
		return err
	}},
	{"RenewLeases", func(ctx context.Context, s store.Store) error {
		_, err := s.RenewLeases(ctx, []store.LeaseRenewal{{Shard: 0, Owner: "a", Token: 1, TTL: time.Second}})
		return err
	}},
	{"ReleaseLease", func(ctx context.Context, s store.Store) error { return s.ReleaseLease(ctx, 0, "a", 1) }},
	{"Leases", func(ctx context.Context, s store.Store) error { _, err := s.Leases(ctx, []int{0}); return err }},
	{"Heartbeat", func(ctx context.Context, s store.Store) error {
		return s.Heartbeat(ctx, store.Member{ID: "a", Region: "r"}, time.Second)
	}},
	{"Leave", func(ctx context.Context, s store.Store) error { return s.Leave(ctx, "a") }},
	{"Members", func(ctx context.Context, s store.Store) error { _, err := s.Members(ctx); return err }},
	{"Regions", func(ctx context.Context, s store.Store) error { _, err := s.Regions(ctx); return err }},
	{"InitCluster", func(ctx context.Context, s store.Store) error { _, err := s.InitCluster(ctx, 8); return err }},
	{"GetNamespace", func(ctx context.Context, s store.Store) error { _, err := s.GetNamespace(ctx, "ns"); return err }},
	{"PutNamespace", func(ctx context.Context, s store.Store) error {
		_, err := s.PutNamespace(ctx, store.Namespace{Name: "ns"}, 0)
		return err
	}},
	{"Namespaces", func(ctx context.Context, s store.Store) error { _, err := s.Namespaces(ctx); return err }},
	{"SetBeacon", func(ctx context.Context, s store.Store) error { return s.SetBeacon(ctx, "gw", 1, time.Second) }},
	{"Beacon", func(ctx context.Context, s store.Store) error { _, err := s.Beacon(ctx, "gw"); return err }},
}

func TestClosed(t *testing.T) {
	s, _ := newFake(t, embedded.Config{})
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for _, m := range methods {
		t.Run(m.name, func(t *testing.T) {
			if err := m.call(t.Context(), s); !errors.Is(err, embedded.ErrClosed) {
				t.Fatalf("%s after Close = %v, want ErrClosed", m.name, err)
			}
		})
	}
}

func TestContextDone(t *testing.T) {
	s, _ := newFake(t, embedded.Config{})
	acquire(t, s, 0, "a", time.Hour) // so that Apply would otherwise succeed
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, m := range methods {
		t.Run(m.name, func(t *testing.T) {
			if err := m.call(ctx, s); !errors.Is(err, context.Canceled) {
				t.Fatalf("%s with a cancelled context = %v, want context.Canceled", m.name, err)
			}
		})
	}
	if rev, err := s.Revision(t.Context(), 0); err != nil || rev != 0 {
		t.Fatalf("Revision after cancelled calls = %d, %v; want 0", rev, err)
	}
}

func TestInitCluster(t *testing.T) {
	s, _ := newFake(t, embedded.Config{})
	steps := []struct {
		shards  int
		want    int
		wantErr error
	}{
		{0, 0, store.ErrInvalid},
		{-3, 0, store.ErrInvalid},
		{64, 64, nil},
		{16, 64, nil}, // the first count wins
	}
	for _, st := range steps {
		got, err := s.InitCluster(t.Context(), st.shards)
		if !errors.Is(err, st.wantErr) || got != st.want {
			t.Fatalf("InitCluster(%d) = %d, %v; want %d, %v", st.shards, got, err, st.want, st.wantErr)
		}
	}
}
