package api

import (
	"encoding/json"
	"time"
)

// Object is an object in a response.
type Object struct {
	Metadata Metadata        `json:"metadata"`
	Value    json.RawMessage `json:"value,omitempty"`
}

// Metadata describes an object's state.
type Metadata struct {
	Namespace    string    `json:"namespace"`
	Name         string    `json:"name"`
	Version      uint64    `json:"version"`
	Shard        int       `json:"shard"`
	FencingToken uint64    `json:"fencingToken"`
	UpdatedAt    time.Time `json:"updatedAt"`
	// Deleted is set on the response to a DELETE: Version is then the
	// revision of the delete.
	Deleted bool `json:"deleted,omitempty"`
}

// ObjectList is the response to listing a namespace.
type ObjectList struct {
	Items []Object `json:"items"`
	// Revision is the shard revision the list reflects; pass it as
	// minVersion to read at least this state again.
	Revision uint64 `json:"revision"`
}

// NamespaceSettings is the body of PUT /v1/namespaces/{ns} and its response.
type NamespaceSettings struct {
	Namespace string `json:"namespace,omitempty"` // set in responses
	// HomeRegion pins the namespace to a region; empty means the region of
	// the namespace's shard.
	HomeRegion string `json:"homeRegion,omitempty"`
	// Durability asks that every write to the namespace be acknowledged by
	// replicas before it is acknowledged to the client; absent: no wait.
	Durability *Durability `json:"durability,omitempty"`
	// Shard is the shard the namespace lives on (set in responses).
	Shard *int `json:"shard,omitempty"`
}

// Durability is a namespace's replica quorum: {"replicas": 2, "timeout":
// "100ms"}, or {"replicas": "majority", "minReplicas": 1, "timeout": "100ms"}.
//
// A write is acknowledged only once Replicas replicas have it (Redis WAIT),
// and it survives the loss of the primary when one of them is promoted. If
// they do not acknowledge within Timeout the client gets 503
// quorum_not_reached: the write was applied on the primary but may be lost
// if the primary fails before a replica has it, and repeating it with the
// same Idempotency-Key is the safe answer (the repeat replays the first
// outcome and waits for the replicas again).
//
// With Majority the count follows the replicas attached to the primary when
// the write is applied: a majority of all copies, the primary's included
// ((n+1)/2 of n attached replicas), and never fewer than MinReplicas. It
// keeps asking for a majority as replicas are added or removed, without a
// settings change.
//
// Its JSON is encoded by hand (durability.go), because "replicas" is a number or
// the string "majority".
type Durability struct {
	// Replicas is how many replicas must acknowledge; 0 means none (0..16).
	// Ignored with Majority.
	Replicas int
	// Majority asks for a majority of the attached replicas instead of a
	// fixed count: "replicas": "majority".
	Majority bool
	// MinReplicas is the floor of a Majority count (0..16); it must be 0
	// without Majority.
	MinReplicas int
	// Timeout is a Go duration bounding the wait; default DefaultReplicaTimeout.
	Timeout string
}

// MaxReplicas bounds Durability.Replicas and Durability.MinReplicas.
const MaxReplicas = 16

// DefaultReplicaTimeout is the Durability.Timeout of a setting that gives none.
const DefaultReplicaTimeout = 500 * time.Millisecond

// ShardMap is the response to GET /v1/shards.
type ShardMap struct {
	Shards []ShardEntry `json:"shards"`
}

// ShardEntry is one shard of the shard map.
type ShardEntry struct {
	Shard            int    `json:"shard"`
	Owner            string `json:"owner"`
	Region           string `json:"region"`
	Address          string `json:"address"`
	FencingToken     uint64 `json:"fencingToken"`
	LeaseRemainingMs int64  `json:"leaseRemainingMs"`
	HomeRegion       string `json:"homeRegion"`
}

// ErrorBody is every error response: {"error": {"code": ..., "message": ...}}.
type ErrorBody struct {
	Error Error `json:"error"`
	// Owner is set on 421 Misdirected Request: the owner the coordinator
	// knows of, if any.
	Owner *Owner `json:"owner,omitempty"`
}

// Error is the error object.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Owner names a shard owner.
type Owner struct {
	ID           string `json:"id"`
	Region       string `json:"region"`
	Address      string `json:"address"`
	FencingToken uint64 `json:"fencingToken"`
}

// Error codes, stable parts of the contract. The HTTP status that goes with
// each is given in its comment.
const (
	CodeBadRequest          = "bad_request"            // 400
	CodeInvalidName         = "invalid_name"           // 400
	CodeInvalidBody         = "invalid_body"           // 400: not a JSON object
	CodeInvalidParameter    = "invalid_parameter"      // 400: consistency, maxStaleness, minVersion, headers
	CodeUnauthenticated     = "unauthenticated"        // 401
	CodeForbidden           = "forbidden"              // 403
	CodeNotFound            = "not_found"              // 404
	CodeMethodNotAllowed    = "method_not_allowed"     // 405
	CodeConflict            = "conflict"               // 409
	CodeIdempotencyInFlight = "idempotency_in_flight"  // 409: same key still being applied
	CodeGone                = "gone"                   // 410
	CodePreconditionFailed  = "precondition_failed"    // 412
	CodeBodyTooLarge        = "body_too_large"         // 413
	CodeUnsupportedMedia    = "unsupported_media_type" // 415
	CodeMisdirected         = "misdirected"            // 421: not the shard's owner
	CodeNotImplemented      = "not_implemented"        // 501: a route of the contract this release does not serve yet
	CodeIdempotencyMismatch = "idempotency_key_reused" // 422: same key, another request
	CodeNamespaceNotEmpty   = "namespace_not_empty"    // 409: moving a namespace that has objects
	CodeOverloaded          = "overloaded"             // 429
	CodeInternal            = "internal"               // 500
	CodeNoOwner             = "no_owner"               // 503: shard has no reachable owner
	CodeQuorumNotReached    = "quorum_not_reached"     // 503
	CodeUnavailable         = "unavailable"            // 503: store or coordinator unreachable
)
