package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// debugServer returns the loop serving Go's profiler (net/http/pprof) on
// addr, for --debug-listen, or nil when addr is empty. It has no
// authentication: it belongs on loopback or a port only operators reach.
// The listener is opened here, so that a bad address fails the start.
func debugServer(addr string, log *slog.Logger) (func(context.Context) error, error) {
	if addr == "" {
		return nil, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--debug-listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Warn("serving the profiler without authentication", "debug_listen", l.Addr().String())
	return func(ctx context.Context) error { return serve(ctx, srv, l) }, nil
}

// withDebug runs loop with the --debug-listen server beside it, if any.
func withDebug(loop func(context.Context) error, addr string, log *slog.Logger) (func(context.Context) error, error) {
	side, err := debugServer(addr, log)
	if err != nil || side == nil {
		return loop, err
	}
	return alongside(loop, side), nil
}
