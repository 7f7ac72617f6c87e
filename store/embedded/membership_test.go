package embedded_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/cpgw/cpgw/store"
	"github.com/cpgw/cpgw/store/embedded"
)

func TestMembership(t *testing.T) {
	const ttl = 5 * time.Second
	a := store.Member{ID: "a", Region: "us-east", Address: "http://a"}
	b := store.Member{ID: "b", Region: "eu-west", Address: "http://b"}
	c := store.Member{ID: "c", Region: "ap-south", Address: "http://c"}
	allRegions := []string{"ap-south", "eu-west", "us-east"}

	type step struct {
		advance     time.Duration
		heartbeats  []store.Member
		leave       string
		wantMembers []store.Member
		wantRegions []string
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"ordered by id", []step{
			{heartbeats: []store.Member{c, a, b}, wantMembers: []store.Member{a, b, c}, wantRegions: allRegions},
		}},
		{"member expires at its TTL, regions stay", []step{
			{heartbeats: []store.Member{a, b, c}, wantMembers: []store.Member{a, b, c}, wantRegions: allRegions},
			{advance: ttl - time.Millisecond, wantMembers: []store.Member{a, b, c}, wantRegions: allRegions},
			{advance: time.Millisecond, wantMembers: []store.Member{}, wantRegions: allRegions},
		}},
		{"heartbeat extends and brings a member back", []step{
			{heartbeats: []store.Member{a, b}, wantMembers: []store.Member{a, b}, wantRegions: []string{"eu-west", "us-east"}},
			{advance: 3 * time.Second, heartbeats: []store.Member{a}, wantMembers: []store.Member{a, b}, wantRegions: []string{"eu-west", "us-east"}},
			{advance: 2 * time.Second, wantMembers: []store.Member{a}, wantRegions: []string{"eu-west", "us-east"}},
			{advance: 3 * time.Second, wantMembers: []store.Member{}, wantRegions: []string{"eu-west", "us-east"}},
			{advance: time.Hour, heartbeats: []store.Member{b}, wantMembers: []store.Member{b}, wantRegions: []string{"eu-west", "us-east"}},
		}},
		{"heartbeat replaces the record", []step{
			{heartbeats: []store.Member{a}, wantMembers: []store.Member{a}, wantRegions: []string{"us-east"}},
			{heartbeats: []store.Member{{ID: "a", Region: "eu-west", Address: "http://a2"}},
				wantMembers: []store.Member{{ID: "a", Region: "eu-west", Address: "http://a2"}}, wantRegions: []string{"eu-west", "us-east"}},
		}},
		{"leave", []step{
			{heartbeats: []store.Member{a, b}, leave: "a", wantMembers: []store.Member{b}, wantRegions: []string{"eu-west", "us-east"}},
			{leave: "a", wantMembers: []store.Member{b}, wantRegions: []string{"eu-west", "us-east"}},
			{leave: "never-joined", wantMembers: []store.Member{b}, wantRegions: []string{"eu-west", "us-east"}},
		}},
		{"empty", []step{
			{wantMembers: []store.Member{}, wantRegions: []string{}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, clock := newFake(t, embedded.Config{})
			for i, st := range tt.steps {
				clock.Advance(st.advance)
				for _, m := range st.heartbeats {
					if err := s.Heartbeat(t.Context(), m, ttl); err != nil {
						t.Fatal(err)
					}
				}
				if st.leave != "" {
					if err := s.Leave(t.Context(), st.leave); err != nil {
						t.Fatal(err)
					}
				}
				ms, err := s.Members(t.Context())
				if err != nil || !reflect.DeepEqual(ms, st.wantMembers) {
					t.Fatalf("step %d: Members = %v, %v; want %v", i, ms, err, st.wantMembers)
				}
				rs, err := s.Regions(t.Context())
				if err != nil || !reflect.DeepEqual(rs, st.wantRegions) {
					t.Fatalf("step %d: Regions = %v, %v; want %v", i, rs, err, st.wantRegions)
				}
			}
		})
	}
}

func TestMembershipInvalid(t *testing.T) {
	s, _ := newFake(t, embedded.Config{})
	tests := []struct {
		name string
		call func() error
	}{
		{"no id", func() error { return s.Heartbeat(t.Context(), store.Member{Region: "r"}, time.Second) }},
		{"no region", func() error { return s.Heartbeat(t.Context(), store.Member{ID: "a"}, time.Second) }},
		{"zero TTL", func() error { return s.Heartbeat(t.Context(), store.Member{ID: "a", Region: "r"}, 0) }},
		{"leave without id", func() error { return s.Leave(t.Context(), "") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}
	if rs, _ := s.Regions(t.Context()); len(rs) != 0 {
		t.Fatalf("invalid heartbeats recorded regions %v", rs)
	}
}
