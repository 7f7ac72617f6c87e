package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cpgw/cpgw/cmd/internal/secure"
	"github.com/cpgw/cpgw/coordinator"
	"github.com/cpgw/cpgw/internal/skew"
	"github.com/cpgw/cpgw/store"
	"github.com/cpgw/cpgw/store/redisstore"
)

func runCoordinator(ctx context.Context, args []string, stderr io.Writer) error {
	fs, lf := newFlagSet("coordinator", stderr)
	region := fs.String("region", "", "the coordinator's region (required)")
	id := fs.String("id", "", "the coordinator's id, unique in the cluster (required)")
	listen := fs.String("listen", "", "HOST:PORT to serve gateways on (required)")
	advertise := fs.String("advertise", "", "URL gateways reach this coordinator at (required), e.g. https://10.0.0.7:7000")
	redisURL := fs.String("redis", "", "redis:// (or rediss://) URL of the store's primary (required); may list candidates, redis://h1:6379,h2:6379, and the one reporting ROLE master is used, also after a failover")
	redisCA := fs.String("redis-ca", "", "CA bundle a rediss:// server's certificate must chain to (default: the system roots)")
	insecure := fs.Bool("insecure", false, "plain HTTP and no client certificates (local experiments only)")
	shardCount := fs.Int("shards", coordinator.DefaultShards, "shard count proposed when the cluster is created (the recorded count wins)")
	leaseTTL := fs.Duration("lease-ttl", 0, "lease TTL (default 6s)")
	leaseReplicas := fs.Int("lease-replicas", 0, "Redis replicas that must acknowledge (WAIT) a lease grant or renewal before it counts; set it to 1 or more when a replica may be promoted")
	leaseReplicaTimeout := fs.Duration("lease-replica-timeout", 200*time.Millisecond, "how long a grant or renewal waits for --lease-replicas")
	debugListen := fs.String("debug-listen", "", "HOST:PORT to serve Go's profiler (/debug/pprof/) on, without authentication: keep it on loopback (default: off)")
	opsListen := fs.String("ops-listen", "", opsListenUsage)
	maxBatch := fs.Int("max-batch", coordinator.DefaultMaxBatch, "most writes of one shard applied in one store round trip (1 turns group commit off)")
	batchWait := fs.Duration("batch-wait", coordinator.DefaultBatchWait, "how long a busy shard writer holds a batch open for more writes (0 or negative: never)")
	var files secure.CoordinatorFiles
	fs.StringVar(&files.CertFile, "tls-cert", "", "the coordinator's certificate (PEM, with chain, carrying its coordinator identity); reloaded when it changes")
	fs.StringVar(&files.KeyFile, "tls-key", "", "the key of --tls-cert")
	fs.StringVar(&files.CAFile, "tls-ca", "", "the cluster CA bundle gateways' client certificates must chain to")
	// Testing only, and left out of --help: chaos tests skew one
	// coordinator's clock to check that leases tolerate drift and offset.
	clockOffset := fs.Duration("clock-offset", 0, "TESTING ONLY: shift this coordinator's clock by DURATION")
	clockRate := fs.Float64("clock-rate", 1, "TESTING ONLY: run this coordinator's clock at RATE times real time (0.5 to 2)")
	hideFlags(fs, "clock-offset", "clock-rate")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := required(fs, "region", "id", "listen", "advertise", "redis"); err != nil {
		return err
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return err
	}
	clock, err := skewedClock(*clockOffset, *clockRate, log)
	if err != nil {
		return err
	}
	u, err := url.Parse(*advertise)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--advertise %q: want an http(s) URL", *advertise)
	}
	var (
		tlsConfig *tls.Config
		sec       *secure.Coordinator
	)
	if *insecure {
		warnInsecure(log)
	} else {
		if u.Scheme != "https" {
			return fmt.Errorf("--advertise %q: gateways reach a coordinator over mTLS, so the URL must be https (or pass --insecure)", *advertise)
		}
		if sec, err = secure.NewCoordinator(files, nil, log); err != nil {
			return secureError("coordinator", err)
		}
		tlsConfig = sec.ServerTLS
	}
	rc, err := newRedisClient(ctx, *redisURL, *redisCA, redisPrimary, 0, log)
	if err != nil {
		return err
	}
	defer rc.Close()
	st, err := redisstore.New(rc, redisstore.Config{})
	if err != nil {
		return err
	}
	reg, err := newRegistry()
	if err != nil {
		return err
	}
	if err := countRoundTrips(reg, rc, "primary"); err != nil {
		return err
	}
	cfg := coordinator.DefaultConfig()
	cfg.Registerer = reg
	cfg.MaxBatch, cfg.BatchWait = *maxBatch, *batchWait
	if cfg.BatchWait == 0 {
		cfg.BatchWait = -1 // the flag's 0 means never; the Config's means the default
	}
	cfg.ID, cfg.Region, cfg.Advertise, cfg.Shards = *id, *region, *advertise, *shardCount
	if *leaseTTL != 0 {
		cfg.Lease.TTL = *leaseTTL
	}
	if *leaseReplicas != 0 {
		cfg.Lease.Durability = store.Durability{Replicas: *leaseReplicas, Timeout: *leaseReplicaTimeout}
	}
	cfg.Logger = log
	if clock != nil {
		// The coordinator hands its Clock to the leases too (it overrides
		// Lease.Clock); set both so neither is left on the real clock.
		cfg.Clock, cfg.Lease.Clock = clock, clock
	}
	co, err := coordinator.New(st, cfg)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	log.Info("coordinator listening", "listen", l.Addr().String(), "advertise", *advertise, "region", *region, "id", *id, "tls", tlsConfig != nil)
	loop := co.Run
	if sec != nil {
		loop = alongside(co.Run, sec.Run)
	}
	if loop, err = withDebug(loop, *debugListen, log); err != nil {
		l.Close()
		return err
	}
	if loop, err = withOps(loop, *opsListen, co.Handler(), log); err != nil {
		l.Close()
		return err
	}
	return runServer(ctx, l, tlsConfig, co.Handler(), loop, log)
}

// skewedClock returns the clock --clock-offset and --clock-rate ask for, or
// nil (the coordinator's default, the real clock) when both are at their
// defaults.
func skewedClock(offset time.Duration, rate float64, log *slog.Logger) (clockwork.Clock, error) {
	if offset == 0 && rate == 1 {
		return nil, nil
	}
	c, err := skew.New(clockwork.NewRealClock(), offset, rate)
	if err != nil {
		return nil, fmt.Errorf("--clock-rate: %w", err)
	}
	log.Warn("clock skew injected for testing: this coordinator's clock is deliberately wrong; never run it like this in production",
		"clock_offset", offset, "clock_rate", rate)
	return c, nil
}

// hideFlags leaves the named flags out of fs's --help. They still parse as
// usual: from the command line, CPGW_* variables and the --config file.
func hideFlags(fs *flag.FlagSet, names ...string) {
	fs.Usage = func() {
		shown := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
		shown.SetOutput(fs.Output())
		fs.VisitAll(func(f *flag.Flag) {
			if !slices.Contains(names, f.Name) {
				shown.Var(f.Value, f.Name, f.Usage)
				shown.Lookup(f.Name).DefValue = f.DefValue
			}
		})
		fmt.Fprintf(fs.Output(), "Usage of %s:\n", fs.Name())
		shown.PrintDefaults()
	}
}
