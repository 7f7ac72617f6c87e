package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// opsListenUsage is the help of --ops-listen, the same for both servers.
const opsListenUsage = "HOST:PORT to serve /healthz, /readyz and /metrics on in plain HTTP, without authentication, for kubelet probes and Prometheus; nothing else is served there (default: off)"

// opsPaths are the only routes --ops-listen serves.
func opsPaths() []string { return []string{"/healthz", "/readyz", "/metrics"} }

// opsHandler serves GET on opsPaths from h and answers everything else
// 404 (405 for another method): a coordinator's mTLS port is what keeps
// its internal API to gateways, so the plain port must not reach it.
func opsHandler(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	for _, p := range opsPaths() {
		mux.Handle("GET "+p, h)
	}
	return mux
}

// withOps runs loop with the --ops-listen server beside it, if addr is set.
// The listener is opened here, so that a bad address fails the start.
func withOps(loop func(context.Context) error, addr string, h http.Handler, log *slog.Logger) (func(context.Context) error, error) {
	if addr == "" {
		return loop, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--ops-listen: %w", err)
	}
	srv := &http.Server{Handler: opsHandler(h), ReadHeaderTimeout: 10 * time.Second}
	log.Info("serving probes and metrics without authentication", "ops_listen", l.Addr().String())
	return alongside(loop, func(ctx context.Context) error { return serve(ctx, srv, l) }), nil
}

// newRegistry is a server's metrics registry: its own metrics, which the
// packages register, plus the Go runtime's and the process's (memory, CPU,
// file descriptors), which only the binary may claim.
func newRegistry() (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return reg, nil
}
