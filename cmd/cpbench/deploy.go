package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/cpgw/cpgw/api"
	"github.com/cpgw/cpgw/chaos"
	"github.com/cpgw/cpgw/cmd/internal/secure"
	"github.com/cpgw/cpgw/internal/certs"
	"github.com/cpgw/cpgw/internal/redisserver"
)

// region is the one region the harness deploys: the measurements are of
// one gateway and its owners on loopback, not of cross-region links.
const region = "us-east"

// deployment is what the harness runs: a Redis primary and one replica,
// two coordinators, one gateway (all with TLS, mTLS between nodes, bearer
// tokens, RBAC and the audit log on), and the baseline server, each a
// separate process so that each one's CPU can be counted.
type deployment struct {
	dir    string
	log    *slog.Logger
	dev    *secure.Dev
	client *http.Client // to the gateway and the baseline: the dev CA, keep-alive
	nodes  *http.Client // to coordinators: presents a gateway certificate

	primary, replica *redisserver.Server
	coords           []*coordinatorProc
	gateway          *chaos.Process
	gatewayURL       string
	gatewayDebug     string
	baselineDebug    string
	baseline         *chaos.Process
	baselineURL      string
}

type coordinatorProc struct {
	id, url string
	debug   string // --debug-listen address (pprof)
	proc    *chaos.Process
}

// deploy starts everything, or stops what it started and fails.
func deploy(ctx context.Context, o options, log *slog.Logger) (_ *deployment, err error) {
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return nil, err
	}
	d := &deployment{dir: dir, log: log}
	defer func() {
		if err != nil {
			d.stop()
		}
	}()
	bin, err := chaos.BuildBinary(ctx, dir)
	if err != nil {
		return nil, err
	}
	if d.primary, err = redisserver.Start(ctx, redisserver.Options{Dir: dir}, nil); err != nil {
		return nil, err
	}
	if d.replica, err = redisserver.Start(ctx, redisserver.Options{Dir: dir}, d.primary); err != nil {
		return nil, err
	}
	now := time.Now()
	if d.dev, err = secure.NewDev(filepath.Join(dir, "pki"), now); err != nil {
		return nil, err
	}
	if err := d.clients(now, 2*max(o.conc, o.writers)); err != nil {
		return nil, err
	}
	ports, err := freePorts(2*o.coordinators + 4)
	if err != nil {
		return nil, err
	}
	for i := range o.coordinators {
		id := fmt.Sprintf("c%d", i+1)
		files, err := d.dev.Coordinator(region, id, now)
		if err != nil {
			return nil, err
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[i]))
		c := &coordinatorProc{id: id, url: "https://" + addr,
			debug: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[o.coordinators+3+i]))}
		c.proc, err = chaos.StartProcess(ctx, chaos.ProcessSpec{
			Name: "coordinator-" + id, Dir: dir, Path: bin,
			Args: append([]string{"coordinator", "--region", region, "--id", id, "--listen", addr,
				"--advertise", c.url, "--redis", d.primary.URL(),
				"--tls-cert", files.CertFile, "--tls-key", files.KeyFile, "--tls-ca", files.CAFile,
				"--lease-ttl", o.leaseTTL.String(), "--debug-listen", c.debug,
				"--log-level", "warn", "--log-format", "json"}, o.coordFlags...),
			Ready: d.probe(d.nodes, c.url+"/healthz"),
		})
		if err != nil {
			return nil, err
		}
		d.coords = append(d.coords, c)
	}
	gw, err := d.dev.Gateway(region, "g1", now)
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[o.coordinators]))
	d.gatewayURL = "https://" + addr
	d.gatewayDebug = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[o.coordinators+2]))
	d.gateway, err = chaos.StartProcess(ctx, chaos.ProcessSpec{
		Name: "gateway-g1", Dir: dir, Path: bin,
		Args: append([]string{"gateway", "--region", region, "--id", "g1", "--listen", addr,
			"--redis", d.primary.URL(), "--redis-replica", d.replica.URL(),
			"--tls-cert", gw.CertFile, "--tls-key", gw.KeyFile, "--tls-ca", gw.CAFile,
			"--jwks", gw.JWKSFile, "--policy", gw.PolicyFile, "--audit-log", gw.AuditLog,
			"--debug-listen", d.gatewayDebug,
			"--log-level", "warn", "--log-format", "json"}, o.gatewayFlags...),
		Ready: d.probe(d.client, d.gatewayURL+"/readyz"),
	})
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	bf, err := d.dev.Gateway(region, "baseline", now) // a loopback server certificate
	if err != nil {
		return nil, err
	}
	addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[o.coordinators+1]))
	d.baselineURL = "https://" + addr
	d.baselineDebug = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[2*o.coordinators+3]))
	d.baseline, err = chaos.StartProcess(ctx, chaos.ProcessSpec{
		Name: "baseline", Dir: dir, Path: self,
		Args: []string{baselineCommand, "-listen", addr, "-read", d.replica.Addr, "-write", d.primary.Addr,
			"-cert", bf.CertFile, "-key", bf.KeyFile, "-debug-listen", d.baselineDebug},
		Ready: d.probe(d.client, d.baselineURL+"/healthz"),
	})
	if err != nil {
		return nil, err
	}
	return d, d.waitSettled(ctx)
}

