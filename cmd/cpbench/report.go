package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// row is one line of the table.
type row struct {
	name, load  string
	cpgw, base  *result // base may be nil
	ratio       string
	target, met string
}

func us(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", float64(d)/float64(time.Microsecond))
}

func rps(r *result) string {
	if r == nil {
		return "-"
	}
	return fmt.Sprintf("%.0f", r.throughput())
}

func perCPU(r *result) string {
	if r == nil || r.cpu == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", r.perCPUSecond())
}

func lat(r *result) string {
	if r == nil {
		return "- / - / -"
	}
	return us(r.quantile(0.50)) + " / " + us(r.quantile(0.99)) + " / " + us(r.quantile(0.999))
}

func errs(r *result) string {
	if r == nil {
		return "-"
	}
	return fmt.Sprint(r.errors)
}

func verdict(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

func ratioOf(a, b *result) float64 {
	if a == nil || b == nil || b.throughput() == 0 {
		return 0
	}
	return a.throughput() / b.throughput()
}

// rows turns the report into the table, with each target and whether it
// was met; a part -only left out has no rows.
func (rep *report) rows() []row {
	var rs []row
	if a := rep.reads; a != nil {
		ra := ratioOf(a.cpgw, a.base)
		rs = append(rs, row{"(a) local read vs bare GET", a.cpgw.mode, a.cpgw, a.base,
			times(ra) + roundsNote(a.ratios), "≥ 0.80×", verdict(ra >= 0.8)})
		gap, evidence := p99Gap(a.cpgwOpen, a.baseOpen)
		rs = append(rs, row{"(a) local read vs bare GET", a.cpgwOpen.mode, a.cpgwOpen, a.baseOpen,
			evidence, "p99 ≤ +150 µs", verdict(gap <= 150*time.Microsecond)})
	}
	if b := rep.writes; b != nil {
		rb := ratioOf(b.cpgw, b.base)
		rs = append(rs, row{"(b) write via owner vs bare SET", b.cpgw.mode, b.cpgw, b.base,
			times(rb) + roundsNote(b.ratios), "≥ 0.60×", verdict(rb >= 0.6)})
		_, evidence := p99Gap(b.cpgwOpen, b.baseOpen)
		rs = append(rs, row{"(b) write via owner vs bare SET", b.cpgwOpen.mode, b.cpgwOpen, b.baseOpen,
			evidence, "-", "-"})
	}
	if c := rep.batch; c != nil {
		rc := ratioOf(c.batched, c.unbatched)
		rs = append(rs, row{"(c) batched vs unbatched, one shard", c.batched.mode, c.batched, c.unbatched,
			times(rc), "≥ 3×", verdict(rc >= 3)})
		rs = append(rs, row{"(c) Redis round trips per write", c.batched.mode, nil, nil,
			fmt.Sprintf("%.3f (unbatched %.3f; mean batch %.1f)", c.batchedRTT, c.unbatchedRTT, c.batchedSize),
			"≤ 0.1", verdict(c.batchedRTT > 0 && c.batchedRTT <= 0.1)})
		rw := ratioOf(c.wait, c.batched)
		rs = append(rs, row{"(c) WAIT 1 replica vs none, batched", c.wait.mode, c.wait, c.batched,
			times(rw) + fmt.Sprintf(" (%.3f round trips/write)", c.waitRTT), "≥ 0.80×", verdict(rw >= 0.8)})
	}
	if rep.strong != nil {
		var local *result
		ratio := "-"
		if rep.reads != nil {
			local = rep.reads.cpgw
			ratio = times(ratioOf(rep.strong, local))
		}
		rs = append(rs, row{"(d) strong vs local read", rep.strong.mode, rep.strong, local, ratio, "-", "-"})
	}
	if e := rep.rec; e != nil {
		kill, hand := median(e.kills), median(e.handoffs)
		rs = append(rs, row{"(e) owner SIGKILL → first write", fmt.Sprintf("median of %d", len(e.kills)), nil, nil,
			fmt.Sprintf("%s (TTL %s; all %s)", kill.Round(time.Millisecond), rep.ttl, durs(e.kills)),
			"≤ TTL + 1 s", verdict(len(e.kills) > 0 && kill <= rep.ttl+time.Second)})
		rs = append(rs, row{"(e) graceful handoff → first write", fmt.Sprintf("median of %d", len(e.handoffs)), nil, nil,
			fmt.Sprintf("%s (all %s)", hand.Round(time.Millisecond), durs(e.handoffs)),
			"≤ 100 ms", verdict(len(e.handoffs) > 0 && hand <= 100*time.Millisecond)})
	}
	return rs
}

// times shows a ratio with two decimals, rounded down, so that a ratio
// just under its target never reads as the target (0.7996 is 0.79×, NO).
// The epsilon keeps a ratio like 0.29, 28.999… hundredths in binary, at
// 0.29.
func times(r float64) string { return fmt.Sprintf("%.2f×", math.Floor(r*100+1e-9)/100) }

// roundsNote lists each closed-loop round's ratio after the pooled one,
// so the table shows how much the rounds disagreed; nothing for one round.
func roundsNote(ratios []float64) string {
	if len(ratios) < 2 {
		return ""
	}
	s := make([]string, len(ratios))
	for i, r := range ratios {
		s[i] = strings.TrimSuffix(times(r), "×")
	}
	return " (rounds " + strings.Join(s, ", ") + ")"
}

// p99Gap is cpgw's open-loop p99 minus the baseline's, and the cell that
// shows it with how late the load generator itself started requests (its
// p99 send lag on each side). A lag near the gap means the machine, not
// the server, made the tail.
func p99Gap(cpgw, base *result) (time.Duration, string) {
	gap := cpgw.quantile(0.99) - base.quantile(0.99)
	return gap, fmt.Sprintf("p99 %+.0f µs (send lag p99 %s / %s µs)", float64(gap)/1e3, us(cpgw.lagQuantile(0.99)), us(base.lagQuantile(0.99)))
}

func durs(ds []time.Duration) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = d.Round(time.Millisecond).String()
	}
	return strings.Join(s, ", ")
}

