package coordinator

import (
	"context"
	"strings"
	"testing"

	"github.com/cpgw/cpgw/api"
	"github.com/cpgw/cpgw/shards"
	"github.com/cpgw/cpgw/store"
)

func TestFingerprint(t *testing.T) {
	base := fingerprint("PUT", "ns", "name", 0, false, []byte(`{}`))
	if base != fingerprint("PUT", "ns", "name", 0, false, []byte(`{}`)) {
		t.Fatal("fingerprint not deterministic")
	}
	if len(base) != 64 {
		t.Errorf("fingerprint %q is not hex SHA-256", base)
	}
	others := map[string]string{
		"method":         fingerprint("DELETE", "ns", "name", 0, false, []byte(`{}`)),
		"namespace":      fingerprint("PUT", "ns2", "name", 0, false, []byte(`{}`)),
		"name":           fingerprint("PUT", "ns", "name2", 0, false, []byte(`{}`)),
		"if-match":       fingerprint("PUT", "ns", "name", 3, false, []byte(`{}`)),
		"if-none-match":  fingerprint("PUT", "ns", "name", 0, true, []byte(`{}`)),
		"body":           fingerprint("PUT", "ns", "name", 0, false, []byte(`{"a":1}`)),
		"shifted fields": fingerprint("PUT", "nsn", "ame", 0, false, []byte(`{}`)),
	}
	for what, fp := range others {
		if fp == base {
			t.Errorf("a different %s gives the same fingerprint", what)
		}
	}
}

// fixedNamespaces is a namespace store with fixed contents.
type fixedNamespaces []store.Namespace

func (f fixedNamespaces) GetNamespace(_ context.Context, name string) (store.Namespace, error) {
	for _, ns := range f {
		if ns.Name == name {
			return ns, nil
		}
	}
	return store.Namespace{}, store.ErrNotFound
}

func (f fixedNamespaces) Namespaces(context.Context) ([]store.Namespace, error) { return f, nil }

func TestNSCacheKeepsNewestSettings(t *testing.T) {
	// The store still returns version 1: a reload that began before this
	// coordinator stored version 2.
	c := newNSCache(fixedNamespaces{{Name: "pinned", HomeRegion: "eu", Shard: 3, Version: 1}})
	ctx := context.Background()
	if got, want := c.shardOf("free", 8), shards.Of("free", 8); got != want {
		t.Errorf("unset namespace on shard %d, want %d", got, want)
	}
	if err := c.sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := c.shardOf("pinned", 8); got != 3 {
		t.Errorf("pinned on %d, want 3", got)
	}
	c.put(store.Namespace{Name: "pinned", Shard: 5, Version: 2})
	if err := c.sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := c.shardOf("pinned", 8); got != 5 {
		t.Errorf("a stale reload moved pinned back to shard %d", got)
	}
}

// TestJSONObject: a write's body must be one JSON object; it is stored
// compacted.
func TestJSONObject(t *testing.T) {
	for _, tc := range []struct {
		name, body, want, wantErr string
	}{
		{"compacted", " {\"a\" : [1, 2],\n \"b\": {}} ", `{"a":[1,2],"b":{}}`, ""},
		{"empty", " \n", "", "empty"},
		{"not JSON", `{"a":}`, "", "not valid JSON"},
		{"two values", `{} {}`, "", "not valid JSON"},
		{"an array", `[1]`, "", "must be a JSON object"},
		{"a string", `"x"`, "", "must be a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, e := jsonObject([]byte(tc.body))
			switch {
			case tc.wantErr == "" && e != nil:
				t.Fatalf("error %v", e.msg)
			case tc.wantErr != "" && (e == nil || !strings.Contains(e.msg, tc.wantErr) || e.code != api.CodeInvalidBody):
				t.Fatalf("got %q, %+v; want a %s error containing %q", got, e, api.CodeInvalidBody, tc.wantErr)
			case tc.wantErr == "" && string(got) != tc.want:
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}