// clients makes the harness's HTTP clients: one that trusts the dev CA,
// one that also presents a gateway identity to coordinators (for /metrics).
func (d *deployment) clients(now time.Time, maxConns int) error {
	pool, err := certs.LoadPool(d.dev.CAFile)
	if err != nil {
		return err
	}
	files, err := d.dev.Gateway(region, "cpbench", now)
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(files.CertFile, files.KeyFile)
	if err != nil {
		return err
	}
	transport := func(cfg *tls.Config) *http.Transport {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = cfg
		t.ForceAttemptHTTP2 = false // HTTP/1.1 keep-alive, the same for cpgw and the baseline
		// A bounded pool, as a real client has: open-loop requests beyond
		// it wait for a connection (and that wait counts in their latency)
		// instead of each paying a TLS handshake.
		t.MaxConnsPerHost = maxConns
		t.MaxIdleConns, t.MaxIdleConnsPerHost = maxConns, maxConns
		t.DisableCompression = true
		return t
	}
	d.client = &http.Client{Transport: transport(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})}
	d.nodes = &http.Client{Transport: transport(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{cert}}), Timeout: 5 * time.Second}
	return nil
}

// probe is a readiness check: url answers 200.
func (d *deployment) probe(c *http.Client, url string) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return nil
	}
}

// shardMap asks the gateway for the shard map.
func (d *deployment) shardMap(ctx context.Context) (api.ShardMap, error) {
	var m api.ShardMap
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	b, err := d.get(ctx, d.gatewayURL+"/v1/shards")
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal(b, &m)
}

// waitSettled waits until every shard has an owner and the owners have
// not changed for three polls in a row (placement has stopped moving
// shards), so that no handoff lands inside a measurement.
func (d *deployment) waitSettled(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var last string
	stable := 0
	for {
		m, err := d.shardMap(ctx)
		if err == nil {
			owners, complete := "", len(m.Shards) > 0
			for _, s := range m.Shards {
				owners += s.Owner + ","
				complete = complete && s.Owner != "" && s.LeaseRemainingMs > 0
			}
			if complete && owners == last {
				stable++
			} else {
				stable = 0
			}
			last = owners
			if stable >= 3 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cpbench: the shard map did not settle: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// ownerOf is the coordinator that owns shard now.
func (d *deployment) ownerOf(ctx context.Context, shard int) (*coordinatorProc, error) {
	m, err := d.shardMap(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range m.Shards {
		if s.Shard != shard {
			continue
		}
		for _, c := range d.coords {
			if c.id == s.Owner {
				return c, nil
			}
		}
		return nil, fmt.Errorf("shard %d: owner %q is not one of the harness's coordinators", shard, s.Owner)
	}
	return nil, fmt.Errorf("shard %d is not in the shard map", shard)
}

// servers are the processes serving cpgw requests, by name; baselines
// those serving the baseline's. Redis is in both: it does the same work for
// each (the replica applies what the primary replicates).
func (d *deployment) servers() map[string]int {
	m := map[string]int{"redis-primary": d.primary.Pid(), "redis-replica": d.replica.Pid(), "gateway": d.gateway.Pid()}
	for _, c := range d.coords {
		m["coordinator-"+c.id] = c.proc.Pid()
	}
	return m
}

func (d *deployment) baselines() map[string]int {
	return map[string]int{"redis-primary": d.primary.Pid(), "redis-replica": d.replica.Pid(), "baseline": d.baseline.Pid()}
}

// restartCoordinators restarts every coordinator with extra flags (none:
// the defaults) and waits for the shard map to settle.
func (d *deployment) restartCoordinators(ctx context.Context, extra ...string) error {
	for _, c := range d.coords {
		tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := c.proc.Terminate(tctx)
		cancel()
		if err != nil {
			d.log.Warn("coordinator stop", "id", c.id, "err", err)
		}
		if err := c.proc.RestartWith(ctx, extra...); err != nil {
			return err
		}
	}
	return d.waitSettled(ctx)
}

func (d *deployment) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, p := range []*chaos.Process{d.gateway, d.baseline} {
		if p != nil {
			_ = p.Terminate(ctx)
		}
	}
	for _, c := range d.coords {
		_ = c.proc.Terminate(ctx)
	}
	for _, s := range []*redisserver.Server{d.replica, d.primary} {
		if s != nil {
			s.Stop()
		}
	}
}

// freePorts reserves n loopback ports and frees them for the processes.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}
