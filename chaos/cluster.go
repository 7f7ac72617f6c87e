package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cpgw/cpgw/api"
	"github.com/cpgw/cpgw/internal/redisserver"
	"github.com/cpgw/cpgw/shards"
	"github.com/cpgw/cpgw/store"
)

// Options configure Start.
type Options struct {
	// Dir is the working directory (required): process logs, the redis
	// servers' directories and the binary when Binary is empty.
	Dir string
	// Binary is the cpgw binary. Empty: BuildBinary(ctx, Dir).
	Binary string
	// Regions, first holding the store's primary. Default us-east, eu-west.
	Regions []string
	// CoordinatorsPerRegion defaults to 2.
	CoordinatorsPerRegion int
	// LeaseTTL is the coordinators' --lease-ttl. Default 2s.
	LeaseTTL time.Duration
	// Logger receives the harness's notes. Default slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if len(o.Regions) == 0 {
		o.Regions = []string{"us-east", "eu-west"}
	}
	if o.CoordinatorsPerRegion == 0 {
		o.CoordinatorsPerRegion = 2
	}
	if o.LeaseTTL == 0 {
		o.LeaseTTL = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Coordinator is one coordinator process and the links around it.
type Coordinator struct {
	ID, Region string
	Proc       *Process
	// Front carries gateway → coordinator traffic: the coordinator
	// advertises its address.
	Front *Link
	// Back carries coordinator → Redis traffic, one link per Redis node
	// in node order (Back[i] forwards to node i's Link): the coordinator's
	// --redis names all of them, and a partition from Redis is a fault on
	// every one.
	Back []*Link
	// Listen is the host:port the process itself listens on, behind Front.
	Listen string
}

// gatewayNode is one gateway process.
type gatewayNode struct {
	region, url string
	proc        *Process
}

// Cluster is a running deployment of real processes; see the package doc.
type Cluster struct {
	opts Options
	log  *slog.Logger
	http *http.Client // the harness's own probes; short timeouts

	// nodes are fixed at start; mu guards which process plays each node
	// and which node is the primary.
	nodes    []*RedisNode
	mu       sync.Mutex
	primary  int                   // index into nodes
	servers  []*redisserver.Server // every redis-server ever started, for Stop
	coords   []*Coordinator
	gateways []gatewayNode

	stopOnce sync.Once
}

// Start starts a cluster and returns when every gateway is ready, every
// shard has a live owner and the placement has stopped moving shards
// (WaitSettled), or fails, having stopped what it started, when ctx ends
// first.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	if o.Dir == "" {
		return nil, errors.New("chaos: Options.Dir is required")
	}
	o = o.withDefaults()
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("chaos: %w", err)
	}
	o.Dir = dir
	if err := os.MkdirAll(filepath.Join(dir, "redis"), 0o755); err != nil {
		return nil, fmt.Errorf("chaos: %w", err)
	}
	if o.Binary == "" {
		if o.Binary, err = BuildBinary(ctx, dir); err != nil {
			return nil, err
		}
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 8
	c := &Cluster{
		opts: o,
		log:  o.Logger.With("component", "chaos"),
		http: &http.Client{Transport: t, Timeout: 2 * time.Second},
	}
	begin := time.Now()
	if err := c.start(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	c.log.Info("cluster ready", "regions", o.Regions, "coordinators", len(c.coords), "took", time.Since(begin).Round(time.Millisecond), "dir", dir)
	return c, nil
}

func (c *Cluster) start(ctx context.Context) error {
	if err := c.startRedis(ctx); err != nil {
		return err
	}
	// Hold every process port until the links have bound theirs, so that
	// no link takes a port a process is about to bind.
	n := len(c.opts.Regions) * (c.opts.CoordinatorsPerRegion + 1)
	held, err := holdPorts(n)
	if err != nil {
		return err
	}
	ports := make([]string, n)
	for i, l := range held {
		ports[i] = l.Addr().String()
	}
	next := func() string { p := ports[0]; ports = ports[1:]; return p }
	for _, region := range c.opts.Regions {
		for i := 1; i <= c.opts.CoordinatorsPerRegion; i++ {
			co := &Coordinator{ID: fmt.Sprintf("%s-c%d", region, i), Region: region, Listen: next()}
			c.coords = append(c.coords, co)
			co.Front, err = NewLink(co.ID+"-front", co.Listen)
			for j := 0; err == nil && j < len(c.nodes); j++ {
				var back *Link
				if back, err = NewLink(fmt.Sprintf("%s-back-n%d", co.ID, j), c.nodes[j].Link.Addr()); err == nil {
					co.Back = append(co.Back, back)
				}
			}
			if err != nil {
				closeAll(held)
				return err
			}
		}
	}
	for _, region := range c.opts.Regions {
		c.gateways = append(c.gateways, gatewayNode{region: region, url: "http://" + next()})
	}
	closeAll(held)

	if err := c.parallel(len(c.coords), func(i int) error { return c.startCoordinator(ctx, c.coords[i]) }); err != nil {
		return err
	}
	if err := c.parallel(len(c.gateways), func(i int) error { return c.startGateway(ctx, i) }); err != nil {
		return err
	}
	return c.WaitSettled(ctx)
}

func (c *Cluster) startCoordinator(ctx context.Context, co *Coordinator) error {
	proc, err := StartProcess(ctx, ProcessSpec{
		Name: co.ID,
		Dir:  c.opts.Dir,
		Path: c.opts.Binary,
		Args: []string{"coordinator", "--insecure",
			"--region", co.Region, "--id", co.ID, "--listen", co.Listen,
			"--advertise", "http://" + co.Front.Addr(),
			"--redis", redisURL(co.Back),
			"--lease-ttl", c.opts.LeaseTTL.String(),
			"--lease-replicas", "1", "--lease-replica-timeout", "250ms",
			"--log-format", "json"},
		// Probed directly, not through Front: a fault on the link must not
		// make a restart look failed.
		Ready:  c.probe("http://" + co.Listen + "/healthz"),
		Logger: c.log,
	})
	if err != nil {
		return err
	}
	co.Proc = proc
	return nil
}

func (c *Cluster) startGateway(ctx context.Context, i int) error {
	g := &c.gateways[i]
	nodeLinks := make([]*Link, len(c.nodes))
	for j, n := range c.nodes {
		nodeLinks[j] = n.Link
	}
	proc, err := StartProcess(ctx, ProcessSpec{
		Name: g.region + "-g1",
		Dir:  c.opts.Dir,
		Path: c.opts.Binary,
		Args: []string{"gateway", "--insecure",
			"--region", g.region, "--id", g.region + "-g1", "--listen", strings.TrimPrefix(g.url, "http://"),
			"--redis", redisURL(nodeLinks), "--redis-replica", c.ReplicaNode(g.region).URL(),
			"--log-format", "json"},
		Ready:  c.probe(g.url + "/readyz"),
		Logger: c.log,
	})
	if err != nil {
		return err
	}
	g.proc = proc
	return nil
}

// probe returns a readiness check: url answers 200.
func (c *Cluster) probe(url string) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		resp, err := c.get(ctx, url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
}

func (c *Cluster) get(ctx context.Context, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	return c.http.Do(req)
}

// parallel runs f(0..n-1) at once and returns their errors joined.
func (c *Cluster) parallel(n int, f func(i int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = f(i) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Regions returns the cluster's regions, the primary's first.
func (c *Cluster) Regions() []string { return append([]string(nil), c.opts.Regions...) }

// Gateways returns the gateways' URLs, in region order.
func (c *Cluster) Gateways() []string {
	out := make([]string, len(c.gateways))
	for i, g := range c.gateways {
		out[i] = g.url
	}
	return out
}

// Gateway returns the URL of region's gateway ("" if none).
func (c *Cluster) Gateway(region string) string {
	if g := c.gateway(region); g != nil {
		return g.url
	}
	return ""
}

// GatewayProc returns the process of region's gateway (nil if none).
func (c *Cluster) GatewayProc(region string) *Process {
	if g := c.gateway(region); g != nil {
		return g.proc
	}
	return nil
}

func (c *Cluster) gateway(region string) *gatewayNode {
	for i := range c.gateways {
		if c.gateways[i].region == region {
			return &c.gateways[i]
		}
	}
	return nil
}

// Coordinators returns every coordinator, region by region.
func (c *Cluster) Coordinators() []*Coordinator {
	return append([]*Coordinator(nil), c.coords...)
}

// Coordinator returns the coordinator with id (nil if none).
func (c *Cluster) Coordinator(id string) *Coordinator {
	for _, co := range c.coords {
		if co.ID == id {
			return co
		}
	}
	return nil
}

// ShardMap returns GET /v1/shards from the first gateway that answers, in
// region order (a gateway whose process is down is skipped).
func (c *Cluster) ShardMap(ctx context.Context) (api.ShardMap, error) {
	var errs []error
	for _, g := range c.gateways {
		if g.proc == nil || !g.proc.Running() || g.proc.Paused() {
			continue
		}
		m, err := c.shardMapOf(ctx, g.url)
		if err == nil {
			return m, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return api.ShardMap{}, errors.New("chaos: no gateway running")
	}
	return api.ShardMap{}, errors.Join(errs...)
}

func (c *Cluster) shardMapOf(ctx context.Context, gw string) (api.ShardMap, error) {
	resp, err := c.get(ctx, gw+api.RouteShards)
	if err != nil {
		return api.ShardMap{}, fmt.Errorf("chaos: shard map: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return api.ShardMap{}, fmt.Errorf("chaos: shard map from %s: %s", gw, resp.Status)
	}
	var m api.ShardMap
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return api.ShardMap{}, fmt.Errorf("chaos: shard map from %s: %w", gw, err)
	}
	return m, nil
}

// OwnerOf returns the shard of namespace (an unpinned one) and the id of
// its owner in the shard map. A shard between owners (a handoff, or a
// failover in progress) is waited for, bounded by ctx: a fault aimed at
// the owner needs one. The owner is what the map says; it may be a
// coordinator that was just killed and whose lease has not run out.
func (c *Cluster) OwnerOf(ctx context.Context, namespace string) (shard int, owner string, err error) {
	for {
		m, err := c.ShardMap(ctx)
		if err != nil {
			return 0, "", err
		}
		shard = shards.Of(namespace, len(m.Shards))
		i := slices.IndexFunc(m.Shards, func(e api.ShardEntry) bool { return e.Shard == shard })
		if i < 0 {
			return shard, "", fmt.Errorf("chaos: shard %d of %s is not in the shard map", shard, namespace)
		}
		if owner = m.Shards[i].Owner; owner != "" {
			return shard, owner, nil
		}
		select {
		case <-ctx.Done():
			return shard, "", fmt.Errorf("chaos: shard %d of %s has no owner: %w", shard, namespace, ctx.Err())
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// WaitAllOwned waits until the shard map of every running gateway shows
// every shard held, with lease time left, by a coordinator of this cluster
// whose process runs and is not paused. A shard still shown held by a
// killed owner (its lease not yet expired) does not count. Placement may
// still be moving shards when it returns; see WaitSettled.
func (c *Cluster) WaitAllOwned(ctx context.Context) error {
	return c.waitOwned(ctx, false)
}

// WaitSettled waits until WaitAllOwned would return and, besides, every
// shard is held by the owner the placement plan (shards.Plan) names for
// the live coordinators: placement has stopped moving shards. After a
// start, a restart or a failover it rebalances for a few seconds.
func (c *Cluster) WaitSettled(ctx context.Context) error {
	return c.waitOwned(ctx, true)
}

func (c *Cluster) waitOwned(ctx context.Context, settled bool) error {
	var last error
	for {
		if last = c.allOwned(ctx, settled); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("chaos: shards not placed: %w (last: %v)", ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// allOwned checks every running gateway's map (see WaitAllOwned and, if
// settled, WaitSettled).
func (c *Cluster) allOwned(ctx context.Context, settled bool) error {
	live := map[string]bool{}
	var members []store.Member
	for _, co := range c.coords {
		if co.Proc != nil && co.Proc.Running() && !co.Proc.Paused() {
			live[co.ID] = true
			members = append(members, store.Member{ID: co.ID, Region: co.Region, Address: "http://" + co.Front.Addr()})
		}
	}
	checked := 0
	for _, g := range c.gateways {
		if g.proc == nil || !g.proc.Running() || g.proc.Paused() {
			continue
		}
		checked++
		m, err := c.shardMapOf(ctx, g.url)
		if err != nil {
			return err
		}
		if len(m.Shards) == 0 {
			return fmt.Errorf("%s: empty shard map", g.region)
		}
		var plan shards.Assignment
		if settled {
			layout, err := shards.NewLayout(len(m.Shards), c.opts.Regions)
			if err != nil {
				return err
			}
			plan = shards.Plan(layout, members)
		}
		for _, e := range m.Shards {
			switch {
			case e.Owner == "":
				return fmt.Errorf("%s: shard %d has no owner", g.region, e.Shard)
			case !live[e.Owner]:
				return fmt.Errorf("%s: shard %d is held by %s, which is not live", g.region, e.Shard, e.Owner)
			case e.LeaseRemainingMs <= 0:
				return fmt.Errorf("%s: shard %d: lease of %s has run out", g.region, e.Shard, e.Owner)
			}
			if !settled {
				continue
			}
			if want, ok := plan.Owner(e.Shard); ok && want.ID != e.Owner {
				return fmt.Errorf("%s: shard %d is held by %s, planned for %s", g.region, e.Shard, e.Owner, want.ID)
			}
		}
	}
	if checked == 0 {
		return errors.New("no gateway running")
	}
	return nil
}

// UnexpectedExits lists every process exit nobody asked for so far.
func (c *Cluster) UnexpectedExits() []error {
	var out []error
	for _, p := range c.procs() {
		if err := p.UnexpectedExit(); err != nil {
			out = append(out, err)
		}
	}
	return out
}

func (c *Cluster) procs() []*Process {
	var out []*Process
	for _, g := range c.gateways {
		if g.proc != nil {
			out = append(out, g.proc)
		}
	}
	for _, co := range c.coords {
		if co.Proc != nil {
			out = append(out, co.Proc)
		}
	}
	return out
}

// Stop stops everything: gateways, then coordinators (SIGTERM, SIGKILL
// after a short bound, so that a wedged one cannot hold the caller), the
// links, and Redis. Logs stay in Options.Dir. It is safe to call more than
// once and on a cluster that failed to start.
func (c *Cluster) Stop() {
	c.stopOnce.Do(func() {
		terminate := func(ps []*Process, bound time.Duration) {
			ctx, cancel := context.WithTimeout(context.Background(), bound)
			defer cancel()
			if err := c.parallel(len(ps), func(i int) error { return ps[i].Terminate(ctx) }); err != nil {
				c.log.Warn("stop: a process did not stop cleanly", "err", err)
			}
		}
		var gws, cos []*Process
		for _, g := range c.gateways {
			if g.proc != nil {
				gws = append(gws, g.proc)
			}
		}
		for _, co := range c.coords {
			if co.Proc != nil {
				cos = append(cos, co.Proc)
			}
		}
		links := c.links()
		// Healed first, so that no graceful stop waits on a blackhole.
		for _, l := range links {
			_ = l.Clear()
		}
		terminate(gws, 2*time.Second)
		terminate(cos, 3*time.Second)
		for _, l := range links {
			l.Close()
		}
		// Kill, not Stop: Stop removes the server's directory and its log.
		// Nothing is persisted, so there is nothing to shut down cleanly.
		// Every process ever started, replaced ones too (Kill of a dead
		// one does nothing).
		c.mu.Lock()
		servers := slices.Clone(c.servers)
		c.mu.Unlock()
		for _, r := range servers {
			r.Kill()
		}
		c.http.CloseIdleConnections()
	})
}

func (c *Cluster) links() []*Link {
	var out []*Link
	for _, co := range c.coords {
		for _, l := range append([]*Link{co.Front}, co.Back...) {
			if l != nil {
				out = append(out, l)
			}
		}
	}
	for _, n := range c.nodes {
		for _, l := range []*Link{n.Link, n.Replication} {
			if l != nil {
				out = append(out, l)
			}
		}
	}
	return out
}

// redisURL is the redis:// URL naming every link's address, in order:
// redis://h1:p1,h2:p2.
func redisURL(links []*Link) string {
	addrs := make([]string, len(links))
	for i, l := range links {
		addrs[i] = l.Addr()
	}
	return "redis://" + strings.Join(addrs, ",")
}

// holdPorts listens on n free loopback ports; the caller closes them just
// before the processes that will use them start.
func holdPorts(n int) ([]net.Listener, error) {
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			closeAll(ls)
			return nil, fmt.Errorf("chaos: free port: %w", err)
		}
		ls = append(ls, l)
	}
	return ls, nil
}

func closeAll(ls []net.Listener) {
	for _, l := range ls {
		l.Close()
	}
}
