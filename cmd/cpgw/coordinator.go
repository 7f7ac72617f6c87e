package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"

	"github.com/cpgw/cpgw/coordinator"
	"github.com/cpgw/cpgw/store/redisstore"
)

func runCoordinator(ctx context.Context, args []string, stderr io.Writer) error {
	fs, lf := newFlagSet("coordinator", stderr)
	region := fs.String("region", "", "the coordinator's region (required)")
	id := fs.String("id", "", "the coordinator's id, unique in the cluster (required)")
	listen := fs.String("listen", "", "HOST:PORT to serve gateways on (required)")
	advertise := fs.String("advertise", "", "URL gateways reach this coordinator at (required), e.g. http://10.0.0.7:7000")
	redisURL := fs.String("redis", "", "redis:// URL of the store's primary (required)")
	insecure := fs.Bool("insecure", false, "plain HTTP and no authentication (required in this version)")
	shardCount := fs.Int("shards", coordinator.DefaultShards, "shard count proposed when the cluster is created (the recorded count wins)")
	leaseTTL := fs.Duration("lease-ttl", 0, "lease TTL (default 6s)")
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
	if err := insecureGate("coordinator", *insecure, log); err != nil {
		return err
	}
	if u, err := url.Parse(*advertise); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--advertise %q: want an http(s) URL", *advertise)
	}
	rc, err := redisClient(ctx, *redisURL)
	if err != nil {
		return err
	}
	defer rc.Close()
	st, err := redisstore.New(rc, redisstore.Config{})
	if err != nil {
		return err
	}
	cfg := coordinator.DefaultConfig()
	cfg.ID, cfg.Region, cfg.Advertise, cfg.Shards = *id, *region, *advertise, *shardCount
	if *leaseTTL != 0 {
		cfg.Lease.TTL = *leaseTTL
	}
	cfg.Logger = log
	co, err := coordinator.New(st, cfg)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	log.Info("coordinator listening", "listen", l.Addr().String(), "advertise", *advertise, "region", *region, "id", *id)
	return runServer(ctx, l, co.Handler(), co.Run, log)
}
