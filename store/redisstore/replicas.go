package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultReplicaCountTTL is how long AttachedReplicas reuses a count under
// the zero Config: short enough that a replica that left stops counting
// within a few batches, long enough that a busy writer asks Redis a few
// times a second rather than once per batch.
const DefaultReplicaCountTTL = 250 * time.Millisecond

// replicaCount caches AttachedReplicas' answer.
type replicaCount struct {
	ttl time.Duration
	now func() time.Time
	// sem lets one caller at a time ask Redis (a mutex a context can give
	// up on): callers that arrive during a refresh wait for it and reuse
	// its answer instead of each sending INFO.
	sem chan struct{}

	mu sync.Mutex
	n  int
	at time.Time // when n was read; zero: never
}

func newReplicaCount(ttl time.Duration) *replicaCount {
	return &replicaCount{ttl: ttl, now: time.Now, sem: make(chan struct{}, 1)}
}

// fresh returns the cached count if it is younger than the TTL.
func (r *replicaCount) fresh() (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.at.IsZero() || r.now().Sub(r.at) >= r.ttl {
		return 0, false
	}
	return r.n, true
}

// AttachedReplicas returns how many replicas are attached to the primary
// and streaming from it (INFO replication, state=online): the ones a WAIT
// can count. A replica still loading its first copy (wait_bgsave,
// send_bulk) is not. A replica that just finished its sync counts at once,
// although Redis streams to it only after its first REPLCONF ACK (up to a
// second later): a quorum that needs it may be missed in that moment, which
// is the safe direction. The answer is cached for Config.ReplicaCountTTL;
// failures are not cached, so the next caller asks again.
//
// It is not part of store.Store: callers that resolve a majority quorum
// declare it themselves. Like Durability, it needs a single-primary client;
// on others it fails with an error matching store.ErrInvalid.
func (s *Store) AttachedReplicas(ctx context.Context) (int, error) {
	c, ok := s.c.(*redis.Client)
	if !ok {
		return 0, invalid("counting replicas needs a single-primary client (*redis.Client, also behind Sentinel); not supported on %T", s.c)
	}
	r := s.attached
	if n, ok := r.fresh(); ok {
		return n, nil
	}
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return 0, fmt.Errorf("redisstore: attached replicas: %w", ctx.Err())
	}
	defer func() { <-r.sem }()
	if n, ok := r.fresh(); ok { // refreshed while we waited
		return n, nil
	}
	info, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return 0, fmt.Errorf("redisstore: attached replicas: INFO replication: %w", err)
	}
	n, err := parseReplicationInfo(info)
	if err != nil {
		return 0, fmt.Errorf("redisstore: attached replicas: %w", err)
	}
	r.mu.Lock()
	r.n, r.at = n, r.now()
	r.mu.Unlock()
	return n, nil
}

// errNoReplicationInfo is a reply to INFO replication without what
// parseReplicationInfo needs.
var errNoReplicationInfo = errors.New("INFO replication reply has neither replica lines nor connected_slaves")

// parseReplicationInfo counts the replicas of an INFO replication reply
// whose state is online. Without any slave<N> line it falls back to
// connected_slaves (an older or unusual server). Lines it does not know are
// skipped; a replica line it cannot read does not count.
func parseReplicationInfo(info string) (int, error) {
	online, listed := 0, 0
	connected := -1
	for line := range strings.Lines(info) {
		line = strings.TrimRight(line, "\r\n")
		key, val, ok := strings.Cut(line, ":")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		if key == "connected_slaves" {
			if n, err := strconv.Atoi(val); err == nil && n >= 0 {
				connected = n
			}
			continue
		}
		if !isReplicaKey(key) {
			continue
		}
		listed++
		for field := range strings.SplitSeq(val, ",") {
			if field == "state=online" {
				online++
				break
			}
		}
	}
	switch {
	case listed > 0:
		return online, nil
	case connected >= 0:
		return connected, nil
	}
	return 0, errNoReplicationInfo
}

// isReplicaKey reports whether key is slave<N> (or replica<N>), not one of
// the slave_* fields a replica reports about itself.
func isReplicaKey(key string) bool {
	for _, prefix := range []string{"slave", "replica"} {
		if rest, ok := strings.CutPrefix(key, prefix); ok && rest != "" {
			_, err := strconv.ParseUint(rest, 10, 32)
			return err == nil
		}
	}
	return false
}
