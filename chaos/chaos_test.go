package chaos

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	scenarioFlag = flag.String("chaos.scenarios", "short",
		`scenarios to run: "short" (the set make test runs), "all", or comma-separated names`)
	soakFlag   = flag.Duration("chaos.soak", 0, "run the selected scenarios over and over for this long (a soak)")
	reportFlag = flag.String("chaos.report", "", "directory for report.json, the histories, porcupine visualisations and, under cluster/, the processes' logs (default: a temporary one)")
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
	dir, clusterDir := *reportFlag, t.TempDir()
	if dir == "" {
		dir = t.TempDir()
	} else {
		// Kept: the processes' logs are the evidence for a post-mortem.
		clusterDir = filepath.Join(dir, "cluster")
		if err := os.MkdirAll(clusterDir, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute+*soakFlag)
	defer cancel()
	c, err := Start(ctx, Options{Dir: clusterDir, LeaseTTL: leaseTTL, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	w := Workload{Gateways: c.Gateways()}
	// Once: the settings live in the store, and every round's fresh keys
	// are in the same namespaces.
	pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
	err = w.Prepare(pctx)
	pcancel()
	if err != nil {
		t.Fatal(err)
	}

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
		if r.Scenario == "primary-failover" {
			// Every write waited for a replica, so the promoted one has
			// them all (CheckHistory counts a loss as an anomaly too).
			if n := len(r.Findings.LostWrites); n > 0 {
				t.Errorf("primary-failover: %d acknowledged writes lost, e.g. %s", n, r.Findings.LostWrites[0])
			}
			t.Logf("primary-failover: first acknowledged write %v after the kill (%v down-after), %d client errors",
				r.Recovery, DownAfter, r.ClientErrors)
			// The promoted primary must take writes while the dead node is
			// still dead: recovery may not wait for the heal.
			if bound := DownAfter + scenarioHold(t, "primary-failover"); r.Recovery < 0 || r.Recovery >= bound {
				t.Errorf("primary-failover: first write %v after the kill, want before the dead node is back (%v)", r.Recovery, bound)
			}
		}
		if r.Scenario == "owner-sigkill" && (r.Recovery < 0 || r.Recovery > leaseTTL+time.Second) {
			t.Errorf("owner-sigkill: first write %v after the kill, want within the TTL plus 1s (%v)", r.Recovery, leaseTTL+time.Second)
		}
	}
}

// scenarioHold is the Hold of the named scenario of the suite.
func scenarioHold(t *testing.T, name string) time.Duration {
	t.Helper()
	for _, s := range Scenarios("chaos-0", leaseTTL) {
		if s.Name == name {
			return s.Hold
		}
	}
	t.Fatalf("no scenario %q", name)
	return 0
}
