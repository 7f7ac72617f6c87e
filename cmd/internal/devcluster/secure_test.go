package devcluster

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpgw/cpgw/authz"
	"github.com/cpgw/cpgw/cmd/internal/secure"
	"github.com/cpgw/cpgw/internal/certs"
	"github.com/cpgw/cpgw/internal/files"
)

// secureCluster is a two-region deployment with TLS, mTLS between nodes,
// tokens, RBAC and an audit log, as cpgw dev runs by default.
type secureCluster struct {
	*Cluster
	dev *secure.Dev
	gw  string // us-east's gateway URL
}

func startSecure(t *testing.T, backend string) *secureCluster {
	t.Helper()
	dev, err := secure.NewDev(filepath.Join(t.TempDir(), "pki"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := Start(ctx, Options{Regions: []string{"us-east", "eu-west"}, Backend: backend, Dir: t.TempDir(),
		Logger: slog.New(slog.DiscardHandler), Coordinator: shortLeases, Security: dev})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	us, _ := c.Region("us-east")
	return &secureCluster{Cluster: c, dev: dev, gw: us.Gateway.URL}
}

// send makes one request with the cluster's client (it trusts the CA) and
// token as bearer ("" for none).
func (c *secureCluster) send(t *testing.T, method, url, token, body string) response {
	t.Helper()
	var hdr []string
	if token != "" {
		hdr = []string{"Authorization", "Bearer " + token}
	}
	return doWith(t, c.HTTPClient(), method, url, body, hdr...)
}

// mint signs a token with the deployment's key.
func (c *secureCluster) mint(t *testing.T, sub string, groups ...string) string {
	t.Helper()
	key, err := authz.LoadSigningKey(c.dev.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := authz.Mint(key, authz.Claims{Issuer: "cpgw", Audience: "cpgw", Subject: sub, Groups: groups, TTL: time.Hour, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// auditLines decodes the audit log.
func (c *secureCluster) auditLines(t *testing.T) []authz.Record {
	t.Helper()
	f, err := os.Open(c.dev.AuditLog)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []authz.Record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r authz.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// The outcomes of authentication and authorisation through a real secure
// deployment, and the audit record of each mutation and denial.
func TestSecureAccess(t *testing.T) {
	c := startSecure(t, Embedded)
	obj := objURL(c.gw, "payments", "limits")
	scoped := c.mint(t, "pay-bot", "payments-team")

	// A policy with a role scoped to one namespace, rolled out while the
	// deployment runs (the policy file is reloaded).
	policy, err := os.ReadFile(c.dev.PolicyFile)
	if err != nil {
		t.Fatal(err)
	}
	policy = []byte(strings.Replace(string(policy), "bindings:\n", `  - name: payments-writer
    rules:
      - verbs: [get, list, put, delete]
        resources: [objects]
        namespaces: ["payments"]
bindings:
  - role: payments-writer
    subjects: ["group:payments-team"]
`, 1))
	if err := files.WriteAtomic(c.dev.PolicyFile, policy, 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for c.send(t, "PUT", obj, scoped, `{"v":0}`).status != http.StatusCreated {
		if time.Now().After(deadline) {
			t.Fatal("the new policy never took effect")
		}
		time.Sleep(100 * time.Millisecond)
	}

	tests := []struct {
		name          string
		method, url   string
		token, body   string
		want          int
		audit         string // outcome of the audit record it must leave; "" for none
		subject, verb string
	}{
		{"no token", "GET", obj, "", "", http.StatusUnauthorized, "unauthenticated", "", "get"},
		{"garbage token", "GET", obj, "not-a-jwt", "", http.StatusUnauthorized, "unauthenticated", "", "get"},
		{"admin writes", "PUT", obj, c.dev.AdminToken, `{"v":1}`, http.StatusOK, "allowed", secure.DevAdminSubject, "put"},
		{"reader reads", "GET", obj, c.dev.ReaderToken, "", http.StatusOK, "", "", ""},
		{"reader writes", "PUT", obj, c.dev.ReaderToken, `{"v":2}`, http.StatusForbidden, "denied", secure.DevReaderSubject, "put"},
		{"reader deletes", "DELETE", obj, c.dev.ReaderToken, "", http.StatusForbidden, "denied", secure.DevReaderSubject, "delete"},
		{"reader lists shards", "GET", c.gw + "/v1/shards", c.dev.ReaderToken, "", http.StatusOK, "", "", ""},
		{"scoped role in its namespace", "PUT", obj, scoped, `{"v":3}`, http.StatusOK, "allowed", "pay-bot", "put"},
		{"scoped role in another namespace", "PUT", objURL(c.gw, "orders", "o1"), scoped, `{"v":1}`, http.StatusForbidden, "denied", "pay-bot", "put"},
		{"scoped role and the shard map", "GET", c.gw + "/v1/shards", scoped, "", http.StatusForbidden, "denied", "pay-bot", "get"},
		{"scoped role and namespace settings", "PUT", c.gw + "/v1/namespaces/payments", scoped, `{}`, http.StatusForbidden, "denied", "pay-bot", "put"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(c.auditLines(t))
			r := c.send(t, tt.method, tt.url, tt.token, tt.body)
			if r.status != tt.want {
				t.Fatalf("status %d, want %d: %s", r.status, tt.want, r.body)
			}
			if r.status >= 400 && r.errCode(t) == "" {
				t.Fatalf("error without a code: %s", r.body)
			}
			lines := c.auditLines(t)[before:]
			if tt.audit == "" {
				if len(lines) != 0 {
					t.Fatalf("a read left audit records: %+v", lines)
				}
				return
			}
			if len(lines) != 1 {
				t.Fatalf("%d audit records, want 1: %+v", len(lines), lines)
			}
			a := lines[0]
			if a.Outcome != tt.audit || a.Status != tt.want || a.Subject != tt.subject || a.Verb != tt.verb ||
				a.Region != "us-east" || a.RequestID == "" || a.RequestID != r.header.Get("X-Request-Id") {
				t.Fatalf("audit record %+v; want outcome %s, status %d, subject %q, verb %s, region us-east, request id %s",
					a, tt.audit, tt.want, tt.subject, tt.verb, r.header.Get("X-Request-Id"))
			}
			if a.Outcome == "allowed" && a.FencingToken == 0 {
				t.Fatalf("a mutation's audit record has no fencing token: %+v", a)
			}
		})
	}
	raw, _ := os.ReadFile(c.dev.AuditLog)
	for _, tok := range []string{c.dev.AdminToken, c.dev.ReaderToken, scoped} {
		if strings.Contains(string(raw), tok) || strings.Contains(string(raw), tok[strings.LastIndex(tok, ".")+1:]) {
			t.Fatal("a token (or its signature) is in the audit log")
		}
	}
}

// What the TLS ports refuse: plain HTTP, a huge Authorization header, a
// caller certificate from another CA, and at a coordinator, anything but a
// gateway's certificate from the cluster CA.
func TestSecureTransport(t *testing.T) {
	c := startSecure(t, Embedded)
	us, _ := c.Region("us-east")
	coord := us.Coordinators[0].URL

	t.Run("plain HTTP to the gateway", func(t *testing.T) {
		resp, err := http.Get("http://" + strings.TrimPrefix(c.gw, "https://") + "/v1/shards")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 400 {
				t.Fatalf("plain HTTP answered %d", resp.StatusCode)
			}
		}
	})
	t.Run("huge Authorization header", func(t *testing.T) {
		start := time.Now()
		req, _ := http.NewRequest("GET", c.gw+"/v1/shards", nil)
		req.Header.Set("Authorization", "Bearer "+strings.Repeat("a", 1<<20))
		resp, err := c.HTTPClient().Do(req)
		// The server may answer 431 or just close the connection: either way
		// it refuses without reading a megabyte of header.
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 400 || resp.StatusCode >= 500 {
				t.Fatalf("status %d, want 4xx", resp.StatusCode)
			}
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("took %v", d)
		}
	})

	other, err := certs.NewCA("another CA", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pair := func(ca *certs.CA, uri string) tls.Certificate {
		p, err := ca.Issue(certs.Request{CommonName: "x", URIs: []string{uri}, Client: true, TTL: time.Hour, Now: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		cert, err := tls.X509KeyPair(p.CertPEM, p.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return cert
	}
	devCA, err := certs.LoadCA(c.dev.CAFile, filepath.Join(c.dev.Dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(devCA.Cert)
	withCert := func(cert *tls.Certificate) *http.Client {
		cfg := &tls.Config{RootCAs: roots}
		if cert != nil {
			// Sent whatever CAs the server says it accepts: Go's client
			// would otherwise quietly send none.
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
		}
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	}
	shards := func(client *http.Client, base string) (int, error) {
		resp, err := client.Get(base + "/v1/shards")
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}

	t.Run("gateway: a caller certificate from another CA", func(t *testing.T) {
		cert := pair(other, "spiffe://elsewhere/ops")
		if code, err := shards(withCert(&cert), c.gw); err == nil {
			t.Fatalf("handshake accepted, status %d", code)
		}
	})
	t.Run("gateway: a caller certificate of the cluster CA, not in the policy", func(t *testing.T) {
		cert := pair(devCA, "spiffe://cpgw/ops")
		// Authenticated, but the dev policy binds no certificate: denied.
		if code, err := shards(withCert(&cert), c.gw); err != nil || code != http.StatusForbidden {
			t.Fatalf("status %d, %v; want 403", code, err)
		}
	})
	t.Run("coordinator: a gateway certificate of the cluster CA", func(t *testing.T) {
		// The control: what the refusals below refuse is the certificate.
		cert := pair(devCA, certs.GatewayURI("us-east", "probe"))
		if _, err := shards(withCert(&cert), coord); err != nil {
			t.Fatalf("a gateway's certificate refused: %v", err)
		}
	})
	t.Run("coordinator: no client certificate", func(t *testing.T) {
		if code, err := shards(withCert(nil), coord); err == nil {
			t.Fatalf("handshake accepted, status %d", code)
		}
	})
	t.Run("coordinator: a certificate from another CA", func(t *testing.T) {
		cert := pair(other, certs.GatewayURI("us-east", "intruder"))
		if code, err := shards(withCert(&cert), coord); err == nil {
			t.Fatalf("handshake accepted, status %d", code)
		}
	})
	t.Run("coordinator: the cluster CA but not a gateway", func(t *testing.T) {
		cert := pair(devCA, "spiffe://cpgw/ops")
		if code, err := shards(withCert(&cert), coord); err == nil {
			t.Fatalf("handshake accepted, status %d", code)
		}
	})
	t.Run("coordinator: plain HTTP", func(t *testing.T) {
		conn, err := net.DialTimeout("tcp", strings.TrimPrefix(coord, "https://"), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		line, _ := bufio.NewReader(conn).ReadString('\n')
		if strings.Contains(line, " 200 ") {
			t.Fatalf("plain HTTP answered %q", line)
		}
	})
}

// Rotating the token signing key and the gateways' certificates while a
// workload runs fails no request.
func TestSecureRotationUnderLoad(t *testing.T) {
	c := startSecure(t, Embedded)
	us, _ := c.Region("us-east")
	oldKey, err := authz.LoadSigningKey(c.dev.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	// Workers hold swap's read lock from reading the token until the
	// response ends, so a token swap under its write lock waits out every
	// request still carrying the old token: only then may its key retire.
	var swap sync.RWMutex
	token := c.dev.AdminToken

	// New connections for every request, so each one sees the certificate
	// served at that moment.
	client := c.HTTPClient()
	client.Transport.(*http.Transport).DisableKeepAlives = true
	ctx, stop := context.WithCancel(context.Background())
	var (
		wg           sync.WaitGroup
		ok, failed   atomic.Int64
		firstFailure atomic.Value // string
	)
	send := func() error {
		swap.RLock()
		defer swap.RUnlock()
		req, _ := http.NewRequest("PUT", objURL(us.Gateway.URL, "rot", "o"), strings.NewReader(`{"i":1}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 300 {
			return fmt.Errorf("status %d: %s", resp.StatusCode, body)
		}
		return nil
	}
	for w := 0; w < 4; w++ {
		wg.Go(func() {
			for ctx.Err() == nil {
				if err := send(); err != nil {
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, err.Error())
					continue
				}
				ok.Add(1)
			}
		})
	}
	time.Sleep(300 * time.Millisecond)

	// The key: publish old and new, switch tokens to the new key, then
	// retire the old one.
	newKey, err := authz.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := authz.WriteJWKS(c.dev.JWKSFile, oldKey.Key.Public(), newKey.Key.Public()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond) // past the reload interval
	tok, err := authz.Mint(newKey, authz.Claims{Issuer: "cpgw", Audience: "cpgw", Subject: secure.DevAdminSubject,
		Groups: []string{secure.DevAdminGroup}, TTL: time.Hour, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	swap.Lock()
	token = tok
	swap.Unlock()
	if err := authz.WriteJWKS(c.dev.JWKSFile, newKey.Key.Public()); err != nil {
		t.Fatal(err)
	}

	// The gateway's certificate: reissue it in place.
	before := servedSerial(t, us.Gateway.URL)
	if _, err := c.dev.Gateway("us-east", "us-east-g1", time.Now()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond)
	stop()
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d of %d requests failed during rotation; first: %v", n, n+ok.Load(), firstFailure.Load())
	}
	if ok.Load() < 20 {
		t.Fatalf("only %d requests ran", ok.Load())
	}
	if after := servedSerial(t, us.Gateway.URL); after == before {
		t.Fatal("the gateway still serves its old certificate")
	}
	// The retired key no longer verifies.
	if r := c.send(t, "GET", c.gw+"/v1/shards", c.dev.AdminToken, ""); r.status != http.StatusUnauthorized {
		t.Fatalf("a token of the retired key: %d, want 401", r.status)
	}
}

func servedSerial(t *testing.T, url string) string {
	t.Helper()
	conn, err := tls.Dial("tcp", strings.TrimPrefix(url, "https://"), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}
