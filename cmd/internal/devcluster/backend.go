package devcluster

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cpgw/cpgw/internal/redisserver"
	"github.com/cpgw/cpgw/store"
	"github.com/cpgw/cpgw/store/embedded"
	"github.com/cpgw/cpgw/store/redisstore"
)

// backend is the deployment's store: one primary and a read replica per region.
type backend interface {
	primaryStore() store.Store
	replica(region int) replicaStore
	// leaseDurability is what lease grants and renewals wait for.
	leaseDurability() store.Durability
	close()
}

// replicaStore is what a gateway reads locally.
type replicaStore interface {
	Get(ctx context.Context, shard int, namespace, name string) (store.Object, error)
	List(ctx context.Context, shard int, namespace string) ([]store.Object, uint64, error)
	Beacon(ctx context.Context, id string) (uint64, error)
}

func newBackend(ctx context.Context, o Options) (backend, error) {
	if o.Backend == Redis {
		return newRedisBackend(ctx, o)
	}
	return newEmbeddedBackend(o)
}

// embeddedBackend: the first region reads the primary itself; the others
// read replicas that lag by ReplicaLag, as Redis replicas in other regions do.
type embeddedBackend struct {
	primary  *embedded.Store
	replicas []replicaStore
}

func newEmbeddedBackend(o Options) (*embeddedBackend, error) {
	p, err := embedded.New(embedded.Config{})
	if err != nil {
		return nil, err
	}
	b := &embeddedBackend{primary: p}
	for i := range o.Regions {
		if i == 0 {
			b.replicas = append(b.replicas, p)
			continue
		}
		r, err := embedded.NewReplica(p, embedded.ReplicaConfig{Lag: o.ReplicaLag})
		if err != nil {
			p.Close()
			return nil, err
		}
		b.replicas = append(b.replicas, r)
	}
	return b, nil
}

func (b *embeddedBackend) primaryStore() store.Store  { return b.primary }
func (b *embeddedBackend) replica(i int) replicaStore { return b.replicas[i] }
func (b *embeddedBackend) close()                     { b.primary.Close() }

// leaseDurability is none: embedded replicas share the process and cannot
// be promoted.
func (b *embeddedBackend) leaseDurability() store.Durability { return store.Durability{} }

// redisBackend runs real redis-server processes: a primary, which the first
// region also reads, and a replica for every other region.
type redisBackend struct {
	dir      string
	ownDir   bool
	servers  []*redisserver.Server
	clients  []*redis.Client
	primary  *redisstore.Store
	replicas []replicaStore
}

func newRedisBackend(ctx context.Context, o Options) (_ *redisBackend, err error) {
	b := &redisBackend{dir: o.Dir}
	if b.dir == "" {
		if b.dir, err = os.MkdirTemp("", "cpgw-dev-redis-"); err != nil {
			return nil, err
		}
		b.ownDir = true
	} else if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	ro := redisserver.Options{Dir: b.dir}
	p, err := redisserver.Start(ctx, ro, nil)
	if err != nil {
		return nil, err
	}
	b.servers = append(b.servers, p)
	for range o.Regions[1:] {
		r, err := redisserver.Start(ctx, ro, p)
		if err != nil {
			return nil, err
		}
		b.servers = append(b.servers, r)
	}
	if err := redisserver.WaitSynced(ctx, p, b.servers[1:]...); err != nil {
		return nil, err
	}
	for i, s := range b.servers {
		c := s.Client()
		b.clients = append(b.clients, c)
		st, err := redisstore.New(c, redisstore.Config{})
		if err != nil {
			return nil, fmt.Errorf("devcluster: redis store: %w", err)
		}
		if i == 0 {
			b.primary = st
		}
		b.replicas = append(b.replicas, st)
	}
	o.Logger.Info("redis started", "primary", p.Addr, "replicas", len(b.servers)-1, "dir", b.dir)
	return b, nil
}

func (b *redisBackend) primaryStore() store.Store  { return b.primary }
func (b *redisBackend) replica(i int) replicaStore { return b.replicas[i] }

// leaseDurability asks one replica to acknowledge every grant and renewal,
// so a promoted replica never hands out a token again. Only with two
// replicas or more: with one, a slow replica would stop every lease.
func (b *redisBackend) leaseDurability() store.Durability {
	if len(b.servers) < 3 {
		return store.Durability{}
	}
	return store.Durability{Replicas: 1, Timeout: 200 * time.Millisecond}
}

// PrimaryAddr is where the Redis primary listens.
func (b *redisBackend) PrimaryAddr() string { return b.servers[0].Addr }

func (b *redisBackend) close() {
	for _, c := range b.clients {
		c.Close()
	}
	for i := len(b.servers) - 1; i >= 0; i-- {
		b.servers[i].Stop()
	}
	if b.ownDir {
		os.RemoveAll(b.dir)
	}
}
