package certs

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cpgw/cpgw/internal/files"
	"github.com/cpgw/cpgw/internal/logbuf"
)

func TestNewReloaderErrors(t *testing.T) {
	dir := t.TempDir()
	ca := testCA(t, "ca")
	certFile, keyFile := writePair(t, dir, "srv", issue(t, ca, serverReq("srv")))
	_, otherKey := writePair(t, dir, "other", issue(t, ca, serverReq("other")))
	caFile := writeBundle(t, filepath.Join(dir, "ca.pem"), ca)
	certPEM, _ := os.ReadFile(certFile)
	keyPEM, _ := os.ReadFile(keyFile)
	garbage := writeFile(t, filepath.Join(dir, "garbage.pem"), []byte("-- not PEM --"))
	halfCert := writeFile(t, filepath.Join(dir, "half.crt"), certPEM[:len(certPEM)-40])
	halfKey := writeFile(t, filepath.Join(dir, "half.key"), keyPEM[:len(keyPEM)/2])
	missing := filepath.Join(dir, "missing.pem")

	for _, tc := range []struct {
		name  string
		files Files
		want  error
		names string
	}{
		{"missing cert", Files{CertFile: missing, KeyFile: keyFile}, fs.ErrNotExist, missing},
		{"missing key", Files{CertFile: certFile, KeyFile: missing}, fs.ErrNotExist, missing},
		{"missing CA file", Files{CAFile: missing}, fs.ErrNotExist, missing},
		{"garbage cert", Files{CertFile: garbage, KeyFile: keyFile}, ErrNoCertificate, garbage},
		{"garbage key", Files{CertFile: certFile, KeyFile: garbage}, ErrNoKey, garbage},
		{"garbage CA file", Files{CAFile: garbage}, ErrNoCertificate, garbage},
		{"half-written cert", Files{CertFile: halfCert, KeyFile: keyFile}, ErrMalformed, halfCert},
		{"half-written key", Files{CertFile: certFile, KeyFile: halfKey}, ErrMalformed, halfKey},
		{"key does not match", Files{CertFile: certFile, KeyFile: otherKey}, ErrKeyMismatch, otherKey},
		{"CA file holds a leaf", Files{CAFile: certFile}, ErrNotCA, certFile},
		{"cert without key", Files{CertFile: certFile, CAFile: caFile}, ErrInvalidFiles, ""},
		{"key without cert", Files{KeyFile: keyFile}, ErrInvalidFiles, ""},
		{"nothing", Files{}, ErrInvalidFiles, ""},
		{"negative interval", Files{CAFile: caFile, Interval: -time.Second}, ErrInvalidFiles, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.files.Logger = discardLogger()
			r, err := NewReloader(tc.files)
			if !errors.Is(err, tc.want) || r != nil {
				t.Fatalf("NewReloader = %v, %v; want nil, %v", r, err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.names) {
				t.Errorf("error %q does not name %s", err, tc.names)
			}
		})
	}
}

// Files over maxFileBytes are refused, naming the file.
func TestNewReloaderLargeFile(t *testing.T) {
	ca := testCA(t, "ca")
	big := append(append([]byte{}, ca.CertPEM...), make([]byte, maxFileBytes)...)
	path := writeFile(t, filepath.Join(t.TempDir(), "big.pem"), big)
	_, err := NewReloader(Files{CAFile: path, Logger: discardLogger()})
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err = %v, want one naming %s as too large", err, path)
	}
	if _, err := LoadCA(path, path); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("LoadCA: err = %v, want too large", err)
	}
}

