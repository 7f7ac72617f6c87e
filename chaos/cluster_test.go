package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cpgw/cpgw/api"
)

// TestCluster starts a real deployment, checks it serves, kills the owner
// of a namespace and checks the cluster recovers within the lease TTL plus
// slack, then injects latency and a blackhole on the new owner's link.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	const ttl = 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// CHAOS_CLUSTER_DIR keeps the processes' logs for a post-mortem.
	dir := os.Getenv("CHAOS_CLUSTER_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	begin := time.Now()
	c, err := Start(ctx, Options{Dir: dir, LeaseTTL: ttl, Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, co := range c.Coordinators() {
				t.Logf("log of %s:\n%s", co.ID, co.Proc.LogTail(15))
			}
			for _, r := range c.Regions() {
				if p := c.GatewayProc(r); p != nil {
					t.Logf("log of %s gateway:\n%s", r, p.LogTail(15))
				}
			}
		}
		stopped := time.Now()
		c.Stop()
		t.Logf("stopped in %v", time.Since(stopped).Round(time.Millisecond))
	})
	t.Logf("cluster started in %v", time.Since(begin).Round(time.Millisecond))
	gws := c.Gateways()
	nodes := c.RedisNodes()
	if len(gws) != 2 || len(c.Coordinators()) != 4 || len(nodes) != 3 || len(c.Replicas()) != 2 ||
		c.PrimaryNode() != nodes[0] || c.ReplicaNode("us-east") != nodes[1] || c.ReplicaNode("eu-west") != nodes[2] ||
		c.ReplicaLink("eu-west") != nodes[2].Replication {
		t.Fatalf("cluster shape: gateways %v, %d coordinators, %d redis nodes, %d replicas", gws, len(c.Coordinators()), len(nodes), len(c.Replicas()))
	}
	for _, co := range c.Coordinators() {
		if len(co.Back) != len(nodes) {
			t.Fatalf("%s has %d back links, want one per node (%d)", co.ID, len(co.Back), len(nodes))
		}
		for i, l := range co.Back {
			if l.Upstream() != nodes[i].Link.Addr() {
				t.Fatalf("%s: back link %d forwards to %s, want node %d's link %s", co.ID, i, l.Upstream(), i, nodes[i].Link.Addr())
			}
		}
	}
	hc := &http.Client{Timeout: 5 * time.Second}

	if !t.Run("write-then-strong-read", func(t *testing.T) {
		resp, body := clDo(t, ctx, hc, http.MethodPut, gws[0]+"/v1/namespaces/chaos/objects/a", `{"v":"1"}`)
		if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT: %s %s", resp.Status, body)
		}
		resp, body = clDo(t, ctx, hc, http.MethodGet, gws[1]+"/v1/namespaces/chaos/objects/a?consistency=strong", "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("strong GET through %s: %s %s", gws[1], resp.Status, body)
		}
		if got := resp.Header.Get(api.HeaderConsistency); got != "strong" {
			t.Errorf("X-Consistency %q, want strong", got)
		}
		var o api.Object
		if err := json.Unmarshal(body, &o); err != nil || !jsonEqual(o.Value, `{"v":"1"}`) {
			t.Fatalf("strong GET: %s (%v)", body, err)
		}
	}) {
		return
	}

	var owner, killed *Coordinator
	if !t.Run("owner-sigkill", func(t *testing.T) {
		shard, oldID, err := c.OwnerOf(ctx, "chaos")
		if err != nil {
			t.Fatal(err)
		}
		old := c.Coordinator(oldID)
		if old == nil {
			t.Fatalf("owner %q of shard %d is not a cluster coordinator", oldID, shard)
		}
		oldTok := clEntry(t, ctx, c, shard).FencingToken
		killedAt := time.Now()
		deadline := killedAt.Add(ttl + 3*time.Second)
		old.Proc.Kill()
		killed = old
		if old.Proc.Running() {
			t.Fatal("killed owner still running")
		}

		// A write goes through again. The gateway may hold it while the
		// shard has no owner, so one attempt may take most of the budget.
		dctx, dcancel := context.WithDeadline(ctx, deadline)
		defer dcancel()
		var lastErr string
		var wrote time.Duration
		for i := 2; wrote == 0; i++ {
			req, _ := http.NewRequestWithContext(dctx, http.MethodPut, gws[0]+"/v1/namespaces/chaos/objects/a", strings.NewReader(fmt.Sprintf(`{"v":"%d"}`, i)))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			switch {
			case err != nil:
				lastErr = err.Error()
			case resp.StatusCode/100 == 2:
				wrote = time.Since(killedAt)
				if tok, _ := strconv.ParseUint(resp.Header.Get(api.HeaderFencingToken), 10, 64); tok <= oldTok {
					t.Errorf("write after failover has token %d, want > %d", tok, oldTok)
				}
			default:
				b, _ := io.ReadAll(resp.Body)
				lastErr = resp.Status + " " + string(b)
			}
			if resp != nil {
				resp.Body.Close()
			}
			if wrote == 0 && dctx.Err() != nil {
				t.Fatalf("no write succeeded within %v of the kill; last: %s", ttl+3*time.Second, lastErr)
			}
			if wrote == 0 {
				clPause(dctx, 50*time.Millisecond)
			}
		}
		for {
			e := clEntry(t, ctx, c, shard)
			if e.Owner != "" && e.Owner != oldID && e.FencingToken > oldTok {
				owner = c.Coordinator(e.Owner)
				t.Logf("shard %d: %s (token %d) → %s (token %d); write ok %v after the kill, map %v",
					shard, oldID, oldTok, e.Owner, e.FencingToken, wrote.Round(time.Millisecond), time.Since(killedAt).Round(time.Millisecond))
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("shard map within %v of the kill: %+v, want another owner than %s with token > %d", ttl+3*time.Second, e, oldID, oldTok)
			}
			clPause(ctx, 50*time.Millisecond)
		}
		if owner == nil {
			t.Fatalf("new owner is not a cluster coordinator")
		}
	}) {
		return
	}

	t.Run("front-link-latency", func(t *testing.T) {
		url := gws[1] + "/v1/namespaces/chaos/objects/a?consistency=strong"
		strongRead := func() (time.Duration, string) {
			begin := time.Now()
			resp, body := clDo(t, ctx, hc, http.MethodGet, url, "")
			took := time.Since(begin)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("strong GET: %s %s", resp.Status, body)
			}
			return took, resp.Header.Get(api.HeaderServedBy)
		}
		strongRead() // a warm connection, so the timing is the link's
		if err := owner.Front.Latency(300 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
		took, by := strongRead()
		if want := owner.Region + "/" + owner.ID; by != want {
			t.Fatalf("strong read served by %q, want the owner %s (did the shard move?)", by, want)
		}
		if took < 300*time.Millisecond {
			t.Errorf("strong read with 300ms on %s took %v (served by %s)", owner.Front.Name(), took, by)
		}
		if err := owner.Front.Clear(); err != nil {
			t.Fatal(err)
		}
		fast, _ := strongRead()
		if fast >= 300*time.Millisecond {
			t.Errorf("strong read after Clear took %v", fast)
		}
		t.Logf("strong read through %s: %v with latency, %v after Clear", by, took.Round(time.Millisecond), fast.Round(time.Millisecond))
	})

	t.Run("front-link-blackhole", func(t *testing.T) {
		short := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		url := "http://" + owner.Front.Addr() + "/healthz"
		if err := owner.Front.Blackhole(); err != nil {
			t.Fatal(err)
		}
		if err := clGetErr(ctx, short, url); !clIsTimeout(err) {
			t.Errorf("GET through a blackholed link: %v, want a timeout", err)
		}
		if err := owner.Front.Clear(); err != nil {
			t.Fatal(err)
		}
		if err := clGetErr(ctx, short, url); err != nil {
			t.Errorf("GET after Clear: %v", err)
		}
	})

	// Last, so that the shard does not move back during the link checks.
	t.Run("restart-killed-owner", func(t *testing.T) {
		begin := time.Now()
		if err := killed.Proc.Restart(ctx); err != nil {
			t.Fatalf("restart %s: %v", killed.ID, err)
		}
		if err := c.WaitAllOwned(ctx); err != nil {
			t.Fatal(err)
		}
		owned := time.Since(begin)
		// It comes back as a member, and the placement gives it its shards.
		sctx, scancel := context.WithTimeout(ctx, 15*time.Second)
		defer scancel()
		if err := c.WaitSettled(sctx); err != nil {
			t.Fatal(err)
		}
		m, err := c.ShardMap(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range m.Shards {
			if e.Owner == killed.ID {
				n++
			}
		}
		if n == 0 {
			t.Errorf("%s owns no shard after placement settled", killed.ID)
		}
		t.Logf("%s restarted: every shard owned after %v, placement settled (%d shards its own) after %v", killed.ID,
			owned.Round(time.Millisecond), n, time.Since(begin).Round(time.Millisecond))
	})

	// Twice: the second kills the node the first promoted.
	for round := range 2 {
		if !t.Run(fmt.Sprintf("redis-failover-%d", round), func(t *testing.T) {
			oldPrimary := c.PrimaryNode()
			begin := time.Now()
			dead, promoted, err := c.Failover(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if dead != oldPrimary || promoted == nil || promoted == dead || c.PrimaryNode() != promoted {
				t.Fatalf("failover: dead %v, promoted %v, primary now %v", dead, promoted, c.PrimaryNode())
			}
			for _, n := range c.RedisNodes() {
				if up := n.Replication.Upstream(); up != c.Server(promoted).Addr {
					t.Errorf("%s replicates from %s, want the new primary %s", n.Name(), up, c.Server(promoted).Addr)
				}
			}
			// A write goes through again, through the same gateway.
			dctx, dcancel := context.WithTimeout(ctx, 15*time.Second)
			defer dcancel()
			for i := 0; ; i++ {
				req, _ := http.NewRequestWithContext(dctx, http.MethodPut, gws[0]+"/v1/namespaces/chaos/objects/f", strings.NewReader(fmt.Sprintf(`{"v":"%d-%d"}`, round, i)))
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode/100 == 2 {
						break
					}
				}
				if dctx.Err() != nil {
					t.Fatalf("no write succeeded within 15s of the failover (last: %v %v)", resp, err)
				}
				clPause(dctx, 50*time.Millisecond)
			}
			wrote := time.Since(begin)
			oldSrv := c.Server(dead)
			if err := c.RecoverNode(ctx, dead); err != nil {
				t.Fatal(err)
			}
			if c.Server(dead) == oldSrv || dead.Link.Upstream() != c.Server(dead).Addr {
				t.Fatalf("%s: process not replaced or link not repointed (%s → %s)", dead.Name(), dead.Link.Upstream(), c.Server(dead).Addr)
			}
			sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
			defer scancel()
			if err := c.WaitRedisSynced(sctx); err != nil {
				t.Fatal(err)
			}
			t.Logf("redis failover %s → %s: write ok after %v, node recovered after %v", dead.Name(), promoted.Name(),
				wrote.Round(time.Millisecond), time.Since(begin).Round(time.Millisecond))
		}) {
			return
		}
	}

	if errs := c.UnexpectedExits(); len(errs) > 0 {
		t.Errorf("unexpected exits: %v", errs)
	}
}

