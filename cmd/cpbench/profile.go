package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// profiled runs run while it records a CPU profile of the gateway and of
// every coordinator (their --debug-listen), or with baseline set of the
// baseline server, into o.profile/name-PROC.pprof; without -profile it just
// runs run.
func (d *deployment) profiled(ctx context.Context, o options, name string, baseline bool, run func() *result) *result {
	if o.profile == "" {
		return run()
	}
	secs := max(1, int((o.warmup+o.duration)/time.Second))
	targets := map[string]string{"baseline": d.baselineDebug}
	if !baseline {
		targets = map[string]string{"gateway": d.gatewayDebug}
		for _, c := range d.coords {
			targets["coordinator-"+c.id] = c.debug
		}
	}
	var wg sync.WaitGroup
	for proc, addr := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path := filepath.Join(o.profile, name+"-"+proc+".pprof")
			if err := fetchProfile(ctx, addr, secs, path); err != nil {
				d.log.Warn("profile", "proc", proc, "err", err)
			}
		}()
	}
	r := run()
	wg.Wait()
	return r
}

func fetchProfile(ctx context.Context, addr string, secs int, path string) error {
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