// print writes the table as Markdown: (f), requests per CPU-second of the
// serving processes, is a column of every load row.
func (rep *report) print(w io.Writer) {
	fmt.Fprintln(w, "| measurement | load | req/s | p50 / p99 / p999 µs | errors | req per CPU-s | baseline req/s | baseline p50 / p99 / p999 µs | baseline req per CPU-s | ratio | target | met |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range rep.rows() {
		cp, cl, ce, cc := "-", "-", "-", "-"
		if r.cpgw != nil {
			cp, cl, ce, cc = rps(r.cpgw), lat(r.cpgw), errs(r.cpgw), perCPU(r.cpgw)
		}
		bp, bl, bc := "-", "-", "-"
		if r.base != nil {
			bp, bl, bc = rps(r.base), lat(r.base), perCPU(r.base)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.name, r.load, cp, cl, ce, cc, bp, bl, bc, r.ratio, r.target, r.met)
	}
}

// printCPU writes where the CPU went in each closed-loop run: µs of each
// process's CPU per successful request.
func (rep *report) printCPU(w io.Writer) {
	type run struct {
		name string
		r    *result
	}
	var runs []run
	if a := rep.reads; a != nil {
		runs = append(runs, run{"(a) local read", a.cpgw}, run{"(a) bare GET", a.base})
	}
	if b := rep.writes; b != nil {
		runs = append(runs, run{"(b) write", b.cpgw}, run{"(b) bare SET", b.base})
	}
	if c := rep.batch; c != nil {
		runs = append(runs, run{"(c) batched", c.batched}, run{"(c) unbatched", c.unbatched}, run{"(c) WAIT 1", c.wait})
	}
	runs = append(runs, run{"(d) strong read", rep.strong})
	names := []string{"gateway", "baseline", "coordinator-c1", "coordinator-c2", "redis-primary", "redis-replica"}
	fmt.Fprintln(w, "| CPU µs per request | "+strings.Join(names, " | ")+" | total |")
	fmt.Fprintln(w, "| --- |"+strings.Repeat(" --- |", len(names)+1))
	for _, run := range runs {
		if run.r == nil || run.r.ok() == 0 {
			continue
		}
		per := func(d time.Duration) string {
			return fmt.Sprintf("%.0f", float64(d)/float64(time.Microsecond)/float64(run.r.ok()))
		}
		cells := make([]string, len(names))
		for i, n := range names {
			cells[i] = "-"
			if t, ok := run.r.cpuBy[n]; ok {
				cells[i] = per(t)
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", run.name, strings.Join(cells, " | "), per(run.r.cpu))
	}
}
