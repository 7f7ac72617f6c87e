package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cpgw/cpgw/api"
	"github.com/cpgw/cpgw/fencing"
)

// Errors shared by every implementation. Match them with errors.Is.
var (
	// ErrNotFound: the object (or lease, or cluster record) does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrPrecondition: IfVersion did not match the version of an existing
	// object, or IfAbsent was set and the object exists. (IfVersion on an
	// absent object is ErrNotFound.) Nothing was changed.
	ErrPrecondition = errors.New("store: precondition failed")
	// ErrIdempotencyMismatch: the idempotency key was used before for a
	// different request (another fingerprint). Nothing was changed.
	ErrIdempotencyMismatch = errors.New("store: idempotency key reused with a different request")
	// ErrLeaseHeld: AcquireLease found the lease held, by somebody else or by
	// the caller itself (see *HeldError). A holder renews; it does not
	// acquire again.
	ErrLeaseHeld = errors.New("store: lease held by another owner")
	// ErrLeaseLost: a renew or release found the lease gone or granted to
	// another token; the caller no longer owns the shard.
	ErrLeaseLost = errors.New("store: lease lost")
	// ErrInvalid: the request itself is malformed (bad shard number, empty
	// name, zero TTL...). Nothing was sent to or changed in the store.
	ErrInvalid = errors.New("store: invalid request")
	// ErrNotReplicated: the change was made on the primary, but fewer
	// replicas than Durability.Replicas acknowledged it within
	// Durability.Timeout (see *ReplicationError). It may be lost if the
	// primary is lost; it may also be on a replica already.
	ErrNotReplicated = errors.New("store: not acknowledged by enough replicas")
	// ErrEpoch: the store no longer holds the cluster this Store was bound to
	// by InitCluster. Its state was lost (a restart without persistence, a
	// flush) or replaced by another cluster's. Nothing was changed. Fencing
	// tokens of the lost state could be granted again by the new one, so a
	// holder of leases from before must stop serving, not carry on.
	ErrEpoch = errors.New("store: cluster state lost or replaced (epoch mismatch)")
)

// ReplicationError reports a change that fewer replicas acknowledged than
// were asked for. It matches ErrNotReplicated.
type ReplicationError struct {
	Wanted, Acked int
}

func (e *ReplicationError) Error() string {
	return fmt.Sprintf("store: %d of %d replicas acknowledged in time", e.Acked, e.Wanted)
}

// Is makes errors.Is(err, ErrNotReplicated) true.
func (e *ReplicationError) Is(target error) bool { return target == ErrNotReplicated }

// Durability asks that a change be acknowledged by replicas before the
// caller counts it (Redis WAIT). The zero Durability does not wait.
//
// An acknowledgement means the replica received the change, not that it is
// on disk; a change acknowledged by N replicas survives the loss of the
// primary as long as one of them is promoted.
//
// A Majority Durability is a namespace setting, not something a store can
// wait for: Resolve turns it into a count once the caller knows how many
// replicas are attached, and Apply, AcquireLease and RenewLeases refuse an
// unresolved one as ErrInvalid.
type Durability struct {
	// Replicas is how many replicas must acknowledge; 0 means do not wait.
	// With Majority it is the floor Resolve never goes below.
	Replicas int
	// Majority asks for a majority of the attached replicas (see Resolve).
	Majority bool
	// Timeout bounds the wait; it must be positive when Replicas > 0 or
	// Majority is set.
	Timeout time.Duration
}

// MaxReplicas bounds Durability.Replicas.
const MaxReplicas = api.MaxReplicas

