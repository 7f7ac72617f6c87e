package chaos

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// OpKind says what an operation did.
type OpKind int

const (
	OpWrite OpKind = iota
	OpRead
)

// Outcome is what the client learned about an operation.
type Outcome int

const (
	// OutcomeOK: acknowledged.
	OutcomeOK Outcome = iota
	// OutcomeFailed: definitely had no effect (a 4xx, or a 503 no_owner
	// that says nothing was applied). Failed ops are left out of the checks.
	OutcomeFailed
	// OutcomeUnknown: a timeout, a connection error, a 503 unavailable: the
	// write may or may not have been applied, now or later.
	OutcomeUnknown
)

var (
	// ErrUnknownName: a saved history names an OpKind or Outcome this
	// version does not know.
	ErrUnknownName = errors.New("chaos: unknown name")

	kindNames    = []string{OpWrite: "write", OpRead: "read"}
	outcomeNames = []string{OutcomeOK: "ok", OutcomeFailed: "failed", OutcomeUnknown: "unknown"}
)

func (k OpKind) String() string  { return enumName(kindNames, int(k)) }
func (o Outcome) String() string { return enumName(outcomeNames, int(o)) }
func enumName(names []string, i int) string {
	if i >= 0 && i < len(names) {
		return names[i]
	}
	return fmt.Sprintf("%d", i)
}

// Names rather than numbers in the JSON history, so that a saved history
// reads on its own and survives a reordering of the constants.
func (k OpKind) MarshalText() ([]byte, error)   { return []byte(k.String()), nil }
func (o Outcome) MarshalText() ([]byte, error)  { return []byte(o.String()), nil }
func (k *OpKind) UnmarshalText(b []byte) error  { return parseEnum(kindNames, b, (*int)(k)) }
func (o *Outcome) UnmarshalText(b []byte) error { return parseEnum(outcomeNames, b, (*int)(o)) }

func parseEnum(names []string, b []byte, dst *int) error {
	for i, n := range names {
		if n == string(b) {
			*dst = i
			return nil
		}
	}
	return fmt.Errorf("%w: %q", ErrUnknownName, b)
}

// Op is one client operation as the client saw it.
type Op struct {
	Client int    `json:"client"`
	Key    string `json:"key"` // "namespace/name"
	Kind   OpKind `json:"kind"`
	// Value: for a write the unique value written, for a read the value
	// read ("" if not found).
	Value string `json:"value,omitempty"`
	Found bool   `json:"found,omitempty"` // read: the object existed
	// Version in the response: a write's new version, a read's version.
	Version      uint64 `json:"version,omitempty"`
	FencingToken uint64 `json:"fencingToken,omitempty"` // acknowledged write: X-Fencing-Token
	// Strong: the read was served strongly (X-Consistency: strong), also
	// when a local read fell back to the owner. Only strong reads take part
	// in the linearizability check.
	Strong         bool          `json:"strong,omitempty"`
	StalenessBound time.Duration `json:"stalenessBoundNs,omitempty"` // local read: X-Staleness-Ms
	MaxStaleness   time.Duration `json:"maxStalenessNs,omitempty"`   // local read: what was asked for
	IdempotencyKey string        `json:"idempotencyKey,omitempty"`
	Replayed       bool          `json:"replayed,omitempty"`
	// Call and Return are measured on the History's monotonic clock, so a
	// wall-clock step cannot reorder operations.
	Call    time.Duration `json:"callNs"`
	Return  time.Duration `json:"returnNs"`
	Outcome Outcome       `json:"outcome"`
	Err     string        `json:"err,omitempty"`
	// Canceled marks an operation cut short by the end of the workload,
	// not by a fault: it is not a client-visible error.
	Canceled bool `json:"canceled,omitempty"`
}

// History is the record of a workload. It is safe for concurrent use.
type History struct {
	base time.Time // carries a monotonic reading; only differences are used
	mu   sync.Mutex
	ops  []Op
}

// NewHistory starts a history whose clock reads zero now.
func NewHistory() *History { return &History{base: time.Now()} }

// Now is the time since the history's base on the monotonic clock.
func (h *History) Now() time.Duration { return time.Since(h.base) }

// Add records op; call it after the op returned, with Call and Return set.
func (h *History) Add(op Op) {
	h.mu.Lock()
	h.ops = append(h.ops, op)
	h.mu.Unlock()
}

// Ops returns a copy of the operations, in the order they were added.
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Op(nil), h.ops...)
}

// WriteJSON writes the history as a JSON array, one operation per line,
// so that a large history can be read with line-oriented tools.
func (h *History) WriteJSON(w io.Writer) error {
	ops := h.Ops()
	if _, err := io.WriteString(w, "["); err != nil {
		return err
	}
	for i, op := range ops {
		b, err := json.Marshal(op)
		if err != nil {
			return err
		}
		sep := ",\n"
		if i == 0 {
			sep = "\n"
		}
		if _, err := io.WriteString(w, sep+string(b)); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, "\n]\n")
	return err
}
