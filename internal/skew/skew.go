package skew

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
)

// The rates New accepts. A real clock that is off by more than a few percent
// is broken rather than drifting; the bounds only keep a typo (0.1, 10) from
// turning a drift test into something else.
const (
	MinRate = 0.5
	MaxRate = 2.0
)

// New returns a clock reading base's time at the call plus offset, and
// advancing rate times as fast as base from then on (see the package doc).
// It fails if base is nil or rate is not a finite number within
// [MinRate, MaxRate].
func New(base clockwork.Clock, offset time.Duration, rate float64) (clockwork.Clock, error) {
	if base == nil {
		return nil, errors.New("skew: nil base clock")
	}
	if math.IsNaN(rate) || math.IsInf(rate, 0) || rate < MinRate || rate > MaxRate {
		return nil, fmt.Errorf("skew: rate %v: want a finite rate within [%v, %v]", rate, MinRate, MaxRate)
	}
	start := base.Now()
	return &clock{base: base, start: start, origin: start.Add(offset), rate: rate}, nil
}

type clock struct {
	base   clockwork.Clock
	start  time.Time // base.Now() at New
	origin time.Time // start + offset: the skewed clock's reading at New
	rate   float64
}

func (c *clock) Now() time.Time {
	return c.origin.Add(c.fromBase(c.base.Since(c.start)))
}

func (c *clock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

func (c *clock) Until(t time.Time) time.Duration { return t.Sub(c.Now()) }

func (c *clock) Sleep(d time.Duration) { c.base.Sleep(c.toBase(d)) }

func (c *clock) After(d time.Duration) <-chan time.Time { return c.NewTimer(d).Chan() }

func (c *clock) AfterFunc(d time.Duration, f func()) clockwork.Timer {
	return &funcTimer{c: c, bt: c.base.AfterFunc(c.toBase(d), f)}
}

func (c *clock) NewTimer(d time.Duration) clockwork.Timer {
	t := &timer{c: c, ch: make(chan time.Time, 1)}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.arm(d)
	return t
}

func (c *clock) NewTicker(d time.Duration) clockwork.Ticker {
	if d <= 0 {
		panic(errors.New("non-positive interval for NewTicker"))
	}
	t := &ticker{c: c, ch: make(chan time.Time, 1)}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.arm(d)
	return t
}

// fromBase converts elapsed base time to elapsed skewed time, rounding
// down.
func (c *clock) fromBase(e time.Duration) time.Duration {
	if c.rate == 1 {
		return e
	}
	return clamp(math.Floor(float64(e) * c.rate))
}

// toBase converts a skewed duration to the base duration to wait for it:
// the least b with fromBase(b) >= d, so a wait of toBase(d) never ends
// before d has passed on the skewed clock. Non-positive durations are
// returned unchanged (they mean "now" to every timer).
func (c *clock) toBase(d time.Duration) time.Duration {
	if d <= 0 || c.rate == 1 {
		return d
	}
	b := clamp(math.Ceil(float64(d) / c.rate))
	// Float rounding can leave b a nanosecond or two short.
	for b < math.MaxInt64 && c.fromBase(b) < d {
		b++
	}
	return b
}

func clamp(f float64) time.Duration {
	switch {
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	}
	return time.Duration(f)
}

// funcTimer is an AfterFunc timer: the base clock's, with Reset's duration
// converted.
type funcTimer struct {
	c  *clock
	bt clockwork.Timer
}

func (t *funcTimer) Chan() <-chan time.Time     { return t.bt.Chan() }
func (t *funcTimer) Reset(d time.Duration) bool { return t.bt.Reset(t.c.toBase(d)) }
func (t *funcTimer) Stop() bool                 { return t.bt.Stop() }

// timer is a channel timer. Each arming (NewTimer, Reset) schedules a fresh
// base AfterFunc tagged with a generation; Stop and Reset bump the
// generation, so a callback already under way for an older arming sends
// nothing, and drain the channel, so no stale value is received afterwards.
type timer struct {
	c  *clock
	ch chan time.Time

	mu   sync.Mutex
	gen  uint64
	bt   clockwork.Timer // the current arming's; nil once stopped
	sent bool            // the current arming's value went on ch
}

func (t *timer) Chan() <-chan time.Time { return t.ch }

func (t *timer) Stop() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.disarm()
}

func (t *timer) Reset(d time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	active := t.disarm()
	t.arm(d)
	return active
}

// arm schedules the timer to fire after d on the skewed clock. t.mu is held.
func (t *timer) arm(d time.Duration) {
	t.gen++
	gen := t.gen
	t.sent = false
	t.bt = t.c.base.AfterFunc(t.c.toBase(d), func() { t.fire(gen) })
}

func (t *timer) fire(gen uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if gen != t.gen {
		return
	}
	t.sent = true
	select {
	case t.ch <- t.c.Now():
	default: // cannot happen: one value per arming, and arming drains ch
	}
}

// disarm stops the timer and reports whether it was active: armed and its
// value not yet received. t.mu is held.
func (t *timer) disarm() bool {
	if t.bt == nil {
		return false
	}
	t.bt.Stop()
	t.bt = nil
	t.gen++
	drained := false
	select {
	case <-t.ch:
		drained = true
	default:
	}
	// Not sent: the base timer was stopped in time, or its callback is
	// under way and will find the generation moved on.
	return !t.sent || drained
}

// ticker is a channel ticker built, like timer, on a base AfterFunc that
// each tick reschedules for the next tick of a fixed schedule in base time,
// so the phase does not drift. A tick the receiver has not taken yet is not
// queued behind (the channel holds one), as with time.Ticker.
//
// Unlike a time.Ticker, a ticker that is never stopped keeps its base timer
// scheduled after it is dropped: stop tickers.
type ticker struct {
	c  *clock
	ch chan time.Time

	mu     sync.Mutex
	gen    uint64
	bt     clockwork.Timer // the current arming's; nil once stopped
	period time.Duration   // in base time
	next   time.Time       // base time of the next tick
}

func (t *ticker) Chan() <-chan time.Time { return t.ch }

func (t *ticker) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.disarm()
}

func (t *ticker) Reset(d time.Duration) {
	if d <= 0 {
		panic(errors.New("non-positive interval for Ticker.Reset"))
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.disarm()
	t.arm(d)
}

// arm starts ticking every d on the skewed clock. t.mu is held.
func (t *ticker) arm(d time.Duration) {
	t.gen++
	gen := t.gen
	t.period = t.c.toBase(d)
	t.next = t.c.base.Now().Add(t.period)
	t.bt = t.c.base.AfterFunc(t.period, func() { t.tick(gen) })
}

func (t *ticker) tick(gen uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if gen != t.gen {
		return
	}
	now := t.c.base.Now()
	next := t.next.Add(t.period)
	if !next.After(now) { // ticks missed: skip them, keeping the phase
		next = next.Add((now.Sub(next)/t.period + 1) * t.period)
	}
	t.next = next
	t.bt.Reset(next.Sub(now))
	select {
	case t.ch <- t.c.Now():
	default: // the last tick is still unread: drop this one
	}
}

// disarm stops the ticker and drains its channel. t.mu is held.
func (t *ticker) disarm() {
	if t.bt != nil {
		t.bt.Stop()
		t.bt = nil
	}
	t.gen++
	select {
	case <-t.ch:
	default:
	}
}
