package client_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/cpgw/cpgw/api"
	"github.com/cpgw/cpgw/client"
)

// versionPeer answers writes with the next shard revision, and reads with
// the minVersion they asked for (1 if none), as a replica that has just
// caught up would.
func versionPeer(t *testing.T) *peer {
	var mu sync.Mutex
	var rev uint64
	return newPeer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		parts := strings.Split(r.URL.Path, "/") // "", v1, namespaces, ns, objects, [name]
		asked, _ := strconv.ParseUint(r.URL.Query().Get(api.QueryMinVersion), 10, 64)
		switch {
		case r.Method == http.MethodGet && len(parts) == 5:
			fmt.Fprintf(w, `{"items":[],"revision":%d}`, max(asked, 1))
		case r.Method == http.MethodGet:
			replyObject(w, http.StatusOK, parts[3], parts[5], max(asked, 1), `{}`)
		case r.Header.Get("If-Match") != "":
			replyError(w, http.StatusPreconditionFailed, api.CodePreconditionFailed, "version mismatch")
		default:
			mu.Lock()
			rev++
			v := rev
			mu.Unlock()
			replyObject(w, http.StatusOK, parts[3], parts[5], v, `{}`)
		}
	})
}

// minVersionOf is the minVersion the peer's last request, a read, sent;
// 0 if none.
func minVersionOf(t *testing.T, p *peer) uint64 {
	t.Helper()
	hits := p.Hits()
	h := hits[len(hits)-1]
	if h.Method != http.MethodGet {
		t.Fatalf("last request is %s", h.Method)
	}
	if !h.Query.Has(api.QueryMinVersion) {
		return 0
	}
	v, err := strconv.ParseUint(h.Query.Get(api.QueryMinVersion), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSessionReadsItsWrites(t *testing.T) {
	p := versionPeer(t)
	c := newClient(t, []string{p.URL}, client.WithSession())
	ctx := context.Background()
	get := func(ns, name string, opts ...client.ReadOption) uint64 {
		t.Helper()
		if _, err := c.Get(ctx, ns, name, opts...); err != nil {
			t.Fatal(err)
		}
		return minVersionOf(t, p)
	}
	list := func(ns string, opts ...client.ReadOption) uint64 {
		t.Helper()
		if _, err := c.List(ctx, ns, opts...); err != nil {
			t.Fatal(err)
		}
		return minVersionOf(t, p)
	}
	put := func(ns, name string, opts ...client.WriteOption) uint64 {
		t.Helper()
		obj, err := c.Put(ctx, ns, name, struct{}{}, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return obj.Version
	}

	if v := get("payments", "limits"); v != 0 {
		t.Errorf("before any write: minVersion %d", v)
	}
	if v := list("payments"); v != 0 {
		t.Errorf("list before any write: minVersion %d", v)
	}

	v1 := put("payments", "limits") // 1
	v2 := put("payments", "fees")   // 2
	put("billing", "plans")         // 3: another namespace
	tests := []struct {
		name string
		got  uint64
		want uint64
	}{
		{"own write", get("payments", "limits"), v1},
		{"another object's write", get("payments", "fees"), v2},
		{"untouched object", get("payments", "other"), 0},
		{"list: highest in namespace", list("payments"), v2},
		{"list of another namespace", list("billing"), 3},
		{"list of an untouched namespace", list("audit"), 0},
		{"caller's lower minVersion loses", get("payments", "fees", client.MinVersion(1)), v2},
		{"caller's higher minVersion wins", get("payments", "fees", client.MinVersion(99)), 99},
		{"list: caller's higher wins", list("payments", client.MinVersion(50)), 50},
		{"strong reads carry it too", get("payments", "limits", client.Consistency(client.Strong)), v1},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: minVersion %d, want %d", tt.name, tt.got, tt.want)
		}
	}

	// A delete is a write: reads must not see the object from before it.
	del, err := c.Delete(ctx, "payments", "limits")
	if err != nil {
		t.Fatal(err)
	}
	if v := get("payments", "limits"); v != del.Version {
		t.Errorf("after delete: minVersion %d, want %d", v, del.Version)
	}

	// A write that failed leaves nothing behind.
	if _, err := c.Put(ctx, "payments", "fresh", struct{}{}, client.IfMatch(1)); err == nil {
		t.Fatal("conditional put succeeded")
	}
	if v := get("payments", "fresh"); v != 0 {
		t.Errorf("after a failed write: minVersion %d", v)
	}
}

func TestWithoutSessionNoMinVersion(t *testing.T) {
	p := versionPeer(t)
	c := newClient(t, []string{p.URL})
	ctx := context.Background()
	if _, err := c.Put(ctx, "ns", "obj", struct{}{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "ns", "obj"); err != nil {
		t.Fatal(err)
	}
	if v := minVersionOf(t, p); v != 0 {
		t.Errorf("minVersion %d sent without a session", v)
	}
}

func TestSessionIsSafeForConcurrentUse(t *testing.T) {
	p := versionPeer(t)
	c := newClient(t, []string{p.URL}, client.WithSession())
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			name := fmt.Sprintf("obj-%d", g)
			for range 20 {
				w, err := c.Put(ctx, "ns", name, struct{}{})
				if err != nil {
					t.Error(err)
					return
				}
				// Only this goroutine writes name, so the floor is
				// exactly its last write; the peer echoes it.
				r, err := c.Get(ctx, "ns", name)
				if err != nil {
					t.Error(err)
					return
				}
				if r.Version != w.Version {
					t.Errorf("%s: read asked for %d after writing %d", name, r.Version, w.Version)
				}
				l, err := c.List(ctx, "ns")
				if err != nil {
					t.Error(err)
					return
				}
				if l.Revision < w.Version {
					t.Errorf("list asked for %d after writing %d", l.Revision, w.Version)
				}
			}
		})
	}
	wg.Wait()
}
