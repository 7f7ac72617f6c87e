package certs

import (
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestIssue(t *testing.T) {
	ca := testCA(t, "ca")
	now := time.Now()
	for _, tc := range []struct {
		name string
		req  Request
		eku  []x509.ExtKeyUsage
	}{
		{
			name: "server",
			req:  Request{CommonName: "gw", DNSNames: []string{"gw.cpgw.test"}, IPs: []net.IP{localhost}, Server: true},
			eku:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		},
		{
			name: "client with identity",
			req:  Request{CommonName: "us-east-g1", URIs: []string{GatewayURI("us-east", "us-east-g1")}, Client: true},
			eku:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		},
		{
			name: "both",
			req: Request{CommonName: "c1", IPs: []net.IP{localhost, net.ParseIP("::1")},
				URIs: []string{CoordinatorURI("eu-west", "c1")}, Server: true, Client: true},
			eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			req.TTL, req.Now = 10*time.Minute, now
			p, err := ca.Issue(req)
			if err != nil {
				t.Fatal(err)
			}
			certs, err := parseCertificates("chain", p.CertPEM)
			if err != nil {
				t.Fatal(err)
			}
			if len(certs) != 2 || !certs[1].Equal(ca.Cert) {
				t.Fatalf("chain has %d certificates, want the leaf then the CA", len(certs))
			}
			leaf := certs[0]
			if _, err := parsePair("c", p.CertPEM, "k", p.KeyPEM); err != nil {
				t.Errorf("key does not match: %v", err)
			}
			if leaf.IsCA || !slices.Equal(leaf.ExtKeyUsage, tc.eku) {
				t.Errorf("IsCA=%v ExtKeyUsage=%v, want %v", leaf.IsCA, leaf.ExtKeyUsage, tc.eku)
			}
			if leaf.Subject.CommonName != req.CommonName || !slices.Equal(leaf.DNSNames, req.DNSNames) || len(leaf.IPAddresses) != len(req.IPs) {
				t.Errorf("names: CN=%q DNS=%v IPs=%v", leaf.Subject.CommonName, leaf.DNSNames, leaf.IPAddresses)
			}
			var uris []string
			for _, u := range leaf.URIs {
				uris = append(uris, u.String())
			}
			if !slices.Equal(uris, req.URIs) {
				t.Errorf("URIs %v, want %v", uris, req.URIs)
			}
			if !leaf.NotBefore.Equal(now.Add(-time.Minute).Truncate(time.Second)) || !leaf.NotAfter.Equal(now.Add(req.TTL).Truncate(time.Second)) {
				t.Errorf("validity %v..%v", leaf.NotBefore, leaf.NotAfter)
			}
			roots := x509.NewCertPool()
			roots.AddCert(ca.Cert)
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: tc.eku}); err != nil {
				t.Errorf("verify: %v", err)
			}
		})
	}
}

func TestIssueErrors(t *testing.T) {
	ca := testCA(t, "ca")
	now := time.Now()
	ok := Request{CommonName: "x", IPs: []net.IP{localhost}, Server: true, TTL: time.Minute, Now: now}
	for _, tc := range []struct {
		name   string
		ca     *CA
		modify func(*Request)
	}{
		{"neither Server nor Client", ca, func(r *Request) { r.Server = false }},
		{"URI does not parse", ca, func(r *Request) { r.URIs = []string{"spiffe://cpgw/%zz"} }},
		{"URI without scheme", ca, func(r *Request) { r.URIs = []string{"://cpgw/gateway"} }},
		{"relative URI", ca, func(r *Request) { r.URIs = []string{"gateway/us-east/g1"} }},
		{"empty URI", ca, func(r *Request) { r.URIs = []string{""} }},
		{"zero TTL", ca, func(r *Request) { r.TTL = 0 }},
		{"negative TTL", ca, func(r *Request) { r.TTL = -time.Minute }},
		{"zero Now", ca, func(r *Request) { r.Now = time.Time{} }},
		{"no names", ca, func(r *Request) { r.CommonName, r.IPs, r.Server, r.Client = "", nil, false, true }},
		{"server without DNS name or IP", ca, func(r *Request) { r.IPs = nil; r.URIs = []string{GatewayURI("a", "b")} }},
		{"empty DNS name", ca, func(r *Request) { r.DNSNames = []string{""} }},
		{"invalid IP", ca, func(r *Request) { r.IPs = []net.IP{{1, 2, 3}} }},
		{"CA expired", ca, func(r *Request) { r.Now = now.Add(2 * time.Hour) }},
		{"CA not yet valid", ca, func(r *Request) { r.Now = now.Add(-time.Hour) }},
		{"nil CA", nil, func(*Request) {}},
		{"CA without key", &CA{Cert: ca.Cert}, func(*Request) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := ok
			tc.modify(&req)
			p, err := tc.ca.Issue(req)
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("err = %v, want ErrInvalidRequest", err)
			}
			if p.CertPEM != nil || p.KeyPEM != nil {
				t.Error("a failed Issue returned material")
			}
		})
	}
}

func TestIssueClampsToCA(t *testing.T) {
	ca := testCA(t, "ca") // valid for an hour
	leaf := parseLeaf(t, issue(t, ca, Request{CommonName: "x", IPs: []net.IP{localhost}, Server: true, TTL: 48 * time.Hour}))
	if !leaf.NotAfter.Equal(ca.Cert.NotAfter) {
		t.Errorf("NotAfter %v, want the CA's %v", leaf.NotAfter, ca.Cert.NotAfter)
	}
}

func TestPairWrite(t *testing.T) {
	dir := t.TempDir()
	ca := testCA(t, "ca")
	certFile, keyFile := writePair(t, dir, "srv", issue(t, ca, serverReq("one")))
	checkMode(t, certFile, 0o644)
	checkMode(t, keyFile, 0o600)

	// Overwriting replaces both files and leaves no temporary files behind.
	second := issue(t, ca, serverReq("two"))
	if err := second.Write(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	r := newReloader(t, Files{CertFile: certFile, KeyFile: keyFile})
	if got, want := r.Leaf().SerialNumber, serialOf(t, second); got.Cmp(want) != 0 {
		t.Errorf("serial %v, want %v", got, want)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("directory holds %d entries, want 2: %v", len(entries), entries)
	}

	// One file for both.
	both := filepath.Join(dir, "both.pem")
	if err := second.Write(both, both); err != nil {
		t.Fatal(err)
	}
	checkMode(t, both, 0o600)
	if r := newReloader(t, Files{CertFile: both, KeyFile: both}); r.Leaf().SerialNumber.Cmp(serialOf(t, second)) != 0 {
		t.Error("combined file does not load the pair")
	}

	if err := (Pair{}).Write(certFile, keyFile); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("writing an empty pair: err = %v", err)
	}
}

// Write errors name the file (the writing itself is internal/files's).
func TestWriteErrors(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "no-such-dir")
	ca := testCA(t, "ca")
	cert, key := filepath.Join(dir, "f.pem"), filepath.Join(dir, "f.key")
	for name, write := range map[string]func() error{
		"CA.Write":   func() error { return ca.Write(cert, key) },
		"Pair.Write": func() error { return issue(t, ca, serverReq("one")).Write(cert, key) },
		"Pair.Write one file": func() error {
			return issue(t, ca, serverReq("one")).Write(cert, cert)
		},
	} {
		err := write()
		if err == nil || !strings.HasPrefix(err.Error(), "certs: write ") || !strings.Contains(err.Error(), dir) {
			t.Errorf("%s: err = %v, want \"certs: write\" naming a file in %s", name, err, dir)
		}
	}
}
