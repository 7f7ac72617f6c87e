package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cpgw/cpgw/store"
)

var namespaceCases = []testCase{
	{"Absent", testNamespaceAbsent},
	{"CreateThenGet", testNamespaceCreate},
	{"CreateOnlyOnce", testNamespaceCreateOnlyOnce},
	{"Update", testNamespaceUpdate},
	{"VersionMismatch", testNamespaceMismatch},
	{"VersionArgumentIgnored", testNamespaceVersionIgnored},
	{"SettingsStoredAsGiven", testNamespaceStoredAsGiven},
	{"OrderedByName", testNamespacesOrdered},
	{"Invalid", testNamespaceInvalid},
	{"CompareAndSetRace", testNamespaceRace},
}

func getNamespace(t *testing.T, s store.Store, name string) store.Namespace {
	t.Helper()
	ns, err := s.GetNamespace(t.Context(), name)
	if err != nil {
		t.Fatalf("GetNamespace(%s): %v", name, err)
	}
	return ns
}

func putNamespace(t *testing.T, s store.Store, ns store.Namespace, ifVersion uint64) store.Namespace {
	t.Helper()
	got, err := s.PutNamespace(t.Context(), ns, ifVersion)
	if err != nil {
		t.Fatalf("PutNamespace(%+v, if %d): %v", ns, ifVersion, err)
	}
	return got
}

func requireNamespace(t *testing.T, what string, got, want store.Namespace) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %+v, want %+v", what, got, want)
	}
}

func requireNamespaceAbsent(t *testing.T, s store.Store, name string) {
	t.Helper()
	ns, err := s.GetNamespace(t.Context(), name)
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetNamespace(%s) = %+v, %v; want ErrNotFound", name, ns, err)
	}
}

func requireNamespaces(t *testing.T, s store.Store, want ...store.Namespace) {
	t.Helper()
	got, err := s.Namespaces(t.Context())
	if err != nil {
		t.Fatalf("Namespaces: %v", err)
	}
	if len(got) != 0 || len(want) != 0 {
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Namespaces = %+v, want %+v", got, want)
		}
	}
}

func testNamespaceAbsent(t *testing.T, s store.Store) {
	requireNamespaceAbsent(t, s, "payments")
	requireNamespaces(t, s)
	// Objects in a namespace are not settings.
	mustPut(t, s, 0, own(t, s, 0), "payments", "obj", `{}`)
	requireNamespaceAbsent(t, s, "payments")
	requireNamespaces(t, s)
}

func testNamespaceCreate(t *testing.T, s store.Store) {
	want := store.Namespace{Name: "payments", HomeRegion: "eu-west", Shard: 12, Version: 1}
	got := putNamespace(t, s, store.Namespace{Name: "payments", HomeRegion: "eu-west", Shard: 12}, 0)
	requireNamespace(t, "PutNamespace result", got, want)
	requireNamespace(t, "GetNamespace after create", getNamespace(t, s, "payments"), want)
	requireNamespaces(t, s, want)
	requireNamespaceAbsent(t, s, "payment") // a prefix is another namespace
}

// testNamespaceCreateOnlyOnce: ifVersion 0 means "only if none are stored".
func testNamespaceCreateOnlyOnce(t *testing.T, s store.Store) {
	first := putNamespace(t, s, store.Namespace{Name: "ns", HomeRegion: "us-east", Shard: 1}, 0)
	_, err := s.PutNamespace(t.Context(), store.Namespace{Name: "ns", HomeRegion: "eu-west", Shard: 2}, 0)
	if !errors.Is(err, store.ErrPrecondition) {
		t.Fatalf("second create-only PutNamespace = %v, want ErrPrecondition", err)
	}
	requireNamespace(t, "GetNamespace after refused create", getNamespace(t, s, "ns"), first)
}

func testNamespaceUpdate(t *testing.T, s store.Store) {
	putNamespace(t, s, store.Namespace{Name: "ns", HomeRegion: "us-east", Shard: 1}, 0)
	steps := []store.Namespace{
		{Name: "ns", HomeRegion: "eu-west", Shard: 1},
		{Name: "ns", Shard: 7}, // unpinned, moved
		{Name: "ns", HomeRegion: "ap-south", Shard: 0},
	}
	for i, ns := range steps {
		want := ns
		want.Version = uint64(i + 2)
		got := putNamespace(t, s, ns, uint64(i+1))
		requireNamespace(t, fmt.Sprintf("update %d", i+1), got, want)
		requireNamespace(t, fmt.Sprintf("GetNamespace after update %d", i+1), getNamespace(t, s, "ns"), want)
	}
}

// testNamespaceMismatch: any ifVersion other than the stored version is
// refused with ErrPrecondition and changes nothing. On a namespace with no
// settings a non-zero ifVersion is ErrPrecondition too (not ErrNotFound as
// for objects): the contract's only error for a CAS mismatch.
func testNamespaceMismatch(t *testing.T, s store.Store) {
	putNamespace(t, s, store.Namespace{Name: "ns", HomeRegion: "us-east", Shard: 1}, 0)
	stored := putNamespace(t, s, store.Namespace{Name: "ns", HomeRegion: "eu-west", Shard: 2}, 1) // version 2
	cases := []struct {
		name      string
		ns        string
		ifVersion uint64
	}{
		{"older version", "ns", 1},
		{"newer version", "ns", 3},
		{"far future version", "ns", 1 << 60},
		{"create-only over existing", "ns", 0},
		{"update of absent settings", "absent", 1},
	}
	for _, c := range cases {
		_, err := s.PutNamespace(t.Context(), store.Namespace{Name: c.ns, HomeRegion: "ap-south", Shard: 9}, c.ifVersion)
		if !errors.Is(err, store.ErrPrecondition) {
			t.Fatalf("PutNamespace(%s, if %d) (%s) = %v, want ErrPrecondition", c.ns, c.ifVersion, c.name, err)
		}
	}
	requireNamespaces(t, s, stored)
}

