package primary

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// roleInfo is a parsed ROLE reply.
type roleInfo struct {
	role     string // "master", "slave", "sentinel", ...
	replicas int    // a master's connected replicas
	master   string // a replica's master, host:port
	state    string // a replica's link state ("connected", "connect", ...)
}

func (r roleInfo) String() string {
	switch r.role {
	case "master":
		return fmt.Sprintf("master with %d replicas", r.replicas)
	case "slave":
		return fmt.Sprintf("replica of %s (%s)", r.master, r.state)
	}
	return r.role
}

// probeResult is one candidate's answer to ROLE.
type probeResult struct {
	addr string
	role roleInfo
	err  error
}

// probe asks every candidate for its role, in parallel, each through a
// short-lived client built from the caller's options, and returns the
// answers in candidate order.
func (f *finder) probe(ctx context.Context) []probeResult {
	results := make([]probeResult, len(f.addrs))
	var wg sync.WaitGroup
	for i, addr := range f.addrs {
		wg.Go(func() {
			results[i] = probeResult{addr: addr}
			results[i].role, results[i].err = f.probeOne(ctx, addr)
		})
	}
	wg.Wait()
	return results
}

func (f *finder) probeOne(ctx context.Context, addr string) (roleInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, f.probeTimeout)
	defer cancel()
	// Dial here rather than in the probe client's pool, which would log
	// every refused dial of a candidate that is down; the error is part of
	// the probe's result anyway.
	conn, err := f.transport(ctx, addr)
	if err != nil {
		return roleInfo{}, err
	}
	var used atomic.Bool
	c := redis.NewClient(f.probeOptions(addr, func(context.Context, string, string) (net.Conn, error) {
		if used.Swap(true) {
			return nil, errors.New("primary: probe connection already used")
		}
		return conn, nil
	}))
	defer c.Close()
	defer conn.Close() // also if the client never took it; a second Close is harmless
	return role(ctx, c)
}

// probeOptions are the caller's options (auth, DB, protocol, TLS) for one
// candidate, with one connection, no retries, short timeouts and none of
// the extras (caches, notifications, OnConnect) a probe has no use for.
func (f *finder) probeOptions(addr string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *redis.Options {
	o := f.base
	o.Addr = addr
	o.Dialer = dial
	o.OnConnect = nil
	o.MaxRetries = -1
	o.DialerRetries = 1
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout = f.probeTimeout, f.probeTimeout, f.probeTimeout
	o.ContextTimeoutEnabled = true
	o.PoolSize, o.MinIdleConns, o.MaxIdleConns, o.MaxActiveConns = 1, 0, 0, 0
	o.PipelinePoolSize = -1
	o.AutoPipelineOptions = nil
	o.Limiter = nil
	o.DisableIdentity = true
	o.PushNotificationProcessor = nil
	o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	o.ClientSideCacheConfig, o.ClientSideCache = nil, nil
	return &o
}

// role runs ROLE on c and parses the reply.
func role(ctx context.Context, c interface {
	Do(ctx context.Context, args ...any) *redis.Cmd
}) (roleInfo, error) {
	v, err := c.Do(ctx, "ROLE").Slice()
	if err != nil {
		return roleInfo{}, err
	}
	return parseRole(v)
}

func parseRole(v []any) (roleInfo, error) {
	if len(v) == 0 {
		return roleInfo{}, fmt.Errorf("primary: empty ROLE reply")
	}
	name, ok := v[0].(string)
	if !ok {
		return roleInfo{}, fmt.Errorf("primary: ROLE reply starts with %T, not a string", v[0])
	}
	r := roleInfo{role: name}
	switch name {
	case "master":
		if len(v) >= 3 {
			if rs, ok := v[2].([]any); ok {
				r.replicas = len(rs)
			}
		}
	case "slave":
		if len(v) >= 4 {
			host, _ := v[1].(string)
			r.master = net.JoinHostPort(host, fmt.Sprint(v[2]))
			r.state, _ = v[3].(string)
		}
	}
	return r, nil
}

// choose picks the primary among the probe results: the only master, or
// among several the one with the most connected replicas, then last (the
// primary used so far), then the first in candidate order. It also returns
// every master's address (more than one means split brain or a demotion in
// progress). With no master it returns an error that is ErrNoPrimary.
func choose(results []probeResult, last string) (addr string, masters []string, err error) {
	best := -1
	for i, r := range results {
		if r.err != nil || r.role.role != "master" {
			continue
		}
		masters = append(masters, r.addr)
		if best < 0 || better(r, results[best], last) {
			best = i
		}
	}
	if best < 0 {
		return "", nil, &noPrimaryError{results: results}
	}
	return results[best].addr, masters, nil
}

// better reports whether master a beats master b (b comes first in list
// order, so a tie keeps b).
func better(a, b probeResult, last string) bool {
	if a.role.replicas != b.role.replicas {
		return a.role.replicas > b.role.replicas
	}
	return a.addr == last && b.addr != last
}

// noPrimaryError lists what each candidate answered.
type noPrimaryError struct{ results []probeResult }

func (e *noPrimaryError) Error() string {
	var b strings.Builder
	b.WriteString("primary: no primary among ")
	b.WriteString(strconv.Itoa(len(e.results)))
	b.WriteString(" candidates: ")
	for i, r := range e.results {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(r.addr)
		b.WriteString(": ")
		if r.err != nil {
			b.WriteString(r.err.Error())
		} else {
			b.WriteString(r.role.String())
		}
	}
	return b.String()
}

func (e *noPrimaryError) Is(target error) bool { return target == ErrNoPrimary }
