package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cpgw/cpgw/api"
	"github.com/cpgw/cpgw/client"
)

// Workload is the traffic a scenario runs under: concurrent clients of the
// Go SDK writing unique values to, and reading, a small set of keys, each
// operation recorded with its call and return time.
type Workload struct {
	// Gateways are the gateways' URLs. Client i prefers gateway i mod n and
	// fails over to the others, as an SDK user in that region would.
	Gateways []string
	// Clients is the number of concurrent clients. Default 4.
	Clients int
	// Keys are "namespace/name" pairs. Default 8 keys in 4 namespaces, so
	// several shards (and owners) are involved.
	Keys []string
	// ReadFraction of operations are reads; LocalFraction of those are
	// local reads (checked against their bound, not for linearizability).
	// Defaults 0.5 and 0.25.
	ReadFraction, LocalFraction float64
	// MaxStaleness of local reads. Default 1s.
	MaxStaleness time.Duration
	// OpTimeout bounds one operation, SDK retries included: an operation
	// that takes longer is a client-visible error. Default 15s.
	OpTimeout time.Duration
	// Think is the pause between one client's operations. Default 2ms.
	Think time.Duration
	// RawClients of the Clients write with plain HTTP instead of the SDK:
	// no Idempotency-Key and no client retries, so only the gateway's own
	// failover buffering and the keys it makes stand between a fault and
	// the client. Default 2 (half of the default 4); negative for none.
	RawClients int
	// Durability is what Prepare sets on every namespace of Keys. Nil:
	// DefaultDurability. Invariant 3 promises no lost acknowledged write
	// only for a write that waited for a replica quorum, so without one
	// a primary failover may rightly lose writes.
	Durability *api.Durability
}

// DefaultDurability is the workload's namespaces' durability: every
// write waits until one replica has it, for at most 500ms.
var DefaultDurability = api.Durability{Replicas: 1, Timeout: "500ms"}

func (w Workload) withDefaults() Workload {
	if w.Clients == 0 {
		w.Clients = 4
	}
	if len(w.Keys) == 0 {
		for i := 0; i < 8; i++ {
			w.Keys = append(w.Keys, fmt.Sprintf("chaos-%d/k%d", i%4, i))
		}
	}
	if w.ReadFraction == 0 {
		w.ReadFraction = 0.5
	}
	if w.LocalFraction == 0 {
		w.LocalFraction = 0.25
	}
	if w.MaxStaleness == 0 {
		w.MaxStaleness = time.Second
	}
	if w.OpTimeout == 0 {
		w.OpTimeout = 15 * time.Second
	}
	if w.Think == 0 {
		w.Think = 2 * time.Millisecond
	}
	if w.RawClients == 0 {
		w.RawClients = 2
	}
	if w.Durability == nil {
		d := DefaultDurability
		w.Durability = &d
	}
	return w
}

// Namespaces are the distinct namespaces of Keys, in order.
func (w Workload) Namespaces() []string {
	w = w.withDefaults()
	var out []string
	for _, k := range w.Keys {
		ns, _, _ := strings.Cut(k, "/")
		if !slices.Contains(out, ns) {
			out = append(out, ns)
		}
	}
	return out
}

