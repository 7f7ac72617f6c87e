package skew

import (
	"context"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// newSkewed returns a skewed clock over a fake base started at t0.
func newSkewed(t *testing.T, offset time.Duration, rate float64) (clockwork.Clock, *clockwork.FakeClock) {
	t.Helper()
	fc := clockwork.NewFakeClockAt(t0)
	c, err := New(fc, offset, rate)
	if err != nil {
		t.Fatalf("New(%v, %v): %v", offset, rate, err)
	}
	return c, fc
}

// waiting reports whether fc has at least n timers, tickers or sleepers
// outstanding, without blocking: BlockUntilContext answers from its fast
// path before it looks at the (already cancelled) context.
func waiting(fc *clockwork.FakeClock, n int) bool {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return fc.BlockUntilContext(ctx, n) == nil
}

// receive waits (in real time, generously) for a value on ch: the fake
// clock runs AfterFunc callbacks on their own goroutine, so a value arrives
// shortly after the Advance that fires it.
func receive(t *testing.T, ch <-chan time.Time) time.Time {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("nothing received")
		return time.Time{}
	}
}

func empty(t *testing.T, ch <-chan time.Time) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("received %v, want nothing", v)
	default:
	}
}

func TestNewValidates(t *testing.T) {
	fc := clockwork.NewFakeClock()
	tests := []struct {
		name string
		base clockwork.Clock
		rate float64
		ok   bool
	}{
		{"nil base", nil, 1, false},
		{"rate 0", fc, 0, false},
		{"negative rate", fc, -1, false},
		{"just too slow", fc, 0.4999, false},
		{"just too fast", fc, 2.0001, false},
		{"rate 5", fc, 5, false},
		{"NaN", fc, math.NaN(), false},
		{"+Inf", fc, math.Inf(1), false},
		{"-Inf", fc, math.Inf(-1), false},
		{"slowest", fc, MinRate, true},
		{"fastest", fc, MaxRate, true},
		{"1% slow", fc, 0.99, true},
		{"exact", fc, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.base, time.Second, tt.rate)
			if tt.ok != (err == nil) || tt.ok != (c != nil) {
				t.Fatalf("New(rate %v) = %v, %v; want ok %v", tt.rate, c, err, tt.ok)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "skew: ") {
				t.Fatalf("error %q does not say where it comes from", err)
			}
		})
	}
}

func TestNowSinceUntil(t *testing.T) {
	tests := []struct {
		name    string
		offset  time.Duration
		rate    float64
		advance []time.Duration // base time, in steps
		elapsed time.Duration   // skewed time they come to
	}{
		{"identity", 0, 1, []time.Duration{time.Second, time.Hour}, time.Hour + time.Second},
		{"offset only", -3 * time.Second, 1, []time.Duration{time.Minute}, time.Minute},
		{"1% slow", 0, 0.99, []time.Duration{40 * time.Second, 60 * time.Second}, 99 * time.Second},
		{"1% fast ahead", 250 * time.Millisecond, 1.01, []time.Duration{100 * time.Second}, 101 * time.Second},
		{"half speed behind", -time.Hour, 0.5, []time.Duration{3 * time.Second, time.Second}, 2 * time.Second},
		{"double speed", 0, 2, []time.Duration{time.Millisecond, time.Millisecond}, 4 * time.Millisecond},
		{"rounds down", 0, 0.5, []time.Duration{3}, 1},
		{"no time", 7 * time.Second, 1.5, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, fc := newSkewed(t, tt.offset, tt.rate)
			for _, d := range tt.advance {
				fc.Advance(d)
			}
			want := t0.Add(tt.offset + tt.elapsed)
			if now := c.Now(); !now.Equal(want) {
				t.Fatalf("Now() = %v, want %v", now, want)
			}
			if got := c.Since(t0); got != tt.offset+tt.elapsed {
				t.Fatalf("Since(t0) = %v, want %v", got, tt.offset+tt.elapsed)
			}
			if got := c.Until(want.Add(time.Second)); got != time.Second {
				t.Fatalf("Until(Now+1s) = %v", got)
			}
			if got := c.Since(c.Now()); got != 0 {
				t.Fatalf("Since(Now()) = %v", got)
			}
		})
	}
}

