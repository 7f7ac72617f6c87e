package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cpgw/cpgw/cmd/internal/secure"
	"github.com/cpgw/cpgw/internal/certs"
	"github.com/cpgw/cpgw/internal/primary"
)

// shutdownTimeout bounds a graceful stop: in-flight requests get this long.
const shutdownTimeout = 15 * time.Second

// serve runs srv on l until ctx is done, then shuts it down gracefully.
func serve(ctx context.Context, srv *http.Server, l net.Listener) error {
	errc := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			// Certificates come from TLSConfig (GetCertificate), not files.
			errc <- srv.ServeTLS(l, "", "")
			return
		}
		errc <- srv.Serve(l)
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// redisRole says what a Redis URL is for.
type redisRole int

const (
	// redisPrimary is the store's primary (--redis). Its URL may list
	// several candidate hosts; the client follows whichever is master.
	redisPrimary redisRole = iota
	// redisReplica is a region's replica for local reads (--redis-replica):
	// one host, read from whatever its role.
	redisReplica
)

// redisClient connects to the store's primary (--redis) and checks it
// answers; see newRedisClient. Failover messages go to slog.Default().
func redisClient(ctx context.Context, url, caFile string) (*redis.Client, error) {
	return newRedisClient(ctx, url, caFile, redisPrimary, 0, slog.Default())
}

// newRedisClient connects to a redis:// or rediss:// URL and checks it
// answers. caFile, if set, is the CA bundle a rediss:// server must chain to.
//
// For redisPrimary the URL's host part may list candidates separated by
// commas, as in redis://:pw@10.0.0.1:6379,10.0.0.2:6379/0: user, password,
// database and query apply to each. The client then dials whichever
// candidate is master and finds the new one after a failover (package
// internal/primary), logging changes to log; over TLS each candidate's
// certificate is verified for its own host. With one host the client is a
// plain go-redis client, exactly as before host lists.
//
// timeout, if positive, becomes the client's read, write and pool
// timeouts where the URL sets none (read_timeout=, write_timeout=,
// pool_timeout=): go-redis bounds its network I/O by these, not by a
// context's deadline, so this is what bounds each call. Zero keeps
// go-redis's defaults (5 s reads and writes, 6 s for the pool).
func newRedisClient(ctx context.Context, url, caFile string, role redisRole, timeout time.Duration, log *slog.Logger) (*redis.Client, error) {
	first, hosts, err := primary.SplitURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis URL %q: %v", primary.RedactURL(url), err)
	}
	if len(hosts) > 1 && role != redisPrimary {
		return nil, fmt.Errorf("redis URL %q lists %d hosts; a replica URL names one server", primary.RedactURL(url), len(hosts))
	}
	opts, err := redis.ParseURL(first)
	if err != nil {
		// The parser's error may quote the URL, password and all.
		return nil, fmt.Errorf("redis URL %q: not a redis:// or rediss:// URL", primary.RedactURL(url))
	}
	if caFile != "" {
		if opts.TLSConfig == nil {
			return nil, fmt.Errorf("--redis-ca is set but redis URL %q is not rediss://", primary.RedactURL(url))
		}
		pool, err := certs.LoadPool(caFile)
		if err != nil {
			return nil, fmt.Errorf("--redis-ca: %w", err)
		}
		opts.TLSConfig.RootCAs = pool
	}
	if opts.TLSConfig != nil {
		opts.TLSConfig.MinVersion = tls.VersionTLS12
	}
	// go-redis would resend a command or pipeline whose reply timed out;
	// for a fenced batch without an idempotency key that is a second
	// effect. Callers retry what is safe to retry; the primary-following
	// client re-runs only what a server refused unseen (READONLY).
	opts.MaxRetries = -1
	if timeout > 0 {
		for _, t := range []*time.Duration{&opts.ReadTimeout, &opts.WriteTimeout, &opts.PoolTimeout} {
			if *t == 0 {
				*t = timeout
			}
		}
	}
	if opts.Protocol == 0 { // not chosen in the URL (?protocol=3)
		// RESP2: cpgw uses nothing of RESP3 (push notifications, client
		// side caching), and a RESP3 client checks for pending pushes
		// around every reply, about 3% of a gateway's CPU per local read.
		opts.Protocol = 2
	}
	var c *redis.Client
	name := opts.Addr
	if len(hosts) == 1 {
		c = redis.NewClient(opts)
	} else {
		if opts.TLSConfig != nil {
			// ParseURL named the first host; each candidate is verified
			// under its own.
			opts.TLSConfig.ServerName = ""
		}
		if c, err = primary.NewClient(opts, hosts, log); err != nil {
			return nil, fmt.Errorf("redis URL %q: %w", primary.RedactURL(url), err)
		}
		name = strings.Join(hosts, ",")
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis %s: %w", name, err)
	}
	return c, nil
}

// runServer serves h on l and runs loop, both until ctx is done. The loop is
// stopped first and the listener last, so a coordinator can hand its shards
// off (answering 503 no_owner meanwhile) before it stops answering at all.
//
// With tlsConfig the server speaks only TLS (HTTP/2 and HTTP/1.1); nil
// means plain HTTP (--insecure).
func runServer(ctx context.Context, l net.Listener, tlsConfig *tls.Config, h http.Handler, loop func(context.Context) error, log *slog.Logger) error {
	srv := secure.NewServer(h, log, slog.LevelWarn)
	srv.TLSConfig = tlsConfig
	serveCtx, stopServing := context.WithCancel(context.Background())
	defer stopServing()
	serveErr := make(chan error, 1)
	go func() { serveErr <- serve(serveCtx, srv, l) }()

	loopErr := make(chan error, 1)
	go func() { loopErr <- loop(ctx) }()
	var err error
	select {
	case err = <-loopErr:
		// The loop ends when ctx is done (after its graceful stop) or on a
		// fatal error; either way the server goes too.
	case err = <-serveErr:
		log.Error("server stopped", "err", err)
		return err
	}
	stopServing()
	if serr := <-serveErr; err == nil && serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = serr
	}
	return err
}

// alongside runs main and side together: main decides when both end (side
// is cancelled once main returns), and main's error wins.
func alongside(main, side func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		sideCtx, cancel := context.WithCancel(ctx)
		sideErr := make(chan error, 1)
		go func() { sideErr <- side(sideCtx) }()
		err := main(ctx)
		cancel()
		if serr := <-sideErr; err == nil {
			err = serr
		}
		return err
	}
}

// secureError explains a server that cannot start securely and the way out.
func secureError(name string, err error) error {
	return fmt.Errorf("%s: refusing to start without TLS and authentication: %w "+
		"(pass --insecure, or CPGW_INSECURE=true, for plain HTTP with no authentication on a trusted network)", name, err)
}
