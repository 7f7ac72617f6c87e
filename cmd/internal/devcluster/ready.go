package devcluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/cpgw/cpgw/api"
	"github.com/cpgw/cpgw/cmd/internal/secure"
)

// waitReady polls url/readyz until it answers 200.
func (c *Cluster) waitReady(ctx context.Context, url string) error {
	return poll(ctx, func(ctx context.Context) error {
		resp, err := c.get(ctx, url+"/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz %d", resp.StatusCode)
		}
		return nil
	})
}

// waitOwned polls the shard map until every shard has an owner.
func (c *Cluster) waitOwned(ctx context.Context, url string) error {
	return poll(ctx, func(ctx context.Context) error {
		resp, err := c.get(ctx, url+api.RouteShards)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("shard map: %d", resp.StatusCode)
		}
		var m api.ShardMap
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			return err
		}
		for _, e := range m.Shards {
			if e.Owner == "" {
				return fmt.Errorf("shard %d has no owner", e.Shard)
			}
		}
		if len(m.Shards) == 0 {
			return fmt.Errorf("empty shard map")
		}
		return nil
	})
}

func poll(ctx context.Context, try func(context.Context) error) error {
	var last error
	for {
		if last = try(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// get sends an admin's GET with the cluster's client.
func (c *Cluster) get(ctx context.Context, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if d := c.opts.Security; d != nil {
		req.Header.Set("Authorization", "Bearer "+d.AdminToken)
	}
	return c.client.Do(req)
}

// HTTPClient returns a client for the cluster's gateways: it trusts the
// cluster's CA when the cluster is secure. It sends no credentials.
func (c *Cluster) HTTPClient() *http.Client { return c.client }

// newHTTPClient returns a client that trusts d's CA (any client when d is
// nil). Its Timeout covers reading the body too, which callers do.
func newHTTPClient(d *secure.Dev) (*http.Client, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if d != nil {
		pem, err := os.ReadFile(d.CAFile)
		if err != nil {
			return nil, fmt.Errorf("devcluster: the cluster CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("devcluster: no certificate in %s", d.CAFile)
		}
		t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: t, Timeout: 5 * time.Second}, nil
}
