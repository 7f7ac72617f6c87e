package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// ErrInvalidDurability is the error of a durability setting that does not
// decode: a replica count that is neither an integer 0..MaxReplicas nor
// "majority", a minReplicas without "majority", an unknown field.
var ErrInvalidDurability = errors.New("invalid durability")

// ReplicasMajority is the "replicas" value that asks for a majority.
const ReplicasMajority = "majority"

// durabilityIn is Durability as it arrives; the counts stay raw because
// "replicas" is a number or a string.
type durabilityIn struct {
	Replicas    json.RawMessage `json:"replicas"`
	MinReplicas json.RawMessage `json:"minReplicas"`
	Timeout     string          `json:"timeout"`
}

// UnmarshalJSON implements json.Unmarshaler. It refuses unknown fields even
// when the caller's decoder does not: a misspelt "minReplicas" silently
// ignored would weaken what the operator asked for. Errors match
// ErrInvalidDurability. JSON null leaves d as it is.
func (d *Durability) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) == 0 || b[0] != '{' {
		return fmt.Errorf("%w: durability must be a JSON object", ErrInvalidDurability)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var in durabilityIn
	if err := dec.Decode(&in); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidDurability, err)
	}
	out := Durability{Timeout: in.Timeout}
	if isAbsent(in.Replicas) {
		// Absent is none, as it always was.
	} else if s, ok := jsonString(in.Replicas); ok && s == ReplicasMajority {
		out.Majority = true
	} else if n, ok := replicaCount(in.Replicas); ok {
		out.Replicas = n
	} else {
		return fmt.Errorf("%w: replicas must be an integer 0..%d or %q, not %s",
			ErrInvalidDurability, MaxReplicas, ReplicasMajority, excerpt(in.Replicas))
	}
	if !isAbsent(in.MinReplicas) {
		if !out.Majority {
			return fmt.Errorf("%w: minReplicas is the floor of \"replicas\": %q and cannot go with a fixed count",
				ErrInvalidDurability, ReplicasMajority)
		}
		n, ok := replicaCount(in.MinReplicas)
		if !ok {
			return fmt.Errorf("%w: minReplicas must be an integer 0..%d, not %s",
				ErrInvalidDurability, MaxReplicas, excerpt(in.MinReplicas))
		}
		out.MinReplicas = n
	}
	*d = out
	return nil
}

// MarshalJSON implements json.Marshaler. A fixed count encodes as it always
// did, {"replicas":1,"timeout":"100ms"}; a majority as {"replicas":
// "majority","minReplicas":1,"timeout":"100ms"}, minReplicas left out when 0.
func (d Durability) MarshalJSON() ([]byte, error) {
	type out[R any] struct {
		Replicas    R      `json:"replicas"`
		MinReplicas int    `json:"minReplicas,omitempty"`
		Timeout     string `json:"timeout,omitempty"`
	}
	if d.Majority {
		return json.Marshal(out[string]{ReplicasMajority, d.MinReplicas, d.Timeout})
	}
	return json.Marshal(out[int]{d.Replicas, d.MinReplicas, d.Timeout})
}

func isAbsent(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

func jsonString(raw json.RawMessage) (string, bool) {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// replicaCount reads a JSON integer 0..MaxReplicas; 1.0, 1e0 and "1" are
// not integers here.
func replicaCount(raw json.RawMessage) (int, bool) {
	n, err := strconv.Atoi(string(raw))
	if err != nil || n < 0 || n > MaxReplicas {
		return 0, false
	}
	return n, true
}

// excerpt quotes the start of a refused value for an error message.
func excerpt(raw json.RawMessage) string {
	const limit = 32
	if len(raw) > limit {
		return string(raw[:limit]) + "..."
	}
	return string(raw)
}
