package devcluster

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cpgw/cpgw/api"
	"github.com/cpgw/cpgw/coordinator"
	"github.com/cpgw/cpgw/gateway"
	"github.com/cpgw/cpgw/shards"
)

// startCluster runs a two-region deployment with short lease TTLs, so owner
// changes happen within a test's patience.
func startCluster(t *testing.T, backend string) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := Start(ctx, Options{
		Regions:    []string{"us-east", "eu-west"},
		Backend:    backend,
		Dir:        t.TempDir(),
		ReplicaLag: 20 * time.Millisecond,
		Logger:     slog.New(slog.DiscardHandler),
		Coordinator: func(cfg *coordinator.Config) {
			shortLeases(cfg)
		},
		Gateway: func(cfg *gateway.Config) {},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) object(t *testing.T) api.Object {
	t.Helper()
	var o api.Object
	if err := json.Unmarshal(r.body, &o); err != nil {
		t.Fatalf("decode object from %d %s: %v", r.status, r.body, err)
	}
	return o
}

func (r response) errCode(t *testing.T) string {
	t.Helper()
	var e api.ErrorBody
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("decode error from %d %s: %v", r.status, r.body, err)
	}
	return e.Error.Code
}

func do(t *testing.T, method, url string, body string, hdr ...string) response {
	t.Helper()
	return doWith(t, &http.Client{Timeout: 20 * time.Second}, method, url, body, hdr...)
}

// doWith sends one request with client; hdr holds header name, value pairs.
func doWith(t *testing.T, client *http.Client, method, url string, body string, hdr ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}
}

func objURL(gw, ns, name string) string {
	return gw + "/v1/namespaces/" + ns + "/objects/" + name
}

// A write in one region is read back strongly in the other, with the owner's
// metadata, and then locally once the replica has it.
func TestE2EWriteHereStrongReadThere(t *testing.T) {
	for _, backend := range []string{Embedded, Redis} {
		t.Run(backend, func(t *testing.T) {
			c := startCluster(t, backend)
			us, _ := c.Region("us-east")
			eu, _ := c.Region("eu-west")
			w := do(t, "PUT", objURL(us.Gateway.URL, "payments", "limits"), `{"max":100}`)
			if w.status != http.StatusCreated {
				t.Fatalf("PUT = %d %s", w.status, w.body)
			}
			wo := w.object(t)
			if w.header.Get("ETag") != `"`+itoa(wo.Metadata.Version)+`"` || w.header.Get(api.HeaderFencingToken) == "" {
				t.Fatalf("write headers: %v", w.header)
			}
			r := do(t, "GET", objURL(eu.Gateway.URL, "payments", "limits")+"?consistency=strong", "")
			if r.status != http.StatusOK || r.header.Get(api.HeaderConsistency) != "strong" {
				t.Fatalf("strong GET = %d %v %s", r.status, r.header, r.body)
			}
			ro := r.object(t)
			if ro.Metadata.Version != wo.Metadata.Version || !jsonEqual(ro.Value, []byte(`{"max":100}`)) {
				t.Fatalf("strong read %+v %s, wrote version %d", ro.Metadata, ro.Value, wo.Metadata.Version)
			}
			if ro.Metadata.Shard != shards.Of("payments", len(shardMap(t, eu.Gateway.URL).Shards)) {
				t.Fatalf("object on shard %d, not the namespace's shard", ro.Metadata.Shard)
			}
			// Read-your-writes through the local replica: minVersion makes a
			// replica that has not caught up defer to the owner.
			l := do(t, "GET", objURL(eu.Gateway.URL, "payments", "limits")+"?minVersion="+itoa(wo.Metadata.Version), "")
			if l.status != http.StatusOK || l.object(t).Metadata.Version < wo.Metadata.Version {
				t.Fatalf("GET minVersion = %d %s", l.status, l.body)
			}
		})
	}
}

// Local reads carry their staleness bound; when the region's replica falls
// behind the caller's maxStaleness, the owner answers instead.
func TestE2ELocalReadBoundAndFallback(t *testing.T) {
	c := startCluster(t, Redis)
	us, _ := c.Region("us-east")
	eu, _ := c.Region("eu-west")
	if w := do(t, "PUT", objURL(us.Gateway.URL, "ns1", "obj"), `{"v":1}`); w.status != http.StatusCreated {
		t.Fatalf("PUT = %d %s", w.status, w.body)
	}
	url := objURL(eu.Gateway.URL, "ns1", "obj") + "?maxStaleness=1s"
	var r response
	eventually(t, 5*time.Second, func() bool {
		r = do(t, "GET", url, "")
		return r.status == http.StatusOK && r.header.Get(api.HeaderConsistency) == "local"
	})
	ms, err := time.ParseDuration(r.header.Get(api.HeaderStalenessMs) + "ms")
	if err != nil || ms > time.Second {
		t.Fatalf("local read: X-Staleness-Ms %q beyond the 1s bound asked for", r.header.Get(api.HeaderStalenessMs))
	}
	if sb := r.header.Get(api.HeaderServedBy); !strings.HasPrefix(sb, "eu-west/") {
		t.Fatalf("X-Served-By %q, want the eu-west gateway", sb)
	}

	// Freeze eu-west's replica: its bound grows past 1s and the owner serves.
	rb := c.backend.(*redisBackend)
	replica := rb.servers[1]
	if err := replica.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer replica.Signal(syscall.SIGCONT)
	time.Sleep(1500 * time.Millisecond)
	r = do(t, "GET", url, "")
	if r.status != http.StatusOK || r.header.Get(api.HeaderConsistency) != "strong" {
		t.Fatalf("read past the bound = %d %v %s, want strong from the owner", r.status, r.header, r.body)
	}
	replica.Signal(syscall.SIGCONT)
	eventually(t, 10*time.Second, func() bool {
		return do(t, "GET", url, "").header.Get(api.HeaderConsistency) == "local"
	})
}

