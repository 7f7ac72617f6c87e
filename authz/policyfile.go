package authz

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cpgw/cpgw/internal/files"
)

// PolicyFile is a Policy read from a YAML file and reloaded when the file
// changes. Its methods are safe for concurrent use.
type PolicyFile struct {
	path     string
	interval time.Duration
	clock    clockwork.Clock
	log      *slog.Logger

	// policy is the current policy; Allowed only loads it.
	policy atomic.Pointer[Policy]

	// mu serialises loads and guards the fields below it.
	mu      sync.Mutex
	file    *files.Watched
	lastErr string // the last load failure logged, to log each once
}

// NewPolicyFile loads the policy at path now: a missing or bad file is an
// error. Run checks it every interval (0: 1s); clock nil means the real
// clock, log nil slog.Default().
func NewPolicyFile(path string, interval time.Duration, clock clockwork.Clock, log *slog.Logger) (*PolicyFile, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: policy file: no path", ErrInvalidConfig)
	}
	if interval < 0 {
		return nil, fmt.Errorf("%w: policy file: interval %v is negative", ErrInvalidConfig, interval)
	}
	if interval == 0 {
		interval = time.Second
	}
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	if log == nil {
		log = slog.Default()
	}
	f := &PolicyFile{path: path, interval: interval, clock: clock, log: log, file: files.Watch(maxFileBytes, path)}
	if err := f.Reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// Allowed reports whether the current policy allows req to id. A nil
// PolicyFile allows nothing.
func (f *PolicyFile) Allowed(id Identity, req Request) bool {
	if f == nil {
		return false
	}
	return f.policy.Load().Allowed(id, req)
}

// Policy returns the current policy (nil for a nil PolicyFile).
func (f *PolicyFile) Policy() *Policy {
	if f == nil {
		return nil
	}
	return f.policy.Load()
}

// Run checks the file every interval until ctx ends and swaps in a changed
// policy. A file that does not parse keeps the previous policy, is logged
// once, and is retried on the next check. Run returns nil when ctx ends.
func (f *PolicyFile) Run(ctx context.Context) error {
	return files.Poll(ctx, f.clock, f.interval, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if err := f.load(false); err == nil {
			f.lastErr = ""
		} else if msg := err.Error(); msg != f.lastErr {
			f.lastErr = msg
			f.log.Error("authz: policy reload failed; keeping the previous policy", "file", f.path, "err", err)
		}
	})
}

// Reload reads the file now. If it does not parse, the previous policy
// stays and the error is returned.
func (f *PolicyFile) Reload() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.load(true)
}

// load reads the file if it may have changed (always, if force). f.mu is held.
func (f *PolicyFile) load(force bool) error {
	ch, err := f.file.Changed(force)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidPolicy, err)
	}
	if ch == nil {
		return nil
	}
	p, err := ParsePolicy(ch.Content[0])
	if err != nil {
		return fmt.Errorf("%w (file %s)", err, f.path)
	}
	f.policy.Store(p)
	f.file.Commit(ch)
	f.log.Info("authz: loaded policy", "file", f.path)
	return nil
}
