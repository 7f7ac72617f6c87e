package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/jonboulle/clockwork"

	"github.com/cpgw/cpgw/internal/files"
)

// Reloader serves the certificate pair and CA pool named by a Files, and
// replaces them when the files change (Run) or when asked to (Reload). Its
// methods are safe for concurrent use.
type Reloader struct {
	files   Files // normalised: Interval, Clock and Logger set
	hasPair bool
	hasCA   bool

	// The current material. Handshakes only load these.
	pair atomic.Pointer[tls.Certificate]
	pool atomic.Pointer[x509.CertPool]

	// mu serialises loads (Run's checks and Reload) and guards the fields
	// below it.
	mu        sync.Mutex
	pairState fileSet
	caState   fileSet
}

// fileSet is what a Reloader knows about a set of files loaded together
// (the pair, or the CA bundle).
type fileSet struct {
	watch   *files.Watched // the files the current material came from
	lastErr string         // the last failure Run logged, to log each failure once
}

// NewReloader loads the files now. It fails if a file is missing or bad, or
// if the key does not match the certificate.
func NewReloader(f Files) (*Reloader, error) {
	if (f.CertFile == "") != (f.KeyFile == "") {
		return nil, fmt.Errorf("certs: CertFile %q and KeyFile %q must be set together: %w", f.CertFile, f.KeyFile, ErrInvalidFiles)
	}
	if f.CertFile == "" && f.CAFile == "" {
		return nil, fmt.Errorf("certs: no CertFile, KeyFile or CAFile: %w", ErrInvalidFiles)
	}
	if f.Interval < 0 {
		return nil, fmt.Errorf("certs: negative Interval %v: %w", f.Interval, ErrInvalidFiles)
	}
	if f.Interval == 0 {
		f.Interval = DefaultInterval
	}
	if f.Clock == nil {
		f.Clock = clockwork.NewRealClock()
	}
	if f.Logger == nil {
		f.Logger = slog.Default()
	}
	r := &Reloader{files: f, hasPair: f.CertFile != "", hasCA: f.CAFile != ""}
	if r.hasPair {
		r.pairState.watch = files.Watch(maxFileBytes, f.CertFile, f.KeyFile)
	}
	if r.hasCA {
		r.caState.watch = files.Watch(maxFileBytes, f.CAFile)
	} else {
		r.pool.Store(x509.NewCertPool()) // empty: refuse every peer, never fall back to system roots
	}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Run checks the files every Interval until ctx ends, and swaps in material
// from files that changed. A change that does not load (a half-written file,
// a certificate with the old key) keeps the previous material, is logged,
// and is retried on the next check. Run returns nil when ctx ends; the
// caller that starts it stops it. One Run per Reloader is enough.
func (r *Reloader) Run(ctx context.Context) error {
	return files.Poll(ctx, r.files.Clock, r.files.Interval, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.hasPair {
			r.logFailure(&r.pairState, r.loadPair(false))
		}
		if r.hasCA {
			r.logFailure(&r.caState, r.loadCA(false))
		}
	})
}

// logFailure logs err unless it is the failure logged last. r.mu is held.
func (r *Reloader) logFailure(s *fileSet, err error) {
	if err == nil {
		s.lastErr = ""
		return
	}
	if msg := err.Error(); msg != s.lastErr {
		s.lastErr = msg
		r.files.Logger.Error("certs: reload failed; keeping the previous material", "err", err)
	}
}

// Reload reads all files now and swaps in what changed. If a file does not
// load, the material it belongs to (the pair, or the CA pool) is kept and the
// error, naming the file, is returned.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	if r.hasPair {
		errs = append(errs, r.loadPair(true))
	}
	if r.hasCA {
		errs = append(errs, r.loadCA(true))
	}
	return errors.Join(errs...)
}

// loadPair loads the certificate and key if they may have changed (always,
// if force). r.mu is held.
func (r *Reloader) loadPair(force bool) error {
	names := []string{r.files.CertFile, r.files.KeyFile}
	ch, err := r.pairState.watch.Changed(force)
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	if ch == nil {
		return nil
	}
	pair, err := parsePair(names[0], ch.Content[0], names[1], ch.Content[1])
	if err != nil {
		return err
	}
	r.pair.Store(pair)
	r.pairState.watch.Commit(ch)
	leaf := pair.Leaf
	log := r.files.Logger.With("file", names[0], "serial", leaf.SerialNumber.Text(16),
		"subject", leaf.Subject.CommonName, "not_after", leaf.NotAfter)
	if now := r.files.Clock.Now(); now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		log.Warn("certs: loaded a certificate that is not valid now", "not_before", leaf.NotBefore)
	} else {
		log.Info("certs: loaded certificate")
	}
	return nil
}

// loadCA loads the CA bundle if it may have changed (always, if force).
// r.mu is held.
func (r *Reloader) loadCA(force bool) error {
	names := []string{r.files.CAFile}
	ch, err := r.caState.watch.Changed(force)
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	if ch == nil {
		return nil
	}
	pool, err := parsePool(names[0], ch.Content[0])
	if err != nil {
		return err
	}
	r.pool.Store(pool)
	r.caState.watch.Commit(ch)
	r.files.Logger.Info("certs: loaded CA bundle", "file", names[0])
	return nil
}

// GetCertificate returns the current certificate, for tls.Config.GetCertificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if p := r.pair.Load(); p != nil {
		return p, nil
	}
	return nil, fmt.Errorf("certs: no CertFile configured: %w", ErrNoCertificate)
}

// GetClientCertificate returns the current certificate, for
// tls.Config.GetClientCertificate. Without a pair it returns an empty
// certificate, which sends none.
func (r *Reloader) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	if p := r.pair.Load(); p != nil {
		return p, nil
	}
	return &tls.Certificate{}, nil
}

// Pool returns the current CA pool. It is empty if no CAFile is configured.
// The pool must not be modified.
func (r *Reloader) Pool() *x509.CertPool { return r.pool.Load() }

// Leaf returns the current certificate, or nil if no pair is configured.
func (r *Reloader) Leaf() *x509.Certificate {
	if p := r.pair.Load(); p != nil {
		return p.Leaf
	}
	return nil
}
