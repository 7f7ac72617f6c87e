package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary play the baseline server, as the cpbench
// binary does: the harness starts os.Executable() with baselineCommand.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == baselineCommand {
		if err := runBaseline(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// The whole harness, briefly: it deploys, measures every row and prints
// the table. The figures of so short a run mean nothing; the test checks
// that every measurement ran and that no closed-loop request failed.
func TestHarnessShort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var out, errs bytes.Buffer
	args := []string{"-dir", t.TempDir(), "-duration", "300ms", "-warmup", "100ms", "-kills", "1", "-conc", "4", "-writers", "16", "-rounds", "2"}
	if err := run(ctx, args, &out, &errs); err != nil {
		t.Fatalf("cpbench: %v\n%s", err, errs.String())
	}
	table := out.String()
	t.Log("\n" + table)
	for _, want := range []string{"(a) local read", "(b) write via owner", "(c) batched vs unbatched", "(c) Redis round trips",
		"(c) WAIT 1 replica", "(d) strong vs local", "(e) owner SIGKILL", "(e) graceful handoff"} {
		if !strings.Contains(table, want) {
			t.Errorf("the table has no %q row", want)
		}
	}
	// Open-loop runs may shed (a slow machine under -race cannot keep the
	// rate); a closed-loop request never should fail.
	for _, line := range strings.Split(errs.String(), "\n") {
		if strings.Contains(line, "requests failed") && strings.Contains(line, `mode="closed`) {
			t.Errorf("closed-loop requests failed: %s", line)
		}
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-duration", "0s"},
		{"-conc", "0"},
		{"-rounds", "0"},
		{"-lease-ttl", "100ms"},
		{"-only", ""},
		{"-only", "af"},
		{"extra"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out, errs bytes.Buffer
			if err := run(context.Background(), args, &out, &errs); err == nil {
				t.Errorf("run(%q) = nil; want an error", args)
			}
		})
	}
}

// A report of the parts -only chose prints their rows and no others.
func TestRowsOfSomeParts(t *testing.T) {
	r := &result{mode: "closed c=1", elapsed: time.Second, lat: []time.Duration{time.Millisecond}}
	for _, tc := range []struct {
		name      string
		rep       report
		want, not []string
	}{
		{"e only", report{rec: &recovery{kills: []time.Duration{time.Second}, handoffs: []time.Duration{time.Millisecond}}, ttl: time.Second},
			[]string{"(e) owner SIGKILL", "(e) graceful handoff"}, []string{"(a)", "(b)", "(c)", "(d)"}},
		{"d without a", report{strong: r}, []string{"(d) strong vs local"}, []string{"(a)", "(e)"}},
		{"b", report{writes: &compare{cpgw: r, base: r, cpgwOpen: r, baseOpen: r}}, []string{"(b) write via owner", "send lag"}, []string{"(a)", "(c)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			tc.rep.print(&out)
			tc.rep.printCPU(&out)
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("no %q in\n%s", w, out.String())
				}
			}
			for _, n := range tc.not {
				if strings.Contains(out.String(), n) {
					t.Errorf("%q, which did not run, in\n%s", n, out.String())
				}
			}
		})
	}
}

// pool adds rounds up: the pooled throughput is all requests over all
// wall time, latencies stay sorted, and CPU is known only if every
// round's is.
func TestPool(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		d := make([]time.Duration, len(ns))
		for i, n := range ns {
			d[i] = time.Duration(n) * time.Millisecond
		}
		return d
	}
	a := &result{mode: "closed c=2", elapsed: time.Second, lat: ms(1, 5), errors: 1, cpu: time.Second,
		cpuBy: map[string]time.Duration{"gateway": time.Second}}
	b := &result{mode: "closed c=2", elapsed: 3 * time.Second, lat: ms(2, 3, 4, 9), cpu: 2 * time.Second,
		cpuBy: map[string]time.Duration{"gateway": 2 * time.Second}}
	p := pool([]*result{a, b})
	if p.throughput() != 1.5 || p.errors != 1 || p.cpu != 3*time.Second || p.cpuBy["gateway"] != 3*time.Second {
		t.Errorf("pooled: %.2f req/s, %d errors, cpu %v, gateway %v; want 1.50, 1, 3s, 3s", p.throughput(), p.errors, p.cpu, p.cpuBy["gateway"])
	}
	if !slices.Equal(p.lat, ms(1, 2, 3, 4, 5, 9)) {
		t.Errorf("latencies %v, want sorted", p.lat)
	}
	if unknown := pool([]*result{a, {elapsed: time.Second}}); unknown.cpu != 0 || unknown.cpuBy != nil {
		t.Errorf("a round with unknown CPU pooled into cpu %v, %v", unknown.cpu, unknown.cpuBy)
	}
	if got := roundsNote([]float64{0.81, 0.779}); got != " (rounds 0.81, 0.77)" {
		t.Errorf("roundsNote = %q", got)
	}
	if got := roundsNote([]float64{0.8}); got != "" {
		t.Errorf("roundsNote of one round = %q", got)
	}
}

// A ratio just under its target never reads as the target.
func TestTimesRoundsDown(t *testing.T) {
	for r, want := range map[float64]string{0.7996: "0.79×", 0.8: "0.80×", 0.29: "0.29×", 3: "3.00×", 2.169: "2.16×"} {
		if got := times(r); got != want {
			t.Errorf("times(%v) = %q, want %q", r, got, want)
		}
	}
}
