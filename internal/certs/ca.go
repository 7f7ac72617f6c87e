package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"

	"github.com/cpgw/cpgw/internal/files"
)

// clockSkew is how far back NotBefore is set, so that a peer whose clock is a
// little behind still accepts a certificate issued just now.
const clockSkew = time.Minute

// CA is a certificate authority that can issue certificates.
type CA struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte // Cert in PEM, as written to a CA bundle
}

// NewCA creates a self-signed CA with an ECDSA P-256 key, valid from a minute
// before now for ttl. It may sign leaf certificates only (path length zero).
func NewCA(commonName string, ttl time.Duration, now time.Time) (*CA, error) {
	if commonName == "" {
		return nil, fmt.Errorf("certs: NewCA: empty common name: %w", ErrInvalidRequest)
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("certs: NewCA: ttl %v is not positive: %w", ttl, ErrInvalidRequest)
	}
	if now.IsZero() {
		return nil, fmt.Errorf("certs: NewCA: zero time: %w", ErrInvalidRequest)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: NewCA: generate key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(ttl),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("certs: NewCA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certs: NewCA: %w", err)
	}
	return &CA{Cert: cert, Key: key, CertPEM: certPEM(cert)}, nil
}

// LoadCA reads a CA certificate (the first certificate in certFile) and its
// private key. The certificate must be a CA and the key must match it.
func LoadCA(certFile, keyFile string) (*CA, error) {
	certData, err := files.ReadLimited(certFile, maxFileBytes)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	keyData, err := files.ReadLimited(keyFile, maxFileBytes)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	certs, err := parseCertificates(certFile, certData)
	if err != nil {
		return nil, err
	}
	cert := certs[0]
	if !cert.IsCA || !cert.BasicConstraintsValid || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("certs: %s: %q: %w", certFile, cert.Subject.CommonName, ErrNotCA)
	}
	key, err := parseKey(keyFile, keyData)
	if err != nil {
		return nil, err
	}
	if err := checkKeyMatches(certFile, keyFile, cert, key); err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key, CertPEM: certPEM(cert)}, nil
}

// Write writes the CA certificate (mode 0644) and key (mode 0600), each
// atomically. The certificate file is also a CA bundle for Files.CAFile.
func (ca *CA) Write(certFile, keyFile string) error {
	if err := ca.check(); err != nil {
		return err
	}
	keyPEM, err := marshalKey(ca.Key)
	if err != nil {
		return err
	}
	if err := files.WriteAtomic(keyFile, keyPEM, 0o600); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	if err := files.WriteAtomic(certFile, certPEM(ca.Cert), 0o644); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	return nil
}

func (ca *CA) check() error {
	if ca == nil || ca.Cert == nil || ca.Key == nil {
		return fmt.Errorf("certs: CA without certificate or key: %w", ErrInvalidRequest)
	}
	return nil
}

// newSerial returns a random, positive 128-bit serial number.
func newSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("certs: serial: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}
