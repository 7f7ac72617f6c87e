package chaos

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Scenario is one fault: injected while the workload runs, held, healed,
// and then checked.
type Scenario struct {
	Name string
	// Target is the namespace whose shard the fault is aimed at; recovery
	// is measured on its keys.
	Target string
	// Fault injects the fault. Heal undoes it (nil: nothing to undo).
	Fault, Heal func(ctx context.Context, e *Env) error
	// Hold is how long the fault lasts before Heal.
	Hold time.Duration
}

// Env is what a scenario's Fault and Heal act on, and what they remember
// between the two.
type Env struct {
	Cluster *Cluster
	// Victim is the coordinator the fault hit, if it hit one.
	Victim *Coordinator
	// Node is the Redis node the fault hit, if it hit one.
	Node *RedisNode
}

// ownerOf finds the coordinator that owns ns's shard now.
func (e *Env) ownerOf(ctx context.Context, ns string) (*Coordinator, error) {
	_, id, err := e.Cluster.OwnerOf(ctx, ns)
	if err != nil {
		return nil, err
	}
	co := e.Cluster.Coordinator(id)
	if co == nil {
		return nil, fmt.Errorf("chaos: owner %q of %s is not one of the cluster's coordinators", id, ns)
	}
	return co, nil
}

// laggingLink is the replication link of the second region's replica.
func (e *Env) laggingLink() (*Link, error) {
	regions := e.Cluster.Regions()
	if len(regions) < 2 {
		return nil, fmt.Errorf("chaos: a replica scenario needs two regions")
	}
	l := e.Cluster.ReplicaLink(regions[1])
	if l == nil {
		return nil, fmt.Errorf("chaos: no replica link in %s", regions[1])
	}
	return l, nil
}

// eachLink applies f to every link and joins the errors.
func eachLink(links []*Link, f func(*Link) error) error {
	var errs []error
	for _, l := range links {
		errs = append(errs, f(l))
	}
	return errors.Join(errs...)
}

