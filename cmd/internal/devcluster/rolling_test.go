package devcluster

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpgw/cpgw/api"
	"github.com/cpgw/cpgw/client"
)

// A rolling restart of every coordinator, one at a time and gracefully, under
// a steady SDK workload through both regions' gateways: no client request
// fails, and every strong read returns the last write its writer had
// acknowledged (no acknowledged write lost, versions only grow).
func TestRollingRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs redis-server and restarts four coordinators")
	}
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, err := Start(ctx, Options{
		Regions:     []string{"us-east", "eu-west"},
		Backend:     Redis,
		Dir:         t.TempDir(),
		Logger:      rollingDebugLogger(t),
		Coordinator: shortLeases,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	us, _ := c.Region("us-east")
	eu, _ := c.Region("eu-west")
	gateways := []string{us.Gateway.URL, eu.Gateway.URL}
	t.Logf("cluster up in %v", time.Since(began).Round(time.Millisecond))

	// Namespaces on shards homed in both regions (shards.Of over 64 shards:
	// orders 12, users 51, quotas 8, routes 55 are homed in eu-west;
	// payments 38, flags 44, billing 28, limits 5 in us-east).
	namespaces := []string{"orders", "payments", "users", "flags", "quotas", "billing", "routes", "limits"}
	const workers, keysPerNS = 4, 2

	var (
		stop       atomic.Bool
		ops        atomic.Int64
		retried    atomic.Int64 // calls that took more than one attempt
		maxLatency atomic.Int64 // nanoseconds
		failMu     sync.Mutex
		failures   []string
		nFailures  int
	)
	fail := func(format string, args ...any) {
		failMu.Lock()
		defer failMu.Unlock()
		nFailures++
		if len(failures) < 20 {
			failures = append(failures, fmt.Sprintf("%s +%v: ", time.Now().Format("15:04:05.000"), time.Since(began).Round(time.Millisecond))+fmt.Sprintf(format, args...))
		}
	}
	observe := func(start time.Time, info client.ResponseInfo) {
		ops.Add(1)
		if info.Attempts > 1 {
			retried.Add(1)
		}
		d := int64(time.Since(start))
		for {
			m := maxLatency.Load()
			if d <= m || maxLatency.CompareAndSwap(m, d) {
				break
			}
		}
	}

	type value struct {
		Worker int `json:"worker"`
		Seq    int `json:"seq"`
	}
	type keyState struct {
		ns, name string
		seq      int    // the last acknowledged write's seq
		version  uint64 // and its version
	}

	// On a t.Fatal below, end the workload before the cluster stops.
	workCtx, cancelWork := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		stop.Store(true)
		cancelWork()
		wg.Wait()
	}()
	for w := range workers {
		// Half the workers prefer us-east, half eu-west; both fail over to
		// the other.
		urls := []string{gateways[w%2], gateways[(w+1)%2]}
		cl, err := client.New(urls, client.WithRetry(10*time.Millisecond, 250*time.Millisecond, 15*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var keys []*keyState
		for _, ns := range namespaces {
			for k := range keysPerNS {
				keys = append(keys, &keyState{ns: ns, name: fmt.Sprintf("w%d-k%d", w, k)})
			}
		}
		wg.Go(func() {
			seq := 0
			for i := 0; !stop.Load(); i++ {
				k := keys[i%len(keys)]
				seq++
				opCtx, opCancel := context.WithTimeout(workCtx, 20*time.Second)
				start := time.Now()
				o, err := cl.Put(opCtx, k.ns, k.name, value{Worker: w, Seq: seq})
				if err != nil {
					opCancel()
					fail("worker %d put %s/%s seq %d after %v: %v", w, k.ns, k.name, seq, time.Since(start).Round(time.Millisecond), err)
					continue // it may or may not have applied: skip the read
				}
				observe(start, o.Info)
				if o.Version <= k.version {
					fail("worker %d put %s/%s seq %d: version %d, previous acknowledged %d", w, k.ns, k.name, seq, o.Version, k.version)
				}
				k.seq, k.version = seq, o.Version

				start = time.Now()
				r, err := cl.Get(opCtx, k.ns, k.name, client.Consistency(client.Strong))
				opCancel()
				if err != nil {
					fail("worker %d strong get %s/%s after %v: %v", w, k.ns, k.name, time.Since(start).Round(time.Millisecond), err)
					continue
				}
				observe(start, r.Info)
				var v value
				if err := r.Decode(&v); err != nil {
					fail("worker %d strong get %s/%s: %v", w, k.ns, k.name, err)
					continue
				}
				if v.Worker != w || v.Seq != k.seq || r.Version != k.version {
					fail("worker %d strong get %s/%s: seq %d version %d (served by %s via %s), last acknowledged seq %d version %d",
						w, k.ns, k.name, v.Seq, r.Version, r.Info.ServedBy, r.Info.Gateway, k.seq, k.version)
				}
			}
		})
	}

	// Let the workload reach a steady state before the first restart.
	time.Sleep(time.Second)
	opsBefore := ops.Load()

	type restart struct {
		id                      string
		moved, back             int // shards the stopped coordinator owned; the restarted one owns again
		stop, owned, rebalanced time.Duration
	}
	var restarts []restart
	var ids [][2]string
	for _, r := range c.Regions() {
		for _, n := range r.Coordinators {
			ids = append(ids, [2]string{r.Name, n.ID})
		}
	}
	for i, rid := range ids {
		region, id := rid[0], rid[1]
		gw := gateways[i%2]
		before, err := rollingShardMap(ctx, c, gw)
		if err != nil {
			t.Fatalf("shard map before restarting %s: %v", id, err)
		}
		// The shards the coordinator owns, and the fencing token each has:
		// they count as owned again once an owner holds them under a newer
		// token (the gateway's map may show the released lease for a
		// moment).
		held := map[int]uint64{}
		for _, e := range before.Shards {
			if e.Owner == id {
				held[e.Shard] = e.FencingToken
			}
		}

		t0 := time.Now()
		if err := c.StopCoordinator(id); err != nil {
			t.Fatalf("stop %s: %v", id, err)
		}
		stopped := time.Since(t0)
		if _, err := c.AddCoordinator(region, id); err != nil {
			t.Fatalf("restart %s: %v", id, err)
		}
		wctx, wcancel := context.WithTimeout(ctx, 15*time.Second)
		err = poll(wctx, func(ctx context.Context) error {
			for _, g := range gateways {
				m, err := rollingShardMap(ctx, c, g)
				if err != nil {
					return err
				}
				if len(m.Shards) == 0 {
					return fmt.Errorf("empty shard map")
				}
				for _, e := range m.Shards {
					if e.Owner == "" {
						return fmt.Errorf("%s: shard %d has no owner", g, e.Shard)
					}
					if tok, ok := held[e.Shard]; ok && e.FencingToken <= tok {
						return fmt.Errorf("%s: shard %d still at token %d of %s", g, e.Shard, tok, id)
					}
				}
			}
			return nil
		})
		wcancel()
		if err != nil {
			t.Fatalf("after restarting %s, not every shard owned: %v", id, err)
		}
		owned := time.Since(t0) - stopped

		// As in a real rolling restart, let the restarted coordinator take
		// its share back (placement moves shards to it, another round of
		// handoffs under load) before the next one goes down.
		var back int
		wctx, wcancel = context.WithTimeout(ctx, 5*time.Second)
		_ = poll(wctx, func(ctx context.Context) error {
			m, err := rollingShardMap(ctx, c, gw)
			if err != nil {
				return err
			}
			back = 0
			for _, e := range m.Shards {
				if e.Owner == id {
					back++
				}
				if e.Owner == "" {
					return fmt.Errorf("shard %d has no owner", e.Shard)
				}
			}
			if back < len(held) {
				return fmt.Errorf("%s owns %d shards", id, back)
			}
			return nil
		})
		wcancel()
		restarts = append(restarts, restart{id: id, moved: len(held), back: back, stop: stopped, owned: owned, rebalanced: time.Since(t0) - stopped})
		time.Sleep(300 * time.Millisecond)
	}

	opsDuring := ops.Load() - opsBefore

	// Keep the workload going a little after the last restart, then stop it.
	time.Sleep(500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()

	n := ops.Load()
	t.Logf("%d operations (%d during the restarts), %d took more than one attempt; max latency %v",
		n, opsDuring, retried.Load(), time.Duration(maxLatency.Load()).Round(time.Millisecond))
	for _, r := range restarts {
		t.Logf("restart %s: held %d shards; graceful stop took %v; all shards owned %v after the stop returned; restarted node owned %d shards again after %v",
			r.id, r.moved, r.stop.Round(time.Millisecond), r.owned.Round(time.Millisecond), r.back, r.rebalanced.Round(time.Millisecond))
	}
	t.Logf("test wall time %v", time.Since(began).Round(time.Millisecond))
	if nFailures > 0 {
		for _, f := range failures {
			t.Error(f)
		}
		t.Fatalf("%d failed client requests or wrong reads during a graceful rolling restart", nFailures)
	}
	if n < 300 {
		t.Fatalf("only %d operations ran; want at least 300 for the test to mean anything", n)
	}
}

// rollingShardMap reads GET /v1/shards through the gateway at gw.
func rollingShardMap(ctx context.Context, c *Cluster, gw string) (*api.ShardMap, error) {
	resp, err := c.get(ctx, gw+api.RouteShards)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("shard map: %d", resp.StatusCode)
	}
	var m api.ShardMap
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return nil, err
	}
	return &m, nil
}

// rollingDebugLogger discards the deployment's logs unless ROLLING_LOG names
// a file to write them to (debug level), for looking into a failure.
func rollingDebugLogger(t *testing.T) *slog.Logger {
	p := os.Getenv("ROLLING_LOG")
	if p == "" {
		return slog.New(slog.DiscardHandler)
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
