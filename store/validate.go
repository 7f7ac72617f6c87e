package store

import (
	"fmt"
	"time"

	"github.com/cpgw/cpgw/api"
)

// DefaultLogRetention is how many change-log entries a shard keeps unless the
// store is configured otherwise.
const DefaultLogRetention = 10000

// MaxBatch is the largest number of writes one Apply accepts.
const MaxBatch = 1024

// ValidName reports whether s is a valid namespace or object name
// (api.NamePattern). The store enforces the API's grammar on writes, so no
// key layout has to cope with separators or hash-tag braces in names.
func ValidName(s string) bool { return api.ValidName(s) }

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// Validate reports a malformed batch with an error matching ErrInvalid. Both
// implementations call it before touching state, so a bad batch is refused
// whole and the same way everywhere.
func (b Batch) Validate() error {
	if b.Shard < 0 {
		return invalid("shard %d", b.Shard)
	}
	if b.Token == 0 {
		return invalid("zero fencing token")
	}
	if b.Now.IsZero() {
		return invalid("zero Now")
	}
	if len(b.Writes) == 0 {
		return invalid("empty batch")
	}
	if len(b.Writes) > MaxBatch {
		return invalid("batch of %d writes exceeds %d", len(b.Writes), MaxBatch)
	}
	if err := b.Durability.validateConcrete(); err != nil {
		return err
	}
	for i, w := range b.Writes {
		if err := w.validate(); err != nil {
			return fmt.Errorf("write %d: %w", i, err)
		}
	}
	return nil
}

func (w Write) validate() error {
	if !ValidName(w.Namespace) || !ValidName(w.Name) {
		return invalid("bad namespace or name %q/%q", w.Namespace, w.Name)
	}
	switch w.Op {
	case OpPut:
		if len(w.Value) == 0 {
			return invalid("put without a value")
		}
	case OpDelete:
		if w.IfAbsent {
			return invalid("delete cannot be create-only")
		}
	default:
		return invalid("unknown op %d", uint8(w.Op))
	}
	if w.IfAbsent && w.IfVersion != 0 {
		return invalid("IfAbsent and IfVersion together")
	}
	if id := w.Idempotency; id != nil {
		if id.Key == "" || id.Fingerprint == "" {
			return invalid("idempotency without key or fingerprint")
		}
		if id.TTL < 0 {
			return invalid("negative idempotency TTL")
		}
	}
	return nil
}

// EffectiveTTL returns the record's TTL, DefaultIdempotencyTTL when unset.
func (id *Idempotency) EffectiveTTL() time.Duration {
	if id.TTL == 0 {
		return DefaultIdempotencyTTL
	}
	return id.TTL
}

// Validate reports a malformed lease request.
func (r LeaseRequest) Validate() error {
	if r.Shard < 0 {
		return invalid("shard %d", r.Shard)
	}
	if r.Owner == "" {
		return invalid("lease without owner")
	}
	if err := r.Durability.validateConcrete(); err != nil {
		return err
	}
	return validTTL(r.TTL)
}

// Validate reports a malformed renewal.
func (r LeaseRenewal) Validate() error {
	if r.Shard < 0 {
		return invalid("shard %d", r.Shard)
	}
	if r.Owner == "" || r.Token == 0 {
		return invalid("renewal without owner or token")
	}
	if err := r.Durability.validateConcrete(); err != nil {
		return err
	}
	return validTTL(r.TTL)
}

// Validate reports a Durability outside its bounds. A Majority (with its
// floor in Replicas) is valid; it needs a timeout, since it may wait.
func (d Durability) Validate() error {
	switch {
	case d.Replicas < 0 || d.Replicas > MaxReplicas:
		return invalid("durability of %d replicas outside [0, %d]", d.Replicas, MaxReplicas)
	case d.Timeout < 0 || d.Timeout > MaxReplicaTimeout:
		return invalid("replica timeout %s outside [0, %s]", d.Timeout, MaxReplicaTimeout)
	case d.Majority && d.Timeout < time.Millisecond:
		return invalid("majority durability without a timeout of at least 1ms")
	case d.Replicas > 0 && d.Timeout < time.Millisecond:
		return invalid("durability of %d replicas without a timeout of at least 1ms", d.Replicas)
	}
	return nil
}

// validateConcrete is Validate for what a store waits for: a Majority must
// have been resolved to a count first.
func (d Durability) validateConcrete() error {
	if d.Majority {
		return invalid("majority durability not resolved to a replica count (Durability.Resolve)")
	}
	return d.Validate()
}

// Validate reports a malformed member record.
func (m Member) Validate() error {
	if m.ID == "" || m.Region == "" {
		return invalid("member without id or region")
	}
	return nil
}

func validTTL(d time.Duration) error {
	if d < time.Millisecond {
		return invalid("TTL %s below 1ms", d)
	}
	return nil
}

// Validate reports malformed namespace settings.
func (n Namespace) Validate() error {
	if !ValidName(n.Name) {
		return invalid("bad namespace name %q", n.Name)
	}
	if n.Shard < 0 {
		return invalid("shard %d", n.Shard)
	}
	return n.Durability.Validate()
}
