// Package fencing defines the fencing token that travels with every write and
// the guard the store applies to it.
//
// Every shard has one token counter in the store. Acquiring the shard's lease
// increments the counter and hands the new value to the new owner; the owner
// attaches it to every write. The store applies a write only when the token it
// carries equals the shard's current token and the lease that granted it is
// still held, and it makes that check and the write one atomic step. A former
// owner that was paused, partitioned or simply slow therefore cannot change
// state once somebody else has acquired: its token is older, and the write is
// refused with an error that matches ErrStale.
//
// What this does not guarantee: a token says nothing about the owner's local
// clock, so it does not stop a stale owner from serving reads. Read safety comes
// from the lease's safe expiry (package leases), not from fencing.
package fencing

import (
	"errors"
	"fmt"
	"strconv"
)

// Token is a shard's fencing token. Tokens of one shard only grow; zero means
// "never granted" and is never accepted by the guard.
type Token uint64

// String returns the token in decimal, the form used in headers and logs.
func (t Token) String() string { return strconv.FormatUint(uint64(t), 10) }

// Parse reads a token in the decimal form String produces.
func Parse(s string) (Token, error) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("fencing: bad token %q: %w", s, ErrMalformed)
	}
	return Token(v), nil
}

// Errors reported by the guard.
var (
	// ErrStale means the write's token is not the shard's current token, or the
	// lease that granted it is no longer held. Nothing was changed.
	ErrStale = errors.New("fencing: stale token")
	// ErrMalformed means a token could not be parsed.
	ErrMalformed = errors.New("fencing: malformed token")
)

// StaleError reports a refused write with the tokens involved. It matches
// ErrStale with errors.Is.
type StaleError struct {
	Shard     int
	Presented Token // the token the write carried
	Current   Token // the shard's current token when the write was refused
	// LeaseHeld is false when the current token's lease had already expired or
	// been released; a write is refused then even if Presented == Current.
	LeaseHeld bool
}

func (e *StaleError) Error() string {
	if e.Presented == e.Current && !e.LeaseHeld {
		return fmt.Sprintf("fencing: shard %d: token %d no longer holds the lease", e.Shard, e.Presented)
	}
	return fmt.Sprintf("fencing: shard %d: stale token %d (current %d)", e.Shard, e.Presented, e.Current)
}

// Is makes errors.Is(err, ErrStale) true for a *StaleError.
func (e *StaleError) Is(target error) bool { return target == ErrStale }

// Check is the guard: it returns nil when a write presenting token presented may
// be applied to a shard whose current token is current and whose lease is (or is
// not) held, and a *StaleError otherwise. Stores call it (or its Lua
// equivalent) inside the same atomic step as the write.
func Check(shard int, presented, current Token, leaseHeld bool) error {
	if presented != 0 && presented == current && leaseHeld {
		return nil
	}
	return &StaleError{Shard: shard, Presented: presented, Current: current, LeaseHeld: leaseHeld}
}
