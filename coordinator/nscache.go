package coordinator

import (
	"context"
	"errors"
	"sync"

	"github.com/cpgw/cpgw/shards"
	"github.com/cpgw/cpgw/store"
)

// nsStore is the part of the store the namespace-settings cache reads.
type nsStore interface {
	GetNamespace(ctx context.Context, name string) (store.Namespace, error)
	Namespaces(ctx context.Context) ([]store.Namespace, error)
}

// nsCache holds the namespace settings, so that every request can be checked
// against the shard its namespace lives on without a store round trip.
//
// Settings are never deleted and every change increments their Version, so
// the cache merges by keeping the higher Version: a reload that started
// before a change this coordinator made (and was put in directly) cannot
// undo it.
type nsCache struct {
	st nsStore
	// sem serialises reloads (a mutex that a context can give up on), so a
	// burst of callers that all need a fresh view share one or two reloads.
	sem chan struct{}

	mu        sync.Mutex
	byName    map[string]store.Namespace
	started   uint64 // reloads started
	completed uint64 // sequence number of the latest successful reload
}

func newNSCache(st nsStore) *nsCache {
	return &nsCache{st: st, sem: make(chan struct{}, 1), byName: make(map[string]store.Namespace)}
}

// shardOf returns the shard a namespace lives on in a cluster of n shards:
// the one recorded in its settings, or shards.Of for a namespace that has
// none.
func (c *nsCache) shardOf(namespace string, n int) int {
	c.mu.Lock()
	ns, ok := c.byName[namespace]
	c.mu.Unlock()
	if ok {
		return ns.Shard
	}
	return shards.Of(namespace, n)
}

// durabilityOf returns the replica quorum a namespace's writes wait for.
func (c *nsCache) durabilityOf(namespace string) store.Durability {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byName[namespace].Durability
}

// put records settings read or written by this coordinator.
func (c *nsCache) put(ns store.Namespace) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(ns)
}

func (c *nsCache) putLocked(ns store.Namespace) {
	if cur, ok := c.byName[ns.Name]; !ok || ns.Version > cur.Version {
		c.byName[ns.Name] = ns
	}
}

// fetch reads one namespace's settings from the store into the cache.
func (c *nsCache) fetch(ctx context.Context, namespace string) error {
	ns, err := c.st.GetNamespace(ctx, namespace)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	c.put(ns)
	return nil
}

// sync returns once a reload of every namespace that started after the call
// has completed, so the cache reflects every change made before the call.
func (c *nsCache) sync(ctx context.Context) error {
	c.mu.Lock()
	want := c.started + 1
	c.mu.Unlock()

	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.sem }()

	c.mu.Lock()
	if c.completed >= want {
		// A reload that started after our call finished while we waited.
		c.mu.Unlock()
		return nil
	}
	c.started++
	seq := c.started
	c.mu.Unlock()

	all, err := c.st.Namespaces(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ns := range all {
		c.putLocked(ns)
	}
	c.completed = seq
	return nil
}
