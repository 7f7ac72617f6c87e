package storetest

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/cpgw/cpgw/store"
)

var beaconCases = []testCase{
	{"Absent", testBeaconAbsent},
	{"SetThenGet", testBeaconSetThenGet},
	{"Overwrite", testBeaconOverwrite},
	{"IDsIndependent", testBeaconIDsIndependent},
	{"Expires", testBeaconExpires},
	{"OverwriteExtends", testBeaconOverwriteExtends},
	{"Invalid", testBeaconInvalid},
}

func setBeacon(t *testing.T, s store.Store, id string, seq uint64, ttl time.Duration) {
	t.Helper()
	if err := s.SetBeacon(t.Context(), id, seq, ttl); err != nil {
		t.Fatalf("SetBeacon(%q, %d, %s): %v", id, seq, ttl, err)
	}
}

func requireBeacon(t *testing.T, s store.Store, id string, want uint64) {
	t.Helper()
	got, err := s.Beacon(t.Context(), id)
	if err != nil || got != want {
		t.Fatalf("Beacon(%q) = %d, %v; want %d", id, got, err, want)
	}
}

func requireNoBeacon(t *testing.T, s store.Store, id string) {
	t.Helper()
	got, err := s.Beacon(t.Context(), id)
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Beacon(%q) = %d, %v; want ErrNotFound", id, got, err)
	}
}

func testBeaconAbsent(t *testing.T, s store.Store) {
	requireNoBeacon(t, s, "gw-1")
}

func testBeaconSetThenGet(t *testing.T, s store.Store) {
	// Ids are opaque: separators and hash-tag braces are fine.
	for id, seq := range map[string]uint64{
		"gw-1":               1,
		"us-east/gw:{s3}:7":  42,
		"gw zero":            0,
		"gw-max":             math.MaxUint64,
		"gw-beyond-float-53": 1<<53 + 1,
	} {
		setBeacon(t, s, id, seq, longTTL)
		requireBeacon(t, s, id, seq)
	}
}

// testBeaconOverwrite: a beacon holds the last sequence written, even a
// smaller one; the store does not interpret it.
func testBeaconOverwrite(t *testing.T, s store.Store) {
	for _, seq := range []uint64{1, 2, 10, 3} {
		setBeacon(t, s, "gw", seq, longTTL)
		requireBeacon(t, s, "gw", seq)
	}
}

func testBeaconIDsIndependent(t *testing.T, s store.Store) {
	setBeacon(t, s, "a", 1, longTTL)
	setBeacon(t, s, "b", 2, longTTL)
	setBeacon(t, s, "a", 3, longTTL)
	requireBeacon(t, s, "a", 3)
	requireBeacon(t, s, "b", 2)
	requireNoBeacon(t, s, "ab")
}

func testBeaconExpires(t *testing.T, s store.Store) {
	setBeacon(t, s, "gone", 1, shortTTL)
	setBeacon(t, s, "stays", 2, longTTL)
	time.Sleep(expiryWait)
	requireNoBeacon(t, s, "gone")
	requireBeacon(t, s, "stays", 2)
}

// testBeaconOverwriteExtends: each write replaces the previous TTL.
func testBeaconOverwriteExtends(t *testing.T, s store.Store) {
	setBeacon(t, s, "gw", 1, shortTTL)
	setBeacon(t, s, "gw", 2, longTTL)
	time.Sleep(expiryWait)
	requireBeacon(t, s, "gw", 2)
	setBeacon(t, s, "gw", 3, shortTTL) // and a shorter one shortens it
	time.Sleep(expiryWait)
	requireNoBeacon(t, s, "gw")
}

func testBeaconInvalid(t *testing.T, s store.Store) {
	cases := []struct {
		name string
		id   string
		ttl  time.Duration
	}{
		{"empty id", "", longTTL},
		{"zero TTL", "gw", 0},
		{"TTL below 1ms", "gw", 999 * time.Microsecond},
		{"negative TTL", "gw", -time.Second},
	}
	for _, c := range cases {
		requireInvalid(t, "SetBeacon with "+c.name, s.SetBeacon(t.Context(), c.id, 1, c.ttl))
	}
	requireNoBeacon(t, s, "gw")
	_, err := s.Beacon(t.Context(), "")
	requireInvalid(t, "Beacon with an empty id", err)
	// 1ms is the smallest valid TTL.
	if err := s.SetBeacon(t.Context(), "gw", 1, time.Millisecond); err != nil {
		t.Fatalf("SetBeacon with a 1ms TTL: %v", err)
	}
}
