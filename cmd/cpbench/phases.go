package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/cpgw/cpgw/shards"
)

// Namespaces the measurements use.
const (
	nsRead     = "bench-read"
	nsHot      = "bench-hot"      // (c): every writer on one shard
	nsHotWait  = "bench-hot-wait" // (c): the same, waiting for one replica
	nsFailover = "bench-failover" // (e)
	seeded     = 100              // objects read in (a) and (d)
)

// writeNamespaces spread (b)'s writes over shards.
var writeNamespaces = []string{"bench-w0", "bench-w1", "bench-w2", "bench-w3", "bench-w4", "bench-w5", "bench-w6", "bench-w7"}

// measure runs load against cpgw's servers (or the baseline's, when
// baseline is set) and records their CPU time across it.
func (d *deployment) measure(o options, baseline bool, run func() *result) *result {
	procs := d.servers()
	if baseline {
		procs = d.baselines()
	}
	before := cpuOf(procs)
	r := run()
	after := cpuOf(procs)
	// The CPU of the warm-up is in the difference; scale it to the
	// measured part.
	scale := float64(r.elapsed) / float64(o.warmup+r.elapsed)
	r.cpuBy = map[string]time.Duration{}
	for name, t := range after {
		used := time.Duration(float64(t-before[name]) * scale)
		r.cpuBy[name] = used
		r.cpu += used
	}
	if r.errors > 0 {
		d.log.Warn("requests failed", "mode", r.mode, "errors", r.errors, "first", r.firstErr)
	}
	return r
}

func (d *deployment) closed(ctx context.Context, o options, conc int, baseline bool, send request) *result {
	return d.measure(o, baseline, func() *result { return closedLoop(ctx, conc, o.warmup, o.duration, send) })
}

func (d *deployment) open(ctx context.Context, o options, rate float64, baseline bool, send request) *result {
	return d.measure(o, baseline, func() *result { return openLoop(ctx, rate, 4096, o.warmup, o.duration, send) })
}

// compare is one measurement against its baseline: closed loop at full
// speed in o.rounds rounds, then open loop at half the baseline's
// closed-loop rate.
type compare struct {
	cpgw, base         *result   // the closed-loop rounds pooled
	ratios             []float64 // each closed-loop round's cpgw/baseline throughput
	cpgwOpen, baseOpen *result
}

// compare runs the closed-loop rounds in ABBA order (baseline first in
// even rounds, cpgw first in odd ones): on a shared machine whose speed
// drifts over a minute, one pair of runs can differ by more than what is
// measured, and alternating spreads the drift over both sides. Only the
// first round is profiled.
func (d *deployment) compare(ctx context.Context, o options, name string, conc int, cpgw, base request) compare {
	var c compare
	var bases, cpgws []*result
	for i := range max(o.rounds, 1) {
		po := o
		if i > 0 {
			po.profile = ""
		}
		runBase := func() *result {
			return d.profiled(ctx, po, name, true, func() *result { return d.closed(ctx, o, conc, true, base) })
		}
		runCPGW := func() *result {
			return d.profiled(ctx, po, name, false, func() *result { return d.closed(ctx, o, conc, false, cpgw) })
		}
		var b, g *result
		if i%2 == 0 {
			b = runBase()
			g = runCPGW()
		} else {
			g = runCPGW()
			b = runBase()
		}
		bases, cpgws = append(bases, b), append(cpgws, g)
		c.ratios = append(c.ratios, ratioOf(g, b))
	}
	c.base, c.cpgw = pool(bases), pool(cpgws)
	rate := max(c.base.throughput()/2, 10)
	c.baseOpen = d.open(ctx, o, rate, true, base)
	c.cpgwOpen = d.open(ctx, o, rate, false, cpgw)
	return c
}

// batching is (c): 64 writers on one shard.
type batching struct {
	batched, unbatched, wait *result
	// round trips to Redis per applied write, over each run (warm-up too)
	batchedRTT, unbatchedRTT, waitRTT float64
	// mean batch size of the batched run
	batchedSize float64
}

