package devcluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/cpgw/cpgw/api"
)

// waitReady polls url/readyz until it answers 200.
func waitReady(ctx context.Context, url string) error {
	return poll(ctx, func(ctx context.Context) error {
		resp, err := get(ctx, url+"/readyz")
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
func waitOwned(ctx context.Context, url string) error {
	return poll(ctx, func(ctx context.Context) error {
		resp, err := get(ctx, url+api.RouteShards)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
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

func get(ctx context.Context, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	// Client.Timeout covers reading the body too, which the caller does.
	return (&http.Client{Timeout: 2 * time.Second}).Do(req)
}
