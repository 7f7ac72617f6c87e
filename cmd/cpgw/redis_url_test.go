package main

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cpgw/cpgw/internal/certs"
	"github.com/cpgw/cpgw/internal/redisserver"
	"github.com/cpgw/cpgw/internal/redistest"
)

// A --redis URL listing the candidates reaches the master whatever the
// order, with the URL's password and database; errors hide the password; a
// replica URL takes one host; one host gives a plain client, as before.
func TestRedisClientHostList(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, err := redisserver.Start(ctx, redisserver.Options{Dir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Stop)
	b, err := redisserver.Start(ctx, redisserver.Options{Dir: dir}, a)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Stop)
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := redisserver.WaitSynced(wctx, a, b); err != nil {
		t.Fatal(err)
	}
	// Require a password from here on (redisserver starts servers without).
	for _, cmd := range [][]any{
		{b, "CONFIG", "SET", "masterauth", "s3cret"},
		{a, "CONFIG", "SET", "requirepass", "s3cret"},
		{b, "CONFIG", "SET", "requirepass", "s3cret"},
	} {
		c := cmd[0].(*redisserver.Server).Client()
		err := c.Do(ctx, cmd[1:]...).Err()
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	onA := redis.NewClient(&redis.Options{Addr: a.Addr, Password: "s3cret", DB: 3})
	defer onA.Close()

	t.Run("the master among the candidates", func(t *testing.T) {
		c, err := redisClient(ctx, "redis://:s3cret@"+b.Addr+","+a.Addr+"/3", "")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if got, err := onA.Get(ctx, "k").Result(); got != "v" {
			t.Fatalf("GET k in db 3 on the master = %q, %v; want v", got, err)
		}
	})
	t.Run("one host is a plain client", func(t *testing.T) {
		c, err := redisClient(ctx, "redis://:s3cret@"+a.Addr+"/3", "")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if o := c.Options(); o.Addr != a.Addr || o.OnConnect != nil {
			t.Fatalf("options Addr %q, OnConnect set %v; want a plain client of %s", o.Addr, o.OnConnect != nil, a.Addr)
		}
	})
	t.Run("a replica URL takes one host", func(t *testing.T) {
		c, err := newRedisClient(ctx, "redis://:s3cret@"+b.Addr+","+a.Addr, "", redisReplica, 0, nil)
		if err == nil {
			c.Close()
			t.Fatal("a replica URL with two hosts was accepted")
		}
		if !strings.Contains(err.Error(), "names one server") || strings.Contains(err.Error(), "s3cret") {
			t.Fatalf("error %q; want a one-host message without the password", err)
		}
	})

	errTests := []struct{ name, url, want string }{
		{"no master", "redis://:s3cret@" + b.Addr + ",127.0.0.1:1/0", "no primary among 2 candidates"},
		{"a malformed list", "redis://:s3cret@" + a.Addr + ",,127.0.0.1:1/0", "host list is empty"},
		{"a duplicate", "redis://:s3cret@" + a.Addr + "," + a.Addr + "/0", "listed twice"},
		{"a wrong password", "redis://:wrong@" + b.Addr + "," + a.Addr + "/0", "WRONGPASS"},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := redisClient(ctx, tt.url, "")
			if err == nil {
				c.Close()
				t.Fatalf("redisClient(%q) succeeded", tt.url)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q; want it to mention %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), ":wrong@") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

// Over rediss:// each candidate is verified under its own host name, not
// the first one's: A's certificate names only 127.0.0.1, B's only localhost.
func TestRedisTLSHostList(t *testing.T) {
	x := redistest.NewTLS(t)
	caFile := x.CAFile
	ctx := context.Background()
	a, aPort := x.Start(t, "redis-a", certs.Request{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}, nil)
	_, bPort := x.Start(t, "redis-b", certs.Request{DNSNames: []string{"localhost"}}, a)

	c, err := redisClient(ctx, "rediss://localhost:"+bPort+",127.0.0.1:"+aPort, caFile)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	onA := a.Client()
	defer onA.Close()
	if got, err := onA.Get(ctx, "k").Result(); got != "v" {
		t.Fatalf("GET k on the master = %q, %v; want v", got, err)
	}
}

// TestRedisClientProtocol: cpgw's clients speak RESP2 unless the URL asks
// for another protocol. CLIENT INFO shows what the server was told (resp=).
func TestRedisClientProtocol(t *testing.T) {
	ctx := context.Background()
	rs := redistest.Start(t, 0)
	for _, tc := range []struct {
		query, want string
	}{{"", "resp=2"}, {"?protocol=3", "resp=3"}} {
		t.Run("url"+tc.query, func(t *testing.T) {
			c, err := redisClient(ctx, rs.Primary.URL()+tc.query, "")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			info, err := c.Do(ctx, "CLIENT", "INFO").Text()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(strings.Fields(info), tc.want) {
				t.Fatalf("CLIENT INFO %q lacks %q", info, tc.want)
			}
		})
	}
}

// TestRedisClientTimeouts checks that a positive timeout becomes the
// client's I/O and pool timeouts unless the URL sets its own, and that it is
// what bounds a call to a server that stops answering: go-redis ignores a
// context's deadline for its reads and writes.
func TestRedisClientTimeouts(t *testing.T) {
	ctx := context.Background()
	rs := redistest.Start(t, 0)
	plain := redis.NewClient(&redis.Options{Addr: rs.Primary.Addr})
	defer plain.Close()
	defaults := plain.Options() // go-redis's own, whatever this version's are
	for _, tc := range []struct {
		name    string
		query   string
		timeout time.Duration
		read    time.Duration
		write   time.Duration
		pool    time.Duration
	}{
		{"go-redis defaults", "", 0, defaults.ReadTimeout, defaults.WriteTimeout, defaults.PoolTimeout},
		{"from the timeout", "", 250 * time.Millisecond, 250 * time.Millisecond, 250 * time.Millisecond, 250 * time.Millisecond},
		{"the URL wins", "?read_timeout=5s&pool_timeout=6s", 250 * time.Millisecond, 5 * time.Second, 250 * time.Millisecond, 6 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := newRedisClient(ctx, rs.Primary.URL()+tc.query, "", redisReplica, tc.timeout, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			o := c.Options()
			if o.ReadTimeout != tc.read || o.WriteTimeout != tc.write || o.PoolTimeout != tc.pool {
				t.Fatalf("read, write, pool timeouts = %v, %v, %v; want %v, %v, %v",
					o.ReadTimeout, o.WriteTimeout, o.PoolTimeout, tc.read, tc.write, tc.pool)
			}
		})
	}

	t.Run("bounds a call to a paused server", func(t *testing.T) {
		c, err := newRedisClient(ctx, rs.Primary.URL(), "", redisReplica, 200*time.Millisecond, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		admin := rs.Primary.Client()
		defer admin.Close()
		if err := admin.Do(ctx, "CLIENT", "PAUSE", "1500", "ALL").Err(); err != nil {
			t.Fatal(err)
		}
		defer admin.Do(ctx, "CLIENT", "UNPAUSE")
		err = c.Get(ctx, "k").Err()
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("GET on a paused server: %v; want a timeout", err)
		}
	})
}
