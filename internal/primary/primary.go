package primary

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNoPrimary is what a dial fails with (errors.Is) when no candidate
// answered ROLE with "master".
var ErrNoPrimary = errors.New("primary: no primary")

// ErrNotPrimary is what a command fails with (errors.Is) when a new
// connection turned out to reach a server that is not a master. The cached
// primary is forgotten, so the next dial probes the candidates again.
var ErrNotPrimary = errors.New("primary: not the primary")

// maxProbeTimeout bounds each candidate's ROLE probe (dial, handshake and
// reply). A smaller Options.DialTimeout wins.
const maxProbeTimeout = time.Second

// maxReruns bounds how often the hook re-runs a command that failed only
// because it reached a non-primary (each re-run is itself up to
// MaxRetries+1 attempts).
const maxReruns = 2

// keepAlive matches go-redis's default dialer.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: 5 * time.Second, Count: 3}

// NewClient returns a client of whichever of addrs is the Redis primary.
//
// opts is used as for redis.NewClient (it is copied, not modified): auth,
// DB, protocol, TLS, timeouts and pool settings apply to every candidate;
// opts.Addr is ignored. opts.OnConnect, if set, runs after the role check.
// If opts.Dialer is set it is used to reach each candidate and, as in
// go-redis, is then responsible for TLS; otherwise, with opts.TLSConfig set,
// the TLS handshake is done here, with ServerName set to each candidate's
// host unless opts.TLSConfig.ServerName is set.
//
// addrs are host:port (paths with Network "unix"), at least one, no
// duplicates. log receives the primary changes; nil means slog.Default().
//
// NewClient does not connect: the first command finds the primary. Closing
// the client releases everything.
func NewClient(opts *redis.Options, addrs []string, log *slog.Logger) (*redis.Client, error) {
	f, err := newFinder(opts, addrs, log)
	if err != nil {
		return nil, err
	}
	o := *opts
	o.Addr = strings.Join(f.addrs, ",") // a name only: the dialer ignores it
	o.Dialer = f.dial
	o.OnConnect = f.onConnect
	c := redis.NewClient(&o)
	c.AddHook(hook{f})
	return c, nil
}

// finder keeps track of which candidate is the primary and dials it.
type finder struct {
	addrs         []string
	base          redis.Options // the caller's options, for probe clients
	network       string
	tlsConfigs    map[string]*tls.Config // per candidate; nil without TLS (or with a custom Dialer)
	userDial      func(ctx context.Context, network, addr string) (net.Conn, error)
	userOnConnect func(ctx context.Context, cn *redis.Conn) error
	dialTimeout   time.Duration
	probeTimeout  time.Duration
	log           *slog.Logger

	mu sync.Mutex
	// current is the cached primary; "" means probe on the next dial.
	current string
	// last is the primary the latest successful probe chose ("" before the
	// first); it breaks ties between several masters and tells a change.
	last string
	// lost is set once "no primary" was logged, so an outage logs once.
	lost bool
	// inflight is the probe running now, which other dials wait for.
	inflight *probeCall
	// conns are the live connections this finder dialed.
	conns map[*trackedConn]struct{}
}

type probeCall struct {
	done chan struct{}
	addr string // valid after done
	err  error
}

func newFinder(opts *redis.Options, addrs []string, log *slog.Logger) (*finder, error) {
	if opts == nil {
		return nil, errors.New("primary: nil options")
	}
	if len(addrs) == 0 {
		return nil, errors.New("primary: no candidate addresses")
	}
	network := opts.Network
	if network == "" {
		network = "tcp"
	}
	seen := make(map[string]bool, len(addrs))
	for _, a := range addrs {
		if a == "" {
			return nil, errors.New("primary: empty candidate address")
		}
		if seen[a] {
			return nil, fmt.Errorf("primary: candidate %s listed twice", a)
		}
		seen[a] = true
		if strings.HasPrefix(network, "tcp") {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return nil, fmt.Errorf("primary: candidate %q: %w", a, err)
			}
		}
	}
	if log == nil {
		log = slog.Default()
	}
	dialTimeout := opts.DialTimeout
	if dialTimeout <= 0 {
		dialTimeout = 5 * time.Second // go-redis's default
	}
	f := &finder{
		addrs:         append([]string(nil), addrs...),
		base:          *opts,
		network:       network,
		userDial:      opts.Dialer,
		userOnConnect: opts.OnConnect,
		dialTimeout:   dialTimeout,
		probeTimeout:  min(dialTimeout, maxProbeTimeout),
		log:           log,
		conns:         make(map[*trackedConn]struct{}),
	}
	if opts.TLSConfig != nil && opts.Dialer == nil {
		f.tlsConfigs = make(map[string]*tls.Config, len(addrs))
		for _, a := range addrs {
			c := opts.TLSConfig.Clone()
			if c.ServerName == "" {
				if host, _, err := net.SplitHostPort(a); err == nil {
					c.ServerName = host
				}
			}
			f.tlsConfigs[a] = c
		}
	}
	return f, nil
}

