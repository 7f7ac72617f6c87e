package redisstore

import (
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cpgw/cpgw/store"
)

// Durability (store.Durability) is Redis WAIT, sent in the same pipeline as
// the script whose writes it waits for. WAIT counts the replicas that
// acknowledged the last write of its own connection, so it must travel on
// the connection that carried the script: a pipeline on a *redis.Client
// (single server or Sentinel) is written to one connection, which is why
// Durability is refused on other clients (see waitFor).

// wait is a WAIT to send after a pipeline's scripts; the zero wait sends none.
type wait struct {
	replicas int
	timeout  time.Duration
}

// readMargin is what a pipeline that carries a WAIT keeps of the client's
// ReadTimeout for its scripts, the network and the server's timer: Redis
// ends a timed-out WAIT on its next event-loop tick, up to 1/hz (100 ms by
// default) late. The margin is a quarter of the ReadTimeout, and at least
// minReadMargin.
const (
	readMargin    = 4 // a quarter
	minReadMargin = 250 * time.Millisecond
)

// waitFor turns a validated Durability into the WAIT to send, or refuses it
// with an error matching store.ErrInvalid when the client cannot honour it.
//
// On a Redis Cluster the write goes to the node that owns the shard's slot,
// and the WAIT would have to follow it on the same connection; a
// ClusterClient splits a pipeline by node and sends a keyless command such
// as WAIT where it chooses, so the answer would not be about this write.
// Durability there is not supported yet.
//
// go-redis reads all the replies of a pipeline under one ReadTimeout
// deadline and does not extend it for a WAIT in a pipeline (it does for a
// WAIT sent alone). A WAIT that outlived the deadline would fail the whole
// call with an I/O timeout after the writes were made, and go-redis may
// then resend the pipeline: the writes would be made twice. So the WAIT's
// timeout is capped to leave readMargin of a positive ReadTimeout (5 s by
// default in go-redis v9.23: a cap of 3.75 s). A capped wait that ends early reports fewer
// replicas, which callers treat as not durable (the safe direction); give
// the client a ReadTimeout well above the largest Durability.Timeout to get
// the full wait.
func (s *Store) waitFor(d store.Durability) (wait, error) {
	if d.Replicas == 0 {
		return wait{}, nil
	}
	c, ok := s.c.(*redis.Client)
	if !ok {
		return wait{}, invalid("durability (WAIT) needs a single-primary client (*redis.Client, also behind Sentinel); not supported on %T yet", s.c)
	}
	timeout := d.Timeout
	if rt := c.Options().ReadTimeout; rt > 0 {
		timeout = min(timeout, rt-max(rt/readMargin, minReadMargin))
	}
	// WAIT's timeout is in whole milliseconds and 0 means forever.
	timeout = max(timeout, time.Millisecond)
	return wait{replicas: d.Replicas, timeout: timeout}, nil
}

// replicationErr is the error for a change acked by fewer replicas than
// wanted, or nil.
func replicationErr(w wait, acked int) error {
	if acked >= w.replicas {
		return nil
	}
	return &store.ReplicationError{Wanted: w.replicas, Acked: acked}
}
