// Package redisserver starts and stops real redis-server processes on free
// loopback ports: a primary and any number of replicas attached with
// REPLICAOF. cpgw dev --backend redis and every test that needs Redis use it;
// nothing in cpgw fakes Redis.
package redisserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNotInstalled means no redis-server binary was found.
var ErrNotInstalled = errors.New("redisserver: redis-server not found on PATH (Debian: apt-get install redis-server; or run `make deps`)")

// Server is one running redis-server process.
type Server struct {
	Addr string // host:port
	Dir  string // its working directory (logs, no persistence files)

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	mu   sync.Mutex
	err  error // exit status, valid after done
}

// URL returns the server's redis:// URL.
func (s *Server) URL() string { return "redis://" + s.Addr }

// Pid is the server's process id (for CPU accounting by benchmarks).
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Client returns a new go-redis client for the server; the caller closes
// it. It speaks RESP2, as cpgw's own clients do (cmd/cpgw), so the tests
// read the replies cpgw reads.
func (s *Server) Client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: s.Addr, Protocol: 2})
}

// Options configure Start.
type Options struct {
	// Dir is the parent directory for the servers' working directories.
	// Empty means os.TempDir().
	Dir string
	// Binary is the redis-server executable. Empty means "redis-server" on PATH.
	Binary string
	// Args are extra configuration arguments passed to every server, as
	// redis-server accepts them on its command line ("--maxmemory", "10mb").
	Args []string
	// StartTimeout bounds how long a server may take to answer PING.
	// Zero means 10 seconds.
	StartTimeout time.Duration
}

// Start starts one redis-server on a free loopback port and waits until it
// answers PING. If replicaOf is non-nil the new server replicates it.
func Start(ctx context.Context, o Options, replicaOf *Server) (*Server, error) {
	bin := o.Binary
	if bin == "" {
		bin = "redis-server"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, ErrNotInstalled
	}
	timeout := o.StartTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	// A free port can be taken between our probe and redis binding it; retry
	// a few times rather than fail a whole test run on that race.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		s, err := startOnce(ctx, path, o, replicaOf, timeout)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func startOnce(ctx context.Context, path string, o Options, replicaOf *Server, timeout time.Duration) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(o.Dir, "redis-"+strconv.Itoa(port)+"-")
	if err != nil {
		return nil, fmt.Errorf("redisserver: %w", err)
	}
	// redis-server changes into --dir before it opens --logfile, so a
	// relative path would be resolved twice.
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, fmt.Errorf("redisserver: %w", err)
	}
	args := []string{
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--dir", dir,
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
		"--protected-mode", "no",
		"--logfile", filepath.Join(dir, "redis.log"),
		// Evicting a lease, a fencing counter or an idempotency record would
		// break the guarantees built on them (see package redisstore).
		"--maxmemory-policy", "noeviction",
		// Replicas sync at once instead of after Redis's default 5 s wait
		// for more replicas to join the same diskless transfer.
		"--repl-diskless-sync-delay", "0",
	}
	if replicaOf != nil {
		host, rport, _ := net.SplitHostPort(replicaOf.Addr)
		args = append(args, "--replicaof", host, rport)
	}
	args = append(args, o.Args...)
	cmd := exec.Command(path, args...)
	// Own process group, so a Ctrl-C aimed at the test binary does not reach
	// redis before we stop it in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("redisserver: start: %w", err)
	}
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		close(s.done)
	}()
	if err := s.waitReady(ctx, timeout); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	var d net.Dialer
	for {
		// Probe the port first: go-redis logs every failed dial of its pool,
		// and a server that is still starting is not worth a log line.
		if conn, err := d.DialContext(ctx, "tcp", s.Addr); err == nil {
			conn.Close()
			if err := c.Ping(ctx).Err(); err == nil {
				return nil
			}
		}
		select {
		case <-s.done:
			return fmt.Errorf("redisserver: redis-server on %s exited during start: %v; log: %s", s.Addr, s.exitErr(), s.logTail())
		case <-ctx.Done():
			return fmt.Errorf("redisserver: redis-server on %s not ready: %w; log: %s", s.Addr, ctx.Err(), s.logTail())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *Server) exitErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// Stop terminates the server (SIGTERM, then SIGKILL after two seconds), waits
// for it to exit and removes its directory. It is safe to call more than once.
func (s *Server) Stop() {
	select {
	case <-s.done:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(2 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	os.RemoveAll(s.Dir)
}

// Kill sends SIGKILL and waits for the process to exit, leaving its directory.
func (s *Server) Kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// Signal sends sig to the process (SIGSTOP and SIGCONT for pause tests).
func (s *Server) Signal(sig os.Signal) error { return s.cmd.Process.Signal(sig) }

// WaitSynced blocks until every replica reports an up link to its primary and
// has the primary's replication offset.
func WaitSynced(ctx context.Context, primary *Server, replicas ...*Server) error {
	pc := primary.Client()
	defer pc.Close()
	for {
		off, err := replOffset(ctx, pc, "master_repl_offset")
		if err != nil {
			return err
		}
		synced := true
		for _, r := range replicas {
			rc := r.Client()
			info, err := replInfo(ctx, rc)
			rc.Close()
			if err != nil {
				return err
			}
			if info["master_link_status"] != "up" {
				synced = false
				break
			}
			got, _ := strconv.ParseInt(info["slave_repl_offset"], 10, 64)
			if got < off {
				synced = false
				break
			}
		}
		if synced {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redisserver: replicas not in sync: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func replOffset(ctx context.Context, c *redis.Client, field string) (int64, error) {
	info, err := replInfo(ctx, c)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(info[field], 10, 64)
}

func replInfo(ctx context.Context, c *redis.Client) (map[string]string, error) {
	s, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return nil, fmt.Errorf("redisserver: INFO replication: %w", err)
	}
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":"); ok {
			m[k] = v
		}
	}
	return m, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("redisserver: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
