package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// request sends one request; worker is the caller's index (closed loop) or
// the sequence number (open loop), so that requests can spread over keys.
type request func(ctx context.Context, worker int, seq uint64) error

// result is one load run: latencies of the requests that succeeded, errors
// counted apart.
type result struct {
	mode     string        // "closed c=16" or "open 5000/s"
	elapsed  time.Duration // wall time of the run
	lat      []time.Duration
	lag      []time.Duration // open loop: how late each request was sent, sorted
	errors   int64
	firstErr error
	cpu      time.Duration            // CPU the servers spent during the run; 0 unknown
	cpuBy    map[string]time.Duration // the same by process
}

func (r *result) ok() int { return len(r.lat) }

// pool is the runs rs taken as one: their requests, errors, wall time and
// CPU added up. CPU is unknown (0) if any run's is.
func pool(rs []*result) *result {
	if len(rs) == 1 {
		return rs[0]
	}
	p := &result{mode: rs[0].mode, cpuBy: make(map[string]time.Duration)}
	cpuKnown := true
	for _, r := range rs {
		p.elapsed += r.elapsed
		p.lat = append(p.lat, r.lat...)
		p.lag = append(p.lag, r.lag...)
		p.errors += r.errors
		if p.firstErr == nil {
			p.firstErr = r.firstErr
		}
		cpuKnown = cpuKnown && r.cpu > 0
		p.cpu += r.cpu
		for proc, d := range r.cpuBy {
			p.cpuBy[proc] += d
		}
	}
	if !cpuKnown {
		p.cpu, p.cpuBy = 0, nil
	}
	slices.Sort(p.lat)
	slices.Sort(p.lag)
	return p
}

// throughput is successful requests per second.
func (r *result) throughput() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ok()) / r.elapsed.Seconds()
}

// quantile of the sorted latencies; 0 when there are none.
func (r *result) quantile(q float64) time.Duration { return quantileOf(r.lat, q) }

// lagQuantile of the sorted send lags; 0 when there are none (closed loop).
func (r *result) lagQuantile(q float64) time.Duration { return quantileOf(r.lag, q) }

func quantileOf(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q * float64(len(sorted)))
	return sorted[min(i, len(sorted)-1)]
}

// perCPUSecond is successful requests per CPU-second of the servers.
func (r *result) perCPUSecond() float64 {
	if r.cpu <= 0 {
		return 0
	}
	return float64(r.ok()) / r.cpu.Seconds()
}

// recorder collects latencies from many goroutines.
type recorder struct {
	mu       sync.Mutex
	lat      []time.Duration
	lag      []time.Duration
	errors   atomic.Int64
	firstErr error
}

// late records how long after it was due a request was sent.
func (rc *recorder) late(d time.Duration) {
	rc.mu.Lock()
	rc.lag = append(rc.lag, d)
	rc.mu.Unlock()
}

func (rc *recorder) add(d time.Duration, err error) {
	if err != nil {
		if rc.errors.Add(1) == 1 {
			rc.mu.Lock()
			rc.firstErr = err
			rc.mu.Unlock()
		}
		return
	}
	rc.mu.Lock()
	rc.lat = append(rc.lat, d)
	rc.mu.Unlock()
}

func (rc *recorder) result(mode string, elapsed time.Duration) *result {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	lat, lag := slices.Clone(rc.lat), slices.Clone(rc.lag)
	slices.Sort(lat)
	slices.Sort(lag)
	return &result{mode: mode, elapsed: elapsed, lat: lat, lag: lag, errors: rc.errors.Load(), firstErr: rc.firstErr}
}

// closedLoop runs conc workers, each sending its next request as soon as
// the last one was answered, for d after a warm-up of warm.
func closedLoop(ctx context.Context, conc int, warm, d time.Duration, send request) *result {
	var (
		rc       recorder
		seq      atomic.Uint64
		wg       sync.WaitGroup
		begin    = time.Now()
		measured = begin.Add(warm)
		end      = measured.Add(d)
	)
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				start := time.Now()
				if start.After(end) || ctx.Err() != nil {
					return
				}
				err := send(ctx, w, seq.Add(1))
				if start.After(measured) {
					rc.add(time.Since(start), err)
				}
			}
		}()
	}
	wg.Wait()
	return rc.result(fmt.Sprintf("closed c=%d", conc), d)
}

// openLoop sends requests at a fixed rate for d after a warm-up, each on
// its own goroutine (at most maxInFlight at once; beyond that the request
// counts as an error, as a client would time out). A request's latency is
// measured from the instant it was due, not from when it was sent, so a
// stalled server's queueing shows in the tail (no coordinated omission).
// How late each request was sent is recorded too: on a busy machine the
// generator's own scheduling delays are part of every latency it measures.
func openLoop(ctx context.Context, rate float64, maxInFlight int, warm, d time.Duration, send request) *result {
	var (
		rc       recorder
		wg       sync.WaitGroup
		inflight atomic.Int64
		interval = time.Duration(float64(time.Second) / rate)
		begin    = time.Now()
		measured = begin.Add(warm)
		end      = measured.Add(d)
	)
	for i := uint64(0); ; i++ {
		due := begin.Add(time.Duration(i) * interval)
		if due.After(end) || ctx.Err() != nil {
			break
		}
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
		count := due.After(measured)
		if inflight.Add(1) > int64(maxInFlight) {
			inflight.Add(-1)
			if count {
				rc.add(0, fmt.Errorf("more than %d requests in flight", maxInFlight))
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer inflight.Add(-1)
			if count {
				rc.late(time.Since(due))
			}
			err := send(ctx, int(i), i)
			if count {
				rc.add(time.Since(due), err)
			}
		}()
	}
	wg.Wait()
	return rc.result(fmt.Sprintf("open %.0f/s", rate), d)
}