func (d *deployment) batching(ctx context.Context, o options) (batching, error) {
	var b batching
	run := func(ns string) (*result, float64, float64, error) {
		names := []string{"cpgw_redis_round_trips_total", "cpgw_coordinator_batch_size"}
		before, err := d.coordinatorCounters(ctx, names...)
		if err != nil {
			return nil, 0, 0, err
		}
		r := d.profiled(ctx, o, "hot-"+ns, false, func() *result { return d.closed(ctx, o, o.writers, false, d.write([]string{ns})) })
		after, err := d.coordinatorCounters(ctx, names...)
		if err != nil {
			return nil, 0, 0, err
		}
		delta := after.minus(before)
		writes, batches := delta["cpgw_coordinator_batch_size_sum"], delta["cpgw_coordinator_batch_size_count"]
		if writes == 0 || batches == 0 {
			return r, 0, 0, nil
		}
		return r, delta["cpgw_redis_round_trips_total"] / writes, writes / batches, nil
	}
	var err error
	if b.batched, b.batchedRTT, b.batchedSize, err = run(nsHot); err != nil {
		return b, err
	}
	if b.wait, b.waitRTT, _, err = run(nsHotWait); err != nil {
		return b, err
	}
	d.log.Info("restarting coordinators with group commit off (--max-batch 1)")
	if err := d.restartCoordinators(ctx, "--max-batch", "1"); err != nil {
		return b, err
	}
	if b.unbatched, b.unbatchedRTT, _, err = run(nsHot); err != nil {
		return b, err
	}
	d.log.Info("restarting coordinators with the defaults")
	return b, d.restartCoordinators(ctx)
}

// recovery is (e): how long after the owner of a shard is killed
// (SIGKILL) or stopped (SIGTERM, a graceful handoff) a write succeeds again.
type recovery struct {
	kills, handoffs []time.Duration
}

func (d *deployment) recovery(ctx context.Context, o options) (recovery, error) {
	var r recovery
	m, err := d.shardMap(ctx)
	if err != nil {
		return r, err
	}
	shard := shards.Of(nsFailover, len(m.Shards))
	if _, err := d.firstWrite(ctx, nsFailover); err != nil {
		return r, err
	}
	for _, graceful := range []bool{false, true} {
		for range o.kills {
			owner, err := d.ownerOf(ctx, shard)
			if err != nil {
				return r, err
			}
			at := time.Now()
			if graceful {
				go func() { _ = owner.proc.Terminate(ctx) }()
			} else {
				owner.proc.Kill()
			}
			done, err := d.firstWrite(ctx, nsFailover)
			if err != nil {
				return r, err
			}
			took := done.Sub(at)
			d.log.Info("recovered", "graceful", graceful, "owner", owner.id, "took", took)
			if graceful {
				r.handoffs = append(r.handoffs, took)
			} else {
				r.kills = append(r.kills, took)
			}
			for owner.proc.Running() {
				time.Sleep(10 * time.Millisecond)
			}
			if err := owner.proc.Restart(ctx); err != nil {
				return r, err
			}
			if err := d.waitSettled(ctx); err != nil {
				return r, err
			}
		}
	}
	return r, nil
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// report is everything one run measured; a part -only left out is nil.
type report struct {
	reads, writes *compare
	strong        *result
	batch         *batching
	rec           *recovery
	ttl           time.Duration
}

func (d *deployment) run(ctx context.Context, o options) (*report, error) {
	rep := &report{ttl: o.leaseTTL}
	if o.runs('a') || o.runs('d') {
		if err := d.seed(ctx, nsRead, seeded); err != nil {
			return nil, fmt.Errorf("seed: %w", err)
		}
	}
	if o.runs('a') {
		d.log.Info("(a) local reads vs a bare GET")
		reads := d.compare(ctx, o, "local-read", o.conc, d.read(nsRead, seeded, "local"), d.baselineRead(seeded))
		rep.reads = &reads
	}
	if o.runs('d') {
		d.log.Info("(d) strong reads")
		rep.strong = d.closed(ctx, o, o.conc, false, d.read(nsRead, seeded, "strong"))
	}
	if o.runs('b') {
		d.log.Info("(b) writes vs a bare SET")
		writes := d.compare(ctx, o, "write", o.conc, d.write(writeNamespaces), d.baselineWrite())
		rep.writes = &writes
	}
	if o.runs('c') {
		if err := d.setDurability(ctx, nsHotWait, 1); err != nil {
			return nil, fmt.Errorf("durability: %w", err)
		}
		d.log.Info("(c) batched vs unbatched writes", "writers", o.writers)
		b, err := d.batching(ctx, o)
		if err != nil {
			return nil, fmt.Errorf("batching: %w", err)
		}
		rep.batch = &b
	}
	if o.runs('e') {
		d.log.Info("(e) recovery after SIGKILL and SIGTERM of the owner", "times", o.kills)
		r, err := d.recovery(ctx, o)
		if err != nil {
			return nil, fmt.Errorf("recovery: %w", err)
		}
		rep.rec = &r
	}
	return rep, nil
}
