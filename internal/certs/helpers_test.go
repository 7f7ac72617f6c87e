package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cpgw/cpgw/internal/files"
	"github.com/cpgw/cpgw/internal/logbuf"
)

var localhost = net.IPv4(127, 0, 0, 1)

func testCA(t *testing.T, name string) *CA {
	t.Helper()
	ca, err := NewCA(name, time.Hour, time.Now())
	if err != nil {
		t.Fatalf("NewCA: %v", err)
	}
	return ca
}

// issue issues req, defaulting TTL and Now.
func issue(t *testing.T, ca *CA, req Request) Pair {
	t.Helper()
	if req.TTL == 0 {
		req.TTL = 30 * time.Minute
	}
	if req.Now.IsZero() {
		req.Now = time.Now()
	}
	p, err := ca.Issue(req)
	if err != nil {
		t.Fatalf("Issue(%+v): %v", req, err)
	}
	return p
}

func serverReq(cn string) Request {
	return Request{CommonName: cn, IPs: []net.IP{localhost}, Server: true}
}

func clientReq(cn, uri string) Request {
	return Request{CommonName: cn, URIs: []string{uri}, Client: true}
}

func serialOf(t *testing.T, p Pair) *big.Int {
	t.Helper()
	tc, err := tls.X509KeyPair(p.CertPEM, p.KeyPEM)
	if err != nil {
		t.Fatalf("X509KeyPair: %v", err)
	}
	return tc.Leaf.SerialNumber
}

// writePair writes p as dir/name.crt and dir/name.key.
func writePair(t *testing.T, dir, name string, p Pair) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := p.Write(certFile, keyFile); err != nil {
		t.Fatalf("Pair.Write: %v", err)
	}
	return certFile, keyFile
}

// writeBundle writes the CAs' certificates, concatenated, to path.
func writeBundle(t *testing.T, path string, cas ...*CA) string {
	t.Helper()
	var b []byte
	for _, ca := range cas {
		b = append(b, ca.CertPEM...)
	}
	if err := files.WriteAtomic(path, b, 0o644); err != nil {
		t.Fatalf("WriteAtomic: %v", err)
	}
	return path
}

func writeFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func newReloader(t *testing.T, f Files) *Reloader {
	t.Helper()
	if f.Logger == nil {
		f.Logger = discardLogger()
	}
	r, err := NewReloader(f)
	if err != nil {
		t.Fatalf("NewReloader: %v", err)
	}
	return r
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// textLogger logs as text into b.
func textLogger(b *logbuf.Buffer) *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

// startServer serves HTTPS with cfg on a 127.0.0.1 port until the test ends,
// and returns the address. The handler answers 200 with the URI SANs of the
// client certificate, if any.
func startServer(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	return startServerLog(t, cfg, io.Discard)
}

// startServerLog is startServer with the server's error log (refused
// handshakes) written to errLog.
func startServerLog(t *testing.T, cfg *tls.Config, errLog io.Writer) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var uris []string
			if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
				for _, u := range r.TLS.PeerCertificates[0].URIs {
					uris = append(uris, u.String())
				}
			}
			_, _ = io.WriteString(w, strings.Join(uris, ","))
		}),
		TLSConfig:         cfg,
		ErrorLog:          log.New(errLog, "", 0),
		ReadHeaderTimeout: 5 * time.Second,
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("ServeTLS: %v", err)
		}
	})
	return ln.Addr().String()
}

// newClient returns an HTTP client that opens a new connection per request.
func newClient(t *testing.T, tr *http.Transport) *http.Client {
	t.Helper()
	tr.DisableKeepAlives = true
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// dialClient is an HTTP client whose TLS comes from r.DialTLSContext(verify).
func dialClient(t *testing.T, r *Reloader, verify func(*x509.Certificate) error) *http.Client {
	return newClient(t, &http.Transport{DialTLSContext: r.DialTLSContext(verify)})
}

type result struct {
	status  int
	body    string
	serial  *big.Int // of the server's leaf
	proto   int
	version uint16 // TLS
}

func get(c *http.Client, url string) (result, error) {
	resp, err := c.Get(url)
	if err != nil {
		return result{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return result{}, err
	}
	res := result{status: resp.StatusCode, body: string(b), proto: resp.ProtoMajor}
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		res.serial = resp.TLS.PeerCertificates[0].SerialNumber
		res.version = resp.TLS.Version
	}
	return res, nil
}

// mustGet fails the test unless GET url answers 200.
func mustGet(t *testing.T, c *http.Client, url string) result {
	t.Helper()
	res, err := get(c, url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if res.status != http.StatusOK {
		t.Fatalf("GET %s: status %d", url, res.status)
	}
	return res
}

// mustFail fails the test unless GET url fails.
func mustFail(t *testing.T, c *http.Client, url string) error {
	t.Helper()
	res, err := get(c, url)
	if err == nil {
		t.Fatalf("GET %s: got status %d, want a failed request", url, res.status)
	}
	t.Logf("GET %s failed as expected: %v", url, err)
	return err
}

// eventually polls cond until it holds or 5 seconds pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
