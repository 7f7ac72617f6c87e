package secure

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/cpgw/cpgw/authz"
	"github.com/cpgw/cpgw/internal/certs"
	"github.com/cpgw/cpgw/internal/files"
)

// Dev's token subjects and the groups its policy binds.
const (
	DevAdminSubject  = "dev-admin"
	DevReaderSubject = "dev-reader"
	DevAdminGroup    = "admin"
	DevReaderGroup   = "reader"
)

// devTTL is how long dev certificates and tokens live: a week, so a dev
// deployment left running for days still works. Each cpgw dev run makes
// new ones.
const devTTL = 7 * 24 * time.Hour

// devPolicy grants the admin group everything and the reader group reads.
const devPolicy = `# cpgw dev's RBAC policy: admin may do anything, reader may only read.
roles:
  - name: admin
    rules:
      - verbs: [admin]
        resources: [objects, namespaces, shards]
        namespaces: ["*"]
  - name: reader
    rules:
      - verbs: [get, list, watch]
        resources: [objects, namespaces, shards]
        namespaces: ["*"]
bindings:
  - role: admin
    subjects: ["group:` + DevAdminGroup + `"]
  - role: reader
    subjects: ["group:` + DevReaderGroup + `"]
`

// Dev is the security material of a dev deployment, written into one
// directory: a CA, a signing key and its JWKS, a policy, tokens for an
// admin and a reader, and the audit log's path. Node certificates are
// issued on demand (GatewayFiles, CoordinatorFiles).
type Dev struct {
	Dir         string
	CAFile      string
	JWKSFile    string
	PolicyFile  string
	AuditLog    string
	KeyFile     string // the token signing key
	AdminToken  string
	ReaderToken string

	ca *certs.CA
}

// NewDev creates fresh material in dir (made if missing; files of an
// earlier run are replaced, so an old token never outlives its deployment).
func NewDev(dir string, now time.Time) (*Dev, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	d := &Dev{
		Dir:        abs,
		CAFile:     filepath.Join(abs, "ca.crt"),
		JWKSFile:   filepath.Join(abs, "jwks.json"),
		PolicyFile: filepath.Join(abs, "policy.yaml"),
		AuditLog:   filepath.Join(abs, "audit.log"),
		KeyFile:    filepath.Join(abs, "signing.key"),
	}
	if d.ca, err = certs.NewCA("cpgw dev CA", devTTL, now); err != nil {
		return nil, err
	}
	if err := d.ca.Write(d.CAFile, filepath.Join(abs, "ca.key")); err != nil {
		return nil, err
	}
	key, err := authz.GenerateSigningKey()
	if err != nil {
		return nil, err
	}
	if err := authz.WriteSigningKey(d.KeyFile, key); err != nil {
		return nil, err
	}
	if err := authz.WriteJWKS(d.JWKSFile, key.Key.Public()); err != nil {
		return nil, err
	}
	if err := files.WriteAtomic(d.PolicyFile, []byte(devPolicy), 0o644); err != nil {
		return nil, err
	}
	mint := func(sub, group string) (string, error) {
		return authz.Mint(key, authz.Claims{Issuer: "cpgw", Audience: "cpgw", Subject: sub,
			Groups: []string{group}, TTL: devTTL, Now: now})
	}
	if d.AdminToken, err = mint(DevAdminSubject, DevAdminGroup); err != nil {
		return nil, err
	}
	if d.ReaderToken, err = mint(DevReaderSubject, DevReaderGroup); err != nil {
		return nil, err
	}
	return d, nil
}

// Gateway issues a certificate for the gateway id of region and returns its
// files.
func (d *Dev) Gateway(region, id string, now time.Time) (GatewayFiles, error) {
	cert, key, err := d.issue("gateway-"+id, certs.GatewayURI(region, id), true, now)
	if err != nil {
		return GatewayFiles{}, err
	}
	return GatewayFiles{CertFile: cert, KeyFile: key, CAFile: d.CAFile, JWKSFile: d.JWKSFile,
		PolicyFile: d.PolicyFile, AuditLog: d.AuditLog}, nil
}

// Coordinator issues a certificate for the coordinator id of region.
func (d *Dev) Coordinator(region, id string, now time.Time) (CoordinatorFiles, error) {
	cert, key, err := d.issue("coordinator-"+id, certs.CoordinatorURI(region, id), false, now)
	if err != nil {
		return CoordinatorFiles{}, err
	}
	return CoordinatorFiles{CertFile: cert, KeyFile: key, CAFile: d.CAFile}, nil
}

// Client issues a client certificate with the given URI identity, for
// callers that authenticate with mTLS, and returns its files.
func (d *Dev) Client(name, uri string, now time.Time) (certFile, keyFile string, err error) {
	if name == "" {
		return "", "", errors.New("secure: a client certificate needs a name")
	}
	p, err := d.ca.Issue(certs.Request{CommonName: name, URIs: []string{uri}, Client: true, TTL: devTTL, Now: now})
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(d.Dir, "client-"+name+".crt"), filepath.Join(d.Dir, "client-"+name+".key")
	return certFile, keyFile, p.Write(certFile, keyFile)
}

// issue writes a loopback certificate for a node: served on 127.0.0.1 and
// localhost, and, for a gateway, presented as a client to coordinators.
func (d *Dev) issue(name, uri string, client bool, now time.Time) (certFile, keyFile string, err error) {
	p, err := d.ca.Issue(certs.Request{
		CommonName: name,
		DNSNames:   []string{"localhost"},
		IPs:        []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		URIs:       []string{uri},
		Server:     true,
		Client:     client,
		TTL:        devTTL,
		Now:        now,
	})
	if err != nil {
		return "", "", fmt.Errorf("secure: certificate for %s: %w", name, err)
	}
	certFile, keyFile = filepath.Join(d.Dir, name+".crt"), filepath.Join(d.Dir, name+".key")
	return certFile, keyFile, p.Write(certFile, keyFile)
}