// Waits of d on the skewed clock take base, the least base time after which
// at least d has passed on it.
var waits = []struct {
	name string
	rate float64
	d    time.Duration
	base time.Duration
}{
	{"exact", 1, time.Second, time.Second},
	{"half speed", 0.5, time.Second, 2 * time.Second},
	{"double speed", 2, time.Second, 500 * time.Millisecond},
	{"1% slow", 0.99, time.Second, 1010101011}, // 1s / 0.99 = 1010101010.1ns
	{"1% fast", 1.01, time.Second, 990099010},  // 1s / 1.01 = 990099009.9ns
	{"25% fast", 1.25, 100 * time.Millisecond, 80 * time.Millisecond},
	{"odd", 0.75, 1, 2}, // 1ns / 0.75 = 1.33ns
}

// fireAfter checks that the one timer, sleeper or AfterFunc waiting on c
// fires after exactly base of base time, receiving on ch (if not nil) a
// value equal to c.Now(), and that by then at least d has passed on c.
func fireAfter(t *testing.T, c clockwork.Clock, fc *clockwork.FakeClock, base, d time.Duration, ch <-chan time.Time) {
	t.Helper()
	fireAfterAt(t, c, fc, base, d, ch, false)
}

// fireAfterAt is fireAfter, for a ticker if rearms. A ticker is waiting
// again as soon as it fires, on a goroutine of its own, so whether it is
// waiting says nothing about whether it fired: only the tick does.
func fireAfterAt(t *testing.T, c clockwork.Clock, fc *clockwork.FakeClock, base, d time.Duration, ch <-chan time.Time, rearms bool) {
	t.Helper()
	created := c.Now()
	fc.Advance(base - 1)
	if !waiting(fc, 1) {
		t.Fatalf("fired after %v of base time, want %v", base-1, base)
	}
	if ch != nil {
		empty(t, ch)
	}
	fc.Advance(1)
	if !rearms && waiting(fc, 1) {
		t.Fatalf("not fired after %v of base time", base)
	}
	if ch != nil {
		if v := receive(t, ch); !v.Equal(c.Now()) {
			t.Fatalf("received %v, want the skewed clock's now %v", v, c.Now())
		}
	}
	if got := c.Since(created); got < d {
		t.Fatalf("fired after %v on the skewed clock, want at least %v", got, d)
	}
}

func TestTimersWait(t *testing.T) {
	for _, w := range waits {
		t.Run(w.name, func(t *testing.T) {
			t.Run("NewTimer", func(t *testing.T) {
				c, fc := newSkewed(t, time.Minute, w.rate)
				fc.Advance(1234567) // not at the clock's start
				tm := c.NewTimer(w.d)
				fireAfter(t, c, fc, w.base, w.d, tm.Chan())
			})
			t.Run("After", func(t *testing.T) {
				c, fc := newSkewed(t, -time.Minute, w.rate)
				fireAfter(t, c, fc, w.base, w.d, c.After(w.d))
			})
			t.Run("Sleep", func(t *testing.T) {
				c, fc := newSkewed(t, 0, w.rate)
				done := make(chan time.Time, 1)
				go func() { c.Sleep(w.d); done <- c.Now() }()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := fc.BlockUntilContext(ctx, 1); err != nil {
					t.Fatal("Sleep never waited")
				}
				fireAfter(t, c, fc, w.base, w.d, nil)
				receive(t, done)
			})
			t.Run("AfterFunc", func(t *testing.T) {
				c, fc := newSkewed(t, time.Hour, w.rate)
				called := make(chan time.Time, 1)
				c.AfterFunc(w.d, func() { called <- c.Now() })
				fireAfter(t, c, fc, w.base, w.d, nil)
				receive(t, called)
			})
			t.Run("Ticker", func(t *testing.T) {
				c, fc := newSkewed(t, time.Second, w.rate)
				tk := c.NewTicker(w.d)
				defer tk.Stop()
				if p := tk.(*ticker).period; p != w.base {
					t.Fatalf("base period %v, want %v", p, w.base)
				}
				for i := 0; i < 3; i++ {
					// The ticker rearms before it sends, so it is waiting
					// again by the time a tick is received.
					fireAfterAt(t, c, fc, w.base, w.d, tk.Chan(), true)
					if !waiting(fc, 1) {
						t.Fatalf("tick %d: not rearmed", i)
					}
				}
			})
		})
	}
}

