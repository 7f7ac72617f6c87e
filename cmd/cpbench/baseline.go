package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/pprof"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// baselineCommand runs the baseline server: the harness starts itself
// with it as a separate process, so that its CPU is counted like a
// gateway's.
const baselineCommand = "baseline-server"

// baselineKey is the Redis key the baseline reads and writes for key i.
func baselineKey(i int) string { return fmt.Sprintf("cpbench:baseline:%d", i) }

// runBaseline serves the baselines cpgw is compared with, over the same
// TLS (HTTP/1.1, the dev CA's certificate) as the gateway:
//
//	GET /get?k=N  one go-redis GET of baselineKey(N) on the replica; the bytes are the body
//	PUT /set?k=N  one go-redis SET of the request body on the primary
//
// Nothing else: no authentication, no shard lookup, no fencing, no JSON.
func runBaseline(args []string) error {
	fs := flag.NewFlagSet(baselineCommand, flag.ContinueOnError)
	listen := fs.String("listen", "", "HOST:PORT")
	read := fs.String("read", "", "Redis HOST:PORT for GET (the replica)")
	write := fs.String("write", "", "Redis HOST:PORT for SET (the primary)")
	cert := fs.String("cert", "", "TLS certificate")
	key := fs.String("key", "", "TLS key")
	debug := fs.String("debug-listen", "", "HOST:PORT serving /debug/pprof/profile (plain HTTP); empty: none")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// Pool sizes as the gateway's go-redis clients have them (the default).
	rc := redis.NewClient(&redis.Options{Addr: *read, MaxRetries: -1})
	wc := redis.NewClient(&redis.Options{Addr: *write, MaxRetries: -1})
	defer rc.Close()
	defer wc.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /get", func(w http.ResponseWriter, r *http.Request) {
		v, err := rc.Get(r.Context(), "cpbench:baseline:"+r.URL.Query().Get("k")).Bytes()
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(v)
	})
	mux.HandleFunc("PUT /set", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := wc.Set(r.Context(), "cpbench:baseline:"+r.URL.Query().Get("k"), body, 0).Err(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- srv.ListenAndServeTLS(*cert, *key) }()
	if *debug != "" {
		// Profiled like the gateway (-profile), so the two compare directly.
		dmux := http.NewServeMux()
		dmux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		dbg := &http.Server{Addr: *debug, Handler: dmux, ReadHeaderTimeout: 10 * time.Second}
		defer dbg.Close()
		go func() { errc <- dbg.ListenAndServe() }()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
