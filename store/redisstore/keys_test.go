package redisstore_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cpgw/cpgw/internal/redistest"
	"github.com/cpgw/cpgw/store"
	"github.com/cpgw/cpgw/store/redisstore"
)

// TestKeysCarryShardTag writes every kind of state and then checks the whole
// keyspace: each key of shard N carries the tag {sN}, the cluster-wide keys
// carry {cluster}, and all keys of one shard hash to one slot. InitCluster
// leaves an epoch copy on every shard below the count; those shards hold
// nothing else. On the cluster
// node the slot comes from CLUSTER KEYSLOT; on a single server from the same
// CRC16 Redis Cluster uses.
func TestKeysCarryShardTag(t *testing.T) {
	backends := []struct {
		name  string
		start func(t *testing.T) (redis.UniversalClient, *redis.Client)
	}{
		{"Single", func(t *testing.T) (redis.UniversalClient, *redis.Client) {
			c := redistest.Start(t, 0).Client(t)
			return c, c
		}},
		{"Cluster", func(t *testing.T) (redis.UniversalClient, *redis.Client) {
			return startCluster(t)
		}},
	}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			client, node := be.start(t)
			s, err := redisstore.New(client, redisstore.Config{})
			if err != nil {
				t.Fatal(err)
			}
			writeEverything(t, s, 3, 17)

			ctx := context.Background()
			slots := map[string]int64{} // tag → slot
			kinds := map[string]bool{}
			for _, k := range allKeys(t, node) {
				tag := hashTag(k)
				switch {
				case tag == "s3", tag == "s17", tag == "cluster":
				case epochCopy(k, tag):
				default:
					t.Errorf("key %q has hash tag %q, want {s3}, {s17} or {cluster}", k, tag)
					continue
				}
				if !strings.HasPrefix(k, "cpgw:{"+tag+"}:") {
					t.Errorf("key %q does not start with cpgw:{%s}:", k, tag)
				}
				kind, _, _ := strings.Cut(strings.TrimPrefix(k, "cpgw:{"+tag+"}:"), ":")
				kinds[tag+" "+kind] = true

				var slot int64
				if be.name == "Cluster" {
					slot, err = node.ClusterKeySlot(ctx, k).Result()
					if err != nil {
						t.Fatal(err)
					}
				} else {
					slot = int64(keySlot(k))
				}
				if prev, ok := slots[tag]; ok && prev != slot {
					t.Errorf("key %q is in slot %d, another {%s} key in slot %d", k, slot, tag, prev)
				}
				slots[tag] = slot
			}
			for _, want := range []string{
				"s3 token", "s3 lease", "s3 rev", "s3 log", "s3 obj", "s3 idem", "s3 epoch",
				"s17 token", "s17 lease", "s17 rev", "s17 log", "s17 obj", "s17 idem", "s17 epoch",
				"s0 epoch", "s63 epoch",
				"cluster members", "cluster member-records", "cluster regions", "cluster shards",
				"cluster namespaces", "cluster beacon", "cluster epoch",
			} {
				if !kinds[want] {
					t.Errorf("no %q key was written; kinds seen: %v", want, kinds)
				}
			}
		})
	}
}

// writeEverything leaves every kind of key the store has behind on each shard.
// It binds s to a 64-shard cluster first, so the shard scripts run with the
// epoch check (and its key) in play.
func writeEverything(t *testing.T, s store.Store, shards ...int) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.InitCluster(ctx, 64); err != nil {
		t.Fatal(err)
	}
	for _, sh := range shards {
		tok := hold(t, s, sh)
		mustApply(t, s, sh, tok,
			put("payments", "limits", `{"max":1}`),
			keyed(put("payments", "fees", `{"x":1}`), "req-1", "fp-1"),
			put("other", "a", `{}`),
			store.Write{Op: store.OpDelete, Namespace: "other", Name: "a"},
		)
	}
	if err := s.Heartbeat(ctx, store.Member{ID: "coord-a", Region: "us-east", Address: "http://a"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutNamespace(ctx, store.Namespace{Name: "payments", HomeRegion: "eu-west", Shard: 3}, 0); err != nil {
		t.Fatal(err)
	}
	// An id with braces and separators must not move the key off {cluster}.
	if err := s.SetBeacon(ctx, "gw:{s3}:us-east", 1, time.Minute); err != nil {
		t.Fatal(err)
	}
}

// epochCopy reports whether key is the epoch copy of a shard below 64.
func epochCopy(key, tag string) bool {
	n, err := strconv.Atoi(strings.TrimPrefix(tag, "s"))
	return strings.HasPrefix(tag, "s") && err == nil && n >= 0 && n < 64 &&
		key == "cpgw:{"+tag+"}:epoch"
}

// hashTag returns the part of a key Redis Cluster hashes: the text between
// the first '{' and the next '}', if non-empty; else the whole key.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

// keySlot is Redis Cluster's HASH_SLOT: CRC16-XMODEM of the hash tag mod 16384.
func keySlot(key string) uint16 {
	var crc uint16
	for _, b := range []byte(hashTag(key)) {
		crc ^= uint16(b) << 8
		for i := 0; i < 8; i++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc % 16384
}

func TestKeySlotMatchesRedis(t *testing.T) {
	// Known values from the Redis Cluster specification and CLUSTER KEYSLOT.
	for key, want := range map[string]uint16{"123456789": 12739, "foo": 12182, "{user1000}.following": 3443, "somekey": 11058} {
		if got := keySlot(key); got != want {
			t.Errorf("keySlot(%q) = %d, want %d", key, got, want)
		}
	}
}

// Idempotency keys may hold any printable ASCII, separators included; names
// cannot (store.ValidName), so "<ns>:<key>" is unambiguous. Keys that look
// alike after naive escaping must still get separate records.
func TestIdempotencyKeysDoNotCollide(t *testing.T) {
	s, _ := startStore(t, redisstore.Config{})
	tok := hold(t, s, 0)
	pairs := [][2]string{{"a", "b:c"}, {"a.b", "c"}, {"a", "b.c"}, {"a", "b%3Ac"}, {"a", "b:c:"}}
	for _, p := range pairs {
		r := mustApply(t, s, 0, tok, keyed(put(p[0], "obj", `{}`), p[1], "fp-"+p[0]+"|"+p[1]))[0]
		if r.Replayed || r.Err != nil {
			t.Fatalf("namespace %q key %q: %+v; want a fresh write", p[0], p[1], r)
		}
	}
}
