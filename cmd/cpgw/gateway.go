package main

import (
	"context"
	"io"
	"net"

	"github.com/cpgw/cpgw/gateway"
	"github.com/cpgw/cpgw/store/redisstore"
)

func runGateway(ctx context.Context, args []string, stderr io.Writer) error {
	fs, lf := newFlagSet("gateway", stderr)
	region := fs.String("region", "", "the gateway's region (required)")
	id := fs.String("id", "", "the gateway's name within its region (default: the host name)")
	listen := fs.String("listen", "", "HOST:PORT to serve clients on (required)")
	redisURL := fs.String("redis", "", "redis:// URL of the store's primary (required)")
	replicaURL := fs.String("redis-replica", "", "redis:// URL of this region's replica, for local reads (default: the primary)")
	insecure := fs.Bool("insecure", false, "plain HTTP and no authentication (required in this version)")
	shardCount := fs.Int("shards", 0, "shard count proposed if the cluster has none recorded (default 64; the recorded count wins)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := required(fs, "region", "listen", "redis"); err != nil {
		return err
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return err
	}
	if err := insecureGate("gateway", *insecure, log); err != nil {
		return err
	}
	pc, err := redisClient(ctx, *redisURL)
	if err != nil {
		return err
	}
	defer pc.Close()
	primary, err := redisstore.New(pc, redisstore.Config{})
	if err != nil {
		return err
	}
	replica := primary
	if *replicaURL != "" {
		rc, err := redisClient(ctx, *replicaURL)
		if err != nil {
			return err
		}
		defer rc.Close()
		if replica, err = redisstore.New(rc, redisstore.Config{}); err != nil {
			return err
		}
	}
	cfg := gateway.DefaultConfig()
	cfg.Region, cfg.Shards, cfg.Logger = *region, *shardCount, log
	if *id != "" {
		cfg.ID = *id
	}
	g, err := gateway.New(primary, replica, cfg)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	log.Info("gateway listening", "listen", l.Addr().String(), "region", *region)
	return runServer(ctx, l, g.Handler(), g.Run, log)
}
