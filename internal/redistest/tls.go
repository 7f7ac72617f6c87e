package redistest

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/cpgw/cpgw/internal/certs"
	"github.com/cpgw/cpgw/internal/redisserver"
)

// TLS starts redis-servers that also listen with TLS, their certificates
// issued by one test CA:
//
//	x := redistest.NewTLS(t)
//	srv, port := x.Start(t, "redis", certs.Request{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}, nil)
//	url := "rediss://127.0.0.1:" + port // verified with x.CAFile
type TLS struct {
	CA     *certs.CA
	CAFile string // the CA's certificate (PEM)
	dir    string
}

// NewTLS makes a CA in a test directory.
func NewTLS(t testing.TB) *TLS {
	t.Helper()
	dir := t.TempDir()
	ca, err := certs.NewCA("redis test CA", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	x := &TLS{CA: ca, CAFile: filepath.Join(dir, "ca.crt"), dir: dir}
	if err := ca.Write(x.CAFile, filepath.Join(dir, "ca.key")); err != nil {
		t.Fatal(err)
	}
	return x
}

// Start starts a redis-server whose TLS port serves a certificate for req
// (its CommonName becomes name; it is a server certificate valid for an
// hour) and does not ask clients for one. The plain port stays open, so
// replicaOf, if set, is replicated over it. The server stops at cleanup.
// It returns the server and its TLS port.
func (x *TLS) Start(t testing.TB, name string, req certs.Request, replicaOf *redisserver.Server) (*redisserver.Server, string) {
	t.Helper()
	req.CommonName, req.Server, req.TTL, req.Now = name, true, time.Hour, time.Now()
	pair, err := x.CA.Issue(req)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(x.dir, name+".crt"), filepath.Join(x.dir, name+".key")
	if err := pair.Write(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := redisserver.Start(ctx, redisserver.Options{Dir: x.dir, Args: []string{
		"--tls-port", port, "--tls-cert-file", certFile, "--tls-key-file", keyFile,
		"--tls-ca-cert-file", x.CAFile, "--tls-auth-clients", "no",
	}}, replicaOf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s, port
}
