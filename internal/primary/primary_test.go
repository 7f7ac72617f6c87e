package primary

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cpgw/cpgw/internal/certs"
	"github.com/cpgw/cpgw/internal/logbuf"
	"github.com/cpgw/cpgw/internal/redisserver"
	"github.com/cpgw/cpgw/internal/redistest"
)

// start starts a redis-server (a replica of replicaOf if non-nil), stopped
// when the test ends.
func start(t *testing.T, replicaOf *redisserver.Server, args ...string) *redisserver.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := redisserver.Start(ctx, redisserver.Options{Dir: t.TempDir(), Args: args}, replicaOf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func synced(t *testing.T, p *redisserver.Server, rs ...*redisserver.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := redisserver.WaitSynced(ctx, p, rs...); err != nil {
		t.Fatal(err)
	}
}

// do runs one command directly on s.
func do(t *testing.T, s *redisserver.Server, args ...any) any {
	t.Helper()
	c := s.Client()
	defer c.Close()
	v, err := c.Do(context.Background(), args...).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		t.Fatalf("%v on %s: %v", args, s.Addr, err)
	}
	return v
}

// replicaOf makes s a replica of m.
func replicaOf(t *testing.T, s, m *redisserver.Server) {
	t.Helper()
	host, port, _ := net.SplitHostPort(m.Addr)
	do(t, s, "REPLICAOF", host, port)
}

func promote(t *testing.T, s *redisserver.Server) { t.Helper(); do(t, s, "REPLICAOF", "NO", "ONE") }

// waitReplicas waits until ROLE on s lists n replicas (a master lists a
// replica only once it is online, up to a second after the sync).
func waitReplicas(t *testing.T, s *redisserver.Server, n int) {
	t.Helper()
	eventually(t, 10*time.Second, "replicas listed by ROLE on "+s.Addr, func() error {
		v, _ := do(t, s, "ROLE").([]any)
		r, err := parseRole(v)
		if err != nil {
			return err
		}
		if r.role != "master" || r.replicas != n {
			return fmt.Errorf("ROLE says %s", r)
		}
		return nil
	})
}

// get reads key directly from s ("" if missing).
func get(t *testing.T, s *redisserver.Server, key string) string {
	t.Helper()
	v, _ := do(t, s, "GET", key).(string)
	return v
}

func testOptions() *redis.Options {
	// MaxRetries -1, as cmd/cpgw builds its clients: go-redis resends
	// nothing, so only this package's own re-runs can hide a failover.
	return &redis.Options{DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: -1}
}

