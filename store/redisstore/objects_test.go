package redisstore_test

import (
	"context"
	"errors"
	"maps"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cpgw/cpgw/fencing"
	"github.com/cpgw/cpgw/store"
	"github.com/cpgw/cpgw/store/redisstore"
)

// TestStaleBatchChangesNothing compares the whole keyspace, byte for byte,
// before and after a refused batch that would have created, updated,
// deleted, replayed and recorded idempotency keys.
func TestStaleBatchChangesNothing(t *testing.T) {
	ctx := context.Background()
	s, c := startStore(t, redisstore.Config{})
	cases := []struct {
		name    string
		arrange func(t *testing.T, shard int) (presented fencing.Token, want fencing.StaleError)
	}{
		{"FutureToken", func(t *testing.T, shard int) (fencing.Token, fencing.StaleError) {
			tok := hold(t, s, shard)
			return tok + 1, fencing.StaleError{Shard: shard, Presented: tok + 1, Current: tok, LeaseHeld: true}
		}},
		{"OldToken", func(t *testing.T, shard int) (fencing.Token, fencing.StaleError) {
			old := hold(t, s, shard)
			if err := s.ReleaseLease(ctx, shard, "coord-a", old); err != nil {
				t.Fatal(err)
			}
			cur := hold(t, s, shard)
			return old, fencing.StaleError{Shard: shard, Presented: old, Current: cur, LeaseHeld: true}
		}},
		{"CurrentTokenReleased", func(t *testing.T, shard int) (fencing.Token, fencing.StaleError) {
			tok := hold(t, s, shard)
			if err := s.ReleaseLease(ctx, shard, "coord-a", tok); err != nil {
				t.Fatal(err)
			}
			return tok, fencing.StaleError{Shard: shard, Presented: tok, Current: tok, LeaseHeld: false}
		}},
		{"CurrentTokenLeaseDeleted", func(t *testing.T, shard int) (fencing.Token, fencing.StaleError) {
			// As after the server expired the lease key.
			tok := hold(t, s, shard)
			if err := c.Del(ctx, "cpgw:{s"+strconv.Itoa(shard)+"}:lease").Err(); err != nil {
				t.Fatal(err)
			}
			return tok, fencing.StaleError{Shard: shard, Presented: tok, Current: tok, LeaseHeld: false}
		}},
		{"NeverLeased", func(t *testing.T, shard int) (fencing.Token, fencing.StaleError) {
			return 1, fencing.StaleError{Shard: shard, Presented: 1, Current: 0, LeaseHeld: false}
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			shard := 10 + i
			if tc.name != "NeverLeased" {
				base := hold(t, s, shard)
				mustApply(t, s, shard, base,
					keyed(put("ns", "obj", `{"v":1}`), "base", "fp-base"),
					put("ns", "other", `{}`))
				if err := s.ReleaseLease(ctx, shard, "coord-a", base); err != nil {
					t.Fatal(err)
				}
			}
			presented, want := tc.arrange(t, shard)
			before := dumpAll(t, c)
			rs, err := s.Apply(ctx, store.Batch{Shard: shard, Token: presented, Now: testNow, Writes: []store.Write{
				keyed(put("ns", "obj", `{"v":1}`), "base", "fp-base"),
				keyed(put("ns", "new", `{}`), "fresh", "fp-fresh"),
				put("ns", "obj", `{"v":2}`),
				{Op: store.OpDelete, Namespace: "ns", Name: "other"},
			}})
			var se *fencing.StaleError
			if !errors.As(err, &se) || *se != want || rs != nil {
				t.Fatalf("Apply = %v, %v; want nil, %+v", rs, err, want)
			}
			if after := dumpAll(t, c); !maps.Equal(before, after) {
				t.Fatalf("a refused batch changed the keyspace:\nbefore %q\nafter  %q", before, after)
			}
		})
	}
}

