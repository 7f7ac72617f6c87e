package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cpgw/cpgw/cmd/internal/secure"
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

// redisClient connects to a redis:// or rediss:// URL and checks it answers.
// caFile, if set, is the CA bundle a rediss:// server must chain to.
func redisClient(ctx context.Context, url, caFile string) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		// The parser's error may quote the URL, password and all.
		return nil, fmt.Errorf("redis URL %q: not a redis:// or rediss:// URL", redactURL(url))
	}
	if caFile != "" {
		if opts.TLSConfig == nil {
			return nil, fmt.Errorf("--redis-ca is set but redis URL %q is not rediss://", redactURL(url))
		}
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--redis-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--redis-ca %s: no PEM certificates", caFile)
		}
		opts.TLSConfig.RootCAs = pool
	}
	if opts.TLSConfig != nil {
		opts.TLSConfig.MinVersion = tls.VersionTLS12
	}
	c := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis %s: %w", opts.Addr, err)
	}
	return c, nil
}

// redactURL hides a URL's password, for messages.
func redactURL(s string) string {
	u, err := neturl.Parse(s)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
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
