package api

// Header names.
const (
	HeaderIdempotencyKey     = "Idempotency-Key"
	HeaderIdempotentReplayed = "Idempotent-Replayed"
	HeaderConsistency        = "X-Consistency"
	HeaderServedBy           = "X-Served-By"
	HeaderStalenessMs        = "X-Staleness-Ms"
	HeaderFencingToken       = "X-Fencing-Token"
	HeaderReplicasAcked      = "X-Replicas-Acked"
	HeaderRequestID          = "X-Request-Id"
	HeaderRetryAfter         = "Retry-After"
)

// Query parameters of reads.
const (
	QueryConsistency  = "consistency"
	QueryMaxStaleness = "maxStaleness"
	QueryMinVersion   = "minVersion"
)

// Consistency levels.
const (
	ConsistencyLocal  = "local"
	ConsistencyStrong = "strong"
)

// Defaults of the public API.
const (
	DefaultMaxStaleness = "5s"
	MaxBodyBytes        = 1 << 20 // 1 MiB
	MaxIdempotencyKey   = 255
)

// ValidIdempotencyKey reports whether k is 1..255 printable ASCII characters.
func ValidIdempotencyKey(k string) bool {
	if len(k) == 0 || len(k) > MaxIdempotencyKey {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}
