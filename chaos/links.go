package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// Link is a TCP proxy run in process by toxiproxy, between a loopback
// listen address and an upstream, that faults can be injected into. Every
// fault applies to both directions (upstream: what clients send;
// downstream: what comes back), to connections open now and to new ones.
// Methods are safe for concurrent use; each fault replaces one of its
// kind set before.
type Link struct {
	name  string
	addr  string
	proxy *toxiproxy.Proxy

	mu     sync.Mutex // serialises changes, so a fault never races Clear
	closed bool
}

// NewLink starts a proxy named name on a free loopback port, forwarding
// to upstream (host:port). The upstream need not be up yet: it is dialled
// once per accepted connection.
func NewLink(name, upstream string) (*Link, error) {
	// One API server per link: its fields are the proxy's logger and
	// metrics; its HTTP API is never started.
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, name, "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("chaos: link %s: %w", name, err)
	}
	// Start has resolved Listen to the port it bound; later Starts
	// (Restore) bind that same port.
	p.Lock()
	addr := p.Listen
	p.Unlock()
	return &Link{name: name, addr: addr, proxy: p}, nil
}

// Name is the link's name.
func (l *Link) Name() string { return l.name }

// Addr is the host:port to connect to instead of the upstream.
func (l *Link) Addr() string { return l.addr }

// Upstream is the host:port the link forwards to.
func (l *Link) Upstream() string {
	l.proxy.Lock()
	defer l.proxy.Unlock()
	return l.proxy.Upstream
}

// Latency delays data by d per request/response round trip: d/2 on the way
// up and d/2 on the way down. Zero removes the latency.
func (l *Link) Latency(d time.Duration) error {
	half := d.Milliseconds() / 2
	if d > 0 && half == 0 {
		half = 1
	}
	if half == 0 {
		return l.remove("latency")
	}
	return l.set("latency", map[string]any{"latency": half})
}

// Blackhole drops everything in both directions while connections stay
// open: requests through the link hang until the client gives up, as
// over a partition that loses packets. Clear (or Close) ends it and closes
// the connections it held.
func (l *Link) Blackhole() error {
	return l.set("timeout", map[string]any{"timeout": 0})
}

// ResetPeer closes a connection abruptly as soon as data flows on it.
// Connections opened after the call are reset with RST (linger 0); ones
// already open may see an ordinary close instead (toxiproxy sets linger
// only when a connection starts).
func (l *Link) ResetPeer() error {
	return l.set("reset_peer", map[string]any{"timeout": 0})
}

// Cut disables the link: the listener closes, open connections are
// closed and new ones are refused, as with a dead host.
func (l *Link) Cut() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return l.errClosed()
	}
	l.proxy.Stop()
	return nil
}

// Restore re-enables a cut link on its old address. It does nothing to a
// link that is not cut.
func (l *Link) Restore() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.restoreLocked()
}

// SetUpstream points the link at another upstream (host:port), on the same
// listen address: the proxy stops (closing every connection through it, so
// clients reconnect and reach the new upstream), takes the new upstream and
// starts again. Toxics stay. A cut link stays cut and forwards to upstream
// once restored.
func (l *Link) SetUpstream(upstream string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return l.errClosed()
	}
	l.proxy.Lock()
	enabled := l.proxy.Enabled
	l.proxy.Unlock()
	// Stop waits for the accept loop to end, so nothing reads Upstream
	// while it changes.
	l.proxy.Stop()
	l.proxy.Lock()
	l.proxy.Upstream = upstream
	l.proxy.Unlock()
	if !enabled {
		return nil
	}
	if err := l.proxy.Start(); err != nil {
		return fmt.Errorf("chaos: link %s: restart on %s towards %s: %w", l.name, l.addr, upstream, err)
	}
	return nil
}

// Clear heals the link: every toxic is removed and a cut link restored.
func (l *Link) Clear() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return l.errClosed()
	}
	l.proxy.Toxics.ResetToxics(context.Background())
	return l.restoreLocked()
}

// Close stops the link for good and closes its connections. It is safe to
// call more than once.
func (l *Link) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	l.proxy.Toxics.ResetToxics(context.Background())
	l.proxy.Stop()
	return nil
}

func (l *Link) restoreLocked() error {
	if l.closed {
		return l.errClosed()
	}
	l.proxy.Lock()
	enabled := l.proxy.Enabled
	l.proxy.Unlock()
	if enabled {
		return nil
	}
	if err := l.proxy.Start(); err != nil {
		return fmt.Errorf("chaos: link %s: restore on %s: %w", l.name, l.addr, err)
	}
	return nil
}

// set installs a toxic of typ with attrs on both streams, replacing any
// of the same type.
func (l *Link) set(typ string, attrs map[string]any) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.removeLocked(typ); err != nil {
		return err
	}
	for _, stream := range []string{"upstream", "downstream"} {
		body, err := json.Marshal(map[string]any{
			"name": typ + "_" + stream, "type": typ, "stream": stream, "toxicity": 1.0, "attributes": attrs,
		})
		if err != nil {
			return err
		}
		if _, err := l.proxy.Toxics.AddToxicJson(bytes.NewReader(body)); err != nil {
			return fmt.Errorf("chaos: link %s: add %s %s: %w", l.name, typ, stream, err)
		}
	}
	return nil
}

// remove removes the toxics of typ, if any.
func (l *Link) remove(typ string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.removeLocked(typ)
}

func (l *Link) removeLocked(typ string) error {
	if l.closed {
		return l.errClosed()
	}
	for _, stream := range []string{"upstream", "downstream"} {
		name := typ + "_" + stream
		if l.proxy.Toxics.GetToxic(name) == nil {
			continue
		}
		if err := l.proxy.Toxics.RemoveToxic(context.Background(), name); err != nil {
			return fmt.Errorf("chaos: link %s: remove %s: %w", l.name, name, err)
		}
	}
	return nil
}

func (l *Link) errClosed() error { return fmt.Errorf("chaos: link %s is closed", l.name) }
