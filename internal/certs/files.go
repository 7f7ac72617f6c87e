package certs

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cpgw/cpgw/internal/files"
)

// DefaultInterval is how often Run checks the files when Files.Interval is zero.
const DefaultInterval = time.Second

// maxFileBytes bounds every file this package reads (certificates, keys, CA
// bundles): they are small, and a huge one is a mistake, not something to
// buffer.
const maxFileBytes = 1 << 20

// Files names the files a Reloader serves and watches.
type Files struct {
	// CertFile and KeyFile are this process's certificate (the leaf, then
	// any intermediates) and its private key, in PEM. Both or neither; they
	// may name the same file.
	CertFile, KeyFile string
	// CAFile is the PEM bundle of CA certificates peers are verified
	// against. Optional; without it every peer certificate is refused.
	CAFile string
	// Interval is how often Run checks the files for changes (modification
	// time, size and file identity; then content). Zero means DefaultInterval.
	Interval time.Duration
	// Clock drives Run's checks and is the current time for certificate
	// verification. Nil means the real clock.
	Clock clockwork.Clock
	// Logger receives reloads and reload failures. Nil means slog.Default().
	Logger *slog.Logger
}

// pemBlocks decodes every PEM block in data. A block that begins but does not
// end (a half-written file) is an error; text outside blocks is ignored.
func pemBlocks(name string, data []byte) ([]*pem.Block, error) {
	var blocks []*pem.Block
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		blocks = append(blocks, b)
	}
	if bytes.Contains(rest, []byte("-----BEGIN")) {
		return nil, fmt.Errorf("certs: %s: truncated PEM block: %w", name, ErrMalformed)
	}
	return blocks, nil
}

// parseCertificates returns the certificates in the PEM data, in order,
// ignoring blocks of other types.
func parseCertificates(name string, data []byte) ([]*x509.Certificate, error) {
	blocks, err := pemBlocks(name, data)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for _, b := range blocks {
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certs: %s: certificate %d: %w: %w", name, len(certs)+1, ErrMalformed, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("certs: %s: %w", name, ErrNoCertificate)
	}
	return certs, nil
}

// parseKey returns the first private key in the PEM data (PKCS #8, SEC 1 or
// PKCS #1), ignoring blocks of other types.
func parseKey(name string, data []byte) (crypto.Signer, error) {
	blocks, err := pemBlocks(name, data)
	if err != nil {
		return nil, err
	}
	for _, b := range blocks {
		var key any
		switch b.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, fmt.Errorf("certs: %s: encrypted keys are not supported: %w", name, ErrUnsupportedKey)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("certs: %s: %s: %w: %w", name, b.Type, ErrMalformed, err)
		}
		// *ecdh.PrivateKey (X25519 in PKCS #8) is the one parsed type that
		// cannot sign.
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("certs: %s: key type %T: %w", name, key, ErrUnsupportedKey)
		}
		return signer, nil
	}
	return nil, fmt.Errorf("certs: %s: %w", name, ErrNoKey)
}

// marshalKey encodes a key as a PKCS #8 PEM block.
func marshalKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("certs: marshal key: %w: %w", ErrUnsupportedKey, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// checkKeyMatches reports whether key is the private half of c's public key.
func checkKeyMatches(certName, keyName string, c *x509.Certificate, key crypto.Signer) error {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(c.PublicKey) {
		if certName == keyName {
			return fmt.Errorf("certs: %s: %w", certName, ErrKeyMismatch)
		}
		return fmt.Errorf("certs: %s and %s: %w", certName, keyName, ErrKeyMismatch)
	}
	return nil
}

// parsePair builds a tls.Certificate from PEM data, checking that the key
// belongs to the first (leaf) certificate.
func parsePair(certName string, certData []byte, keyName string, keyData []byte) (*tls.Certificate, error) {
	certs, err := parseCertificates(certName, certData)
	if err != nil {
		return nil, err
	}
	key, err := parseKey(keyName, keyData)
	if err != nil {
		return nil, err
	}
	if err := checkKeyMatches(certName, keyName, certs[0], key); err != nil {
		return nil, err
	}
	tc := &tls.Certificate{PrivateKey: key, Leaf: certs[0]}
	for _, c := range certs {
		tc.Certificate = append(tc.Certificate, c.Raw)
	}
	return tc, nil
}

// parsePool builds a pool from a PEM bundle of CA certificates.
func parsePool(name string, data []byte) (*x509.CertPool, error) {
	certs, err := parseCertificates(name, data)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for i, c := range certs {
		if !c.IsCA || !c.BasicConstraintsValid {
			return nil, fmt.Errorf("certs: %s: certificate %d (%q): %w", name, i+1, c.Subject.CommonName, ErrNotCA)
		}
		pool.AddCert(c)
	}
	return pool, nil
}

// LoadPool reads a PEM bundle of CA certificates from file, for a TLS
// client's RootCAs (for example the CA of a rediss:// server). Every
// certificate in it must be a CA.
func LoadPool(file string) (*x509.CertPool, error) {
	data, err := files.ReadLimited(file, maxFileBytes)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	return parsePool(file, data)
}
