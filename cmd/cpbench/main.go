// Command cpbench is cpgw's benchmark harness: it deploys real processes
// on loopback (a redis-server primary and replica, two coordinators and a
// gateway, with TLS, mTLS between nodes, bearer tokens, RBAC and the audit
// log on, plus a bare net/http baseline server), measures, and prints one
// Markdown table with every figure beside its baseline and target:
//
//	(a) local reads through the gateway vs a bare handler doing one go-redis GET
//	(b) writes through gateway and owner vs a bare handler doing one SET
//	(c) batched vs unbatched writes at -writers concurrent writers on one
//	    shard, Redis round trips per write, and the cost of WAIT for one replica
//	(d) strong vs local reads
//	(e) owner SIGKILL → first successful write vs the lease TTL, and a
//	    graceful handoff (SIGTERM)
//	(f) requests served per CPU-second of the serving processes (Redis
//	    included on both sides), a column of every load row
//
// Each of (a) and (b) runs closed-loop (-conc workers, each sending its next
// request when the last is answered) and then open-loop at half the
// baseline's closed-loop rate, latency counted from when each request was
// due, so that a stall shows in the tail instead of slowing the load
// (coordinated omission). The load generator runs in this process, on the
// same machine: its CPU competes with the servers', equally for cpgw and
// the baseline.
//
// Run it with `make bench`, or
//
//	go run ./cmd/cpbench [-duration 5s] [-conc 16] [-writers 64] [-kills 3]
//
// It needs redis-server on PATH (make deps installs it) and the go tool
// (it builds cmd/cpgw). It exits non-zero if the harness itself fails, not
// when a target is missed: the table says which were.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// options configure one run.
type options struct {
	dir          string        // working directory; empty: a temporary one, removed after
	duration     time.Duration // measured part of each load run
	warmup       time.Duration // unmeasured start of each load run
	conc         int           // closed-loop workers for (a), (b), (d)
	rounds       int           // closed-loop rounds of (a) and (b), each side in turn
	writers      int           // closed-loop writers for (c)
	coordinators int
	leaseTTL     time.Duration
	kills        int      // SIGKILLs and SIGTERMs of the owner for (e), each
	profile      string   // directory for CPU profiles of the servers; empty: none
	coordFlags   []string // extra flags for every coordinator, for A/B runs
	gatewayFlags []string // extra flags for the gateway, for A/B runs
	only         string   // the measurements to run, a subset of "abcde"
	verbose      bool
}

// runs reports whether measurement part (a letter of "abcde") is to run.
func (o options) runs(part byte) bool { return strings.IndexByte(o.only, part) >= 0 }

func defaultOptions() options {
	return options{duration: 5 * time.Second, warmup: time.Second, conc: 16, rounds: 3, writers: 64,
		coordinators: 2, leaseTTL: 2 * time.Second, kills: 3, only: allParts}
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == baselineCommand {
		if err := runBaseline(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "cpbench baseline:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "cpbench:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := defaultOptions()
	fs := flag.NewFlagSet("cpbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.dir, "dir", "", "working directory for logs and the servers' files (default: a temporary directory, removed afterwards)")
	fs.DurationVar(&o.duration, "duration", o.duration, "measured length of each load run")
	fs.DurationVar(&o.warmup, "warmup", o.warmup, "unmeasured warm-up before each load run")
	fs.IntVar(&o.conc, "conc", o.conc, "closed-loop workers for (a), (b) and (d)")
	fs.IntVar(&o.rounds, "rounds", o.rounds, "closed-loop rounds of (a) and (b): the baseline and cpgw take turns (ABBA), so drift in a shared machine's speed falls on both; the table pools the rounds and lists each round's ratio")
	fs.IntVar(&o.writers, "writers", o.writers, "closed-loop writers for (c)")
	fs.DurationVar(&o.leaseTTL, "lease-ttl", o.leaseTTL, "the coordinators' --lease-ttl")
	fs.IntVar(&o.kills, "kills", o.kills, "how many times (e) kills, and then stops, the owner")
	fs.StringVar(&o.profile, "profile", "", "directory to write CPU profiles of the gateway and coordinators into, one per measurement (go tool pprof FILE)")
	fs.Func("coordinator-flags", "extra flags for every coordinator, space-separated (an A/B run, e.g. \"--batch-wait 0\")", func(v string) error {
		o.coordFlags = strings.Fields(v)
		return nil
	})
	fs.Func("gateway-flags", "extra flags for the gateway, space-separated (an A/B run, e.g. \"--log-level info\")", func(v string) error {
		o.gatewayFlags = strings.Fields(v)
		return nil
	})
	fs.StringVar(&o.only, "only", o.only, "the measurements to run, letters of \""+allParts+"\" (e.g. \"bc\" for an A/B run of the write path); (f) is a column of every load row")
	fs.BoolVar(&o.verbose, "v", false, "log the harness's progress")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch {
	case o.duration <= 0 || o.warmup < 0:
		return errors.New("-duration must be positive and -warmup not negative")
	case o.conc < 1 || o.writers < 1 || o.kills < 1 || o.rounds < 1:
		return errors.New("-conc, -rounds, -writers and -kills must be at least 1")
	case o.leaseTTL < 500*time.Millisecond:
		return errors.New("-lease-ttl must be at least 500ms")
	case o.only == "" || strings.Trim(o.only, allParts) != "":
		return fmt.Errorf("-only %q: want letters of %q", o.only, allParts)
	}
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if o.dir == "" {
		tmp, err := os.MkdirTemp("", "cpbench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		o.dir = tmp
	}
	begin := time.Now()
	d, err := deploy(ctx, o, log)
	if err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	defer d.stop()
	log.Info("deployed", "took", time.Since(begin).Round(time.Millisecond), "dir", o.dir)
	rep, err := d.run(ctx, o)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	fmt.Fprintf(stdout, "cpbench on %s (%d CPUs), loopback; each load run %s after %s warm-up; lease TTL %s; took %s\n\n",
		host, numCPU(), o.duration, o.warmup, o.leaseTTL, time.Since(begin).Round(time.Second))
	rep.print(stdout)
	fmt.Fprintln(stdout)
	rep.printCPU(stdout)
	return nil
}

// allParts are the measurements -only chooses from.
const allParts = "abcde"

func numCPU() int { return runtime.NumCPU() }
