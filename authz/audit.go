package authz

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
)

// Audit outcomes, the values of Record.Outcome.
const (
	// OutcomeAllowed: a mutation passed authorisation and ran; Status is
	// what the client got, whatever it was.
	OutcomeAllowed = "allowed"
	// OutcomeDenied: refused by the policy (403).
	OutcomeDenied = "denied"
	// OutcomeUnauthenticated: no or bad credentials (401).
	OutcomeUnauthenticated = "unauthenticated"
)

// Record is one audit log line.
type Record struct {
	Time         time.Time `json:"time"`
	Subject      string    `json:"subject,omitempty"`
	AuthMethod   string    `json:"authMethod,omitempty"`
	Verb         string    `json:"verb"`
	Resource     string    `json:"resource"`
	Namespace    string    `json:"namespace,omitempty"`
	Name         string    `json:"name,omitempty"`
	Outcome      string    `json:"outcome"` // OutcomeAllowed, OutcomeDenied or OutcomeUnauthenticated
	Status       int       `json:"status"`
	FencingToken uint64    `json:"fencingToken,omitempty"`
	RequestID    string    `json:"requestId,omitempty"`
	Region       string    `json:"region,omitempty"`
	// Reason is short and never holds a token or a secret.
	Reason string `json:"reason,omitempty"`
	// Suppressed, on a 401 record, counts the 401 records left out since
	// the last one written (Middleware.UnauthenticatedPerSecond).
	Suppressed uint64 `json:"suppressed,omitempty"`
}

// Auditor writes Records as JSON lines. Each record is one Write of one
// line, serialised, so concurrent requests never interleave within a line.
// A nil *Auditor records nothing, so auditing can be optional.
type Auditor struct {
	clock clockwork.Clock

	// mu serialises writes and guards the fields below it.
	mu     sync.Mutex
	w      io.Writer
	closer io.Closer // the file OpenAuditor opened; nil for NewAuditor
	closed bool
}

// NewAuditor returns an Auditor writing to w (not closed by Close). clock
// nil means the real clock.
func NewAuditor(w io.Writer, clock clockwork.Clock) *Auditor {
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	return &Auditor{clock: clock, w: w}
}

// OpenAuditor appends to the file at path, created with mode 0600 if
// missing (it names who did what). Close closes it.
func OpenAuditor(path string, clock clockwork.Clock) (*Auditor, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("authz: audit log: %w", err)
	}
	a := NewAuditor(f, clock)
	a.closer = f
	return a, nil
}

// Record writes r as one line, with Time set to now if zero. It does not
// fsync: a record is in the kernel's hands once Record returns, which
// survives the process but not the machine.
func (a *Auditor) Record(r Record) error {
	if a == nil {
		return nil
	}
	if r.Time.IsZero() {
		r.Time = a.clock.Now().UTC()
	}
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("authz: audit record: %w", err)
	}
	line = append(line, '\n')
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return fmt.Errorf("authz: audit log: %w", os.ErrClosed)
	}
	if _, err := a.w.Write(line); err != nil {
		return fmt.Errorf("authz: audit log: %w", err)
	}
	return nil
}

// Close stops recording and closes the file OpenAuditor opened. Later
// Records fail. Closing twice is a no-op.
func (a *Auditor) Close() error {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	a.closed = true
	if a.closer != nil {
		return a.closer.Close()
	}
	return nil
}
