package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/cpgw/cpgw/api"
)

// objectBody is the value every benchmark write carries: about 200 bytes,
// the size of a small control-plane record.
const objectBody = `{"replicas":3,"limits":{"cpu":"500m","memory":"1Gi"},"labels":{"team":"payments","tier":"gold","region":"us-east"},"rollout":{"strategy":"canary","steps":[10,50,100]},"note":"benchmark object of about two hundred bytes"}`

// do sends one request and reads the whole answer; a status other than
// want... is an error.
func (d *deployment) do(ctx context.Context, method, url, token string, body []byte, header http.Header, want ...int) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	for _, w := range want {
		if resp.StatusCode == w {
			return nil
		}
	}
	return fmt.Errorf("%s %s: %s", method, url, resp.Status)
}

func (d *deployment) objectURL(ns, name string) string {
	return d.gatewayURL + "/v1/namespaces/" + ns + "/objects/" + name
}

// localRead, strongRead, write and the baseline's are the requests the
// measurements send. Every request carries a bearer token, so the gateway
// verifies it (from its cache after the first), checks RBAC and, for
// writes, appends an audit record.
func (d *deployment) read(ns string, objects int, consistency string) request {
	urls := make([]string, objects)
	for i := range urls {
		urls[i] = d.objectURL(ns, "o-"+strconv.Itoa(i)) + "?consistency=" + consistency
	}
	return func(ctx context.Context, _ int, seq uint64) error {
		return d.do(ctx, http.MethodGet, urls[seq%uint64(objects)], d.dev.ReaderToken, nil, nil, http.StatusOK)
	}
}

func (d *deployment) baselineRead(objects int) request {
	return func(ctx context.Context, _ int, seq uint64) error {
		return d.do(ctx, http.MethodGet, d.baselineURL+"/get?k="+strconv.FormatUint(seq%uint64(objects), 10), "", nil, nil, http.StatusOK)
	}
}

// write spreads writes over namespaces (worker mod len) and 1000 names.
func (d *deployment) write(namespaces []string) request {
	body := []byte(objectBody)
	return func(ctx context.Context, worker int, seq uint64) error {
		ns := namespaces[worker%len(namespaces)]
		return d.do(ctx, http.MethodPut, d.objectURL(ns, "o-"+strconv.FormatUint(seq%1000, 10)), d.dev.AdminToken, body, nil,
			http.StatusOK, http.StatusCreated)
	}
}

func (d *deployment) baselineWrite() request {
	body := []byte(objectBody)
	return func(ctx context.Context, _ int, seq uint64) error {
		return d.do(ctx, http.MethodPut, d.baselineURL+"/set?k="+strconv.FormatUint(seq%1000, 10), "", body, nil, http.StatusOK)
	}
}

// setDurability sets a namespace's replica quorum (0: none).
func (d *deployment) setDurability(ctx context.Context, ns string, replicas int) error {
	body := []byte(`{}`)
	if replicas > 0 {
		body = []byte(fmt.Sprintf(`{"durability":{"replicas":%d,"timeout":"500ms"}}`, replicas))
	}
	return d.do(ctx, http.MethodPut, d.gatewayURL+"/v1/namespaces/"+ns, d.dev.AdminToken, body, nil, http.StatusOK, http.StatusCreated)
}

// seed writes objects o-0..o-(n-1) of ns through the gateway, and the
// baseline's keys with the very bytes a local read of each returns, so
// both sides serve the same payload.
func (d *deployment) seed(ctx context.Context, ns string, n int) error {
	rdb := d.primary.Client()
	defer rdb.Close()
	for i := range n {
		name := "o-" + strconv.Itoa(i)
		if err := d.do(ctx, http.MethodPut, d.objectURL(ns, name), d.dev.AdminToken, []byte(objectBody), nil, http.StatusOK, http.StatusCreated); err != nil {
			return err
		}
		body, err := d.get(ctx, d.objectURL(ns, name)+"?consistency=strong")
		if err != nil {
			return err
		}
		if err := rdb.Set(ctx, baselineKey(i), body, 0).Err(); err != nil {
			return err
		}
	}
	// Wait for the replica, so the first local reads are not sent to the
	// owner for min-version or staleness reasons.
	rc := d.replica.Client()
	defer rc.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := rc.Exists(ctx, baselineKey(n-1)).Result()
		if err == nil && n == 1 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cpbench: the replica did not catch up: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (d *deployment) get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+d.dev.AdminToken)
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return b, nil
}

// firstWrite keeps writing to ns (one write at a time, each under a new
// idempotency key, retried every 5 ms) until one succeeds, and returns when.
func (d *deployment) firstWrite(ctx context.Context, ns string) (time.Time, error) {
	body := []byte(objectBody)
	for i := 0; ; i++ {
		h := http.Header{api.HeaderIdempotencyKey: {fmt.Sprintf("cpbench-%d-%d", time.Now().UnixNano(), i)}}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := d.do(rctx, http.MethodPut, d.objectURL(ns, "failover"), d.dev.AdminToken, body, h, http.StatusOK, http.StatusCreated)
		cancel()
		if err == nil {
			return time.Now(), nil
		}
		if ctx.Err() != nil {
			return time.Time{}, ctx.Err()
		}
		time.Sleep(5 * time.Millisecond)
	}
}
