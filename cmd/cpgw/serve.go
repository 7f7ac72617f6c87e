package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server timeouts: a slow or stalled client cannot hold a connection open.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 64 << 10
	shutdownTimeout   = 15 * time.Second
)

// newHTTPServer returns a server with the timeouts above.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// serve runs srv on l until ctx is done, then shuts it down gracefully.
func serve(ctx context.Context, srv *http.Server, l net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
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
func redisClient(ctx context.Context, url string) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis URL %q: %w", url, err)
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

// runServer serves h on l and runs loop, both until ctx is done. The loop is
// stopped first and the listener last, so a coordinator can hand its shards
// off (answering 503 no_owner meanwhile) before it stops answering at all.
func runServer(ctx context.Context, l net.Listener, h http.Handler, loop func(context.Context) error, log *slog.Logger) error {
	srv := newHTTPServer(h, log)
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
