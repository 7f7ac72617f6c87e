package embedded

import (
	"container/heap"
	"time"

	"github.com/cpgw/cpgw/store"
)

// idemKey scopes an idempotency key to its namespace.
type idemKey struct{ namespace, key string }

// idemRecord is the first outcome of a write under an idempotency key. Like
// redisstore's record it keeps no value: a replay has the same fingerprint,
// hence the same request and value, and takes the value from the request.
type idemRecord struct {
	key         idemKey
	fingerprint string
	result      store.Result // Object.Value always nil
	expires     time.Time
}

// idempotencyTable holds one shard's idempotency records. A heap ordered by
// expiry lets Apply drop expired records without scanning them all, so memory
// follows the live records, not every key ever used. The Store's mu guards it.
type idempotencyTable struct {
	records  map[idemKey]*idemRecord
	byExpiry expiryHeap
}

// getLocked returns the live record for key in namespace, or nil.
func (t *idempotencyTable) getLocked(namespace, key string, now time.Time) *idemRecord {
	rec := t.records[idemKey{namespace, key}]
	if rec == nil || !now.Before(rec.expires) {
		return nil
	}
	return rec
}

// putLocked records result under key; any record it replaces has expired.
func (t *idempotencyTable) putLocked(namespace, key, fingerprint string, result store.Result, expires time.Time) {
	if t.records == nil {
		t.records = make(map[idemKey]*idemRecord)
	}
	rec := &idemRecord{
		key:         idemKey{namespace, key},
		fingerprint: fingerprint,
		result:      result,
		expires:     expires,
	}
	t.records[rec.key] = rec
	heap.Push(&t.byExpiry, rec)
}

// expireLocked drops every record whose TTL has run out at now.
func (t *idempotencyTable) expireLocked(now time.Time) {
	for len(t.byExpiry) > 0 && !now.Before(t.byExpiry[0].expires) {
		rec := heap.Pop(&t.byExpiry).(*idemRecord)
		// The key may have been reused after this record expired.
		if t.records[rec.key] == rec {
			delete(t.records, rec.key)
		}
	}
}

// expiryHeap is a min-heap of records by expiry (container/heap).
type expiryHeap []*idemRecord

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(*idemRecord)) }
func (h *expiryHeap) Pop() any {
	old := *h
	rec := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return rec
}
