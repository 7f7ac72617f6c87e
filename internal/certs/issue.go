package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/cpgw/cpgw/internal/files"
)

// Request describes a certificate to issue.
type Request struct {
	CommonName string
	DNSNames   []string
	IPs        []net.IP
	// URIs are URI SANs, e.g. GatewayURI("us-east", "us-east-g1"). Each must
	// parse as an absolute URI.
	URIs []string
	// Server and Client select the extended key usages ServerAuth and
	// ClientAuth; at least one must be set. A server certificate needs a DNS
	// name or an IP address: clients check the server's name against them.
	Server, Client bool
	// TTL is how long the certificate is valid from Now. A certificate that
	// would outlive the CA ends with the CA instead.
	TTL time.Duration
	// Now is the issue time (NotBefore is a minute earlier). Required, and
	// within the CA's validity.
	Now time.Time
}

// Pair is an issued certificate and its key, in PEM.
type Pair struct {
	CertPEM []byte // the leaf, then the CA certificate
	KeyPEM  []byte // PKCS #8
}

// Issue creates a fresh ECDSA P-256 key and a certificate for it, signed by ca.
func (ca *CA) Issue(req Request) (Pair, error) {
	if err := ca.check(); err != nil {
		return Pair{}, err
	}
	tmpl, err := req.template()
	if err != nil {
		return Pair{}, err
	}
	if req.Now.Before(ca.Cert.NotBefore) || req.Now.After(ca.Cert.NotAfter) {
		return Pair{}, fmt.Errorf("certs: issue %q: CA %q is not valid at %v: %w",
			req.CommonName, ca.Cert.Subject.CommonName, req.Now, ErrInvalidRequest)
	}
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter // it could not verify later anyway
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Pair{}, fmt.Errorf("certs: issue: generate key: %w", err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return Pair{}, fmt.Errorf("certs: issue %q: %w", req.CommonName, err)
	}
	keyPEM, err := marshalKey(key)
	if err != nil {
		return Pair{}, err
	}
	leaf := &x509.Certificate{Raw: der}
	chain := append(certPEM(leaf), ca.CertPEM...)
	if len(ca.CertPEM) == 0 {
		chain = append(chain, certPEM(ca.Cert)...)
	}
	return Pair{CertPEM: chain, KeyPEM: keyPEM}, nil
}

// template validates the request and turns it into a certificate template.
func (req Request) template() (*x509.Certificate, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("certs: issue %q: %s: %w", req.CommonName, fmt.Sprintf(format, args...), ErrInvalidRequest)
	}
	if !req.Server && !req.Client {
		return nil, bad("neither Server nor Client usage")
	}
	if req.TTL <= 0 {
		return nil, bad("TTL %v is not positive", req.TTL)
	}
	if req.Now.IsZero() {
		return nil, bad("Now is zero")
	}
	if req.CommonName == "" && len(req.DNSNames) == 0 && len(req.IPs) == 0 && len(req.URIs) == 0 {
		return nil, bad("no common name and no SANs")
	}
	if req.Server && len(req.DNSNames) == 0 && len(req.IPs) == 0 {
		return nil, bad("a server certificate needs a DNS name or an IP address")
	}
	for _, n := range req.DNSNames {
		if n == "" {
			return nil, bad("empty DNS name")
		}
	}
	for _, ip := range req.IPs {
		if len(ip) != net.IPv4len && len(ip) != net.IPv6len {
			return nil, bad("invalid IP address %v", ip)
		}
	}
	var uris []*url.URL
	for _, s := range req.URIs {
		u, err := url.Parse(s)
		if err != nil {
			return nil, bad("URI %q: %v", s, err)
		}
		if !u.IsAbs() {
			return nil, bad("URI %q is not absolute", s)
		}
		uris = append(uris, u)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	var eku []x509.ExtKeyUsage
	if req.Server {
		eku = append(eku, x509.ExtKeyUsageServerAuth)
	}
	if req.Client {
		eku = append(eku, x509.ExtKeyUsageClientAuth)
	}
	return &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: req.CommonName},
		DNSNames:              req.DNSNames,
		IPAddresses:           req.IPs,
		URIs:                  uris,
		NotBefore:             req.Now.Add(-clockSkew),
		NotAfter:              req.Now.Add(req.TTL),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           eku,
		BasicConstraintsValid: true,
	}, nil
}

// Write writes the key (mode 0600) and then the certificate chain (mode 0644),
// each atomically. A Reloader that looks between the two renames sees a key
// that does not match the certificate and keeps its previous pair.
func (p Pair) Write(certFile, keyFile string) error {
	if len(p.CertPEM) == 0 || len(p.KeyPEM) == 0 {
		return fmt.Errorf("certs: write %s: empty pair: %w", certFile, ErrInvalidRequest)
	}
	if certFile == keyFile {
		data := append(append([]byte{}, p.CertPEM...), p.KeyPEM...)
		if err := files.WriteAtomic(certFile, data, 0o600); err != nil {
			return fmt.Errorf("certs: %w", err)
		}
		return nil
	}
	if err := files.WriteAtomic(keyFile, p.KeyPEM, 0o600); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	if err := files.WriteAtomic(certFile, p.CertPEM, 0o644); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	return nil
}
