package chaos

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is what one scenario produced.
type Result struct {
	Scenario string `json:"scenario"`
	// Ops counts every operation; ClientErrors those that returned an error
	// to the client (SDK retries included).
	Ops          int `json:"ops"`
	ClientErrors int `json:"clientErrors"`
	Anomalies    int `json:"anomalies"`
	// Recovery is the time from the fault to the first acknowledged write
	// to the target's keys that was sent after it; -1 if there was none.
	Recovery time.Duration `json:"recoveryNs"`
	Findings Findings      `json:"findings"`
	// Errors are a sample of the client-visible errors.
	Errors []string `json:"errors,omitempty"`
	// Err is a failure of the harness itself (a fault it could not inject).
	Err string `json:"err,omitempty"`
}

// RunOptions shape how a scenario is run.
type RunOptions struct {
	// Warmup runs the workload before the fault; Settle after the heal,
	// before the final reads. Defaults 1s and 2s.
	Warmup, Settle time.Duration
	// Dir receives the history and porcupine's visualisation on failure.
	Dir string
}

// Run runs s on c under w: warm up, fault, hold, heal, settle, stop the
// workload, read every key strongly, check.
func Run(ctx context.Context, c *Cluster, s Scenario, w Workload, o RunOptions) Result {
	if o.Warmup == 0 {
		o.Warmup = time.Second
	}
	if o.Settle == 0 {
		o.Settle = 2 * time.Second
	}
	res := Result{Scenario: s.Name, Recovery: -1}
	// Fresh keys for every run: the checks assume each key starts absent.
	w = w.withDefaults()
	w.Keys = freshKeys(w.Keys)
	h := NewHistory()
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx, h) }()

	sleep(ctx, o.Warmup)
	env := &Env{Cluster: c}
	faultAt := h.Now()
	err := s.Fault(ctx, env)
	if err == nil {
		sleep(ctx, s.Hold)
		if s.Heal != nil {
			err = s.Heal(ctx, env)
		}
	}
	if err != nil {
		res.Err = err.Error()
	}
	if werr := c.WaitAllOwned(ctx); werr != nil && res.Err == "" {
		res.Err = "after the heal: " + werr.Error()
	}
	sleep(ctx, o.Settle)
	stop()
	<-done
	if err := w.FinalReads(ctx, h); err != nil && res.Err == "" {
		res.Err = "final reads: " + err.Error()
	}

	ops := h.Ops()
	res.Ops = len(ops)
	target := s.Target + "/"
	for _, op := range ops {
		if op.Outcome != OutcomeOK && !op.Canceled {
			res.ClientErrors++
			if len(res.Errors) < 5 {
				res.Errors = append(res.Errors, fmt.Sprintf("%s %s: %s", kindName(op.Kind), op.Key, op.Err))
			}
		}
		if op.Kind == OpWrite && op.Outcome == OutcomeOK && op.Call >= faultAt && strings.HasPrefix(op.Key, target) {
			if d := op.Return - faultAt; res.Recovery < 0 || d < res.Recovery {
				res.Recovery = d
			}
		}
	}
	res.Findings = CheckHistory(ops, CheckOptions{VisualizeDir: o.Dir, Name: s.Name})
	res.Anomalies = res.Findings.Anomalies()
	if o.Dir != "" {
		if f, err := os.Create(filepath.Join(o.Dir, s.Name+"-history.json")); err == nil {
			h.WriteJSON(f)
			f.Close()
		}
	}
	return res
}

// freshKeys returns keys in the same namespaces (so on the same shards)
// with names no earlier run used.
func freshKeys(keys []string) []string {
	run := strings.ToLower(rand.Text()[:10])
	out := make([]string, len(keys))
	for i, k := range keys {
		ns, name, _ := strings.Cut(k, "/")
		out[i] = ns + "/" + name + "-" + run
	}
	return out
}

func kindName(k OpKind) string {
	if k == OpWrite {
		return "write"
	}
	return "read"
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// WriteTable prints results as the suite's table.
func WriteTable(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tOPS\tCLIENT ERRORS\tANOMALIES\tFAULT → FIRST WRITE\tNOTE")
	for _, r := range results {
		rec := "none"
		if r.Recovery >= 0 {
			rec = r.Recovery.Round(time.Millisecond).String()
		}
		note := r.Err
		if note == "" && r.Anomalies > 0 {
			note = strings.Join(findingNotes(r.Findings), "; ")
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\n", r.Scenario, r.Ops, r.ClientErrors, r.Anomalies, rec, note)
	}
	return tw.Flush()
}

// WriteJSON writes results as the suite's JSON report.
func WriteJSON(path string, results []Result) error {
	b, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// findingNotes names each kind of anomaly found, with its first example.
func findingNotes(f Findings) []string {
	var out []string
	if !f.Linearizable {
		n := "not linearizable"
		if f.LinearizabilityTimedOut {
			n = "linearizability check timed out"
		}
		if f.Visualization != "" {
			n += " (" + f.Visualization + ")"
		}
		out = append(out, n)
	}
	for _, k := range []struct {
		name string
		list []string
	}{
		{"lost writes", f.LostWrites},
		{"versions backwards", f.NonMonotonicVersions},
		{"stale-token writes", f.StaleTokenWrites},
		{"duplicate effects", f.DuplicateEffects},
		{"stale local reads", f.StaleLocalReads},
	} {
		if len(k.list) > 0 {
			out = append(out, fmt.Sprintf("%d %s, e.g. %s", len(k.list), k.name, k.list[0]))
		}
	}
	return out
}
