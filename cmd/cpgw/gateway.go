package main

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"strings"

	"github.com/cpgw/cpgw/cmd/internal/secure"
	"github.com/cpgw/cpgw/gateway"
	"github.com/cpgw/cpgw/store/redisstore"
)

func runGateway(ctx context.Context, args []string, stderr io.Writer) error {
	fs, lf := newFlagSet("gateway", stderr)
	region := fs.String("region", "", "the gateway's region (required)")
	id := fs.String("id", "", "the gateway's name within its region (default: the host name)")
	listen := fs.String("listen", "", "HOST:PORT to serve clients on (required)")
	redisURL := fs.String("redis", "", "redis:// (or rediss://) URL of the store's primary (required); may list candidates, redis://h1:6379,h2:6379, and the one reporting ROLE master is used, also after a failover")
	replicaURL := fs.String("redis-replica", "", "redis:// URL of this region's replica (one server), for local reads (default: the primary)")
	redisCA := fs.String("redis-ca", "", "CA bundle a rediss:// server's certificate must chain to (default: the system roots)")
	insecure := fs.Bool("insecure", false, "plain HTTP and no authentication (local experiments only)")
	debugListen := fs.String("debug-listen", "", "HOST:PORT to serve Go's profiler (/debug/pprof/) on, without authentication: keep it on loopback (default: off)")
	opsListen := fs.String("ops-listen", "", opsListenUsage)
	shardCount := fs.Int("shards", 0, "shard count proposed if the cluster has none recorded (default 64; the recorded count wins)")
	var files secure.GatewayFiles
	fs.StringVar(&files.CertFile, "tls-cert", "", "the gateway's certificate (PEM, with chain): served to clients and presented to coordinators; reloaded when it changes")
	fs.StringVar(&files.KeyFile, "tls-key", "", "the key of --tls-cert")
	fs.StringVar(&files.CAFile, "tls-ca", "", "the cluster CA bundle coordinators' certificates chain to")
	fs.StringVar(&files.ClientCAFile, "client-ca", "", "the CA bundle callers' client certificates must chain to (default: --tls-ca)")
	fs.StringVar(&files.JWKSFile, "jwks", "", "JWKS file of the keys bearer tokens are signed with; reloaded when it changes (without it only client certificates authenticate)")
	fs.StringVar(&files.Issuer, "jwt-issuer", "cpgw", "the iss bearer tokens must carry")
	fs.StringVar(&files.Audience, "jwt-audience", "cpgw", "the aud bearer tokens must carry")
	fs.StringVar(&files.PolicyFile, "policy", "", "RBAC policy file (YAML); reloaded when it changes")
	fs.StringVar(&files.AuditLog, "audit-log", "", "file audit records are appended to (JSON lines)")
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
	cfg := gateway.DefaultConfig()
	cfg.Region, cfg.Shards, cfg.Logger = *region, *shardCount, log
	if *id != "" {
		cfg.ID = *id
	}
	var (
		tlsConfig *tls.Config
		sec       *secure.Gateway
	)
	if *insecure {
		warnInsecure(log)
	} else {
		if sec, err = secure.NewGateway(files, *region, nil, log); err != nil {
			return secureError("gateway", err)
		}
		defer sec.Close()
		tlsConfig, cfg.Transport, cfg.Authenticate = sec.ServerTLS, sec.Transport, sec.Middleware.Handler
	}

	pc, err := newRedisClient(ctx, *redisURL, *redisCA, redisPrimary, cfg.StoreTimeout, log)
	if err != nil {
		return err
	}
	defer pc.Close()
	reg, err := newRegistry()
	if err != nil {
		return err
	}
	cfg.Registerer, cfg.Gatherer = reg, reg
	if err := countRoundTrips(reg, pc, "primary"); err != nil {
		return err
	}
	primary, err := redisstore.New(pc, redisstore.Config{})
	if err != nil {
		return err
	}
	replica := primary
	if *replicaURL != "" {
		replicaCA := *redisCA // the replica may be plain redis:// beside a TLS primary
		if !strings.HasPrefix(*replicaURL, "rediss://") {
			replicaCA = ""
		}
		rc, err := newRedisClient(ctx, *replicaURL, replicaCA, redisReplica, cfg.StoreTimeout, log)
		if err != nil {
			return err
		}
		defer rc.Close()
		if err := countRoundTrips(reg, rc, "replica"); err != nil {
			return err
		}
		if replica, err = redisstore.New(rc, redisstore.Config{}); err != nil {
			return err
		}
	}
	g, err := gateway.New(primary, replica, cfg)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	log.Info("gateway listening", "listen", l.Addr().String(), "region", *region, "tls", tlsConfig != nil)
	loop := g.Run
	if sec != nil {
		loop = alongside(g.Run, sec.Run)
	}
	if loop, err = withDebug(loop, *debugListen, log); err != nil {
		l.Close()
		return err
	}
	if loop, err = withOps(loop, *opsListen, g.Handler(), log); err != nil {
		l.Close()
		return err
	}
	return runServer(ctx, l, tlsConfig, g.Handler(), loop, log)
}
