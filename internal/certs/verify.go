package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
)

// URI SAN prefixes of cpgw's own identities.
const (
	GatewayURIPrefix     = "spiffe://cpgw/gateway/"
	CoordinatorURIPrefix = "spiffe://cpgw/coordinator/"
)

// GatewayURI is the URI SAN of gateway id in region:
// spiffe://cpgw/gateway/<region>/<id>. The parts are path-escaped, so a "/"
// in one cannot forge another identity.
func GatewayURI(region, id string) string {
	return GatewayURIPrefix + url.PathEscape(region) + "/" + url.PathEscape(id)
}

// CoordinatorURI is the URI SAN of coordinator id in region:
// spiffe://cpgw/coordinator/<region>/<id>.
func CoordinatorURI(region, id string) string {
	return CoordinatorURIPrefix + url.PathEscape(region) + "/" + url.PathEscape(id)
}

// HasURIPrefix reports whether c has a URI SAN that starts with prefix and
// goes on after it. Prefixes should end in "/", as the constants do. It does
// not verify c: call it on verified certificates.
func HasURIPrefix(c *x509.Certificate, prefix string) bool {
	if c == nil {
		return false
	}
	for _, u := range c.URIs {
		if s := u.String(); len(s) > len(prefix) && strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// RequireURIPrefix returns a verify callback for ServerConfig or ClientConfig
// that accepts only certificates for which HasURIPrefix(leaf, prefix) holds.
func RequireURIPrefix(prefix string) func(leaf *x509.Certificate) error {
	return func(leaf *x509.Certificate) error {
		if HasURIPrefix(leaf, prefix) {
			return nil
		}
		if leaf == nil {
			return fmt.Errorf("certs: no certificate: %w", ErrIdentity)
		}
		return fmt.Errorf("certs: %q has no URI SAN under %s: %w", leaf.Subject.CommonName, prefix, ErrIdentity)
	}
}

// ServerConfig returns a server configuration: TLS 1.2 or later (1.3 is
// chosen when the client offers it), the current certificate from
// GetCertificate, and client certificates verified against the current CA
// pool on each handshake.
//
// clientAuth is tls.RequireAndVerifyClientCert (a client certificate is
// required, e.g. the coordinator port) or tls.VerifyClientCertIfGiven (a
// client may present one or authenticate otherwise, e.g. the gateway port
// with bearer tokens). Whatever clientAuth is, a certificate that is
// presented is verified (for ClientAuth usage) or the handshake fails.
// verify, if not nil, is called with each verified client leaf and may
// refuse it; it is not called when no certificate is presented.
//
// The config can be given to net/http's Server.TLSConfig; Server's HTTP/2
// setup (which adds ALPN protocols to it) is honoured. Do not modify the
// config after its first handshake.
func (r *Reloader) ServerConfig(clientAuth tls.ClientAuthType, verify func(leaf *x509.Certificate) error) *tls.Config {
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		ClientAuth:     clientAuth,
		GetCertificate: r.GetCertificate,
		Time:           r.files.Clock.Now,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return r.verifyClient(cs, verify)
		},
	}
	// tls.Config.ClientCAs is fixed, so each handshake gets a config with the
	// current pool. It is built on first use for each pool (so it sees what
	// net/http added to cfg before serving) and cached: the usual handshake
	// costs two atomic loads and no allocation here.
	type perPool struct {
		pool *x509.CertPool
		cfg  *tls.Config
	}
	var cache atomic.Pointer[perPool]
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		pool := r.Pool()
		if c := cache.Load(); c != nil && c.pool == pool {
			return c.cfg, nil
		}
		c := cfg.Clone()
		c.GetConfigForClient = nil
		c.ClientCAs = pool
		cache.Store(&perPool{pool: pool, cfg: c})
		return c, nil
	}
	return cfg
}