// Resolve returns the count to wait for when attached replicas are attached
// to the primary: d itself unless d.Majority, else a Durability without
// Majority asking for max(floor, (attached+1)/2) replicas, at most
// MaxReplicas.
//
// The majority counts the primary: n attached replicas make n+1 copies, a
// majority of them is (n+1)/2+1 copies, so (n+1)/2 replicas besides the
// primary: 0→0, 1→1, 2→1, 3→2, 4→2. A write acknowledged by them is on
// more than half of the copies, so it survives losing the primary as long as
// the most advanced replica is promoted.
func (d Durability) Resolve(attached int) Durability {
	if !d.Majority {
		return d
	}
	n := max(d.Replicas, (max(attached, 0)+1)/2)
	return Durability{Replicas: min(n, MaxReplicas), Timeout: d.Timeout}
}

// MaxReplicaTimeout bounds Durability.Timeout.
const MaxReplicaTimeout = 10 * time.Second

// Store is the contract both implementations satisfy. Every method is safe for
// concurrent use. Shard numbers run from 0 to the cluster's shard count − 1;
// the store itself does not know the count and accepts any shard ≥ 0.
type Store interface {
	// Apply applies a batch of writes to one shard under one fencing token.
	// The token check covers the whole batch: if it fails, Apply returns a
	// *fencing.StaleError and nothing is changed. Otherwise each write succeeds
	// or fails on its own (precondition, not found, idempotency mismatch), in
	// order, and Apply returns one Result per write, in the same order.
	Apply(ctx context.Context, b Batch) ([]Result, error)

	// Get returns one object, or ErrNotFound.
	Get(ctx context.Context, shard int, namespace, name string) (Object, error)
	// List returns the objects of a namespace, ordered by name, and the
	// shard's revision at the moment of the read.
	List(ctx context.Context, shard int, namespace string) ([]Object, uint64, error)
	// Revision returns the shard's current revision (0 if nothing was ever written).
	Revision(ctx context.Context, shard int) (uint64, error)
	// Changes returns up to limit change-log entries with Revision > after, in
	// revision order. The log keeps at most the implementation's configured
	// retention (about that many: Redis trims approximately, and keeps at
	// least it); callers detect a gap by comparing the first returned revision
	// with after+1. limit < 1 is ErrInvalid.
	Changes(ctx context.Context, shard int, after uint64, limit int) ([]Change, error)

	// AcquireLease grants the shard's lease to req.Owner if nobody holds it,
	// incrementing the shard's fencing token. If it is held, it returns a
	// *HeldError (matching ErrLeaseHeld) describing the holder.
	AcquireLease(ctx context.Context, req LeaseRequest) (Lease, error)
	// RenewLeases extends each named lease by its TTL, all in one round trip.
	// It returns one error per renewal, in order: nil on success, ErrLeaseLost
	// when that lease is gone or held under another token. The second return is
	// for failures of the whole call (the store could not be reached).
	RenewLeases(ctx context.Context, rs []LeaseRenewal) ([]error, error)
	// ReleaseLease deletes the lease if owner and token still hold it, so the
	// next AcquireLease succeeds at once. ErrLeaseLost if they do not.
	ReleaseLease(ctx context.Context, shard int, owner string, token fencing.Token) error
	// Leases reports the lease state and current fencing token of each shard,
	// in the order asked, in one round trip.
	Leases(ctx context.Context, shards []int) ([]LeaseState, error)

	// Heartbeat records m as alive for ttl, and records m.Region as a known
	// region for good (regions are never forgotten; placement needs the full
	// list even while a region is down).
	Heartbeat(ctx context.Context, m Member, ttl time.Duration) error
	// Leave removes m's membership record at once.
	Leave(ctx context.Context, id string) error
	// Members returns the members whose heartbeat has not expired, ordered by id.
	Members(ctx context.Context) ([]Member, error)
	// Regions returns every region that ever sent a heartbeat, sorted.
	Regions(ctx context.Context) ([]string, error)

	// GetNamespace returns a namespace's settings, or ErrNotFound if none
	// were ever stored (the namespace then lives on shards.Of of its name).
	GetNamespace(ctx context.Context, name string) (Namespace, error)
	// PutNamespace stores settings with a compare-and-set on Version:
	// ifVersion 0 means "only if none are stored", otherwise the stored
	// Version must equal ifVersion (ErrPrecondition if not). It returns the
	// stored settings with Version incremented.
	PutNamespace(ctx context.Context, ns Namespace, ifVersion uint64) (Namespace, error)
	// Namespaces returns every namespace's settings, ordered by name.
	Namespaces(ctx context.Context) ([]Namespace, error)

	// SetBeacon writes a freshness beacon: a caller-chosen sequence number
	// under id, kept for ttl. A reader of a replica that sees sequence n
	// knows the replica holds every write acknowledged before beacon n was
	// sent (package locality turns that into a staleness bound).
	SetBeacon(ctx context.Context, id string, seq uint64, ttl time.Duration) error
	// Beacon reads a beacon's sequence number, or ErrNotFound.
	Beacon(ctx context.Context, id string) (uint64, error)

	// InitCluster records the cluster's shard count if none is recorded yet and
	// returns the recorded count (which may differ from shards: the first
	// cluster creation wins and the count never changes).
	//
	// It also binds the Store to the cluster it found or created: from then
	// on AcquireLease, RenewLeases, ReleaseLease and Apply fail with ErrEpoch
	// once the store no longer holds that cluster (its state was lost). A
	// Store that was never bound does not check.
	InitCluster(ctx context.Context, shards int) (int, error)

	// Close releases the store's resources.
	Close() error
}

