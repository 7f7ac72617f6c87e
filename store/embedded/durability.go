package embedded

import (
	"context"

	"github.com/cpgw/cpgw/store"
)

// Durability (store.Durability) in the embedded store: a change that asks
// for replicas brings every open Replica of the store up to date at once,
// whatever its Lag, and counts as acknowledged by all of them. Replicas share
// the process and its memory with the primary, so this is a model of WAIT for
// tests and cpgw dev (a lagging replica catches up when a write waits, a
// write acknowledged by fewer replicas than it asks is reported as such),
// not durability: nothing survives the process.

// waitLocked applies d after a change: with Replicas > 0 it syncs every open
// replica and returns their number; otherwise it returns 0. The caller holds
// s.mu.
func (s *Store) waitLocked(d store.Durability) int {
	if d.Replicas == 0 {
		return 0
	}
	return s.syncReplicasLocked()
}

// syncReplicasLocked replays the whole feed into every open replica,
// ignoring their lag, and returns how many replicas there are. It takes the
// locks in catchUp's order (the primary's, then each replica's state).
func (s *Store) syncReplicasLocked() int {
	end := s.feedStart + uint64(len(s.feed))
	for r := range s.replicas {
		if r.next < end {
			r.replayLocked(s.feed[r.next-s.feedStart:])
		}
	}
	s.trimFeedLocked()
	return len(s.replicas)
}

// replicationErr is the error for a change acknowledged by acked replicas
// when d asked for more, or nil.
func replicationErr(d store.Durability, acked int) error {
	if acked >= d.Replicas {
		return nil
	}
	return &store.ReplicationError{Wanted: d.Replicas, Acked: acked}
}

// AttachedReplicas returns how many Replicas of the store are open: the
// count a change that waits for replicas is acknowledged by. It is not part
// of store.Store (see redisstore's AttachedReplicas); it never fails but on
// a closed store or a done context.
func (s *Store) AttachedReplicas(ctx context.Context) (int, error) {
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	return len(s.replicas), nil
}
