package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/url"

	"github.com/cpgw/cpgw/cmd/internal/secure"
	"github.com/cpgw/cpgw/coordinator"
	"github.com/cpgw/cpgw/store/redisstore"
)

func runCoordinator(ctx context.Context, args []string, stderr io.Writer) error {
	fs, lf := newFlagSet("coordinator", stderr)
	region := fs.String("region", "", "the coordinator's region (required)")
	id := fs.String("id", "", "the coordinator's id, unique in the cluster (required)")
	listen := fs.String("listen", "", "HOST:PORT to serve gateways on (required)")
	advertise := fs.String("advertise", "", "URL gateways reach this coordinator at (required), e.g. https://10.0.0.7:7000")
	redisURL := fs.String("redis", "", "redis:// (or rediss://) URL of the store's primary (required)")
	redisCA := fs.String("redis-ca", "", "CA bundle a rediss:// server's certificate must chain to (default: the system roots)")
	insecure := fs.Bool("insecure", false, "plain HTTP and no client certificates (local experiments only)")
	shardCount := fs.Int("shards", coordinator.DefaultShards, "shard count proposed when the cluster is created (the recorded count wins)")
	leaseTTL := fs.Duration("lease-ttl", 0, "lease TTL (default 6s)")
	var files secure.CoordinatorFiles
	fs.StringVar(&files.CertFile, "tls-cert", "", "the coordinator's certificate (PEM, with chain, carrying its coordinator identity); reloaded when it changes")
	fs.StringVar(&files.KeyFile, "tls-key", "", "the key of --tls-cert")
	fs.StringVar(&files.CAFile, "tls-ca", "", "the cluster CA bundle gateways' client certificates must chain to")
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
	rc, err := redisClient(ctx, *redisURL, *redisCA)
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
	log.Info("coordinator listening", "listen", l.Addr().String(), "advertise", *advertise, "region", *region, "id", *id, "tls", tlsConfig != nil)
	loop := co.Run
	if sec != nil {
		loop = alongside(co.Run, sec.Run)
	}
	return runServer(ctx, l, tlsConfig, co.Handler(), loop, log)
}
