package leases

import (
	"context"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cpgw/cpgw/fencing"
)

// Lease is one held shard lease. Act as the shard's owner only while Valid
// reports true, and put Token on every write.
type Lease struct {
	shard int
	token fencing.Token
	k     *Keeper

	ctx    context.Context
	cancel context.CancelCauseFunc

	mu        sync.Mutex
	safeUntil time.Time
	timer     clockwork.Timer // fires at safeUntil; re-arms when renewed
	ended     bool
}

func newLease(k *Keeper, shard int, token fencing.Token, safeUntil time.Time) *Lease {
	ctx, cancel := context.WithCancelCause(context.Background())
	l := &Lease{shard: shard, token: token, k: k, ctx: ctx, cancel: cancel, safeUntil: safeUntil}
	l.mu.Lock()
	l.timer = k.clock.AfterFunc(k.clock.Until(safeUntil), l.checkExpiry)
	l.mu.Unlock()
	return l
}

// Shard is the leased shard.
func (l *Lease) Shard() int { return l.shard }

// Token is the fencing token the store granted with this lease.
func (l *Lease) Token() fencing.Token { return l.token }

// Ctx returns a context cancelled when the lease ends; context.Cause tells why
// (ErrExpired, ErrLost, ErrReleased, ErrStopped, or store.ErrEpoch when the
// store lost its state).
func (l *Lease) Ctx() context.Context { return l.ctx }

// Done is closed when the lease ends.
func (l *Lease) Done() <-chan struct{} { return l.ctx.Done() }

// Err is nil while the lease has not ended, and the reason afterwards.
func (l *Lease) Err() error { return context.Cause(l.ctx) }

// SafeUntil is the local instant until which the lease may be acted on.
func (l *Lease) SafeUntil() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.safeUntil
}

// Valid reports whether the lease may be acted on now. It reads the clock
// itself rather than trusting the expiry timer to have fired on time.
func (l *Lease) Valid() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.ended && l.k.clock.Now().Before(l.safeUntil)
}

// Remaining is how long the lease may still be acted on, 0 once it has ended.
func (l *Lease) Remaining() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended {
		return 0
	}
	return max(0, l.k.clock.Until(l.safeUntil))
}

// Release stops acting as owner at once and then deletes the lease in the
// store, so another coordinator can acquire it without waiting for the TTL.
// The local lease ends even when the store cannot be reached (the server-side
// TTL then frees the shard).
func (l *Lease) Release(ctx context.Context) error {
	if !l.end(ErrReleased) {
		return nil // already ended; nothing of ours to release
	}
	return l.k.st.ReleaseLease(ctx, l.shard, l.k.cfg.Owner, l.token)
}

// extend moves the safe expiry to until if the lease is still live. A renewal
// that succeeded but returned after the old safe expiry does not revive it:
// the holder already stopped and the shard may have been handed on in its mind.
func (l *Lease) extend(until time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended || !l.k.clock.Now().Before(l.safeUntil) {
		return false
	}
	if until.After(l.safeUntil) {
		l.safeUntil = until
	}
	return true
}

// checkExpiry runs when the timer fires: it ends the lease if the safe expiry
// has passed, or re-arms the timer for a renewed expiry.
func (l *Lease) checkExpiry() {
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		return
	}
	if left := l.k.clock.Until(l.safeUntil); left > 0 {
		l.timer.Reset(left)
		l.mu.Unlock()
		return
	}
	l.mu.Unlock()
	l.lose(ErrExpired)
}

// lose ends the lease for cause and reports it through OnLost.
func (l *Lease) lose(cause error) {
	if l.end(cause) {
		l.k.lost(l, cause)
	}
}

// end marks the lease ended; it reports false if it already was.
func (l *Lease) end(cause error) bool {
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		return false
	}
	l.ended = true
	l.timer.Stop()
	l.mu.Unlock()
	l.cancel(cause)
	l.k.forget(l)
	return true
}