// TestReloadKeepsOldMaterial: a pair or bundle that does not load leaves the
// previous one in service, in handshakes too.
func TestReloadKeepsOldMaterial(t *testing.T) {
	ca := testCA(t, "ca")
	good := issue(t, ca, serverReq("good"))
	newer := issue(t, ca, serverReq("newer"))

	for _, tc := range []struct {
		name  string
		write func(t *testing.T, certFile, keyFile string) // breaks the pair
		want  error
	}{
		{"half-written cert", func(t *testing.T, c, _ string) { writeFile(t, c, newer.CertPEM[:len(newer.CertPEM)/2]) }, ErrMalformed},
		{"half-written key", func(t *testing.T, _, k string) { writeFile(t, k, newer.KeyPEM[:len(newer.KeyPEM)-30]) }, ErrMalformed},
		{"new cert, old key", func(t *testing.T, c, _ string) { writeFile(t, c, newer.CertPEM) }, ErrKeyMismatch},
		{"old cert, new key", func(t *testing.T, _, k string) { writeFile(t, k, newer.KeyPEM) }, ErrKeyMismatch},
		{"garbage cert", func(t *testing.T, c, _ string) { writeFile(t, c, []byte("garbage")) }, ErrNoCertificate},
		{"cert removed", func(t *testing.T, c, _ string) { _ = os.Remove(c) }, fs.ErrNotExist},
		{"empty key", func(t *testing.T, _, k string) { writeFile(t, k, nil) }, ErrNoKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			certFile, keyFile := writePair(t, dir, "srv", good)
			caFile := writeBundle(t, filepath.Join(dir, "ca.pem"), ca)
			srv := newReloader(t, Files{CertFile: certFile, KeyFile: keyFile})
			addr := startServer(t, srv.ServerConfig(tls.NoClientCert, nil))
			client := dialClient(t, newReloader(t, Files{CAFile: caFile}), nil)

			tc.write(t, certFile, keyFile)
			err := srv.Reload()
			if !errors.Is(err, tc.want) {
				t.Fatalf("Reload = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), dir) {
				t.Errorf("error %q names no file", err)
			}
			if got := mustGet(t, client, "https://"+addr).serial; got.Cmp(serialOf(t, good)) != 0 {
				t.Errorf("served serial %v, want the old %v", got, serialOf(t, good))
			}

			// Repaired: the new pair is served.
			if err := newer.Write(certFile, keyFile); err != nil {
				t.Fatal(err)
			}
			if err := srv.Reload(); err != nil {
				t.Fatal(err)
			}
			if got := mustGet(t, client, "https://"+addr).serial; got.Cmp(serialOf(t, newer)) != 0 {
				t.Errorf("served serial %v, want the new %v", got, serialOf(t, newer))
			}
		})
	}

	t.Run("bad CA bundle", func(t *testing.T) {
		dir := t.TempDir()
		caFile := writeBundle(t, filepath.Join(dir, "ca.pem"), ca)
		r := newReloader(t, Files{CAFile: caFile})
		pool := r.Pool()
		writeFile(t, caFile, ca.CertPEM[:len(ca.CertPEM)/2])
		if err := r.Reload(); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), caFile) {
			t.Fatalf("Reload = %v, want ErrMalformed naming %s", err, caFile)
		}
		if r.Pool() != pool {
			t.Error("pool replaced by a bad bundle")
		}
	})
}

func TestReloadUnchangedContent(t *testing.T) {
	dir := t.TempDir()
	ca := testCA(t, "ca")
	p := issue(t, ca, serverReq("srv"))
	certFile, keyFile := writePair(t, dir, "srv", p)
	var logs logbuf.Buffer
	r := newReloader(t, Files{CertFile: certFile, KeyFile: keyFile, Logger: textLogger(&logs)})
	before := r.pair.Load()
	if err := p.Write(certFile, keyFile); err != nil { // new files, same bytes
		t.Fatal(err)
	}
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if r.pair.Load() != before || strings.Count(logs.String(), "loaded certificate") != 1 {
		t.Errorf("unchanged content was reloaded; log:\n%s", logs.String())
	}
	if _, err := r.GetCertificate(nil); err != nil {
		t.Error(err)
	}
	if _, err := newReloader(t, Files{CAFile: writeBundle(t, filepath.Join(dir, "ca.pem"), ca)}).GetCertificate(nil); !errors.Is(err, ErrNoCertificate) {
		t.Errorf("GetCertificate without a pair: %v", err)
	}
}

