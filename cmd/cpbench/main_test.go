package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
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
	args := []string{"-dir", t.TempDir(), "-duration", "300ms", "-warmup", "100ms", "-kills", "1", "-conc", "4", "-writers", "16"}
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
