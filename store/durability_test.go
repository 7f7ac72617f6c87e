package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/cpgw/cpgw/fencing"
	"github.com/cpgw/cpgw/store"
)

func TestDurabilityResolve(t *testing.T) {
	const to = 100 * time.Millisecond
	majority := func(floor int) store.Durability {
		return store.Durability{Majority: true, Replicas: floor, Timeout: to}
	}
	cases := []struct {
		name     string
		d        store.Durability
		attached int
		want     int
	}{
		{"0 attached", majority(0), 0, 0},
		{"1 attached", majority(0), 1, 1},
		{"2 attached", majority(0), 2, 1},
		{"3 attached", majority(0), 3, 2},
		{"4 attached", majority(0), 4, 2},
		{"5 attached", majority(0), 5, 3},
		{"negative count is none", majority(0), -3, 0},
		{"floor above majority", majority(2), 1, 2},
		{"floor with none attached", majority(1), 0, 1},
		{"majority above floor", majority(1), 4, 2},
		{"capped", majority(0), 100, store.MaxReplicas},
		{"floor at max", majority(store.MaxReplicas), 3, store.MaxReplicas},
		{"fixed count unchanged", store.Durability{Replicas: 3, Timeout: to}, 0, 3},
		{"zero unchanged", store.Durability{}, 5, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.d.Resolve(c.attached)
			want := store.Durability{Replicas: c.want, Timeout: c.d.Timeout}
			if got != want {
				t.Fatalf("%+v.Resolve(%d) = %+v, want %+v", c.d, c.attached, got, want)
			}
			if err := got.Validate(); err != nil {
				t.Fatalf("resolved %+v invalid: %v", got, err)
			}
		})
	}
}

func TestDurabilityValidate(t *testing.T) {
	cases := []struct {
		name string
		d    store.Durability
		ok   bool
	}{
		{"none", store.Durability{}, true},
		{"count", store.Durability{Replicas: 2, Timeout: time.Second}, true},
		{"majority", store.Durability{Majority: true, Timeout: time.Millisecond}, true},
		{"majority with floor", store.Durability{Majority: true, Replicas: store.MaxReplicas, Timeout: time.Second}, true},
		{"majority without timeout", store.Durability{Majority: true}, false},
		{"majority floor too high", store.Durability{Majority: true, Replicas: store.MaxReplicas + 1, Timeout: time.Second}, false},
		{"majority negative floor", store.Durability{Majority: true, Replicas: -1, Timeout: time.Second}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.d.Validate()
			if c.ok != (err == nil) || (err != nil && !errors.Is(err, store.ErrInvalid)) {
				t.Fatalf("Validate(%+v) = %v, want ok %v", c.d, err, c.ok)
			}
			ns := store.Namespace{Name: "ns", Durability: c.d}
			if err := ns.Validate(); c.ok != (err == nil) {
				t.Fatalf("Namespace.Validate with %+v = %v, want ok %v", c.d, err, c.ok)
			}
		})
	}
}

// TestUnresolvedMajorityRefused: what a store waits for must be a count.
func TestUnresolvedMajorityRefused(t *testing.T) {
	m := store.Durability{Majority: true, Replicas: 1, Timeout: time.Second}
	cases := []struct {
		name string
		err  error
	}{
		{"batch", store.Batch{Shard: 0, Token: fencing.Token(1), Now: time.Now(), Durability: m,
			Writes: []store.Write{{Op: store.OpPut, Namespace: "ns", Name: "a", Value: []byte(`{}`)}}}.Validate()},
		{"lease request", store.LeaseRequest{Owner: "a", TTL: time.Second, Durability: m}.Validate()},
		{"renewal", store.LeaseRenewal{Owner: "a", Token: 1, TTL: time.Second, Durability: m}.Validate()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !errors.Is(c.err, store.ErrInvalid) {
				t.Fatalf("Validate = %v, want ErrInvalid", c.err)
			}
		})
	}
}