// restartSkewed restarts co with a skewed clock (see the clock-skew
// scenario) and waits until it owns ns's shard again, so the skewed clock
// governs a lease the workload uses.
func restartSkewed(ctx context.Context, e *Env, co *Coordinator, ns string) error {
	if err := co.Proc.Terminate(ctx); err != nil {
		return fmt.Errorf("terminate %s: %w", co.ID, err)
	}
	if err := co.Proc.RestartWith(ctx, "--clock-offset", SkewOffset.String(), "--clock-rate", strconv.FormatFloat(SkewRate, 'f', -1, 64)); err != nil {
		return fmt.Errorf("restart %s with a skewed clock: %w", co.ID, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		_, id, err := e.Cluster.OwnerOf(wctx, ns)
		if err == nil && id == co.ID {
			return nil
		}
		if wctx.Err() != nil {
			return fmt.Errorf("skewed %s did not take back the shard of %s (owner %q, %v)", co.ID, ns, id, err)
		}
		sleep(wctx, 50*time.Millisecond)
	}
}

// SkewOffset and SkewRate are the clock-skew scenario's clock: 90s ahead
// of the wall clock and running 0.5% slow, inside the leases' default 1%
// drift bound.
const (
	SkewOffset = 90 * time.Second
	SkewRate   = 0.995
)

// onOwner returns a Fault that finds ns's owner, remembers it as the victim
// and does act to it.
func onOwner(ns string, act func(ctx context.Context, co *Coordinator) error) func(context.Context, *Env) error {
	return func(ctx context.Context, e *Env) error {
		co, err := e.ownerOf(ctx, ns)
		if err != nil {
			return err
		}
		e.Victim = co
		return act(ctx, co)
	}
}

// onVictim returns a Heal that acts on the coordinator Fault hit.
func onVictim(act func(ctx context.Context, co *Coordinator) error) func(context.Context, *Env) error {
	return func(ctx context.Context, e *Env) error {
		if e.Victim == nil {
			return nil
		}
		return act(ctx, e.Victim)
	}
}

// Scenarios returns the suite, each fault aimed at the shard of target
// (a namespace of the workload), with leases of ttl.
func Scenarios(target string, ttl time.Duration) []Scenario {
	return []Scenario{
		{
			Name: "owner-sigkill", Target: target, Hold: ttl + 2*time.Second,
			Fault: onOwner(target, func(_ context.Context, co *Coordinator) error { co.Proc.Kill(); return nil }),
			Heal:  onVictim(func(ctx context.Context, co *Coordinator) error { return co.Proc.Restart(ctx) }),
		},
		{
			// Paused past its lease: another coordinator takes the shard,
			// and the zombie, resumed, must be fenced.
			Name: "owner-sigstop", Target: target, Hold: 2*ttl + time.Second,
			Fault: onOwner(target, func(_ context.Context, co *Coordinator) error { return co.Proc.Pause() }),
			Heal:  onVictim(func(_ context.Context, co *Coordinator) error { return co.Proc.Resume() }),
		},
		{
			// The owner cannot reach Redis (data held, never delivered): it
			// must stop serving at its safe expiry.
			Name: "owner-partitioned-from-redis", Target: target, Hold: 2*ttl + time.Second,
			// Every one of its links to the Redis nodes is blackholed.
			Fault: onOwner(target, func(_ context.Context, co *Coordinator) error { return eachLink(co.Back, (*Link).Blackhole) }),
			Heal:  onVictim(func(_ context.Context, co *Coordinator) error { return eachLink(co.Back, (*Link).Clear) }),
		},
		{
			Name: "latency-spike-500ms", Target: target, Hold: 3 * time.Second,
			Fault: onOwner(target, func(_ context.Context, co *Coordinator) error { return co.Front.Latency(500 * time.Millisecond) }),
			Heal:  onVictim(func(_ context.Context, co *Coordinator) error { return co.Front.Clear() }),
		},
		{
			Name: "connection-resets", Target: target, Hold: 2 * time.Second,
			Fault: onOwner(target, func(_ context.Context, co *Coordinator) error { return co.Front.ResetPeer() }),
			Heal:  onVictim(func(_ context.Context, co *Coordinator) error { return co.Front.Clear() }),
		},
		{
			// The second region's replica falls 3s behind, past the
			// workload's 1s maxStaleness: its local reads must go to the
			// owner rather than answer stale.
			Name: "replica-lagging", Target: target, Hold: 4 * time.Second,
			Fault: func(_ context.Context, e *Env) error {
				l, err := e.laggingLink()
				if err != nil {
					return err
				}
				return l.Latency(3 * time.Second)
			},
			Heal: func(_ context.Context, e *Env) error {
				l, err := e.laggingLink()
				if err != nil {
					return err
				}
				return l.Clear()
			},
		},
		{
			// The Redis primary dies; after DownAfter the most up-to-date
			// replica is promoted and the others follow it, as Sentinel
			// would do. Every acknowledged write waited for a replica
			// (the workload's namespaces ask for one), so none may be
			// lost. Heal brings the dead node back as a replica of the new
			// primary; the next round kills that one.
			Name: "primary-failover", Target: target, Hold: 3 * time.Second,
			Fault: func(ctx context.Context, e *Env) error {
				dead, _, err := e.Cluster.Failover(ctx)
				e.Node = dead
				return err
			},
			Heal: func(ctx context.Context, e *Env) error {
				if e.Node == nil {
					return nil
				}
				return e.Cluster.RecoverNode(ctx, e.Node)
			},
		},
		{
			// The owner of the target's shard runs with a clock 90s ahead
			// and 0.5% slow (within the drift bound) for two lease TTLs,
			// then normally again: neither an offset wall clock nor a
			// drift within the bound may break an invariant.
			Name: "clock-skew", Target: target, Hold: 2 * ttl,
			Fault: func(ctx context.Context, e *Env) error {
				co, err := e.ownerOf(ctx, target)
				if err != nil {
					return err
				}
				e.Victim = co
				return restartSkewed(ctx, e, co, target)
			},
			Heal: onVictim(func(ctx context.Context, co *Coordinator) error {
				if err := co.Proc.Terminate(ctx); err != nil {
					return fmt.Errorf("terminate %s: %w", co.ID, err)
				}
				return co.Proc.Restart(ctx)
			}),
		},
		{
			Name: "rolling-restart", Target: target,
			Fault: func(ctx context.Context, e *Env) error {
				for _, co := range e.Cluster.Coordinators() {
					if err := co.Proc.Terminate(ctx); err != nil {
						return fmt.Errorf("terminate %s: %w", co.ID, err)
					}
					if err := co.Proc.Restart(ctx); err != nil {
						return fmt.Errorf("restart %s: %w", co.ID, err)
					}
					if err := e.Cluster.WaitAllOwned(ctx); err != nil {
						return err
					}
				}
				return nil
			},
		},
	}
}

// Select returns the scenarios whose names are in names (comma-separated);
// "" or "all" selects every one.
func Select(all []Scenario, names string) ([]Scenario, error) {
	if names == "" || names == "all" {
		return all, nil
	}
	var out []Scenario
	for _, n := range strings.Split(names, ",") {
		found := false
		for _, s := range all {
			if s.Name == strings.TrimSpace(n) {
				out, found = append(out, s), true
			}
		}
		if !found {
			return nil, fmt.Errorf("chaos: no scenario %q", n)
		}
	}
	return out, nil
}