// A repeated idempotency key returns the first response, even after the
// shard's owner changed; the same key with another body is refused.
func TestE2EIdempotencyAcrossOwnerChange(t *testing.T) {
	c := startCluster(t, Redis)
	us, _ := c.Region("us-east")
	url := objURL(us.Gateway.URL, "orders", "o-1")
	first := do(t, "PUT", url, `{"amount":5}`, api.HeaderIdempotencyKey, "key-1")
	if first.status != http.StatusCreated {
		t.Fatalf("first PUT = %d %s", first.status, first.body)
	}
	owner := ownerOf(t, us.Gateway.URL, "orders")
	if err := c.StopCoordinator(owner); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() bool {
		o := ownerOf(t, us.Gateway.URL, "orders")
		return o != "" && o != owner
	})
	again := do(t, "PUT", url, `{"amount":5}`, api.HeaderIdempotencyKey, "key-1")
	if again.status != first.status || again.header.Get(api.HeaderIdempotentReplayed) != "true" {
		t.Fatalf("replay = %d replayed=%q, want %d replayed", again.status, again.header.Get(api.HeaderIdempotentReplayed), first.status)
	}
	if a, b := again.object(t).Metadata, first.object(t).Metadata; a.Version != b.Version || a.FencingToken != b.FencingToken {
		t.Fatalf("replay metadata %+v, first %+v", a, b)
	}
	if other := do(t, "PUT", url, `{"amount":6}`, api.HeaderIdempotencyKey, "key-1"); other.status != http.StatusUnprocessableEntity {
		t.Fatalf("same key, other body = %d %s, want 422", other.status, other.body)
	}
	// The replay changed nothing: still version 1's value.
	r := do(t, "GET", url+"?consistency=strong", "")
	if !jsonEqual(r.object(t).Value, []byte(`{"amount":5}`)) || r.object(t).Metadata.Version != first.object(t).Metadata.Version {
		t.Fatalf("after replays: %s", r.body)
	}
}

// A coordinator that does not own a shard answers 421 naming the owner.
func TestE2EMisdirected(t *testing.T) {
	c := startCluster(t, Embedded)
	us, _ := c.Region("us-east")
	m := shardMap(t, us.Gateway.URL)
	shard := shards.Of("ns1", len(m.Shards))
	owner := m.Shards[shard].Owner
	var other *Node
	for _, r := range c.Regions() {
		for _, n := range r.Coordinators {
			if n.ID != owner {
				other = n
			}
		}
	}
	r := do(t, "PUT", other.URL+api.InternalObjectPath(shard, "ns1", "obj"), `{"v":1}`)
	if r.status != http.StatusMisdirectedRequest || r.errCode(t) != api.CodeMisdirected {
		t.Fatalf("non-owner PUT = %d %s", r.status, r.body)
	}
	var e api.ErrorBody
	json.Unmarshal(r.body, &e)
	if e.Owner == nil || e.Owner.ID != owner {
		t.Fatalf("421 names owner %+v, want %s", e.Owner, owner)
	}
	// Nothing was written by the refused request.
	if g := do(t, "GET", objURL(us.Gateway.URL, "ns1", "obj")+"?consistency=strong", ""); g.status != http.StatusNotFound {
		t.Fatalf("GET after refused write = %d %s", g.status, g.body)
	}
}

// The owner stops; the gateway finds the new owner and a write succeeds.
func TestE2EOwnerStoppedWriteSucceeds(t *testing.T) {
	c := startCluster(t, Redis)
	us, _ := c.Region("us-east")
	url := objURL(us.Gateway.URL, "ns2", "obj")
	if w := do(t, "PUT", url, `{"v":1}`); w.status != http.StatusCreated {
		t.Fatalf("PUT = %d %s", w.status, w.body)
	}
	owner := ownerOf(t, us.Gateway.URL, "ns2")
	stopped := make(chan error, 1)
	go func() { stopped <- c.StopCoordinator(owner) }()
	// Writes keep going while the owner hands off; each must succeed (the
	// gateway retries the ones that reach a stopping or former owner).
	for i := 2; i <= 20; i++ {
		w := do(t, "PUT", url, `{"v":`+itoa(uint64(i))+`}`, api.HeaderIdempotencyKey, "w-"+itoa(uint64(i)))
		if w.status != http.StatusOK {
			t.Fatalf("write %d during handoff = %d %s", i, w.status, w.body)
		}
	}
	if err := <-stopped; err != nil {
		t.Fatalf("stop owner: %v", err)
	}
	if o := ownerOf(t, us.Gateway.URL, "ns2"); o == owner {
		t.Fatalf("stopped coordinator %s still owns the shard", owner)
	}
	w := do(t, "PUT", url, `{"v":"last"}`)
	if w.status != http.StatusOK {
		t.Fatalf("write after handoff = %d %s", w.status, w.body)
	}
}

func shardMap(t *testing.T, gw string) api.ShardMap {
	t.Helper()
	r := do(t, "GET", gw+api.RouteShards, "")
	var m api.ShardMap
	if err := json.Unmarshal(r.body, &m); err != nil || r.status != http.StatusOK {
		t.Fatalf("GET /v1/shards = %d %s", r.status, r.body)
	}
	return m
}

func ownerOf(t *testing.T, gw, ns string) string {
	t.Helper()
	m := shardMap(t, gw)
	return m.Shards[shards.Of(ns, len(m.Shards))].Owner
}

func eventually(t *testing.T, limit time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not reached within %v", limit)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

func itoa(v uint64) string { return strconvU(v) }
