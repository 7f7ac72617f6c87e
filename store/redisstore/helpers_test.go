package redisstore_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cpgw/cpgw/fencing"
	"github.com/cpgw/cpgw/internal/redistest"
	"github.com/cpgw/cpgw/store"
	"github.com/cpgw/cpgw/store/redisstore"
)

const longTTL = 30 * time.Second

var testNow = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// startStore starts a redis-server and returns a Store on it with cfg, and a
// client of the same server for looking under the hood.
func startStore(t testing.TB, cfg redisstore.Config) (*redisstore.Store, *redis.Client) {
	t.Helper()
	c := redistest.Start(t, 0).Client(t)
	s, err := redisstore.New(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

// hold acquires shard's lease with a long TTL and returns its token.
func hold(t testing.TB, s store.Store, shard int) fencing.Token {
	t.Helper()
	l, err := s.AcquireLease(context.Background(), store.LeaseRequest{Shard: shard, Owner: "coord-a", Region: "r1", Address: "http://a", TTL: longTTL})
	if err != nil {
		t.Fatalf("AcquireLease(%d): %v", shard, err)
	}
	return l.Token
}

func put(ns, name, value string) store.Write {
	return store.Write{Op: store.OpPut, Namespace: ns, Name: name, Value: []byte(value)}
}

func keyed(w store.Write, key, fp string) store.Write {
	w.Idempotency = &store.Idempotency{Key: key, Fingerprint: fp}
	return w
}

func mustApply(t testing.TB, s store.Store, shard int, tok fencing.Token, ws ...store.Write) []store.Result {
	t.Helper()
	rs, err := s.Apply(context.Background(), store.Batch{Shard: shard, Token: tok, Now: testNow, Writes: ws})
	if err != nil {
		t.Fatalf("Apply(shard %d): %v", shard, err)
	}
	for i, r := range rs {
		if r.Err != nil {
			t.Fatalf("Apply(shard %d) write %d: %v", shard, i, r.Err)
		}
	}
	return rs
}

// allKeys lists every key on the server.
func allKeys(t testing.TB, c *redis.Client) []string {
	t.Helper()
	var keys []string
	iter := c.Scan(context.Background(), 0, "*", 100).Iterator()
	for iter.Next(context.Background()) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}

// dumpAll returns every key's serialized value and whether it has a TTL: a
// byte-exact picture of the keyspace, minus the TTLs' countdown.
func dumpAll(t testing.TB, c *redis.Client) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	for _, k := range allKeys(t, c) {
		v, err := c.Dump(ctx, k).Result()
		if err != nil {
			t.Fatalf("DUMP %s: %v", k, err)
		}
		ttl, err := c.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatalf("PTTL %s: %v", k, err)
		}
		if ttl > 0 {
			v += " (expires)"
		}
		out[k] = v
	}
	return out
}

// countingHook counts what a client sends: single commands, pipelines and the
// commands inside pipelines, and it remembers the single commands' names.
type countingHook struct {
	single, pipelines, pipelined atomic.Int64

	mu    sync.Mutex
	names []string
}

func (h *countingHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.single.Add(1)
		h.mu.Lock()
		h.names = append(h.names, strings.ToLower(strings.Join(cmdName(cmd), " ")))
		h.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (h *countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.pipelines.Add(1)
		h.pipelined.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

func (h *countingHook) reset() {
	h.single.Store(0)
	h.pipelines.Store(0)
	h.pipelined.Store(0)
	h.mu.Lock()
	h.names = nil
	h.mu.Unlock()
}

// sent reports whether a single command named name ("eval", "script load")
// went out since the last reset.
func (h *countingHook) sent(name string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Contains(h.names, name)
}

// cmdName is a command's name, with the subcommand for SCRIPT.
func cmdName(cmd redis.Cmder) []string {
	args := cmd.Args()
	name := []string{cmd.Name()}
	if cmd.Name() == "script" && len(args) > 1 {
		name = append(name, fmt.Sprint(args[1]))
	}
	return name
}