func newClient(t *testing.T, opts *redis.Options, log *slog.Logger, servers ...*redisserver.Server) *redis.Client {
	t.Helper()
	var addrs []string
	for _, s := range servers {
		addrs = append(addrs, s.Addr)
	}
	c, err := NewClient(opts, addrs, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func newLogs() (*logbuf.Buffer, *slog.Logger) {
	l := &logbuf.Buffer{}
	return l, slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// eventually retries fn until it succeeds or d has passed.
func eventually(t *testing.T, d time.Duration, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %v: %v", what, d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func set(c *redis.Client, key, value string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.Set(ctx, key, value, 0).Err()
}

// After the primary is killed and its replica promoted with REPLICAOF NO
// ONE, writes through the client land on the new primary within seconds.
func TestFollowsPromotionAfterKill(t *testing.T) {
	a := start(t, nil)
	b := start(t, a)
	synced(t, a, b)
	lg, log := newLogs()
	c := newClient(t, testOptions(), log, a, b)
	if err := set(c, "k", "v1"); err != nil {
		t.Fatal(err)
	}
	if got := get(t, a, "k"); got != "v1" {
		t.Fatalf("before the failover GET k on A = %q, want v1", got)
	}
	synced(t, a, b)

	a.Kill()
	promote(t, b)
	began := time.Now()
	eventually(t, 5*time.Second, "SET after the promotion", func() error { return set(c, "k", "v2") })
	t.Logf("first successful write %v after the promotion", time.Since(began).Round(time.Millisecond))
	if got := get(t, b, "k"); got != "v2" {
		t.Fatalf("GET k on B = %q, want v2", got)
	}
	if s := lg.String(); !strings.Contains(s, "primary changed") || !strings.Contains(s, "to="+b.Addr) {
		t.Errorf("no Warn about the change to %s in the log:\n%s", b.Addr, s)
	}
}

// A primary demoted to a replica while the client holds pooled connections
// to it: writes succeed on the new primary at once (READONLY, re-probe,
// retired connections, re-run), sequential and concurrent.
func TestDemotedPrimary(t *testing.T) {
	a := start(t, nil)
	b := start(t, a)
	synced(t, a, b)
	opts := testOptions()
	opts.PoolSize = 32
	_, log := newLogs()
	c := newClient(t, opts, log, a, b)

	// Concurrent writes leave several idle connections to A in the pool.
	var wg sync.WaitGroup
	var failed atomic.Int32
	for g := range 16 {
		wg.Go(func() {
			for i := range 20 {
				if err := set(c, fmt.Sprintf("warm-%d-%d", g, i), "x"); err != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d warm-up writes failed", failed.Load())
	}
	idle := c.PoolStats().IdleConns
	if idle < 4 {
		t.Fatalf("only %d idle connections after the warm-up; the test needs several", idle)
	}
	t.Logf("%d idle connections to A before the switch", idle)
	synced(t, a, b)

	promote(t, b)
	replicaOf(t, a, b)

	began := time.Now()
	for i := range 5 {
		key := "after-" + strconv.Itoa(i)
		if err := set(c, key, "y"); err != nil {
			t.Fatalf("write %d after the switch: %v", i, err)
		}
		if got := get(t, b, key); got != "y" {
			t.Fatalf("GET %s on B = %q, want y", key, got)
		}
	}
	t.Logf("5 writes after the switch took %v", time.Since(began).Round(time.Millisecond))
	for g := range 8 {
		wg.Go(func() {
			for i := range 10 {
				if err := set(c, fmt.Sprintf("conc-%d-%d", g, i), "z"); err != nil {
					t.Errorf("concurrent write after the switch: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := get(t, b, "conc-7-9"); got != "z" {
		t.Fatalf("GET conc-7-9 on B = %q, want z", got)
	}
}

// With no master among the candidates commands fail with a clear error;
// once one is promoted the client recovers on its own.
func TestNoPrimaryThenRecovers(t *testing.T) {
	a := start(t, nil)
	b := start(t, a)
	synced(t, a, b)
	_, log := newLogs()
	c := newClient(t, testOptions(), log, a, b)
	if err := set(c, "k", "v1"); err != nil {
		t.Fatal(err)
	}

	// A follows a master that does not exist: now both are replicas.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadPort := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	do(t, a, "REPLICAOF", "127.0.0.1", deadPort)

	err = set(c, "k", "v2")
	if err != nil && strings.HasPrefix(err.Error(), "READONLY") {
		// The pooled connection to A carried the first SET, and A refused
		// it; with MaxRetries -1 that is the answer. The next SET dials.
		err = set(c, "k", "v2")
	}
	if err == nil {
		t.Fatal("SET succeeded with no master among the candidates")
	}
	if !errors.Is(err, ErrNoPrimary) {
		t.Errorf("error %q (%T) is not ErrNoPrimary", err, err)
	}
	for _, want := range []string{"no primary among 2 candidates", a.Addr, b.Addr, "replica of"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}

	promote(t, a)
	eventually(t, 5*time.Second, "SET after the promotion", func() error { return set(c, "k", "v3") })
	if got := get(t, a, "k"); got != "v3" {
		t.Fatalf("GET k on A = %q, want v3", got)
	}
}

// The master is found whatever the candidates' order; of two masters the
// one with replicas wins. The caller's OnConnect still runs.
func TestChoosesMaster(t *testing.T) {
	a := start(t, nil)
	b := start(t, a)
	d := start(t, nil) // a master with no replicas: a stale or split-brain primary
	synced(t, a, b)
	waitReplicas(t, a, 1)

	tests := []struct {
		name       string
		candidates []*redisserver.Server
		want       *redisserver.Server
	}{
		{"replica listed first", []*redisserver.Server{b, a}, a},
		{"master listed first", []*redisserver.Server{a, b}, a},
		{"two masters: the one with a replica wins", []*redisserver.Server{d, b, a}, a},
		{"a lone master", []*redisserver.Server{d}, d},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions()
			var onConnect atomic.Int32
			opts.OnConnect = func(context.Context, *redis.Conn) error { onConnect.Add(1); return nil }
			_, log := newLogs()
			c := newClient(t, opts, log, tt.candidates...)
			key := "key-" + strings.ReplaceAll(tt.name, " ", "-")
			if err := set(c, key, "v"); err != nil {
				t.Fatal(err)
			}
			for _, s := range []*redisserver.Server{a, d} {
				got, want := get(t, s, key), ""
				if s == tt.want {
					want = "v"
				}
				if got != want {
					t.Errorf("GET %s on %s = %q, want %q", key, s.Addr, got, want)
				}
			}
			if onConnect.Load() == 0 {
				t.Error("the caller's OnConnect did not run")
			}
		})
	}
}

func TestNewClientValidates(t *testing.T) {
	tests := []struct {
		name    string
		opts    *redis.Options
		addrs   []string
		wantErr string
	}{
		{"nil options", nil, []string{"127.0.0.1:6379"}, "nil options"},
		{"no addresses", &redis.Options{}, nil, "no candidate"},
		{"an empty address", &redis.Options{}, []string{"127.0.0.1:6379", ""}, "empty candidate"},
		{"a duplicate", &redis.Options{}, []string{"127.0.0.1:6379", "127.0.0.1:6380", "127.0.0.1:6379"}, "listed twice"},
		{"no port", &redis.Options{}, []string{"redis-a"}, "missing port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewClient(tt.opts, tt.addrs, nil)
			if err == nil {
				c.Close()
				t.Fatalf("NewClient accepted %v", tt.addrs)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q; want it to mention %q", err, tt.wantErr)
			}
		})
	}
}

func TestChoose(t *testing.T) {
	master := func(addr string, replicas int) probeResult {
		return probeResult{addr: addr, role: roleInfo{role: "master", replicas: replicas}}
	}
	replica := func(addr, of string) probeResult {
		return probeResult{addr: addr, role: roleInfo{role: "slave", master: of, state: "connected"}}
	}
	down := func(addr string) probeResult {
		return probeResult{addr: addr, err: errors.New("connection refused")}
	}
	tests := []struct {
		name    string
		results []probeResult
		last    string
		want    string // "" for ErrNoPrimary
	}{
		{"one master", []probeResult{replica("a", "b"), master("b", 1)}, "", "b"},
		{"one master, others down", []probeResult{down("a"), master("b", 0), down("c")}, "a", "b"},
		{"most replicas wins over list order", []probeResult{master("a", 0), master("b", 2), master("c", 1)}, "", "b"},
		{"most replicas wins over the last primary", []probeResult{master("a", 0), master("b", 1)}, "a", "b"},
		{"a tie goes to the last primary", []probeResult{master("a", 1), master("b", 1)}, "b", "b"},
		{"a tie without the last primary goes to list order", []probeResult{master("a", 1), master("b", 1)}, "c", "a"},
		{"no master", []probeResult{replica("a", "c:1"), down("b"), {addr: "s", role: roleInfo{role: "sentinel"}}}, "a", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := choose(tt.results, tt.last)
			if tt.want == "" {
				if !errors.Is(err, ErrNoPrimary) {
					t.Fatalf("choose = %q, %v; want ErrNoPrimary", got, err)
				}
				for _, r := range tt.results {
					if !strings.Contains(err.Error(), r.addr+": ") {
						t.Errorf("error %q does not say what %s answered", err, r.addr)
					}
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("choose = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestParseRole(t *testing.T) {
	tests := []struct {
		name  string
		reply []any
		want  roleInfo
	}{
		{"master", []any{"master", int64(42), []any{[]any{"127.0.0.1", "6380", "42"}, []any{"127.0.0.1", "6381", "40"}}}, roleInfo{role: "master", replicas: 2}},
		{"lone master", []any{"master", int64(0), []any{}}, roleInfo{role: "master"}},
		{"replica", []any{"slave", "10.0.0.1", int64(6379), "connected", int64(42)}, roleInfo{role: "slave", master: "10.0.0.1:6379", state: "connected"}},
		{"sentinel", []any{"sentinel", []any{"mymaster"}}, roleInfo{role: "sentinel"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRole(tt.reply)
			if err != nil || got != tt.want {
				t.Fatalf("parseRole = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
	if _, err := parseRole(nil); err == nil {
		t.Error("parseRole accepted an empty reply")
	}
}

// Over TLS the client (and its probes) handshake with each candidate,
// verifying it under its own host name.
func TestTLS(t *testing.T) {
	x := redistest.NewTLS(t)
	ip := certs.Request{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}
	a, aPort := x.Start(t, "redis-a", ip, nil)
	b, bPort := x.Start(t, "redis-b", ip, a) // replicates over the plain port
	aTLS, bTLS := "127.0.0.1:"+aPort, "127.0.0.1:"+bPort
	ca := x.CA
	synced(t, a, b)

	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	opts := testOptions()
	opts.TLSConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	c, err := NewClient(opts, []string{bTLS, aTLS}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := set(c, "k", "tls"); err != nil {
		t.Fatal(err)
	}
	if got := get(t, a, "k"); got != "tls" {
		t.Fatalf("GET k on A = %q, want tls", got)
	}
	if opts.TLSConfig.ServerName != "" {
		t.Errorf("NewClient changed the caller's TLS config (ServerName %q)", opts.TLSConfig.ServerName)
	}

	// A name the certificate does not carry is refused, by the probes too.
	opts.TLSConfig.ServerName = "not-redis.example"
	bad, err := NewClient(opts, []string{bTLS, aTLS}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if err := set(bad, "k", "x"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("SET with a wrong server name: %v; want a certificate error", err)
	}
}