// Op is a write's kind.
type Op uint8

const (
	OpPut Op = iota + 1
	OpDelete
)

func (o Op) String() string {
	switch o {
	case OpPut:
		return "put"
	case OpDelete:
		return "delete"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Batch is a group of writes to one shard under one fencing token.
type Batch struct {
	Shard  int
	Token  fencing.Token
	Now    time.Time // stamped as UpdatedAt on every object the batch changes
	Writes []Write
	// Durability, when it asks for replicas, makes Apply wait (once, after
	// the whole batch) for them and report the count in each
	// Result.ReplicasAcked. Apply does not fail when fewer acknowledge:
	// the writes are applied, and the caller decides per write whether the
	// count is enough.
	Durability Durability
}

// Write is one put or delete.
type Write struct {
	Op        Op
	Namespace string
	Name      string
	Value     []byte // OpPut: the JSON document, stored as given

	// IfVersion, when non-zero, makes the write conditional on the object
	// existing with exactly this version.
	IfVersion uint64
	// IfAbsent makes a put create-only.
	IfAbsent bool

	// Idempotency, when set, records the outcome under the key so a repeat
	// replays it. Keys are scoped to the namespace.
	Idempotency *Idempotency
}

// Idempotency ties a write to a caller-chosen key.
type Idempotency struct {
	Key string
	// Fingerprint identifies the request (for example a hash of method, path
	// and body); a repeat of the key with another fingerprint is refused.
	Fingerprint string
	// TTL is how long the record is kept; zero means DefaultIdempotencyTTL.
	TTL time.Duration
}

// DefaultIdempotencyTTL is how long idempotency records live unless a write
// says otherwise.
const DefaultIdempotencyTTL = 24 * time.Hour

// Outcome is what a write did.
type Outcome uint8

const (
	Created Outcome = iota + 1
	Updated
	Deleted
)

func (o Outcome) String() string {
	switch o {
	case Created:
		return "created"
	case Updated:
		return "updated"
	case Deleted:
		return "deleted"
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}

// Result is the outcome of one write of a batch.
type Result struct {
	// Err is nil, ErrPrecondition, ErrNotFound (delete of an absent object, or
	// IfVersion on an absent object) or ErrIdempotencyMismatch.
	Err     error
	Outcome Outcome // set when Err is nil
	// Object is the object as the write left it: for a put the new version,
	// token and time (Value is the written value); for a delete the metadata
	// of the change (Version is the revision of the delete, Value is nil).
	Object Object
	// Replayed is true when the result comes from an idempotency record, not
	// from applying the write now.
	Replayed bool
	// ReplicasAcked is how many replicas acknowledged the batch when
	// Batch.Durability asked for any; 0 otherwise.
	ReplicasAcked int
}

// Object is a stored object with its metadata.
type Object struct {
	Namespace string
	Name      string
	Shard     int
	Version   uint64        // shard revision of the object's last change
	Token     fencing.Token // token of the write that made this version
	UpdatedAt time.Time     // the Batch.Now of that write, millisecond precision
	Value     []byte
}

// Change is one change-log entry.
type Change struct {
	Revision  uint64
	Op        Op
	Namespace string
	Name      string
	Token     fencing.Token
}

// LeaseRequest asks for a shard's lease.
type LeaseRequest struct {
	Shard   int
	Owner   string // coordinator id
	Region  string
	Address string // where the owner serves the shard
	TTL     time.Duration
	// After is the highest token the caller knows was ever granted for the
	// shard (0 if none). The grant is always above it: if the store's counter
	// is below After, the counter went back (a failover to a replica that had
	// not seen the latest grants), and the store skips ahead to After + 1
	// and sets Lease.Regressed rather than hand out a token again.
	After fencing.Token
	// Durability, when it asks for replicas, makes the grant count only once
	// they acknowledged it. If fewer do, AcquireLease returns the granted
	// Lease together with a *ReplicationError: the caller must not act on it
	// (and should release it).
	Durability Durability
}

// Lease is a granted lease.
type Lease struct {
	Shard   int
	Owner   string
	Region  string
	Address string
	Token   fencing.Token
	TTL     time.Duration
	// Regressed is set on a grant that found the shard's counter below
	// LeaseRequest.After and skipped ahead: evidence that the store lost
	// acknowledged state, worth an alarm.
	Regressed bool
}

// LeaseRenewal names a held lease to extend.
type LeaseRenewal struct {
	Shard int
	Owner string
	Token fencing.Token
	TTL   time.Duration
	// Durability, when it asks for replicas, makes the renewals count only
	// once replicas acknowledged them: RenewLeases waits once, after all of
	// them, for the largest Replicas asked (and longest Timeout), and fails as
	// a whole with a *ReplicationError if fewer acknowledge. A holder must
	// not extend its local expiry on such a renewal: a promoted replica may
	// still have the older expiry.
	Durability Durability
}

// LeaseState is what an observer sees of a shard's lease.
type LeaseState struct {
	Shard int
	// Held is false when the shard has no live lease; Lease is then zero
	// except for Shard.
	Held  bool
	Lease Lease
	// Remaining is the server-side time left on the lease.
	Remaining time.Duration
	// Token is the shard's current fencing token (whether or not it is held).
	Token fencing.Token
}

// HeldError reports who holds a lease that could not be acquired.
type HeldError struct{ Holder LeaseState }

func (e *HeldError) Error() string {
	return fmt.Sprintf("store: shard %d lease held by %s (token %d, %s left)",
		e.Holder.Shard, e.Holder.Lease.Owner, e.Holder.Lease.Token, e.Holder.Remaining)
}

// Is makes errors.Is(err, ErrLeaseHeld) true.
func (e *HeldError) Is(target error) bool { return target == ErrLeaseHeld }

// Member is a coordinator's membership record.
type Member struct {
	ID      string
	Region  string
	Address string
}

// Namespace is a namespace's stored settings.
type Namespace struct {
	Name string
	// HomeRegion pins the namespace to a region; empty means unpinned.
	HomeRegion string
	// Shard is the shard the namespace lives on under these settings,
	// resolved once when they were stored so that a later change of the
	// region list cannot move its data.
	Shard int
	// Durability is how many replicas must acknowledge each write to the
	// namespace before it is acknowledged to the client; zero: none. It may
	// be a Majority, which the writer resolves per batch.
	Durability Durability
	// Version counts changes, for compare-and-set; 0 in a Namespace that was
	// never stored.
	Version uint64
}
