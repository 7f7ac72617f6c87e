// Package devcluster runs a whole cpgw deployment in one process: for each
// region a gateway and coordinators on loopback listeners, over either the
// embedded store (with a lagging replica per region) or real redis-server
// processes (a primary and a replica per other region). cpgw dev and the
// end-to-end tests use it.
package devcluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/cpgw/cpgw/cmd/internal/secure"
	"github.com/cpgw/cpgw/coordinator"
	"github.com/cpgw/cpgw/gateway"
)

// Backends.
const (
	Embedded = "embedded"
	Redis    = "redis"
)

// Options configure Start.
type Options struct {
	// Regions to run, first is the store primary's region. Default
	// us-east, eu-west, ap-south.
	Regions []string
	// Backend is Embedded (default) or Redis.
	Backend string
	// Dir holds what the deployment writes (redis-server working dirs).
	// Empty means a temporary directory.
	Dir string
	// CoordinatorsPerRegion default 2.
	CoordinatorsPerRegion int
	// ReplicaLag is the embedded replicas' replication lag in regions other
	// than the first. Default 50ms; Redis replicas lag as they do.
	ReplicaLag time.Duration
	// GatewayPorts, if set, are tried for the gateways in region order; a
	// port that is taken (or 0) falls back to a free one.
	GatewayPorts []int
	// Coordinator and Gateway, if set, adjust each node's config (tests use
	// them for short lease TTLs).
	Coordinator func(*coordinator.Config)
	Gateway     func(*gateway.Config)
	// Logger default slog.Default().
	Logger *slog.Logger
	// Security, if set, turns on TLS everywhere, mTLS between gateways and
	// coordinators, and authentication, RBAC and audit at the gateways,
	// with node certificates issued from its CA. Nil: plain HTTP and no
	// authentication (insecure).
	Security *secure.Dev
}

