package chaos

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
)

var (
	scenarioFlag = flag.String("chaos.scenarios", "short",
		`scenarios to run: "short" (the set make test runs), "all", or comma-separated names`)
	soakFlag   = flag.Duration("chaos.soak", 0, "run the selected scenarios over and over for this long (a soak)")
	reportFlag = flag.String("chaos.report", "", "directory for report.json, the histories and porcupine visualisations (default: a temporary one)")
)

// shortSet is what make test runs: the owner dying and the owner pausing
// past its lease, the two faults fencing exists for.
const shortSet = "owner-sigkill,owner-sigstop"

const leaseTTL = 2 * time.Second

// TestChaos runs the fault scenarios on real processes and checks every
// invariant after each: see the package doc.
func TestChaos(t *testing.T) {
	names := *scenarioFlag
	if names == "short" {
		names = shortSet
	}
	const target = "chaos-0"
	selected, err := Select(Scenarios(target, leaseTTL), names)
	if err != nil {
		t.Fatal(err)
	}
	dir := *reportFlag
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute+*soakFlag)
	defer cancel()
	c, err := Start(ctx, Options{Dir: t.TempDir(), LeaseTTL: leaseTTL, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	w := Workload{Gateways: c.Gateways()}

	var results []Result
	deadline := time.Now().Add(*soakFlag)
	for round := 0; round == 0 || time.Now().Before(deadline); round++ {
		for _, s := range selected {
			r := Run(ctx, c, s, w, RunOptions{Dir: dir})
			results = append(results, r)
			t.Logf("%s: %d ops, %d client errors, %d anomalies, recovery %v %s", r.Scenario, r.Ops, r.ClientErrors,
				r.Anomalies, r.Recovery, strings.Join(r.Errors, " | "))
		}
	}

	var table strings.Builder
	WriteTable(&table, results)
	t.Logf("chaos results (report in %s):\n%s", dir, table.String())
	if err := WriteJSON(dir+"/report.json", results); err != nil {
		t.Error(err)
	}
	for _, r := range results {
		switch {
		case r.Err != "":
			t.Errorf("%s: %s", r.Scenario, r.Err)
		case !r.Findings.OK():
			// OK, not just Anomalies: a linearizability check that timed
			// out proves nothing either way and fails the run too.
			t.Errorf("%s: %d anomalies: %s", r.Scenario, r.Anomalies, strings.Join(findingNotes(r.Findings), "; "))
		case r.Findings.Acknowledged == 0:
			t.Errorf("%s: no operation was acknowledged", r.Scenario)
		}
		// The faults the gateway must hide completely.
		if r.Scenario == "owner-sigkill" || r.Scenario == "rolling-restart" {
			if r.ClientErrors > 0 {
				t.Errorf("%s: %d client-visible errors, e.g. %v", r.Scenario, r.ClientErrors, r.Errors)
			}
		}
		if r.Scenario == "owner-sigkill" && (r.Recovery < 0 || r.Recovery > leaseTTL+time.Second) {
			t.Errorf("owner-sigkill: first write %v after the kill, want within the TTL plus 1s (%v)", r.Recovery, leaseTTL+time.Second)
		}
	}
}