// verifyClient checks a client's certificate on the server. crypto/tls has
// verified it against ClientCAs (the current pool) on full handshakes with a
// verifying ClientAuthType; a resumed session or a non-verifying
// ClientAuthType is verified here against the current pool.
func (r *Reloader) verifyClient(cs tls.ConnectionState, verify func(*x509.Certificate) error) error {
	if len(cs.PeerCertificates) == 0 {
		return nil // crypto/tls enforced whether one was required
	}
	var leaf *x509.Certificate
	if len(cs.VerifiedChains) > 0 && !cs.DidResume {
		leaf = cs.VerifiedChains[0][0]
	} else {
		chains, err := r.verifyChain(cs.PeerCertificates, "", x509.ExtKeyUsageClientAuth)
		if err != nil {
			return err
		}
		leaf = chains[0][0]
	}
	if verify != nil {
		return verify(leaf)
	}
	return nil
}

// ClientConfig returns a client configuration that presents the current
// certificate (if a pair is configured) and verifies the server against the
// current CA pool on each handshake.
//
// Why InsecureSkipVerify is safe here: tls.Config.RootCAs is fixed when the
// config is made, so the config sets InsecureSkipVerify, which turns off only
// crypto/tls's built-in verification, and does that verification itself in
// VerifyConnection, which crypto/tls calls on every handshake, resumed ones
// included, and which aborts the handshake if it fails, before any request is
// sent: the full chain (intermediates from the peer) to the current pool, the
// validity period, the ServerAuth usage, and the server name. The config is
// as strict as one with RootCAs, with a pool that can change.
//
// The server name checked is the one the client sent (ServerName, which
// net/http sets from the URL's host). TLS sends no name for an IP address;
// for IP literals the ServerName set on the returned config is used if there
// is one. Failing that, the server's chain and usage are verified and verify
// is the only identity check (e.g. RequireURIPrefix(CoordinatorURIPrefix):
// cpgw's identities are URI SANs, not addresses); with no verify either, the
// server is refused with ErrNoServerName rather than accepted unchecked.
// DialTLSContext checks IP addresses too, setting the name per connection.
//
// verify, if not nil, is called with the verified server leaf and may refuse it.
func (r *Reloader) ClientConfig(verify func(leaf *x509.Certificate) error) *tls.Config {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		Time:       r.files.Clock.Now,
		// Safe: VerifyConnection below does the verification this skips.
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection
	}
	if r.hasPair {
		cfg.GetClientCertificate = r.GetClientCertificate
	}
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		name := cs.ServerName
		if name == "" {
			name = cfg.ServerName // an IP literal: not sent, see above
		}
		if name == "" && verify == nil {
			return fmt.Errorf("certs: verify server: %w (an IP address? set ServerName, pass a verify callback, or use Reloader.DialTLSContext)", ErrNoServerName)
		}
		chains, err := r.verifyChain(cs.PeerCertificates, name, x509.ExtKeyUsageServerAuth)
		if err != nil {
			return err
		}
		if verify != nil {
			return verify(chains[0][0])
		}
		return nil
	}
	return cfg
}

// DialTLSContext returns a dial function for net/http's
// Transport.DialTLSContext: it dials addr and handshakes with ClientConfig(verify),
// checking the server's certificate against addr's host, which works for IP
// addresses too. The connections do not offer HTTP/2.
func (r *Reloader) DialTLSContext(verify func(leaf *x509.Certificate) error) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("certs: dial %s: %w", addr, err)
		}
		cfg := r.ClientConfig(verify)
		cfg.ServerName = host
		d := tls.Dialer{Config: cfg}
		return d.DialContext(ctx, network, addr)
	}
}

// verifyChain verifies a peer's chain (leaf first) against the current pool
// at the Reloader's current time, for usage and, if not empty, name.
func (r *Reloader) verifyChain(certs []*x509.Certificate, name string, usage x509.ExtKeyUsage) ([][]*x509.Certificate, error) {
	if len(certs) == 0 {
		return nil, ErrNoPeerCertificate
	}
	opts := x509.VerifyOptions{
		DNSName:       name,
		Roots:         r.Pool(),
		Intermediates: x509.NewCertPool(),
		CurrentTime:   r.files.Clock.Now(),
		KeyUsages:     []x509.ExtKeyUsage{usage},
	}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	chains, err := certs[0].Verify(opts)
	if err != nil {
		return nil, fmt.Errorf("certs: verify peer %q: %w", certs[0].Subject.CommonName, err)
	}
	return chains, nil
}
