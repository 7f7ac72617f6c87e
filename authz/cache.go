package authz

import (
	"crypto/sha256"
	"slices"
	"sync"
	"time"
)

// tokenCache remembers tokens that verified, so the hot path hashes a token
// instead of checking its signature on every request. Entries are keyed by
// the SHA-256 of the raw token (the token itself is not kept) and used only
// strictly before the token's exp: the leeway that let a token verify is not
// extended by caching. A cache belongs to one key set: a reload that changes
// the keys starts an empty one, so a token of a removed key stops working at
// once.
//
// Hits, nearly every request, share a read lock: under one mutex, every
// request of every core queued on the same lock for a map lookup. The
// write lock is taken only to insert and to drop an entry found expired.
type tokenCache struct {
	max int

	mu      sync.RWMutex
	entries map[[sha256.Size]byte]cacheEntry
}

type cacheEntry struct {
	id  Identity
	exp time.Time
}

// newTokenCache returns a cache of at most max entries, or nil (no caching)
// if max is not positive.
func newTokenCache(max int) *tokenCache {
	if max <= 0 {
		return nil
	}
	return &tokenCache{max: max, entries: make(map[[sha256.Size]byte]cacheEntry)}
}

// get returns the identity of a cached token that has not expired at now.
// The groups are a copy: callers may keep or change them.
func (c *tokenCache) get(k [sha256.Size]byte, now time.Time) (Identity, bool) {
	c.mu.RLock()
	e, ok := c.entries[k]
	c.mu.RUnlock()
	if !ok {
		return Identity{}, false
	}
	if !now.Before(e.exp) {
		c.mu.Lock()
		// Another request may have put a fresh entry for the token since
		// the read lock was released; drop only one that is still expired.
		if e2, ok := c.entries[k]; ok && !now.Before(e2.exp) {
			delete(c.entries, k)
		}
		c.mu.Unlock()
		return Identity{}, false
	}
	// e is a copy; its Groups slice is shared with the entry and never
	// changed in place, so cloning it outside the lock is safe.
	id := e.id
	id.Groups = slices.Clone(id.Groups)
	return id, true
}

// put caches a verified token until exp. When the cache is full it drops
// expired entries first, then arbitrary ones, a sixteenth of the cache at a
// time so that the scan is not paid on every insert.
func (c *tokenCache) put(k [sha256.Size]byte, id Identity, exp, now time.Time) {
	if !now.Before(exp) {
		return
	}
	id.Groups = slices.Clone(id.Groups)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[k]; !ok && len(c.entries) >= c.max {
		for key, e := range c.entries {
			if !now.Before(e.exp) {
				delete(c.entries, key)
			}
		}
		if len(c.entries) >= c.max {
			target := c.max - max(c.max/16, 1)
			for key := range c.entries {
				if len(c.entries) <= target {
					break
				}
				delete(c.entries, key)
			}
		}
	}
	c.entries[k] = cacheEntry{id: id, exp: exp}
}

// len returns the number of entries, expired ones included.
func (c *tokenCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
