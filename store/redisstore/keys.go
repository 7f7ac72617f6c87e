package redisstore

import (
	"strconv"
	"strings"
)

// keys builds the key names documented in the package comment. Every key of
// shard N starts with "<prefix>:{sN}:" so that Redis Cluster hashes them all to
// one slot, and the cluster-wide keys share the tag "{cluster}".
type keys struct{ prefix string }

func (k keys) shard(n int) string {
	return k.prefix + ":{s" + strconv.Itoa(n) + "}:"
}

func (k keys) counter(n int) string  { return k.shard(n) + "token" }
func (k keys) lease(n int) string    { return k.shard(n) + "lease" }
func (k keys) revision(n int) string { return k.shard(n) + "rev" }
func (k keys) log(n int) string      { return k.shard(n) + "log" }
func (k keys) epoch(n int) string    { return k.shard(n) + "epoch" }

// objects is the hash of a namespace's objects. The namespace is the key's
// suffix, so it needs no escaping.
func (k keys) objects(n int, namespace string) string {
	return k.shard(n) + "obj:" + namespace
}

// idempotency is one idempotency record. The namespace is escaped so that the
// (namespace, key) pair maps to exactly one key even when the namespace
// contains the ':' separator: "a:b"+"c" and "a"+"b:c" must not collide.
func (k keys) idempotency(n int, namespace, key string) string {
	return k.shard(n) + "idem:" + escapeNamespace(namespace) + ":" + key
}

// escapeNamespace percent-escapes '%' and ':'; API names contain neither, so
// real keys stay readable.
func escapeNamespace(ns string) string {
	if !strings.ContainsAny(ns, "%:") {
		return ns
	}
	return strings.ReplaceAll(strings.ReplaceAll(ns, "%", "%25"), ":", "%3A")
}

func (k keys) cluster() string       { return k.prefix + ":{cluster}:" }
func (k keys) members() string       { return k.cluster() + "members" }
func (k keys) memberRecords() string { return k.cluster() + "member-records" }
func (k keys) regions() string       { return k.cluster() + "regions" }
func (k keys) shardCount() string    { return k.cluster() + "shards" }
func (k keys) namespaces() string    { return k.cluster() + "namespaces" }
func (k keys) clusterEpoch() string  { return k.cluster() + "epoch" }

// beacon is one freshness beacon. The id is the key's suffix, after the hash
// tag, so it needs no escaping: Redis Cluster hashes only the first "{...}".
func (k keys) beacon(id string) string { return k.cluster() + "beacon:" + id }
