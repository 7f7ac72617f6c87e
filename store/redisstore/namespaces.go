package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cpgw/cpgw/store"
)

// namespaceRecord is the JSON part of a namespace record, which is
// "<version> <json>": the version comes first so that the compare-and-set
// script can read it without decoding JSON.
//
// The durability timeout is kept in whole milliseconds, rounded up, like
// every other duration this package stores. Majority is left out when
// false, so records written before it existed read the same and a fixed
// count is stored as it always was; with it, Replicas is the floor.
type namespaceRecord struct {
	HomeRegion       string `json:"homeRegion,omitempty"`
	Shard            int    `json:"shard"`
	Replicas         int    `json:"replicas,omitempty"`
	Majority         bool   `json:"majority,omitempty"`
	ReplicaTimeoutMs int64  `json:"replicaTimeoutMs,omitempty"`
}

// GetNamespace implements store.Store.
func (s *Store) GetNamespace(ctx context.Context, name string) (store.Namespace, error) {
	if !store.ValidName(name) {
		return store.Namespace{}, invalid("bad namespace name %q", name)
	}
	rec, err := s.c.HGet(ctx, s.keys.namespaces(), name).Result()
	if errors.Is(err, redis.Nil) {
		return store.Namespace{}, fmt.Errorf("%w: namespace %s", store.ErrNotFound, name)
	}
	if err != nil {
		return store.Namespace{}, fmt.Errorf("redisstore: get namespace %s: %w", name, err)
	}
	ns, err := parseNamespace(name, rec)
	if err != nil {
		return store.Namespace{}, fmt.Errorf("redisstore: get namespace %s: %w", name, err)
	}
	return ns, nil
}

// PutNamespace implements store.Store with one script call: the version check
// and the write are atomic. ns.Version is ignored: the stored version is
// always the previous one plus one.
func (s *Store) PutNamespace(ctx context.Context, ns store.Namespace, ifVersion uint64) (store.Namespace, error) {
	if err := ns.Validate(); err != nil {
		return store.Namespace{}, err
	}
	ns.Durability.Timeout = time.Duration(millis(ns.Durability.Timeout)) * time.Millisecond
	body, err := json.Marshal(namespaceRecord{
		HomeRegion: ns.HomeRegion, Shard: ns.Shard,
		Replicas: ns.Durability.Replicas, Majority: ns.Durability.Majority,
		ReplicaTimeoutMs: ns.Durability.Timeout.Milliseconds(),
	})
	if err != nil {
		return store.Namespace{}, fmt.Errorf("redisstore: put namespace %s: %w", ns.Name, err)
	}
	ns.Version = ifVersion + 1
	args := []any{ns.Name, strconv.FormatUint(ifVersion, 10), strconv.FormatUint(ns.Version, 10), body}
	reply, err := s.sc.putNamespace.Run(ctx, s.c, []string{s.keys.namespaces()}, args...).StringSlice()
	if err != nil {
		return store.Namespace{}, fmt.Errorf("redisstore: put namespace %s: %w", ns.Name, err)
	}
	switch {
	case len(reply) == 1 && reply[0] == "ok":
		return ns, nil
	case len(reply) == 2 && reply[0] == "P":
		return store.Namespace{}, fmt.Errorf("%w: namespace %s is at version %s, not %d",
			store.ErrPrecondition, ns.Name, reply[1], ifVersion)
	}
	return store.Namespace{}, fmt.Errorf("redisstore: put namespace %s: unexpected reply %q", ns.Name, reply)
}

// Namespaces implements store.Store.
func (s *Store) Namespaces(ctx context.Context) ([]store.Namespace, error) {
	recs, err := s.c.HGetAll(ctx, s.keys.namespaces()).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: namespaces: %w", err)
	}
	out := make([]store.Namespace, 0, len(recs))
	for name, rec := range recs {
		ns, err := parseNamespace(name, rec)
		if err != nil {
			return nil, fmt.Errorf("redisstore: namespaces: %s: %w", name, err)
		}
		out = append(out, ns)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// parseNamespace reads a "<version> <json>" record; anything else is
// reported as corrupt rather than guessed at.
func parseNamespace(name, rec string) (store.Namespace, error) {
	ver, body, ok := strings.Cut(rec, " ")
	v, err := strconv.ParseUint(ver, 10, 64)
	if !ok || err != nil || v == 0 {
		return store.Namespace{}, errors.New("corrupt namespace record")
	}
	var r namespaceRecord
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		return store.Namespace{}, fmt.Errorf("corrupt namespace record: %w", err)
	}
	ns := store.Namespace{
		Name: name, HomeRegion: r.HomeRegion, Shard: r.Shard, Version: v,
		Durability: store.Durability{
			Replicas: r.Replicas, Majority: r.Majority,
			Timeout: time.Duration(r.ReplicaTimeoutMs) * time.Millisecond,
		},
	}
	if err := ns.Durability.Validate(); err != nil {
		// %v: the record is corrupt, not the caller's request invalid.
		return store.Namespace{}, fmt.Errorf("corrupt namespace record: %v", err)
	}
	return ns, nil
}
