package redisstore

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cpgw/cpgw/store"
)

// Config tunes a Store. The zero Config is valid.
type Config struct {
	// LogRetention is roughly how many change-log entries each shard keeps.
	// The stream is trimmed with XTRIM MAXLEN ~ (whole stream nodes at a
	// time), so a few more than this may remain. Zero means
	// store.DefaultLogRetention; negative is an error.
	LogRetention int
	// KeyPrefix starts every key the store uses, so several deployments can
	// share one Redis. Zero means "cpgw". It must not contain '{' or '}',
	// which would change the keys' Redis Cluster hash tags.
	KeyPrefix string
	// ReplicaCountTTL is how long AttachedReplicas reuses a count before it
	// asks Redis again, so a busy writer does not pay a round trip per
	// batch. Zero means DefaultReplicaCountTTL; negative is an error.
	ReplicaCountTTL time.Duration
}

// DefaultKeyPrefix is the key prefix of the zero Config.
const DefaultKeyPrefix = "cpgw"

// Store is the Redis implementation of store.Store. It is safe for
// concurrent use.
type Store struct {
	c         redis.UniversalClient
	keys      keys
	retention int
	sc        scripts

	// epoch is the cluster epoch InitCluster bound the Store to; nil until
	// then. Set once, never changed (epoch.go).
	epoch atomic.Pointer[string]

	attached *replicaCount // AttachedReplicas' cache (replicas.go)
}

var _ store.Store = (*Store)(nil)

// New returns a Store on c. The Store does not own c: Close leaves it open,
// and the caller closes it when done with it. c may be a single-server,
// Sentinel (failover) or Cluster client; the Store uses the same keys and
// scripts on all of them.
func New(c redis.UniversalClient, cfg Config) (*Store, error) {
	if c == nil {
		return nil, errors.New("redisstore: nil redis client")
	}
	if cfg.LogRetention < 0 {
		return nil, fmt.Errorf("redisstore: negative log retention %d", cfg.LogRetention)
	}
	if cfg.LogRetention == 0 {
		cfg.LogRetention = store.DefaultLogRetention
	}
	if strings.ContainsAny(cfg.KeyPrefix, "{}") {
		return nil, fmt.Errorf("redisstore: key prefix %q contains a hash-tag brace", cfg.KeyPrefix)
	}
	if cfg.KeyPrefix == "" {
		cfg.KeyPrefix = DefaultKeyPrefix
	}
	if cfg.ReplicaCountTTL < 0 {
		return nil, fmt.Errorf("redisstore: negative replica count TTL %s", cfg.ReplicaCountTTL)
	}
	if cfg.ReplicaCountTTL == 0 {
		cfg.ReplicaCountTTL = DefaultReplicaCountTTL
	}
	return &Store{
		c:         c,
		keys:      keys{prefix: cfg.KeyPrefix},
		retention: cfg.LogRetention,
		sc:        newScripts(),
		attached:  newReplicaCount(cfg.ReplicaCountTTL),
	}, nil
}

// Close implements store.Store. It holds nothing of its own to release; the
// client stays open for its owner to close.
func (s *Store) Close() error { return nil }

// wrapErr adds the operation and shard to an error from Redis.
func wrapErr(op string, shard int, err error) error {
	return fmt.Errorf("redisstore: %s shard %d: %w", op, shard, err)
}

// invalid builds an error matching store.ErrInvalid.
func invalid(format string, args ...any) error {
	return fmt.Errorf("redisstore: %w: %s", store.ErrInvalid, fmt.Sprintf(format, args...))
}

func checkShard(shard int) error {
	if shard < 0 {
		return invalid("shard %d", shard)
	}
	return nil
}

// millis converts a TTL to whole milliseconds, rounding up so that a positive
// TTL never becomes zero (which PX and PEXPIRE would refuse or treat as
// immediate expiry).
func millis(d time.Duration) int64 {
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}
