package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNewCA(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ca, err := NewCA("cpgw dev CA", 24*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	c := ca.Cert
	if !c.IsCA || !c.BasicConstraintsValid || c.MaxPathLen != 0 || !c.MaxPathLenZero {
		t.Errorf("constraints: IsCA=%v valid=%v MaxPathLen=%d zero=%v", c.IsCA, c.BasicConstraintsValid, c.MaxPathLen, c.MaxPathLenZero)
	}
	if c.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("KeyUsage %v lacks CertSign", c.KeyUsage)
	}
	pub, ok := c.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key %T, want ECDSA P-256", c.PublicKey)
	}
	if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 {
		t.Errorf("serial %v: want positive, at most 128 bits", c.SerialNumber)
	}
	if want := now.Add(-time.Minute); !c.NotBefore.Equal(want) {
		t.Errorf("NotBefore %v, want %v", c.NotBefore, want)
	}
	if want := now.Add(24 * time.Hour); !c.NotAfter.Equal(want) {
		t.Errorf("NotAfter %v, want %v", c.NotAfter, want)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	if b, _ := pem.Decode(ca.CertPEM); b == nil || string(b.Bytes) != string(c.Raw) {
		t.Error("CertPEM does not hold Cert")
	}
	other, err := NewCA("cpgw dev CA", 24*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if other.Cert.SerialNumber.Cmp(c.SerialNumber) == 0 {
		t.Error("two CAs got the same serial")
	}
}

func TestNewCAErrors(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name string
		cn   string
		ttl  time.Duration
		now  time.Time
	}{
		{"empty common name", "", time.Hour, now},
		{"zero ttl", "ca", 0, now},
		{"negative ttl", "ca", -time.Hour, now},
		{"zero now", "ca", time.Hour, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewCA(tc.cn, tc.ttl, tc.now); !errors.Is(err, ErrInvalidRequest) {
				t.Errorf("err = %v, want ErrInvalidRequest", err)
			}
		})
	}
}

func TestCAWriteLoad(t *testing.T) {
	dir := t.TempDir()
	ca := testCA(t, "ca")
	certFile, keyFile := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	if err := ca.Write(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	checkMode(t, certFile, 0o644)
	checkMode(t, keyFile, 0o600)

	loaded, err := LoadCA(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if !loaded.Cert.Equal(ca.Cert) || string(loaded.CertPEM) != string(ca.CertPEM) {
		t.Error("loaded CA differs from the written one")
	}
	// The loaded CA issues certificates that chain to the original.
	p := issue(t, loaded, serverReq("srv"))
	leaf := parseLeaf(t, p)
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("certificate from loaded CA: %v", err)
	}
}

func TestLoadCAErrors(t *testing.T) {
	dir := t.TempDir()
	ca := testCA(t, "ca")
	caCert, caKey := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	if err := ca.Write(caCert, caKey); err != nil {
		t.Fatal(err)
	}
	other := testCA(t, "other")
	otherCert, otherKey := filepath.Join(dir, "other.crt"), filepath.Join(dir, "other.key")
	if err := other.Write(otherCert, otherKey); err != nil {
		t.Fatal(err)
	}
	leafCert, leafKey := writePair(t, dir, "leaf", issue(t, ca, serverReq("leaf")))
	caPEM, _ := os.ReadFile(caCert)
	garbage := writeFile(t, filepath.Join(dir, "garbage.pem"), []byte("this is not PEM\n"))
	truncated := writeFile(t, filepath.Join(dir, "truncated.crt"), caPEM[:len(caPEM)/2])
	badDER := writeFile(t, filepath.Join(dir, "bad-der.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("nope")}))
	encKey := writeFile(t, filepath.Join(dir, "enc.key"), pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte("x")}))
	missing := filepath.Join(dir, "missing.pem")

	for _, tc := range []struct {
		name              string
		certFile, keyFile string
		want              error
		names             string // the file the error must name
	}{
		{"missing cert", missing, caKey, fs.ErrNotExist, missing},
		{"missing key", caCert, missing, fs.ErrNotExist, missing},
		{"garbage cert", garbage, caKey, ErrNoCertificate, garbage},
		{"garbage key", caCert, garbage, ErrNoKey, garbage},
		{"truncated cert", truncated, caKey, ErrMalformed, truncated},
		{"bad DER", badDER, caKey, ErrMalformed, badDER},
		{"encrypted key", caCert, encKey, ErrUnsupportedKey, encKey},
		{"key of another CA", caCert, otherKey, ErrKeyMismatch, otherKey},
		{"leaf, not a CA", leafCert, leafKey, ErrNotCA, leafCert},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadCA(tc.certFile, tc.keyFile)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.names) {
				t.Errorf("error %q does not name %s", err, tc.names)
			}
		})
	}
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %v, want %v", path, got, want)
	}
}

func parseLeaf(t *testing.T, p Pair) *x509.Certificate {
	t.Helper()
	certs, err := parseCertificates("pair", p.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	return certs[0]
}
