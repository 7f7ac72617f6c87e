package primary

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
)

// errRetired marks a write refused on a retired connection (errors.Is).
var errRetired = errors.New("primary: connection retired")

// trackedConn is a connection to one candidate that a probe can retire when
// it chooses another primary.
type trackedConn struct {
	net.Conn
	f       *finder
	addr    string
	retired atomic.Bool
	once    sync.Once
	err     error // of the underlying Close, set by once
}

// wrap returns tc as go-redis should see it. A TCP connection keeps its
// syscall.Conn, so the pool's health check on Get still sees a closed
// socket (a retired connection, or one the server dropped) and discards it
// without spending a command attempt. A TLS connection has none, as
// without this package.
func (tc *trackedConn) wrap() net.Conn {
	if sc, ok := tc.Conn.(syscall.Conn); ok {
		return &sysConn{trackedConn: tc, sc: sc}
	}
	return tc
}

// retire closes the connection and makes further writes fail with an error
// go-redis retries on a fresh connection (it is io.EOF to errors.Is, and
// nothing was sent).
func (tc *trackedConn) retire() {
	tc.retired.Store(true)
	tc.Close()
}

func (tc *trackedConn) Write(b []byte) (int, error) {
	if tc.retired.Load() {
		return 0, &retiredError{addr: tc.addr}
	}
	return tc.Conn.Write(b)
}

func (tc *trackedConn) Close() error {
	tc.once.Do(func() {
		tc.err = tc.Conn.Close()
		tc.f.dropped(tc)
	})
	return tc.err
}

// sysConn is a trackedConn over a connection with a file descriptor.
type sysConn struct {
	*trackedConn
	sc syscall.Conn
}

func (c *sysConn) SyscallConn() (syscall.RawConn, error) { return c.sc.SyscallConn() }

// retiredError has no Unwrap, so that go-redis's one-level unwrap of some
// errors keeps the message; Is makes it io.EOF (retryable) and errRetired.
type retiredError struct{ addr string }

func (e *retiredError) Error() string {
	return fmt.Sprintf("primary: connection to %s retired: it is no longer the primary", e.addr)
}

func (e *retiredError) Is(target error) bool { return target == io.EOF || target == errRetired }