// testNamespaceVersionIgnored: the Version of the settings passed in plays
// no part; ifVersion alone is compared, and the result is ifVersion+1.
func testNamespaceVersionIgnored(t *testing.T, s store.Store) {
	got := putNamespace(t, s, store.Namespace{Name: "ns", Shard: 1, Version: 42}, 0)
	if got.Version != 1 {
		t.Fatalf("create with Version 42 stored version %d, want 1", got.Version)
	}
	got = putNamespace(t, s, store.Namespace{Name: "ns", Shard: 1, Version: 7}, 1)
	if got.Version != 2 || getNamespace(t, s, "ns").Version != 2 {
		t.Fatalf("update stored version %d, want 2", got.Version)
	}
}

// testNamespaceStoredAsGiven: the store does not interpret HomeRegion, so
// any string comes back byte for byte, and shard numbers of any size.
func testNamespaceStoredAsGiven(t *testing.T, s store.Store) {
	cases := []store.Namespace{
		{Name: "quotes", HomeRegion: `eu "west" \ 1`, Shard: 0},
		{Name: "spaces", HomeRegion: " us east ", Shard: 1},
		{Name: "unicode", HomeRegion: "région-é-東京", Shard: 1 << 20},
		{Name: "json-like", HomeRegion: `{"shard":3}`, Shard: 5},
		{Name: "unpinned", HomeRegion: "", Shard: 63},
	}
	for _, ns := range cases {
		want := ns
		want.Version = 1
		requireNamespace(t, "PutNamespace "+ns.Name, putNamespace(t, s, ns, 0), want)
		requireNamespace(t, "GetNamespace "+ns.Name, getNamespace(t, s, ns.Name), want)
	}
}

func testNamespacesOrdered(t *testing.T, s store.Store) {
	// Byte order, not insertion, length or numeric order.
	names := []string{"b", "a.b", "a", "a-b", "aa", "z9", "z10", "0"}
	byName := map[string]store.Namespace{}
	for i, n := range names {
		byName[n] = putNamespace(t, s, store.Namespace{Name: n, HomeRegion: "r" + n, Shard: i}, 0)
	}
	// A second version of one of them: listed once, at its latest version.
	byName["aa"] = putNamespace(t, s, store.Namespace{Name: "aa", Shard: 99}, 1)
	var want []store.Namespace
	for _, n := range []string{"0", "a", "a-b", "a.b", "aa", "b", "z10", "z9"} {
		want = append(want, byName[n])
	}
	requireNamespaces(t, s, want...)
}

func testNamespaceInvalid(t *testing.T, s store.Store) {
	bad := []struct {
		name string
		ns   store.Namespace
	}{
		{"empty name", store.Namespace{Shard: 1}},
		{"upper-case name", store.Namespace{Name: "Payments", Shard: 1}},
		{"name with a colon", store.Namespace{Name: "a:b", Shard: 1}},
		{"name with a brace", store.Namespace{Name: "{cluster}", Shard: 1}},
		{"name of 254 characters", store.Namespace{Name: strings.Repeat("a", 254), Shard: 1}},
		{"negative shard", store.Namespace{Name: "ns", Shard: -1}},
	}
	for _, c := range bad {
		for _, ifVersion := range []uint64{0, 1} {
			_, err := s.PutNamespace(t.Context(), c.ns, ifVersion)
			requireInvalid(t, fmt.Sprintf("PutNamespace with %s (if %d)", c.name, ifVersion), err)
		}
	}
	requireNamespaces(t, s)
	for _, name := range []string{"", "Payments", "a:b", "ns."} {
		_, err := s.GetNamespace(t.Context(), name)
		requireInvalid(t, fmt.Sprintf("GetNamespace(%q)", name), err)
	}
	// The refused "ns" left nothing behind: creating it still works.
	if got := putNamespace(t, s, store.Namespace{Name: "ns", Shard: 1}, 0); got.Version != 1 {
		t.Fatalf("create after refused puts got version %d, want 1", got.Version)
	}
}

// testNamespaceRace: of many writers presenting the same version, exactly
// one wins; the others get ErrPrecondition.
func testNamespaceRace(t *testing.T, s store.Store) {
	const n = 10
	for _, ifVersion := range []uint64{0, 1} {
		var won atomic.Int32
		winner := make([]store.Namespace, n)
		parallel(n, func(i int) {
			got, err := s.PutNamespace(t.Context(), store.Namespace{Name: "ns", HomeRegion: fmt.Sprintf("r%d", i), Shard: i}, ifVersion)
			switch {
			case err == nil:
				won.Add(1)
				winner[i] = got
			case !errors.Is(err, store.ErrPrecondition):
				t.Errorf("racer %d: %v, want nil or ErrPrecondition", i, err)
			}
		})
		if won.Load() != 1 {
			t.Fatalf("if %d: %d racers won, want exactly 1", ifVersion, won.Load())
		}
		for _, w := range winner {
			if w.Version != 0 {
				requireNamespace(t, "GetNamespace after the race", getNamespace(t, s, "ns"), w)
			}
		}
	}
}