// Prepare sets Durability on every namespace of the workload, through the
// gateways (PUT /v1/namespaces/{ns}, which replaces the settings: no home
// region), retrying each until a gateway answers 200 with the durability
// applied or ctx ends. Run it once before the scenarios: the setting
// lives in the store, so freshKeys in the same namespaces keep it.
func (w Workload) Prepare(ctx context.Context) error {
	w = w.withDefaults()
	if len(w.Gateways) == 0 {
		return errors.New("chaos: workload without gateways")
	}
	body, err := json.Marshal(api.NamespaceSettings{Durability: w.Durability})
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	for _, ns := range w.Namespaces() {
		var last error
		for attempt := 0; ; attempt++ {
			if last = w.putSettings(ctx, hc, w.Gateways[attempt%len(w.Gateways)], ns, body); last == nil {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("chaos: durability of namespace %s: %w (last: %v)", ns, ctx.Err(), last)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

func (w Workload) putSettings(ctx context.Context, hc *http.Client, gw, ns string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, gw+"/v1/namespaces/"+ns, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("PUT %s/v1/namespaces/%s: %s %s", gw, ns, resp.Status, strings.TrimSpace(string(b)))
	}
	var got api.NamespaceSettings
	if err := json.Unmarshal(b, &got); err != nil {
		return fmt.Errorf("PUT %s/v1/namespaces/%s: %w", gw, ns, err)
	}
	var replicas int
	if got.Durability != nil {
		replicas = got.Durability.Replicas
	}
	if replicas != w.Durability.Replicas {
		return fmt.Errorf("PUT %s/v1/namespaces/%s: settings %s do not have the durability asked for", gw, ns, b)
	}
	return nil
}

// Run runs the clients until ctx ends, recording every operation in h.
func (w Workload) Run(ctx context.Context, h *History) error {
	w = w.withDefaults()
	if len(w.Gateways) == 0 {
		return errors.New("chaos: workload without gateways")
	}
	clients := make([]*client.Client, w.Clients)
	for i := range clients {
		c, err := w.newClient(i)
		if err != nil {
			return err
		}
		clients[i] = c
	}
	raw := &http.Client{Timeout: w.OpTimeout}
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			for seq := 0; ctx.Err() == nil; seq++ {
				key := w.Keys[rng.IntN(len(w.Keys))]
				if rng.Float64() < w.ReadFraction {
					w.read(ctx, h, c, i, key, rng.Float64() >= w.LocalFraction)
				} else if i < w.RawClients {
					w.rawWrite(ctx, h, raw, w.Gateways[i%len(w.Gateways)], i, key, fmt.Sprintf("c%d-%d", i, seq))
				} else {
					w.write(ctx, h, c, i, key, fmt.Sprintf("c%d-%d", i, seq))
				}
				select {
				case <-ctx.Done():
				case <-time.After(w.Think):
				}
			}
		})
	}
	wg.Wait()
	return nil
}

// FinalReads reads every key strongly once the faults are over, so that
// the checks can tell a lost write from one not yet read.
func (w Workload) FinalReads(ctx context.Context, h *History) error {
	w = w.withDefaults()
	c, err := w.newClient(0)
	if err != nil {
		return err
	}
	for _, key := range w.Keys {
		w.read(ctx, h, c, -1, key, true)
	}
	return nil
}

func (w Workload) newClient(i int) (*client.Client, error) {
	n := len(w.Gateways)
	gws := make([]string, 0, n)
	for j := 0; j < n; j++ {
		gws = append(gws, w.Gateways[(i+j)%n])
	}
	return client.New(gws, client.WithRetry(20*time.Millisecond, 500*time.Millisecond, w.OpTimeout),
		client.WithHTTPClient(&http.Client{Timeout: 5 * time.Second}))
}

type value struct {
	V string `json:"v"`
}

func (w Workload) write(ctx context.Context, h *History, c *client.Client, id int, key, v string) {
	ns, name, _ := strings.Cut(key, "/")
	op := Op{Client: id, Key: key, Kind: OpWrite, Value: v, Call: h.Now()}
	octx, cancel := context.WithTimeout(ctx, w.OpTimeout)
	o, err := c.Put(octx, ns, name, value{V: v})
	cancel()
	op.Return = h.Now()
	if err != nil {
		op.Outcome, op.Err, op.Canceled = writeOutcome(err), err.Error(), ctx.Err() != nil
		h.Add(op)
		return
	}
	op.Outcome, op.Version, op.FencingToken = OutcomeOK, o.Version, o.Info.FencingToken
	op.IdempotencyKey, op.Replayed = o.Info.IdempotencyKey, o.Info.Replayed
	h.Add(op)
}

