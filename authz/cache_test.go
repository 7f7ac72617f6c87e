package authz

import (
	"crypto/sha256"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestTokenCacheExpiry: an entry is used strictly before its exp, an
// expired one is dropped on lookup, and a fresh entry put for the same
// token is not dropped by a lookup that saw the expired one.
func TestTokenCacheExpiry(t *testing.T) {
	t0 := time.Unix(1000, 0)
	k := sha256.Sum256([]byte("tok"))
	id := Identity{Subject: "s", Groups: []string{"g"}, Method: MethodJWT}
	for _, tc := range []struct {
		name    string
		exp     time.Time
		at      time.Time
		hit     bool
		entries int // after the lookup
	}{
		{"before exp", t0.Add(time.Second), t0, true, 1},
		{"just before exp", t0.Add(time.Second), t0.Add(time.Second - 1), true, 1},
		{"at exp", t0.Add(time.Second), t0.Add(time.Second), false, 0},
		{"after exp", t0.Add(time.Second), t0.Add(time.Hour), false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTokenCache(10)
			c.put(k, id, tc.exp, t0)
			got, ok := c.get(k, tc.at)
			if ok != tc.hit || (ok && got.Subject != "s") {
				t.Errorf("get = %+v, %v; want hit %v", got, ok, tc.hit)
			}
			if n := c.len(); n != tc.entries {
				t.Errorf("%d entries, want %d", n, tc.entries)
			}
		})
	}
	t.Run("not put when already expired", func(t *testing.T) {
		c := newTokenCache(10)
		c.put(k, id, t0, t0)
		if c.len() != 0 {
			t.Error("an expired token was cached")
		}
	})
}

// TestTokenCacheConcurrent runs hits, misses, inserts and expiries at once
// (for the race detector) and checks the size bound holds.
func TestTokenCacheConcurrent(t *testing.T) {
	const max = 64
	c := newTokenCache(max)
	t0 := time.Unix(1000, 0)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				k := sha256.Sum256([]byte(strconv.Itoa((w*7 + i) % 200)))
				now := t0.Add(time.Duration(i%50) * time.Millisecond)
				if id, ok := c.get(k, now); ok {
					id.Groups[0] = "changed" // callers own their copy
					continue
				}
				c.put(k, Identity{Subject: "s", Groups: []string{"g"}}, t0.Add(time.Duration(i%100)*time.Millisecond), now)
			}
		})
	}
	wg.Wait()
	if n := c.len(); n > max {
		t.Errorf("%d entries, more than %d", n, max)
	}
	for k, e := range c.entries {
		if e.id.Groups[0] != "g" {
			t.Fatalf("entry %x: groups changed by a caller: %v", k[:4], e.id.Groups)
		}
	}
}

// BenchmarkTokenCacheHitParallel is the hot path under concurrency: every
// request of every core looks up a cached token.
func BenchmarkTokenCacheHitParallel(b *testing.B) {
	c := newTokenCache(1000)
	now := time.Unix(1000, 0)
	keys := make([][sha256.Size]byte, 100)
	for i := range keys {
		keys[i] = sha256.Sum256([]byte(strconv.Itoa(i)))
		c.put(keys[i], Identity{Subject: "s", Groups: []string{"g"}}, now.Add(time.Hour), now)
	}
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, ok := c.get(keys[i%len(keys)], now); !ok {
				b.Fatal("miss")
			}
			i++
		}
	})
}