// TestLinkFaults checks every fault of a Link against a plain HTTP server.
func TestLinkFaults(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	l, err := NewLink("test", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Addr() == "" || l.Addr() == srv.Listener.Addr().String() {
		t.Fatalf("link address %q", l.Addr())
	}
	url := "http://" + l.Addr() + "/"
	// A new connection per request: a fault must not hide behind a pooled one.
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	timed := func() (time.Duration, error) {
		begin := time.Now()
		err := clGetErr(ctx, hc, url)
		return time.Since(begin), err
	}
	mustOK := func(what string) time.Duration {
		t.Helper()
		d, err := timed()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return d
	}
	mustOK("healthy link")

	if err := l.Latency(200 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := l.Latency(300 * time.Millisecond); err != nil { // replaces the first
		t.Fatal(err)
	}
	if d := mustOK("with latency"); d < 300*time.Millisecond || d > 900*time.Millisecond {
		t.Errorf("request with 300ms latency took %v", d)
	}
	if err := l.Latency(0); err != nil {
		t.Fatal(err)
	}
	if d := mustOK("latency removed"); d > 200*time.Millisecond {
		t.Errorf("request after Latency(0) took %v", d)
	}

	if err := l.Blackhole(); err != nil {
		t.Fatal(err)
	}
	if _, err := timed(); !clIsTimeout(err) {
		t.Errorf("blackholed: %v, want a timeout", err)
	}
	if err := l.Clear(); err != nil {
		t.Fatal(err)
	}
	mustOK("blackhole cleared")

	if err := l.ResetPeer(); err != nil {
		t.Fatal(err)
	}
	if _, err := timed(); err == nil || clIsTimeout(err) {
		t.Errorf("reset_peer: %v, want the connection reset", err)
	}
	if err := l.Clear(); err != nil {
		t.Fatal(err)
	}
	mustOK("reset cleared")

	// Repointed, on the same address, with its toxics.
	srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "two") }))
	defer srv2.Close()
	addr := l.Addr()
	if err := l.Latency(200 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := l.SetUpstream(srv2.Listener.Addr().String()); err != nil {
		t.Fatal(err)
	}
	if l.Addr() != addr || l.Upstream() != srv2.Listener.Addr().String() {
		t.Fatalf("after SetUpstream: addr %s (was %s), upstream %s", l.Addr(), addr, l.Upstream())
	}
	begin := time.Now()
	if body := clBody(t, ctx, hc, url); body != "two" {
		t.Errorf("after SetUpstream the link answered %q, want the new upstream's", body)
	}
	if d := time.Since(begin); d < 200*time.Millisecond {
		t.Errorf("latency lost by SetUpstream: request took %v", d)
	}
	if err := l.Clear(); err != nil {
		t.Fatal(err)
	}

	if err := l.Cut(); err != nil {
		t.Fatal(err)
	}
	if _, err := timed(); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("cut: %v, want connection refused", err)
	}
	// A cut link stays cut when repointed, and forwards there once restored.
	if err := l.SetUpstream(srv.Listener.Addr().String()); err != nil {
		t.Fatal(err)
	}
	if _, err := timed(); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("cut and repointed: %v, want connection refused", err)
	}
	if err := l.Restore(); err != nil {
		t.Fatal(err)
	}
	if body := clBody(t, ctx, hc, url); body != "ok" {
		t.Errorf("restored after SetUpstream: %q, want the first upstream's", body)
	}
	if err := l.Restore(); err != nil { // not cut: nothing to do
		t.Fatal(err)
	}

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := timed(); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("closed: %v, want connection refused", err)
	}
	if err := l.Blackhole(); err == nil {
		t.Error("Blackhole on a closed link succeeded")
	}
}