// TestCorruptRecords puts records into Redis that the store never writes and
// checks that reads report an error (not ErrNotFound, not a panic) and that a
// batch touching such a record fails before changing anything at all, even
// the writes ahead of it in the batch.
func TestCorruptRecords(t *testing.T) {
	ctx := context.Background()
	s, c := startStore(t, redisstore.Config{})
	tok := hold(t, s, 0)
	const objects = "cpgw:{s0}:obj:ns"
	cases := []struct {
		name, record string
		// applyFails: the apply script cannot read the version either (as
		// opposed to a version only Go rejects, which a put just overwrites).
		applyFails bool
	}{
		{"Garbage", "garbage", true},
		{"Empty", "", true},
		{"NoValue", "1 1 1700000000000", true},
		{"EmptyValue", "1 1 1700000000000 ", true},
		{"BadVersion", "x 1 1700000000000 {}", true},
		{"NegativeVersion", "-1 1 1700000000000 {}", true},
		{"BadToken", "1 x 1700000000000 {}", true},
		{"BadTime", "1 1 x {}", true},
		{"VersionOverflow", "99999999999999999999999 1 1700000000000 {}", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := c.HSet(ctx, objects, "bad", tc.record).Err(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.HDel(ctx, objects, "bad") })

			if o, err := s.Get(ctx, 0, "ns", "bad"); err == nil || errors.Is(err, store.ErrNotFound) {
				t.Errorf("Get = %+v, %v; want a corruption error", o, err)
			}
			if objs, _, err := s.List(ctx, 0, "ns"); err == nil {
				t.Errorf("List = %+v, nil; want a corruption error", objs)
			}
			if !tc.applyFails {
				return
			}
			before := dumpAll(t, c)
			for _, w := range []store.Write{
				put("ns", "bad", `{}`),
				{Op: store.OpDelete, Namespace: "ns", Name: "bad"},
				{Op: store.OpPut, Namespace: "ns", Name: "bad", Value: []byte(`{}`), IfVersion: 1},
			} {
				rs, err := s.Apply(ctx, store.Batch{Shard: 0, Token: tok, Now: testNow, Writes: []store.Write{
					keyed(put("ns", "fine", `{}`), "k", "fp"), w,
				}})
				if err == nil {
					t.Fatalf("Apply(%v on a corrupt record) = %+v, nil; want an error", w.Op, rs)
				}
			}
			if after := dumpAll(t, c); !maps.Equal(before, after) {
				t.Fatalf("a batch that failed on a corrupt record changed the keyspace:\nbefore %q\nafter  %q", before, after)
			}
		})
	}

	t.Run("IdempotencyRecord", func(t *testing.T) {
		if err := c.Set(ctx, "cpgw:{s0}:idem:ns:broken", "garbage", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		before := dumpAll(t, c)
		_, err := s.Apply(ctx, store.Batch{Shard: 0, Token: tok, Now: testNow, Writes: []store.Write{
			put("ns", "fine", `{}`), keyed(put("ns", "x", `{}`), "broken", "fp"),
		}})
		if err == nil {
			t.Fatal("Apply with a corrupt idempotency record succeeded")
		}
		if after := dumpAll(t, c); !maps.Equal(before, after) {
			t.Fatalf("the failed batch changed the keyspace")
		}
	})

	t.Run("ChangeLogEntry", func(t *testing.T) {
		if err := c.XAdd(ctx, &redis.XAddArgs{Stream: "cpgw:{s1}:log", ID: "5-0", Values: []any{"op", "explode"}}).Err(); err != nil {
			t.Fatal(err)
		}
		if cs, err := s.Changes(ctx, 1, 0, 10); err == nil {
			t.Fatalf("Changes = %+v, nil; want a corruption error", cs)
		}
	})

	t.Run("NamespaceRecord", func(t *testing.T) {
		const key = "cpgw:{cluster}:namespaces"
		for _, rec := range []string{"garbage", "", "1", "x {}", "0 {}", "1 {not json", "-1 {}"} {
			if err := c.HSet(ctx, key, "ns", rec).Err(); err != nil {
				t.Fatal(err)
			}
			if ns, err := s.GetNamespace(ctx, "ns"); err == nil || errors.Is(err, store.ErrNotFound) {
				t.Errorf("GetNamespace over %q = %+v, %v; want a corruption error", rec, ns, err)
			}
			if all, err := s.Namespaces(ctx); err == nil {
				t.Errorf("Namespaces over %q = %+v, nil; want a corruption error", rec, all)
			}
		}
		// The CAS script cannot read a version out of garbage either, and
		// refuses rather than overwrites.
		if err := c.HSet(ctx, key, "ns", "garbage").Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PutNamespace(ctx, store.Namespace{Name: "ns"}, 0); err == nil || errors.Is(err, store.ErrPrecondition) {
			t.Errorf("PutNamespace over garbage = %v, want a corruption error", err)
		}
		if rec, _ := c.HGet(ctx, key, "ns").Result(); rec != "garbage" {
			t.Errorf("PutNamespace over garbage changed the record to %q", rec)
		}
	})

	t.Run("Beacon", func(t *testing.T) {
		if err := c.Set(ctx, "cpgw:{cluster}:beacon:gw", "-3", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		if seq, err := s.Beacon(ctx, "gw"); err == nil || errors.Is(err, store.ErrNotFound) {
			t.Errorf("Beacon over a corrupt sequence = %d, %v; want a corruption error", seq, err)
		}
	})

	t.Run("MemberRecord", func(t *testing.T) {
		if err := s.Heartbeat(ctx, store.Member{ID: "m", Region: "r"}, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := c.HSet(ctx, "cpgw:{cluster}:member-records", "m", "{not json").Err(); err != nil {
			t.Fatal(err)
		}
		if ms, err := s.Members(ctx); err == nil {
			t.Fatalf("Members = %+v, nil; want a corruption error", ms)
		}
	})
}

// TestLogRetention: the change log is trimmed to about the configured
// retention, and what is kept is the newest, contiguous, ending at the
// current revision.
func TestLogRetention(t *testing.T) {
	ctx := context.Background()
	const retention, writes = 150, 2000
	s, c := startStore(t, redisstore.Config{LogRetention: retention})
	tok := hold(t, s, 0)
	ws := make([]store.Write, 100)
	for i := 0; i < writes/len(ws); i++ {
		for j := range ws {
			ws[j] = put("ns", "obj-"+strconv.Itoa(j), `{"i":`+strconv.Itoa(i)+`}`)
		}
		mustApply(t, s, 0, tok, ws...)
	}
	n, err := c.XLen(ctx, "cpgw:{s0}:log").Result()
	if err != nil {
		t.Fatal(err)
	}
	// MAXLEN ~ trims whole stream nodes (stream-node-max-entries, 100 by
	// default), so up to one node more than the retention may remain.
	if n < retention || n > retention+100 {
		t.Fatalf("log holds %d entries, want %d to %d", n, retention, retention+100)
	}
	cs, err := s.Changes(ctx, 0, 0, writes)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != int(n) || cs[len(cs)-1].Revision != writes || cs[0].Revision != writes-uint64(n)+1 {
		t.Fatalf("Changes(after 0) = %d entries, revisions %d..%d; want %d ending at %d",
			len(cs), cs[0].Revision, cs[len(cs)-1].Revision, n, writes)
	}
}

// TestIdempotencyRecordTTL: records carry a server-side TTL, the write's or
// the default.
func TestIdempotencyRecordTTL(t *testing.T) {
	ctx := context.Background()
	s, c := startStore(t, redisstore.Config{})
	tok := hold(t, s, 0)
	short := keyed(put("ns", "a", `{}`), "short", "fp")
	short.Idempotency.TTL = time.Minute
	mustApply(t, s, 0, tok, short, keyed(put("ns", "b", `{}`), "default", "fp"))
	for key, want := range map[string]time.Duration{"short": time.Minute, "default": store.DefaultIdempotencyTTL} {
		ttl, err := c.PTTL(ctx, "cpgw:{s0}:idem:ns:"+key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl > want || ttl < want-10*time.Second {
			t.Errorf("record %q has TTL %s, want about %s", key, ttl, want)
		}
	}
}

// TestCanceledContext: a canceled context stops the call before it reaches
// Redis and the error says so.
func TestCanceledContext(t *testing.T) {
	s, _ := startStore(t, redisstore.Config{})
	tok := hold(t, s, 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Apply(ctx, store.Batch{Shard: 0, Token: tok, Now: testNow, Writes: []store.Write{put("ns", "a", `{}`)}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Apply with a canceled context = %v, want context.Canceled", err)
	}
	if _, err := s.Get(context.Background(), 0, "ns", "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after the canceled Apply = %v, want ErrNotFound", err)
	}
}
