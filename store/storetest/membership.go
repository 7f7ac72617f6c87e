package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/cpgw/cpgw/store"
)

var membershipCases = []testCase{
	{"Empty", testMembershipEmpty},
	{"HeartbeatThenMembers", testHeartbeatThenMembers},
	{"OrderedByID", testMembersOrderedByID},
	{"LeaveRemovesAtOnce", testLeave},
	{"HeartbeatExpires", testHeartbeatExpires},
	{"HeartbeatExtends", testHeartbeatExtends},
	{"HeartbeatUpdatesRecord", testHeartbeatUpdatesRecord},
	{"RegionsRemembered", testRegionsRemembered},
}

var clusterCases = []testCase{
	{"FirstCountWins", testInitClusterFirstWins},
	{"InvalidCount", testInitClusterInvalid},
	{"BoundStoreServes", testBoundStoreServes},
}

func member(id, region string) store.Member {
	return store.Member{ID: id, Region: region, Address: "http://" + id + ".test:7000"}
}

func heartbeat(t *testing.T, s store.Store, m store.Member, ttl time.Duration) {
	t.Helper()
	if err := s.Heartbeat(t.Context(), m, ttl); err != nil {
		t.Fatalf("Heartbeat(%+v): %v", m, err)
	}
}

func requireMembers(t *testing.T, s store.Store, want ...store.Member) {
	t.Helper()
	got, err := s.Members(t.Context())
	if err != nil {
		t.Fatalf("Members: %v", err)
	}
	if len(got) != 0 || len(want) != 0 {
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Members = %+v, want %+v", got, want)
		}
	}
}

func requireRegions(t *testing.T, s store.Store, want ...string) {
	t.Helper()
	got, err := s.Regions(t.Context())
	if err != nil {
		t.Fatalf("Regions: %v", err)
	}
	if len(got) != 0 || len(want) != 0 {
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Regions = %q, want %q", got, want)
		}
	}
}

func testMembershipEmpty(t *testing.T, s store.Store) {
	requireMembers(t, s)
	requireRegions(t, s)
}

func testHeartbeatThenMembers(t *testing.T, s store.Store) {
	m := member("coord-1", "us-east")
	heartbeat(t, s, m, longTTL)
	requireMembers(t, s, m)
	requireRegions(t, s, "us-east")
}

func testMembersOrderedByID(t *testing.T, s store.Store) {
	c, a, b := member("c", "r1"), member("a", "r2"), member("b", "r1")
	for _, m := range []store.Member{c, a, b} {
		heartbeat(t, s, m, longTTL)
	}
	requireMembers(t, s, a, b, c)
}

func testLeave(t *testing.T, s store.Store) {
	a, b := member("a", "r1"), member("b", "r1")
	heartbeat(t, s, a, longTTL)
	heartbeat(t, s, b, longTTL)
	if err := s.Leave(t.Context(), "a"); err != nil {
		t.Fatal(err)
	}
	requireMembers(t, s, b)
}

func testHeartbeatExpires(t *testing.T, s store.Store) {
	gone, stays := member("gone", "r1"), member("stays", "r1")
	heartbeat(t, s, gone, shortTTL)
	heartbeat(t, s, stays, longTTL)
	time.Sleep(expiryWait)
	requireMembers(t, s, stays)
}

// testHeartbeatExtends: a second heartbeat replaces the first one's TTL.
func testHeartbeatExtends(t *testing.T, s store.Store) {
	m := member("m", "r1")
	heartbeat(t, s, m, shortTTL)
	heartbeat(t, s, m, longTTL)
	time.Sleep(expiryWait)
	requireMembers(t, s, m)
}

func testHeartbeatUpdatesRecord(t *testing.T, s store.Store) {
	m := member("m", "us-east")
	heartbeat(t, s, m, longTTL)
	m.Address = "http://moved.test:7001"
	heartbeat(t, s, m, longTTL)
	requireMembers(t, s, m)
	m.Region = "eu-west"
	heartbeat(t, s, m, longTTL)
	requireMembers(t, s, m)
	requireRegions(t, s, "eu-west", "us-east")
}

func testRegionsRemembered(t *testing.T, s store.Store) {
	heartbeat(t, s, member("a", "us-east"), longTTL)
	heartbeat(t, s, member("b", "eu-west"), shortTTL)
	heartbeat(t, s, member("c", "ap-south"), longTTL)
	heartbeat(t, s, member("d", "us-east"), longTTL)
	if err := s.Leave(t.Context(), "c"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(expiryWait)
	requireMembers(t, s, member("a", "us-east"), member("d", "us-east"))
	requireRegions(t, s, "ap-south", "eu-west", "us-east")
}

func testInitClusterFirstWins(t *testing.T, s store.Store) {
	for _, c := range []struct{ ask, want int }{{64, 64}, {32, 64}, {64, 64}, {128, 64}} {
		got, err := s.InitCluster(t.Context(), c.ask)
		if err != nil || got != c.want {
			t.Fatalf("InitCluster(%d) = %d, %v; want %d", c.ask, got, err, c.want)
		}
	}
}

func testInitClusterInvalid(t *testing.T, s store.Store) {
	for _, n := range []int{0, -1} {
		if _, err := s.InitCluster(t.Context(), n); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("InitCluster(%d) = %v, want ErrInvalid", n, err)
		}
	}
	// The refused calls recorded nothing: the first valid count still wins.
	if got, err := s.InitCluster(t.Context(), 16); err != nil || got != 16 {
		t.Fatalf("InitCluster(16) after refused calls = %d, %v; want 16", got, err)
	}
}