// TestProcess checks signals, restarts and the log of a Process.
func TestProcess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dir := t.TempDir()
	logged := func(path, line string) func(context.Context) error {
		return func(context.Context) error {
			if b, _ := os.ReadFile(path); !strings.Contains(string(b), line) {
				return errors.New("not yet")
			}
			return nil
		}
	}
	p, err := StartProcess(ctx, ProcessSpec{Name: "sleeper", Dir: dir, Path: "/bin/sh",
		Args:  []string{"-c", `trap 'echo bye; exit 0' TERM; echo hello; while :; do sleep 0.05; done`},
		Ready: logged(filepath.Join(dir, "sleeper.log"), "hello")})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	if !p.Running() {
		t.Fatal("not running")
	}
	if err := p.Pause(); err != nil || !p.Paused() {
		t.Fatalf("Pause: %v, paused %v", err, p.Paused())
	}
	if err := p.Resume(); err != nil || p.Paused() {
		t.Fatalf("Resume: %v, paused %v", err, p.Paused())
	}
	if err := p.Pause(); err != nil {
		t.Fatal(err)
	}
	// A paused process still gets its SIGTERM.
	if err := p.Terminate(ctx); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	if p.Running() || p.UnexpectedExit() != nil {
		t.Fatalf("after Terminate: running %v, unexpected %v", p.Running(), p.UnexpectedExit())
	}
	if tail := p.LogTail(1); tail != "bye" {
		t.Errorf("LogTail(1) = %q, want bye", tail)
	}
	if err := p.RestartWith(ctx, "extra-arg"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p.LogPath()); !strings.Contains(string(b), "extra-arg") {
		t.Errorf("RestartWith: the log's start line does not show the extra argument:\n%s", b)
	}
	if err := p.RestartWith(ctx, "x"); err == nil {
		t.Error("RestartWith of a running process succeeded")
	}
	// Kill, not Terminate: "hello" is in the log already, so this run was
	// "ready" before its trap was set.
	p.Kill()
	if err := p.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Restart(ctx); err == nil {
		t.Error("Restart of a running process succeeded")
	}
	pid := p.Pid()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil { // not through p: unexpected
		t.Fatal(err)
	}
	for p.Running() {
		clPause(ctx, 10*time.Millisecond)
	}
	if p.UnexpectedExit() == nil {
		t.Error("an outside SIGKILL was not noticed")
	}
	if err := p.Pause(); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Pause of an exited process: %v", err)
	}
	p.Kill() // no-op
	if err := p.Terminate(ctx); err != nil {
		t.Errorf("Terminate of an exited process: %v", err)
	}

	_, err = StartProcess(ctx, ProcessSpec{Name: "quitter", Dir: dir, Path: "/bin/sh", Args: []string{"-c", "echo oops; exit 3"},
		Ready: func(context.Context) error { return errors.New("never") }})
	if err == nil || !strings.Contains(err.Error(), "oops") {
		t.Errorf("a process that exits while starting: %v", err)
	}
}

func clBody(t *testing.T, ctx context.Context, hc *http.Client, url string) string {
	t.Helper()
	_, b := clDo(t, ctx, hc, http.MethodGet, url, "")
	return string(b)
}

func clDo(t *testing.T, ctx context.Context, hc *http.Client, method, url, body string) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return resp, b
}

// clGetErr GETs url and wants 200.
func clGetErr(ctx context.Context, hc *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

func clIsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func clEntry(t *testing.T, ctx context.Context, c *Cluster, shard int) api.ShardEntry {
	t.Helper()
	m, err := c.ShardMap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range m.Shards {
		if e.Shard == shard {
			return e
		}
	}
	t.Fatalf("shard %d not in the map", shard)
	return api.ShardEntry{}
}

func clPause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func jsonEqual(raw json.RawMessage, want string) bool {
	var a, b any
	return json.Unmarshal(raw, &a) == nil && json.Unmarshal([]byte(want), &b) == nil && reflect.DeepEqual(a, b)
}