// transport connects to one candidate: TCP (or the caller's Dialer), then
// TLS if configured. It is used both for the client's connections and for
// the probes.
func (f *finder) transport(ctx context.Context, addr string) (net.Conn, error) {
	if f.userDial != nil {
		return f.userDial(ctx, f.network, addr)
	}
	d := net.Dialer{Timeout: f.dialTimeout, KeepAliveConfig: keepAlive}
	conn, err := d.DialContext(ctx, f.network, addr)
	if err != nil {
		return nil, err
	}
	cfg := f.tlsConfigs[addr]
	if cfg == nil {
		return conn, nil
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return tc, nil
}

// dial is the client's Options.Dialer: it ignores addr and dials the
// primary, probing the candidates when none is cached or the cached one
// cannot be reached.
func (f *finder) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	if addr := f.cached(); addr != "" {
		conn, err := f.dialTracked(ctx, addr)
		if err == nil {
			return conn, nil
		}
		f.forget(addr)
		if ctx.Err() != nil {
			return nil, err
		}
		// Fall through: the primary may have moved.
	}
	addr, err := f.find(ctx, false)
	if err != nil {
		return nil, err
	}
	conn, err := f.dialTracked(ctx, addr)
	if err != nil {
		f.forget(addr)
		return nil, fmt.Errorf("primary: dial %s: %w", addr, err)
	}
	return conn, nil
}

func (f *finder) dialTracked(ctx context.Context, addr string) (net.Conn, error) {
	conn, err := f.transport(ctx, addr)
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: conn, f: f, addr: addr}
	f.mu.Lock()
	moved := f.last != addr
	if !moved {
		f.conns[tc] = struct{}{}
	}
	last := f.last
	f.mu.Unlock()
	if moved {
		// A probe chose another primary while we dialed; a connection
		// registered now would escape that probe's retirement.
		conn.Close()
		return nil, fmt.Errorf("primary: primary moved from %s to %s during the dial", addr, last)
	}
	return tc.wrap(), nil
}

// onConnect is the client's Options.OnConnect: it refuses a connection to
// a server that is not a master, then runs the caller's OnConnect.
func (f *finder) onConnect(ctx context.Context, cn *redis.Conn) error {
	r, err := role(ctx, cn)
	if err != nil {
		if ctx.Err() == nil {
			f.forget("")
		}
		return err
	}
	if r.role != "master" {
		f.forget("")
		return &notPrimaryError{role: r}
	}
	if f.userOnConnect != nil {
		return f.userOnConnect(ctx, cn)
	}
	return nil
}

// cached returns the cached primary, "" if none.
func (f *finder) cached() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.current
}

// forget drops the cached primary if it is addr ("" means whichever it
// is), so the next dial probes.
func (f *finder) forget(addr string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if addr == "" || f.current == addr {
		f.current = ""
	}
}