// rawWrite PUTs with plain HTTP: one request, no key, no retry.
func (w Workload) rawWrite(ctx context.Context, h *History, hc *http.Client, gw string, id int, key, v string) {
	ns, name, _ := strings.Cut(key, "/")
	op := Op{Client: id, Key: key, Kind: OpWrite, Value: v, Call: h.Now()}
	body, _ := json.Marshal(value{V: v})
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, gw+"/v1/namespaces/"+ns+"/objects/"+name, bytes.NewReader(body))
	if err != nil {
		op.Return, op.Outcome, op.Err = h.Now(), OutcomeFailed, err.Error()
		h.Add(op)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		op.Return, op.Outcome, op.Err, op.Canceled = h.Now(), OutcomeUnknown, err.Error(), ctx.Err() != nil
		h.Add(op)
		return
	}
	defer resp.Body.Close()
	var obj api.Object
	derr := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&obj)
	op.Return = h.Now()
	switch {
	case resp.StatusCode/100 == 2 && derr == nil:
		op.Outcome, op.Version = OutcomeOK, obj.Metadata.Version
		op.FencingToken, _ = strconv.ParseUint(resp.Header.Get(api.HeaderFencingToken), 10, 64)
	case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get(api.HeaderIdempotencyKey) == "":
		// 503 without a key to retry with: the gateway says nothing was
		// applied (no_owner).
		op.Outcome, op.Err = OutcomeFailed, resp.Status
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusConflict:
		op.Outcome, op.Err = OutcomeFailed, resp.Status
	default:
		op.Outcome, op.Err = OutcomeUnknown, resp.Status
	}
	h.Add(op)
}

func (w Workload) read(ctx context.Context, h *History, c *client.Client, id int, key string, strong bool) {
	ns, name, _ := strings.Cut(key, "/")
	op := Op{Client: id, Key: key, Kind: OpRead, Call: h.Now()}
	opts := []client.ReadOption{client.Consistency(client.Strong)}
	if !strong {
		opts = []client.ReadOption{client.Consistency(client.Local), client.MaxStaleness(w.MaxStaleness)}
		op.MaxStaleness = w.MaxStaleness
	}
	octx, cancel := context.WithTimeout(ctx, w.OpTimeout)
	o, err := c.Get(octx, ns, name, opts...)
	cancel()
	op.Return = h.Now()
	switch {
	case errors.Is(err, client.ErrNotFound):
		op.Outcome, op.Strong = OutcomeOK, strong // a local 404 reports no consistency; the request says
		var ce *client.Error
		if errors.As(err, &ce) {
			op.Err = ce.Code
		}
	case err != nil:
		// A read that failed had no effect: it is left out of the checks.
		op.Outcome, op.Err, op.Canceled = OutcomeFailed, err.Error(), ctx.Err() != nil
	default:
		var v value
		if derr := o.Decode(&v); derr != nil {
			op.Outcome, op.Err = OutcomeFailed, derr.Error()
			break
		}
		op.Outcome, op.Found, op.Value, op.Version = OutcomeOK, true, v.V, o.Version
		op.Strong = o.Info.Consistency == client.Strong
		op.StalenessBound = o.Info.Staleness
	}
	h.Add(op)
}

// writeOutcome classifies a failed write: definitely not applied, or
// unknown. Only a 4xx other than 409 proves nothing was applied: the SDK
// retries under one key, so a final 503 no_owner may follow an earlier
// attempt whose outcome is unknown.
func writeOutcome(err error) Outcome {
	var ce *client.Error
	if errors.As(err, &ce) && ce.StatusCode >= 400 && ce.StatusCode < 500 && ce.StatusCode != http.StatusConflict {
		return OutcomeFailed
	}
	return OutcomeUnknown
}