func TestNonPositiveDurations(t *testing.T) {
	c, fc := newSkewed(t, 0, 0.5)
	receive(t, c.NewTimer(0).Chan())
	receive(t, c.After(-time.Second))
	c.Sleep(0)
	done := make(chan time.Time, 1)
	c.AfterFunc(-1, func() { done <- time.Time{} })
	receive(t, done)
	if waiting(fc, 1) {
		t.Fatal("a non-positive wait left a timer behind")
	}
	for name, f := range map[string]func(){
		"NewTicker(0)":     func() { c.NewTicker(0) },
		"Ticker.Reset(-1)": func() { tk := c.NewTicker(time.Second); defer tk.Stop(); tk.Reset(-1) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			f()
		}()
	}
}

func TestTimerResetStop(t *testing.T) {
	const d, rate = time.Second, 0.5 // waits 2s of base time
	tests := []struct {
		name string
		run  func(t *testing.T, c clockwork.Clock, fc *clockwork.FakeClock)
	}{
		{"reset before firing restarts", func(t *testing.T, c clockwork.Clock, fc *clockwork.FakeClock) {
			tm := c.NewTimer(d)
			fc.Advance(time.Second)
			if !tm.Reset(2 * d) {
				t.Fatal("Reset of a running timer = false")
			}
			fireAfter(t, c, fc, 4*time.Second, 2*d, tm.Chan())
		}},
		{"stop before firing", func(t *testing.T, c clockwork.Clock, fc *clockwork.FakeClock) {
			tm := c.NewTimer(d)
			fc.Advance(time.Second)
			if !tm.Stop() {
				t.Fatal("Stop of a running timer = false")
			}
			if waiting(fc, 1) {
				t.Fatal("stopped timer still scheduled")
			}
			fc.Advance(time.Hour)
			empty(t, tm.Chan())
			if tm.Stop() {
				t.Fatal("second Stop = true")
			}
		}},
		{"stop after receiving", func(t *testing.T, c clockwork.Clock, fc *clockwork.FakeClock) {
			tm := c.NewTimer(d)
			fireAfter(t, c, fc, 2*time.Second, d, tm.Chan())
			if tm.Stop() {
				t.Fatal("Stop of a fired, received timer = true")
			}
		}},
		{"stop drops an unreceived value", func(t *testing.T, c clockwork.Clock, fc *clockwork.FakeClock) {
			tm := c.NewTimer(d)
			fc.Advance(2 * time.Second)
			waitFull(t, tm.Chan())
			if !tm.Stop() {
				t.Fatal("Stop of a timer whose value was not received = false")
			}
			empty(t, tm.Chan())
		}},
		{"reset drops an unreceived value and rearms", func(t *testing.T, c clockwork.Clock, fc *clockwork.FakeClock) {
			tm := c.NewTimer(d)
			fc.Advance(2 * time.Second)
			waitFull(t, tm.Chan())
			if !tm.Reset(d / 2) {
				t.Fatal("Reset of a timer whose value was not received = false")
			}
			empty(t, tm.Chan())
			fireAfter(t, c, fc, time.Second, d/2, tm.Chan())
		}},
		{"reset after stop", func(t *testing.T, c clockwork.Clock, fc *clockwork.FakeClock) {
			tm := c.NewTimer(d)
			tm.Stop()
			if tm.Reset(d) {
				t.Fatal("Reset of a stopped timer = true")
			}
			fireAfter(t, c, fc, 2*time.Second, d, tm.Chan())
		}},
		{"AfterFunc reset and stop", func(t *testing.T, c clockwork.Clock, fc *clockwork.FakeClock) {
			called := make(chan time.Time, 2)
			tm := c.AfterFunc(d, func() { called <- c.Now() })
			fc.Advance(time.Second)
			if !tm.Reset(3 * d) {
				t.Fatal("Reset of a pending AfterFunc = false")
			}
			fireAfter(t, c, fc, 6*time.Second, 3*d, nil)
			receive(t, called)
			if tm.Stop() {
				t.Fatal("Stop of a called AfterFunc = true")
			}
			tm.Reset(d)
			if !tm.Stop() {
				t.Fatal("Stop of a pending AfterFunc = false")
			}
			fc.Advance(time.Hour)
			select {
			case <-called:
				t.Fatal("stopped AfterFunc called")
			default:
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, fc := newSkewed(t, 0, rate)
			tt.run(t, c, fc)
		})
	}
}

// waitFull waits until a fired timer's value is on ch, without taking it.
func waitFull(t *testing.T, ch <-chan time.Time) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(ch) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("timer never fired")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestTickerResetStopSkip(t *testing.T) {
	const d, rate = time.Second, 2.0 // ticks every 500ms of base time
	tests := []struct {
		name string
		run  func(t *testing.T, c clockwork.Clock, fc *clockwork.FakeClock, tk clockwork.Ticker)
	}{
		{"reset changes the period and restarts", func(t *testing.T, c clockwork.Clock, fc *clockwork.FakeClock, tk clockwork.Ticker) {
			fc.Advance(300 * time.Millisecond)
			tk.Reset(3 * d)
			for i := 0; i < 2; i++ {
				fireAfterAt(t, c, fc, 1500*time.Millisecond, 3*d, tk.Chan(), true)
			}
		}},
		{"reset drops an unreceived tick", func(t *testing.T, c clockwork.Clock, fc *clockwork.FakeClock, tk clockwork.Ticker) {
			fc.Advance(500 * time.Millisecond)
			waitFull(t, tk.Chan())
			tk.Reset(d)
			empty(t, tk.Chan())
			fireAfterAt(t, c, fc, 500*time.Millisecond, d, tk.Chan(), true)
		}},
		{"stop", func(t *testing.T, c clockwork.Clock, fc *clockwork.FakeClock, tk clockwork.Ticker) {
			fireAfterAt(t, c, fc, 500*time.Millisecond, d, tk.Chan(), true)
			fc.Advance(500 * time.Millisecond)
			waitFull(t, tk.Chan())
			tk.Stop()
			empty(t, tk.Chan())
			if waiting(fc, 1) {
				t.Fatal("stopped ticker still scheduled")
			}
			fc.Advance(time.Hour)
			empty(t, tk.Chan())
			tk.Stop()
		}},
		{"a slow receiver misses ticks, the phase holds", func(t *testing.T, c clockwork.Clock, fc *clockwork.FakeClock, tk clockwork.Ticker) {
			fc.Advance(1250 * time.Millisecond) // ticks due at 500ms and 1s
			receive(t, tk.Chan())
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := fc.BlockUntilContext(ctx, 1); err != nil {
				t.Fatal("ticker not rearmed")
			}
			empty(t, tk.Chan())
			fireAfterAt(t, c, fc, 250*time.Millisecond, 0, tk.Chan(), true) // the 1.5s tick
			fireAfterAt(t, c, fc, 500*time.Millisecond, d, tk.Chan(), true)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, fc := newSkewed(t, 0, rate)
			tk := c.NewTicker(d)
			defer tk.Stop()
			tt.run(t, c, fc, tk)
		})
	}
}

// Everything at once, for the race detector: readers, timers being reset
// and stopped, tickers, and the base clock advancing underneath.
func TestConcurrentUse(t *testing.T) {
	c, fc := newSkewed(t, time.Second, 0.9)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tm := c.NewTimer(time.Millisecond)
			tk := c.NewTicker(time.Millisecond)
			defer tk.Stop()
			for {
				select {
				case <-stop:
					tm.Stop()
					return
				case <-tm.Chan():
					tm.Reset(time.Millisecond)
				case <-tk.Chan():
					tk.Reset(2 * time.Millisecond)
				default:
					_ = c.Since(c.Now())
					tm.Reset(time.Millisecond)
					c.AfterFunc(time.Millisecond, func() { _ = c.Now() }).Stop()
				}
			}
		}()
	}
	for i := 0; i < 2000; i++ {
		fc.Advance(time.Millisecond)
	}
	close(stop)
	wg.Wait()
}

// The real clock: the offset shows against time.Now, a timer fires, and the
// readings carry a monotonic clock reading. Bounds are loose on purpose.
func TestRealClock(t *testing.T) {
	realStart := time.Now()
	c, err := New(clockwork.NewRealClock(), time.Hour, 2)
	if err != nil {
		t.Fatal(err)
	}
	if ahead := time.Until(c.Now()); ahead < 59*time.Minute || ahead > 61*time.Minute {
		t.Fatalf("skewed clock %v ahead, want about an hour", ahead)
	}
	if !strings.Contains(c.Now().String(), " m=") {
		t.Fatalf("Now() %v lost its monotonic reading", c.Now())
	}
	created := c.Now()
	tm := c.NewTimer(20 * time.Millisecond)
	select {
	case <-tm.Chan():
	case <-time.After(10 * time.Second):
		t.Fatal("timer never fired")
	}
	if got := c.Since(created); got < 20*time.Millisecond {
		t.Fatalf("fired after %v on the skewed clock", got)
	}
	if got := time.Since(realStart); got < 10*time.Millisecond {
		t.Fatalf("fired after %v of real time, want at least 10ms", got)
	}
}