// find returns the primary: the cached one unless force, else the result
// of a probe. Concurrent callers share one probe.
func (f *finder) find(ctx context.Context, force bool) (string, error) {
	f.mu.Lock()
	if !force && f.current != "" {
		addr := f.current
		f.mu.Unlock()
		return addr, nil
	}
	if c := f.inflight; c != nil {
		f.mu.Unlock()
		select {
		case <-c.done:
			return c.addr, c.err
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	c := &probeCall{done: make(chan struct{})}
	f.inflight = c
	last := f.last
	f.mu.Unlock()

	// The probe does not stop when this caller gives up: others may be
	// waiting for it, and it is bounded by probeTimeout anyway.
	results := f.probe(context.WithoutCancel(ctx))
	addr, masters, err := choose(results, last)

	f.mu.Lock()
	f.inflight = nil
	var retire []*trackedConn
	wasLost := f.lost
	if err == nil {
		f.current, f.last, f.lost = addr, addr, false
		for tc := range f.conns {
			if tc.addr != addr {
				retire = append(retire, tc)
				delete(f.conns, tc)
			}
		}
	} else {
		f.current = ""
		f.lost = true
	}
	f.mu.Unlock()

	for _, tc := range retire {
		tc.retire()
	}
	switch {
	case err != nil:
		if !wasLost {
			f.log.Warn("redis: no primary among the candidates; commands fail until one is promoted", "err", err)
		}
	case last == "":
		f.log.Info("redis: primary found", "primary", addr, "candidates", len(f.addrs))
	case last != addr:
		f.log.Warn("redis: primary changed", "from", last, "to", addr, "retired_conns", len(retire))
	case wasLost:
		f.log.Warn("redis: primary is back", "primary", addr)
	}
	if len(masters) > 1 {
		f.log.Warn("redis: several candidates claim to be master; chose the one with the most replicas", "masters", masters, "chose", addr)
	}
	c.addr, c.err = addr, err
	close(c.done)
	return addr, err
}

// dropped is called by a trackedConn's Close.
func (f *finder) dropped(tc *trackedConn) {
	f.mu.Lock()
	delete(f.conns, tc)
	f.mu.Unlock()
}

// recoverable reports whether cmdErr means the command never ran because it
// reached a server that is not (or no longer) the primary, after doing
// what it takes for a re-run to reach the primary.
func (f *finder) recoverable(ctx context.Context, cmdErr error) bool {
	switch {
	case cmdErr == nil || ctx.Err() != nil:
		return false
	case errors.Is(cmdErr, ErrNotPrimary), errors.Is(cmdErr, errRetired):
		// The cache is already dropped, or the connection retired by a
		// probe that chose another primary.
		return true
	case redis.IsReadOnlyError(cmdErr):
		_, err := f.find(ctx, true)
		return err == nil
	}
	return false
}

// lostConn drops the cached primary after a command lost its connection
// (EOF, reset, refused): the primary may have died behind something that
// still accepts TCP connections (a proxy, a load balancer), where the next
// dial would succeed and only the handshake fail, before OnConnect could
// notice. The next dial then probes every candidate. The command itself is
// not re-run: its outcome is unknown.
func (f *finder) lostConn(ctx context.Context, err error) {
	if err == nil || ctx.Err() != nil {
		return
	}
	var ne net.Error
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) {
		f.forget("")
	}
}

// hook re-runs a command that failed only because it reached a non-primary,
// and re-probes when a pipeline got READONLY.
type hook struct{ f *finder }

func (h hook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h hook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.f.lostConn(ctx, err)
		// A re-run is safe: READONLY means the server refused the command,
		// the other two mean it was never written.
		for i := 0; i < maxReruns && !cmd.NoRetry() && h.f.recoverable(ctx, err); i++ {
			err = next(ctx, cmd)
		}
		return err
	}
}

func (h hook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if err == nil || ctx.Err() != nil {
			return err
		}
		h.f.lostConn(ctx, err)
		for _, cmd := range cmds {
			if redis.IsReadOnlyError(cmd.Err()) {
				_, _ = h.f.find(ctx, true)
				break
			}
		}
		return err
	}
}

// notPrimaryError is returned by OnConnect. It has no Unwrap on purpose:
// go-redis unwraps a connection-init error once before returning it, which
// would lose this message.
type notPrimaryError struct{ role roleInfo }

func (e *notPrimaryError) Error() string {
	return fmt.Sprintf("primary: a new connection reached a %s, not the primary; the candidates will be probed again", e.role)
}

func (e *notPrimaryError) Is(target error) bool { return target == ErrNotPrimary }
