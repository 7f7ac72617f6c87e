package embedded

import (
	"maps"
	"slices"
	"time"

	"github.com/cpgw/cpgw/fencing"
	"github.com/cpgw/cpgw/store"
)

// The replication feed: while a Store has replicas, every change a replica
// can read is appended to Store.feed, in commit order, stamped with its commit
// time on the store's clock. Each Replica keeps a cursor into the feed and
// replays the entries old enough for its lag; entries every replica has
// replayed are dropped. Changes replicas cannot read (idempotency records,
// membership, the cluster's shard count) are not replicated.

// mutationKind says which part of the state a mutation changes.
type mutationKind uint8

const (
	mutObject    mutationKind = iota + 1 // a put or delete, with its revision
	mutLease                             // a shard's lease and fencing counter
	mutNamespace                         // namespace settings
	mutBeacon                            // a freshness beacon
)

// mutation is one committed change. It carries the state the change left,
// not the request, so replaying it needs no checks and no fencing.
type mutation struct {
	at    time.Time // commit time on the primary's clock
	kind  mutationKind
	shard int // mutObject, mutLease

	entry     logEntry        // mutObject; the value is shared, never mutated
	token     fencing.Token   // mutLease: the fencing counter
	lease     *leaseRecord    // mutLease: a private copy; nil when released
	namespace store.Namespace // mutNamespace
	id        string          // mutBeacon
	beacon    beaconRecord    // mutBeacon
}

// publishLocked appends m to the feed if anybody replicates it. A feed
// longer than the backlog loses its oldest entry, after replaying it into the
// replicas that still needed it: they jump forward rather than miss a change.
func (s *Store) publishLocked(m mutation) {
	if len(s.replicas) == 0 {
		return
	}
	m.at = s.clock.Now()
	s.feed = append(s.feed, m)
	if len(s.feed) <= s.backlog {
		return
	}
	for r := range s.replicas {
		if r.next == s.feedStart {
			r.replayLocked(s.feed[:1])
		}
	}
	s.trimFeedLocked()
}

// publishLeaseLocked publishes the lease state of shard n after a change.
// The record is copied because renewals update it in place.
func (s *Store) publishLeaseLocked(n int, sh *shardState) {
	m := mutation{kind: mutLease, shard: n, token: sh.token}
	if sh.lease != nil {
		l := *sh.lease
		m.lease = &l
	}
	s.publishLocked(m)
}

// trimFeedLocked drops the entries every replica has replayed.
func (s *Store) trimFeedLocked() {
	low := s.feedStart + uint64(len(s.feed))
	for r := range s.replicas {
		low = min(low, r.next)
	}
	drop := int(low - s.feedStart)
	clear(s.feed[:drop]) // let dropped values be collected
	s.feed = s.feed[drop:]
	s.feedStart = low
}

// applyLocked makes the change m describes on s, a replica's state. It
// shares the code paths of the primary's own changes.
func (s *Store) applyLocked(m mutation) {
	switch m.kind {
	case mutObject:
		s.shardLocked(m.shard).commitLocked(m.entry, s.retention)
	case mutLease:
		sh := s.shardLocked(m.shard)
		sh.token, sh.lease = m.token, nil
		if m.lease != nil {
			l := *m.lease
			sh.lease = &l
		}
	case mutNamespace:
		s.namespaces[m.namespace.Name] = m.namespace
	case mutBeacon:
		s.setBeaconLocked(m.id, m.beacon)
	}
}

// copyReplicatedLocked copies into dst, an empty replica state, everything
// a replica reads: the initial sync of a new replica. Stored objects and log
// values are immutable, so they are shared, not copied.
func (s *Store) copyReplicatedLocked(dst *Store) {
	for n, sh := range s.shards {
		c := &shardState{
			revision: sh.revision,
			token:    sh.token,
			objects:  make(map[string]map[string]*store.Object, len(sh.objects)),
			log:      slices.Clone(sh.log),
		}
		for ns, objs := range sh.objects {
			c.objects[ns] = maps.Clone(objs)
		}
		if sh.lease != nil {
			l := *sh.lease
			c.lease = &l
		}
		dst.shards[n] = c
	}
	maps.Copy(dst.namespaces, s.namespaces)
	maps.Copy(dst.beacons, s.beacons)
}