// TestServerRotationUnderLoad rotates the server's pair (new key) while a
// client opens a new connection per request: no request may fail, and
// afterwards new connections see the new certificate.
func TestServerRotationUnderLoad(t *testing.T) {
	for _, mode := range []string{"Reload", "Run"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			ca := testCA(t, "ca")
			certFile, keyFile := writePair(t, dir, "srv", issue(t, ca, serverReq("old")))
			caFile := writeBundle(t, filepath.Join(dir, "ca.pem"), ca)
			next := issue(t, ca, serverReq("new"))
			nextSerial := serialOf(t, next)

			files := Files{CertFile: certFile, KeyFile: keyFile, Interval: 5 * time.Second}
			var clock *clockwork.FakeClock
			if mode == "Run" {
				clock = clockwork.NewFakeClockAt(time.Now())
				files.Clock = clock
			}
			srv := newReloader(t, files)
			url := "https://" + startServer(t, srv.ServerConfig(tls.VerifyClientCertIfGiven, nil))
			client := dialClient(t, newReloader(t, Files{CAFile: caFile}), nil)

			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			defer wg.Wait()
			defer cancel()
			if mode == "Run" {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := srv.Run(ctx); err != nil {
						t.Errorf("Run = %v", err)
					}
				}()
				if err := clock.BlockUntilContext(ctx, 1); err != nil {
					t.Fatal(err)
				}
			}

			var (
				done, sawNew atomic.Int64
				failMu       sync.Mutex
				failures     []error
			)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					res, err := get(client, url)
					if err == nil && res.status != 200 {
						err = fmt.Errorf("status %d", res.status)
					}
					if err != nil {
						if ctx.Err() == nil {
							failMu.Lock()
							failures = append(failures, err)
							failMu.Unlock()
						}
						continue
					}
					if res.serial.Cmp(nextSerial) == 0 {
						sawNew.Add(1)
					}
					done.Add(1)
				}
			}()

			eventually(t, "requests before the rotation", func() bool { return done.Load() >= 20 })
			if err := next.Write(certFile, keyFile); err != nil {
				t.Fatal(err)
			}
			if mode == "Reload" {
				if err := srv.Reload(); err != nil {
					t.Fatal(err)
				}
			} else {
				clock.Advance(files.Interval)
			}
			eventually(t, "requests served with the new certificate", func() bool { return sawNew.Load() >= 20 })
			cancel()
			wg.Wait()

			failMu.Lock()
			defer failMu.Unlock()
			if len(failures) > 0 {
				t.Fatalf("%d of %d requests failed during rotation; first: %v", len(failures), done.Load(), failures[0])
			}
			if got := mustGet(t, client, url).serial; got.Cmp(nextSerial) != 0 {
				t.Errorf("after rotation: serial %v, want %v", got, nextSerial)
			}
			t.Logf("%d requests, %d with the new certificate", done.Load(), sawNew.Load())
		})
	}
}

