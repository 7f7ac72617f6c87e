package chaos

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cpgw/cpgw/internal/redisserver"
	"github.com/redis/go-redis/v9"
)

// DownAfter is how long Failover waits after killing the primary before it
// promotes a replica, as Sentinel's down-after-milliseconds would.
const DownAfter = 500 * time.Millisecond

// RedisNode is one Redis node of the cluster: a stable address (Link) in
// front of whichever redis-server process plays the node now. Node 0
// starts as the primary and node 1 as the first region's standby replica;
// node i+1 (i ≥ 1) is the replica of region i.
type RedisNode struct {
	// Index is the node's position, Region the region it is in.
	Index  int
	Region string
	// Link is the node's address as every cpgw process knows it; its
	// upstream is the node's current process.
	Link *Link
	// Replication is the link the node replicates through while it is a
	// replica; its upstream is the current primary's process.
	Replication *Link

	srv *redisserver.Server // guarded by Cluster.mu
}

// Name is "redis-n<index>".
func (n *RedisNode) Name() string { return fmt.Sprintf("redis-n%d", n.Index) }

// URL is the redis:// URL of the node's Link.
func (n *RedisNode) URL() string { return "redis://" + n.Link.Addr() }

// RedisNodes returns the Redis nodes in index order.
func (c *Cluster) RedisNodes() []*RedisNode {
	return append([]*RedisNode(nil), c.nodes...)
}

// PrimaryNode is the node that is the primary now: node 0 at the start,
// the promoted one after a Failover.
func (c *Cluster) PrimaryNode() *RedisNode {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[c.primary]
}

// Server is the node's current redis-server process (nil before start).
func (c *Cluster) Server(n *RedisNode) *redisserver.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return n.srv
}

// Primary is the current primary's process.
func (c *Cluster) Primary() *redisserver.Server { return c.Server(c.PrimaryNode()) }

// Replicas are the processes of every node but the primary, in node order.
func (c *Cluster) Replicas() []*redisserver.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*redisserver.Server
	for i, n := range c.nodes {
		if i != c.primary && n.srv != nil {
			out = append(out, n.srv)
		}
	}
	return out
}

// ReplicaNode is region's own replica node: the standby (node 1) for the
// first region, node i+1 for region i. Nil if none.
func (c *Cluster) ReplicaNode(region string) *RedisNode {
	for i, r := range c.opts.Regions {
		if r == region && i+1 < len(c.nodes) {
			return c.nodes[i+1]
		}
	}
	return nil
}

// ReplicaLink is the replication link of region's own replica
// (ReplicaNode), nil if none. Latency on it makes that replica lag
// (unless the node is the primary just now, after a failover).
func (c *Cluster) ReplicaLink(region string) *Link {
	if n := c.ReplicaNode(region); n != nil {
		return n.Replication
	}
	return nil
}

// startRedis starts node 0 as the primary and the other nodes as its
// replicas, each replicating through its Replication link, and waits until
// they are in sync.
func (c *Cluster) startRedis(ctx context.Context) error {
	regions := append([]string{c.opts.Regions[0]}, c.opts.Regions...)
	for i, region := range regions {
		n := &RedisNode{Index: i, Region: region}
		c.nodes = append(c.nodes, n)
		var err error
		// Upstreams are set once the processes have their ports.
		if n.Link, err = NewLink(n.Name(), "127.0.0.1:1"); err != nil {
			return err
		}
		if n.Replication, err = NewLink(n.Name()+"-replication", "127.0.0.1:1"); err != nil {
			return err
		}
	}
	p, err := c.startRedisServer(ctx, nil)
	if err != nil {
		return err
	}
	c.setServer(c.nodes[0], p)
	c.primary = 0
	if err := c.nodes[0].Link.SetUpstream(p.Addr); err != nil {
		return err
	}
	var replicas []*redisserver.Server
	for _, n := range c.nodes {
		// Node 0's own replication link is unused until it is a replica.
		if err := n.Replication.SetUpstream(p.Addr); err != nil {
			return err
		}
		if n.Index == 0 {
			continue
		}
		r, err := c.startRedisServer(ctx, n.Replication)
		if err != nil {
			return err
		}
		c.setServer(n, r)
		replicas = append(replicas, r)
		if err := n.Link.SetUpstream(r.Addr); err != nil {
			return err
		}
	}
	if err := redisserver.WaitSynced(ctx, p, replicas...); err != nil {
		return err
	}
	c.log.Debug("redis started", "primary", p.Addr, "replicas", len(replicas))
	return nil
}

// startRedisServer starts one redis-server, a replica through via if via
// is not nil, and records it for Stop.
func (c *Cluster) startRedisServer(ctx context.Context, via *Link) (*redisserver.Server, error) {
	ro := redisserver.Options{Dir: filepath.Join(c.opts.Dir, "redis")}
	if via != nil {
		host, port, _ := net.SplitHostPort(via.Addr())
		ro.Args = []string{"--replicaof", host, port}
	}
	s, err := redisserver.Start(ctx, ro, nil)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.servers = append(c.servers, s)
	c.mu.Unlock()
	return s, nil
}

