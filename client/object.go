package client

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cpgw/cpgw/api"
)

// ConsistencyLevel is a read's consistency: Local or Strong.
type ConsistencyLevel string

// Consistency levels (DESIGN.md, "HTTP API").
const (
	// Local reads are served by the region's replica within a staleness
	// bound (MaxStaleness); past the bound the owner answers.
	Local ConsistencyLevel = api.ConsistencyLocal
	// Strong reads are served by the shard's owner under a valid lease.
	Strong ConsistencyLevel = api.ConsistencyStrong
)

// Object is an object as a gateway returned it.
type Object struct {
	api.Metadata
	// Value is the object's JSON value; empty in the response to Delete.
	Value json.RawMessage
	// Info says how the response was served.
	Info ResponseInfo
}

// Decode unmarshals the object's value into v.
func (o *Object) Decode(v any) error {
	if len(o.Value) == 0 {
		return fmt.Errorf("cpgw: %s/%s has no value", o.Namespace, o.Name)
	}
	return json.Unmarshal(o.Value, v)
}

// List is a namespace's objects.
type List struct {
	// Items carry the list's Info.
	Items []Object
	// Revision is the shard revision the list reflects; MinVersion(Revision)
	// reads at least this state again.
	Revision uint64
	Info     ResponseInfo
}

// ResponseInfo is what a response said about itself, from its headers, and
// how the client got it.
type ResponseInfo struct {
	// StatusCode is the HTTP status; on Put, 201 means created and 200
	// replaced.
	StatusCode int
	// Consistency is how the read was served (X-Consistency). A Local read
	// whose replica was too stale, or behind MinVersion, comes back Strong.
	Consistency ConsistencyLevel
	// ServedBy is "<region>/<node>" (X-Served-By).
	ServedBy string
	// Staleness is the upper bound of a local read's staleness
	// (X-Staleness-Ms); zero when not reported.
	Staleness time.Duration
	// FencingToken and ReplicasAcked are set on write responses
	// (X-Fencing-Token, X-Replicas-Acked).
	FencingToken  uint64
	ReplicasAcked int
	// Replayed reports that a write's idempotency key had been seen and
	// this is the first response again (Idempotent-Replayed).
	Replayed bool
	// IdempotencyKey is the key the write was sent with; empty on reads.
	IdempotencyKey string
	// RequestID is X-Request-Id, for support.
	RequestID string
	// Gateway is the base URL of the gateway that answered, and Attempts
	// how many requests the call took.
	Gateway  string
	Attempts int
}

// responseInfo reads the response headers. Malformed values are left zero:
// they are informational, and the body is what matters.
func responseInfo(status int, h http.Header) ResponseInfo {
	info := ResponseInfo{
		StatusCode:  status,
		Consistency: ConsistencyLevel(h.Get(api.HeaderConsistency)),
		ServedBy:    h.Get(api.HeaderServedBy),
		RequestID:   h.Get(api.HeaderRequestID),
	}
	if ms, err := strconv.ParseInt(h.Get(api.HeaderStalenessMs), 10, 64); err == nil && ms > 0 &&
		ms <= int64(math.MaxInt64/time.Millisecond) {
		info.Staleness = time.Duration(ms) * time.Millisecond
	}
	if t, err := strconv.ParseUint(h.Get(api.HeaderFencingToken), 10, 64); err == nil {
		info.FencingToken = t
	}
	if n, err := strconv.Atoi(h.Get(api.HeaderReplicasAcked)); err == nil && n >= 0 {
		info.ReplicasAcked = n
	}
	if b, err := strconv.ParseBool(h.Get(api.HeaderIdempotentReplayed)); err == nil {
		info.Replayed = b
	}
	return info
}

// parseETag reads `"7"` (or a weak `W/"7"`) as version 7.
func parseETag(v string) (uint64, bool) {
	v = strings.TrimPrefix(strings.TrimSpace(v), "W/")
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return 0, false
	}
	n, err := strconv.ParseUint(v[1:len(v)-1], 10, 64)
	return n, err == nil
}

// formatETag is the If-Match form of a version.
func formatETag(version uint64) string {
	return `"` + strconv.FormatUint(version, 10) + `"`
}
