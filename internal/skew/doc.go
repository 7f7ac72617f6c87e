// Package skew wraps a clockwork.Clock in one that is wrong on purpose: its
// wall time is shifted by a fixed offset and it runs at a rate other than
// one. It exists so chaos and integration tests can run a single process (a
// coordinator, say) on a clock that drifts and disagrees with its peers, and
// check that leases, fencing and timeouts tolerate clock drift and wall-clock
// offset within the bounds they claim.
//
// Production never uses it: the only way in is the hidden, testing-only
// --clock-offset and --clock-rate flags of "cpgw coordinator", which log a
// warning when set.
//
// # Semantics
//
// A Clock made by New at base time t0 reads
//
//	Now() = t0 + offset + base.Since(t0) × rate
//
// so rate 0.99 runs 1% slow and rate 1.01 1% fast. Elapsed base time is
// measured with base.Since, so on the real clock it comes from the monotonic
// reading and a wall-clock step of the host does not disturb it. Since and
// Until are Now-relative, as on any clock.
//
// Durations given to Sleep, After, NewTimer, NewTicker, AfterFunc and the
// timers' and tickers' Reset are measured on the skewed clock: they wait
// d / rate of base time, rounded up to the nanosecond, so when one fires at
// least d has passed on the skewed clock. Timers and tickers send the skewed
// clock's Now on their channels. A ticker keeps its phase and, like
// time.Ticker, drops ticks a slow receiver misses.
//
// Timers and tickers follow the Go 1.23 rules: after Stop or Reset returns
// no value from before the call is received, and a channel timer's Stop (or
// Reset) reports true if its value had not been received yet. AfterFunc
// timers are the base clock's, with its semantics. The package starts no
// goroutines of its own: timers and tickers are built on base.AfterFunc, so
// the only goroutines are the base clock's short-lived callbacks.
//
// A Clock, its Timers and its Tickers are safe for concurrent use.
package skew