func (c *Cluster) setServer(n *RedisNode, s *redisserver.Server) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n.srv = s
}

// Failover does what Sentinel would on the primary's death: it SIGKILLs
// the primary's process, waits DownAfter, promotes the replica with the
// highest replication offset (the lowest index among equals) with
// REPLICAOF NO ONE, and repoints every replication link to the promoted
// process, so the other replicas follow it. It returns the dead node
// (bring it back with RecoverNode) and the new primary. No node link
// changes: clients find the new primary by asking each node its ROLE.
func (c *Cluster) Failover(ctx context.Context) (dead, promoted *RedisNode, err error) {
	c.mu.Lock()
	dead = c.nodes[c.primary]
	deadSrv := dead.srv
	c.mu.Unlock()
	deadSrv.Kill()
	c.log.Info("failover: primary killed", "node", dead.Name(), "addr", deadSrv.Addr)
	sleep(ctx, DownAfter)
	if err := ctx.Err(); err != nil {
		return dead, nil, err
	}

	var best *RedisNode
	var bestOff int64
	var errs []error
	for _, n := range c.nodes {
		if n == dead {
			continue
		}
		off, err := replicaOffset(ctx, c.Server(n))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n.Name(), err))
			continue
		}
		c.log.Debug("failover: candidate", "node", n.Name(), "offset", off)
		if best == nil || off > bestOff {
			best, bestOff = n, off
		}
	}
	if best == nil {
		return dead, nil, fmt.Errorf("chaos: failover: no replica to promote: %w", errors.Join(errs...))
	}
	srv := c.Server(best)
	rc := srv.Client()
	err = rc.Do(ctx, "REPLICAOF", "NO", "ONE").Err()
	rc.Close()
	if err != nil {
		return dead, nil, fmt.Errorf("chaos: failover: REPLICAOF NO ONE on %s: %w", best.Name(), err)
	}
	c.mu.Lock()
	c.primary = best.Index
	c.mu.Unlock()
	for _, n := range c.nodes {
		if err := n.Replication.SetUpstream(srv.Addr); err != nil {
			return dead, best, fmt.Errorf("chaos: failover: %w", err)
		}
	}
	c.log.Info("failover: replica promoted", "node", best.Name(), "addr", srv.Addr, "offset", bestOff)
	return dead, best, nil
}

// RecoverNode replaces the process of a dead node with a fresh, empty
// redis-server that replicates the current primary through the node's
// Replication link, waits until it is in sync and only then points the
// node's Link at it, so no client reads the empty server.
func (c *Cluster) RecoverNode(ctx context.Context, n *RedisNode) error {
	c.mu.Lock()
	old := n.srv
	isPrimary := c.nodes[c.primary] == n
	c.mu.Unlock()
	if isPrimary {
		return fmt.Errorf("chaos: recover %s: it is the primary", n.Name())
	}
	if old != nil {
		old.Kill() // nothing if it is dead already
	}
	s, err := c.startRedisServer(ctx, n.Replication)
	if err != nil {
		return fmt.Errorf("chaos: recover %s: %w", n.Name(), err)
	}
	if err := redisserver.WaitSynced(ctx, c.Primary(), s); err != nil {
		return fmt.Errorf("chaos: recover %s: %w", n.Name(), err)
	}
	c.setServer(n, s)
	if err := n.Link.SetUpstream(s.Addr); err != nil {
		return fmt.Errorf("chaos: recover %s: %w", n.Name(), err)
	}
	c.log.Info("redis node recovered", "node", n.Name(), "addr", s.Addr, "primary", c.PrimaryNode().Name())
	return nil
}

// WaitRedisSynced waits until every node's process replicates the current
// primary with a live link and has its offset.
func (c *Cluster) WaitRedisSynced(ctx context.Context) error {
	return redisserver.WaitSynced(ctx, c.Primary(), c.Replicas()...)
}

// replicaOffset is how much of the replication stream s has processed:
// slave_repl_offset, which a replica keeps while its primary is gone (or
// master_repl_offset if it reports none).
func replicaOffset(ctx context.Context, s *redisserver.Server) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	rc := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DialTimeout: 500 * time.Millisecond})
	defer rc.Close()
	txt, err := rc.Info(ctx, "replication").Result()
	if err != nil {
		return 0, err
	}
	info := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(txt))
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":"); ok {
			info[k] = v
		}
	}
	v, ok := info["slave_repl_offset"]
	if !ok {
		v = info["master_repl_offset"]
	}
	return strconv.ParseInt(v, 10, 64)
}