func (o Options) withDefaults() Options {
	if len(o.Regions) == 0 {
		o.Regions = []string{"us-east", "eu-west", "ap-south"}
	}
	if o.Backend == "" {
		o.Backend = Embedded
	}
	if o.CoordinatorsPerRegion == 0 {
		o.CoordinatorsPerRegion = 2
	}
	if o.ReplicaLag == 0 {
		o.ReplicaLag = 50 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

func (o Options) validate() error {
	if o.Backend != Embedded && o.Backend != Redis {
		return fmt.Errorf("devcluster: backend %q: want %s or %s", o.Backend, Embedded, Redis)
	}
	seen := map[string]bool{}
	for _, r := range o.Regions {
		if r == "" || seen[r] {
			return fmt.Errorf("devcluster: regions %q: empty or repeated region", o.Regions)
		}
		seen[r] = true
	}
	if o.CoordinatorsPerRegion < 1 {
		return errors.New("devcluster: at least one coordinator per region")
	}
	return nil
}

// Cluster is a running deployment.
type Cluster struct {
	opts    Options
	backend backend
	client  *http.Client // trusts the cluster's CA; readiness checks use it

	mu      sync.Mutex
	regions []*Region
}

// Region is one region's gateway and coordinators.
type Region struct {
	Name         string
	Gateway      *Node
	Coordinators []*Node
}

// Node is one running server.
type Node struct {
	ID     string
	Region string
	URL    string

	cancel context.CancelFunc
	done   chan error // Run's and the server's combined result, sent once

	closers []func() error // run after the node stopped (the audit log)

	stopOnce sync.Once
	stopErr  error
}

// Start brings the deployment up and returns once every gateway is ready
// (its shard map loaded and every shard owned) or ctx ends.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	hc, err := newHTTPClient(o.Security) // before the backend: nothing to stop if it fails
	if err != nil {
		return nil, err
	}
	be, err := newBackend(ctx, o)
	if err != nil {
		return nil, err
	}
	c := &Cluster{opts: o, backend: be, client: hc}
	for i, name := range o.Regions {
		r := &Region{Name: name}
		c.regions = append(c.regions, r)
		for j := 0; j < o.CoordinatorsPerRegion; j++ {
			n, err := c.startCoordinator(name, fmt.Sprintf("%s-c%d", name, j+1))
			if err != nil {
				c.Stop()
				return nil, err
			}
			r.Coordinators = append(r.Coordinators, n)
		}
		port := 0
		if i < len(o.GatewayPorts) {
			port = o.GatewayPorts[i]
		}
		g, err := c.startGateway(name, i, port)
		if err != nil {
			c.Stop()
			return nil, err
		}
		r.Gateway = g
	}
	if err := c.WaitReady(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// Regions returns the running regions, in the order of Options.Regions.
func (c *Cluster) Regions() []*Region {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.regions)
}

// Region returns the named region.
func (c *Cluster) Region(name string) (*Region, bool) {
	for _, r := range c.Regions() {
		if r.Name == name {
			return r, true
		}
	}
	return nil, false
}

// WaitReady waits until every gateway answers /readyz with 200 and reports
// every shard owned.
func (c *Cluster) WaitReady(ctx context.Context) error {
	for _, r := range c.Regions() {
		if err := c.waitReady(ctx, r.Gateway.URL); err != nil {
			return fmt.Errorf("devcluster: gateway %s: %w", r.Name, err)
		}
	}
	return c.waitOwned(ctx, c.Regions()[0].Gateway.URL)
}

// Stop stops every gateway and coordinator (coordinators hand their shards
// off gracefully) and then the store.
func (c *Cluster) Stop() {
	for _, r := range c.Regions() {
		if r.Gateway != nil {
			r.Gateway.Stop()
		}
	}
	var wg sync.WaitGroup
	for _, r := range c.Regions() {
		for _, n := range r.Coordinators {
			wg.Add(1)
			go func() { defer wg.Done(); n.Stop() }()
		}
	}
	wg.Wait()
	c.backend.close()
}

// StopCoordinator stops one coordinator gracefully (it releases its leases)
// and removes it from its region.
func (c *Cluster) StopCoordinator(id string) error {
	c.mu.Lock()
	var found *Node
	for _, r := range c.regions {
		for i, n := range r.Coordinators {
			if n.ID == id {
				found = n
				r.Coordinators = slices.Delete(r.Coordinators, i, i+1)
				break
			}
		}
	}
	c.mu.Unlock()
	if found == nil {
		return fmt.Errorf("devcluster: no coordinator %q", id)
	}
	return found.Stop()
}

// AddCoordinator starts another coordinator in region.
func (c *Cluster) AddCoordinator(region, id string) (*Node, error) {
	r, ok := c.Region(region)
	if !ok {
		return nil, fmt.Errorf("devcluster: no region %q", region)
	}
	n, err := c.startCoordinator(region, id)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	r.Coordinators = append(r.Coordinators, n)
	c.mu.Unlock()
	return n, nil
}

// Stop cancels the node, waits for it to finish and returns its error.
// Stopping a node again returns the same error at once, so a test may stop a
// node itself and leave the rest to Cluster.Stop.
func (n *Node) Stop() error {
	n.stopOnce.Do(func() {
		n.cancel()
		n.stopErr = <-n.done
	})
	return n.stopErr
}

func (c *Cluster) startCoordinator(region, id string) (*Node, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("devcluster: listen: %w", err)
	}
	scheme, loop := "http", []func(context.Context) error{}
	if d := c.opts.Security; d != nil {
		files, err := d.Coordinator(region, id, time.Now())
		if err != nil {
			l.Close()
			return nil, err
		}
		sc, err := secure.NewCoordinator(files, nil, c.opts.Logger)
		if err != nil {
			l.Close()
			return nil, err
		}
		l, scheme, loop = tls.NewListener(l, sc.ServerTLS), "https", append(loop, sc.Run)
	}
	url := scheme + "://" + l.Addr().String()
	cfg := coordinator.DefaultConfig()
	cfg.ID, cfg.Region, cfg.Advertise = id, region, url
	cfg.Logger = c.opts.Logger
	cfg.Lease.Durability = c.backend.leaseDurability()
	if c.opts.Coordinator != nil {
		c.opts.Coordinator(&cfg)
	}
	co, err := coordinator.New(c.backend.primaryStore(), cfg)
	if err != nil {
		l.Close()
		return nil, err
	}
	return c.run(id, region, url, l, co.Handler(), co.Run, loop...), nil
}

func (c *Cluster) startGateway(region string, index, port int) (*Node, error) {
	l, err := listen(port)
	if err != nil {
		return nil, err
	}
	id := region + "-g1"
	cfg := gateway.DefaultConfig()
	cfg.ID, cfg.Region = id, region
	cfg.Logger = c.opts.Logger
	scheme, loop, closers := "http", []func(context.Context) error{}, []func() error{}
	if d := c.opts.Security; d != nil {
		files, err := d.Gateway(region, id, time.Now())
		if err != nil {
			l.Close()
			return nil, err
		}
		sg, err := secure.NewGateway(files, region, nil, c.opts.Logger)
		if err != nil {
			l.Close()
			return nil, err
		}
		l, scheme = tls.NewListener(l, sg.ServerTLS), "https"
		loop, closers = append(loop, sg.Run), append(closers, sg.Close)
		cfg.Transport, cfg.Authenticate = sg.Transport, sg.Middleware.Handler
	}
	url := scheme + "://" + l.Addr().String()
	if c.opts.Gateway != nil {
		c.opts.Gateway(&cfg)
	}
	g, err := gateway.New(c.backend.primaryStore(), c.backend.replica(index), cfg)
	if err != nil {
		l.Close()
		return nil, err
	}
	n := c.run(id, region, url, l, g.Handler(), g.Run, loop...)
	n.closers = closers
	return n, nil
}

// run serves h on l and runs loop, and beside it the side loops (reloading
// certificates and keys), until the node is stopped. The loop stops first
// (a coordinator hands its shards off while it can still answer), then the
// listener, then the side loops.
func (c *Cluster) run(id, region, url string, l net.Listener, h http.Handler, loop func(context.Context) error, side ...func(context.Context) error) *Node {
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{ID: id, Region: region, URL: url, cancel: cancel, done: make(chan error, 1)}
	srv := secure.NewServer(h, c.opts.Logger, slog.LevelDebug)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(l) }()
	sideCtx, stopSide := context.WithCancel(context.Background())
	var sideWG sync.WaitGroup
	sideErr := make(chan error, len(side))
	for _, s := range side {
		sideWG.Go(func() { sideErr <- s(sideCtx) })
	}
	go func() {
		err := loop(ctx)
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		if serr := srv.Shutdown(sctx); err == nil {
			err = serr
		}
		if serr := <-serveErr; err == nil && !errors.Is(serr, http.ErrServerClosed) {
			err = serr
		}
		stopSide()
		sideWG.Wait()
		close(sideErr)
		for serr := range sideErr {
			if err == nil {
				err = serr
			}
		}
		for _, closeFn := range n.closers {
			if cerr := closeFn(); err == nil {
				err = cerr
			}
		}
		n.done <- err
	}()
	return n
}

// listen binds the port if it is free, else any free port.
func listen(port int) (net.Listener, error) {
	if port > 0 {
		if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			return l, nil
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("devcluster: listen: %w", err)
	}
	return l, nil
}