// TestRunReloadsPairTogether: Run never serves a new certificate with the old
// key (or the reverse), logs the failure once, and picks up the pair when
// both files are in place.
func TestRunReloadsPairTogether(t *testing.T) {
	dir := t.TempDir()
	ca := testCA(t, "ca")
	old := issue(t, ca, serverReq("old"))
	certFile, keyFile := writePair(t, dir, "srv", old)
	next := issue(t, ca, serverReq("new"))
	clock := clockwork.NewFakeClockAt(time.Now())
	var logs logbuf.Buffer
	srv := newReloader(t, Files{CertFile: certFile, KeyFile: keyFile, Clock: clock, Logger: textLogger(&logs)})
	serial := func() *big.Int {
		c, err := srv.GetCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf.SerialNumber
	}

	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- srv.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-runErr; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()
	if err := clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	failures := func() int { return strings.Count(logs.String(), "reload failed") }

	// The new key alone: mismatched, refused, logged.
	if err := files.WriteAtomic(keyFile, next.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	clock.Advance(DefaultInterval)
	eventually(t, "the mismatch to be logged", func() bool { return failures() == 1 })
	if !strings.Contains(logs.String(), keyFile) {
		t.Errorf("log does not name %s:\n%s", keyFile, logs.String())
	}
	if serial().Cmp(serialOf(t, old)) != 0 {
		t.Fatal("a certificate with a key that is not its own was swapped in")
	}
	clock.Advance(DefaultInterval) // the same failure again: not logged again

	// Now the certificate too.
	if err := files.WriteAtomic(certFile, next.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	clock.Advance(DefaultInterval)
	eventually(t, "the new pair", func() bool { return serial().Cmp(serialOf(t, next)) == 0 })
	if n := failures(); n != 1 {
		t.Errorf("%d failures logged, want 1:\n%s", n, logs.String())
	}
}

// TestCARotation rotates the CA bundle: old, then old+new, then new only, on
// the server (client certificates) and on the client (server certificates).
func TestCARotation(t *testing.T) {
	dir := t.TempDir()
	oldCA, newCA := testCA(t, "old"), testCA(t, "new")
	srvCA := writeBundle(t, filepath.Join(dir, "server-ca.pem"), oldCA)
	cliCA := writeBundle(t, filepath.Join(dir, "client-ca.pem"), oldCA)
	srvCert, srvKey := writePair(t, dir, "srv", issue(t, oldCA, serverReq("srv")))
	srv := newReloader(t, Files{CertFile: srvCert, KeyFile: srvKey, CAFile: srvCA})
	url := "https://" + startServer(t, srv.ServerConfig(tls.RequireAndVerifyClientCert, RequireURIPrefix(GatewayURIPrefix)))

	client := func(name string, ca *CA) (*Reloader, func() error) {
		c, k := writePair(t, dir, name, issue(t, ca, clientReq(name, GatewayURI("us-east", name))))
		r := newReloader(t, Files{CertFile: c, KeyFile: k, CAFile: cliCA})
		hc := dialClient(t, r, nil)
		return r, func() error { _, err := get(hc, url); return err }
	}
	oldCli, viaOld := client("g-old", oldCA)
	newCli, viaNew := client("g-new", newCA)
	reload := func(rs ...*Reloader) {
		t.Helper()
		for _, r := range rs {
			if err := r.Reload(); err != nil {
				t.Fatal(err)
			}
		}
	}
	expect := func(step string, oldOK, newOK bool) {
		t.Helper()
		if err := viaOld(); (err == nil) != oldOK {
			t.Errorf("%s: client with an old-CA cert: err = %v, want ok=%v", step, err, oldOK)
		}
		if err := viaNew(); (err == nil) != newOK {
			t.Errorf("%s: client with a new-CA cert: err = %v, want ok=%v", step, err, newOK)
		}
	}

	expect("old CA only", true, false)

	writeBundle(t, srvCA, oldCA, newCA)
	writeBundle(t, cliCA, oldCA, newCA)
	reload(srv, oldCli, newCli)
	expect("old and new CA", true, true)

	// The server moves to a new-CA certificate; clients trust both CAs.
	if err := issue(t, newCA, serverReq("srv2")).Write(srvCert, srvKey); err != nil {
		t.Fatal(err)
	}
	reload(srv)
	expect("server cert from the new CA", true, true)

	writeBundle(t, srvCA, newCA)
	writeBundle(t, cliCA, newCA)
	reload(srv, oldCli, newCli)
	expect("new CA only", false, true)

	// A client still trusting only the old CA refuses the new server cert,
	// and accepts it once its bundle is rotated.
	stale := filepath.Join(dir, "stale-ca.pem")
	writeBundle(t, stale, oldCA)
	nc, nk := writePair(t, dir, "g-late", issue(t, newCA, clientReq("g-late", GatewayURI("us-east", "g-late"))))
	late := newReloader(t, Files{CertFile: nc, KeyFile: nk, CAFile: stale})
	lateClient := dialClient(t, late, nil)
	if err := mustFail(t, lateClient, url); !strings.Contains(err.Error(), "unknown authority") {
		t.Errorf("stale client: %v", err)
	}
	writeBundle(t, stale, oldCA, newCA)
	reload(late)
	mustGet(t, lateClient, url)
}

// TestCARemovalAppliesToResumedSessions: a client whose CA was removed cannot
// come back by resuming a session from before the removal.
func TestCARemovalAppliesToResumedSessions(t *testing.T) {
	dir := t.TempDir()
	oldCA, newCA := testCA(t, "old"), testCA(t, "new")
	srvCA := writeBundle(t, filepath.Join(dir, "server-ca.pem"), oldCA, newCA)
	cliCA := writeBundle(t, filepath.Join(dir, "client-ca.pem"), newCA)
	srvCert, srvKey := writePair(t, dir, "srv", issue(t, newCA, serverReq("srv")))
	srv := newReloader(t, Files{CertFile: srvCert, KeyFile: srvKey, CAFile: srvCA})
	addr := startServer(t, srv.ServerConfig(tls.RequireAndVerifyClientCert, nil))

	c, k := writePair(t, dir, "cli", issue(t, oldCA, clientReq("g1", GatewayURI("us-east", "g1"))))
	cfg := newReloader(t, Files{CertFile: c, KeyFile: k, CAFile: cliCA}).ClientConfig(nil)
	cfg.ServerName = "127.0.0.1"
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	// request makes one request on a new connection, reading the response
	// (and with it the session ticket).
	request := func() (resumed bool, err error) {
		conn, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			return false, err
		}
		defer conn.Close()
		if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")); err != nil {
			return false, err
		}
		b, err := io.ReadAll(conn)
		if err != nil {
			return false, err
		}
		if !strings.HasPrefix(string(b), "HTTP/1.1 200") {
			return false, fmt.Errorf("response %q", b)
		}
		return conn.ConnectionState().DidResume, nil
	}
	if _, err := request(); err != nil {
		t.Fatal(err)
	}
	if resumed, err := request(); err != nil || !resumed {
		t.Fatalf("second connection: resumed=%v err=%v; want a resumed session", resumed, err)
	}
	writeBundle(t, srvCA, newCA)
	if err := srv.Reload(); err != nil {
		t.Fatal(err)
	}
	if resumed, err := request(); err == nil {
		t.Fatalf("after removing the client's CA: request succeeded (resumed=%v)", resumed)
	}
}
