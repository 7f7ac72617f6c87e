// Package certs holds cpgw's TLS material: a small development CA that issues
// server and client certificates, helpers that write them to disk, and a
// Reloader that serves certificates and CA bundles from files and picks up
// changes to them, so certificates and CAs rotate without a restart.
//
// # Identities
//
// cpgw's own processes are identified by URI SANs, not by host names:
// spiffe://cpgw/gateway/<region>/<id> and spiffe://cpgw/coordinator/<region>/<id>
// (GatewayURI, CoordinatorURI). Servers check them with a verify callback such
// as RequireURIPrefix(GatewayURIPrefix).
//
// # Guarantees
//
//   - Keys are ECDSA P-256; serials are random 128-bit numbers; an issued
//     Pair's certificate file holds the leaf followed by the CA.
//   - CA.Write and Pair.Write replace each file atomically (internal/files):
//     a reader sees the old file or the new one, never a mixture. A pair is two
//     files and so two renames; the key is written first.
//   - The certificate a Reloader serves always matches the key it serves: the
//     pair is loaded, checked and swapped as one value. A new certificate with
//     the old key (or the reverse), a half-written or garbage file, or a
//     missing file is refused: the previous material keeps being served, Run
//     logs the error (once per distinct failure) and retries on the next
//     check, Reload returns it. Errors name the file.
//   - Every new handshake uses the current material: the current certificate,
//     and the current CA pool for verifying the peer (on the server through
//     GetConfigForClient; on the client through VerifyConnection). Reading the
//     current material is an atomic load; no handshake takes a lock.
//   - A client certificate that a ServerConfig receives is always verified
//     against the current pool, whatever the ClientAuthType, and again on
//     resumed sessions. A ClientConfig verifies the full chain, the
//     ServerAuth usage and the server name against the current pool; when the
//     name is unknown (an IP address, which TLS does not send) the caller's
//     verify callback must stand in for it, or the server is refused (see
//     ClientConfig).
//   - Without a CAFile the pool is empty, never the system roots: every peer
//     certificate is refused.
//
// # Non-guarantees
//
//   - Established connections are not touched: after a rotation, or after a
//     CA is removed from the bundle, they keep running with what they
//     negotiated until they close.
//   - Changes are found by polling (modification time, size, file identity,
//     then content), so they take effect up to one Interval late, or at the
//     next Reload. A writer that does not replace files atomically can expose
//     a truncated file; a truncated PEM block is refused, but a certificate
//     file cut exactly between two blocks is not detectable. Write with
//     CA.Write, Pair.Write or files.WriteAtomic.
//   - Files over 1 MiB are refused, by LoadCA and by a Reloader.
//   - No revocation (CRL, OCSP), no expiry monitoring or automatic renewal,
//     no encrypted private keys. The CA is meant for development and tests:
//     its key is an unencrypted PKCS #8 file (mode 0600).
//   - A Reloader does not check that its own certificate chains to its CA
//     bundle, or that it is currently valid (an expired certificate is served,
//     with a warning in the log).
package certs

import "errors"

// Sentinel errors. Errors returned by this package wrap one of these (test
// with errors.Is) or an error from the os package, and name the file
// concerned.
var (
	// ErrInvalidRequest: an Issue request or a NewCA argument is invalid
	// (no key usage, a URI that does not parse or is not absolute, no TTL, ...).
	ErrInvalidRequest = errors.New("certs: invalid request")
	// ErrInvalidFiles: a Files value is unusable (a certificate without a key
	// or the reverse, nothing configured, a negative Interval).
	ErrInvalidFiles = errors.New("certs: invalid Files")
	// ErrNoCertificate: a file holds no CERTIFICATE block, or a certificate was
	// asked for and no pair is configured.
	ErrNoCertificate = errors.New("certs: no certificate")
	// ErrNoKey: a file holds no private key block.
	ErrNoKey = errors.New("certs: no private key")
	// ErrMalformed: a PEM block is truncated (a half-written file), or its
	// contents do not parse.
	ErrMalformed = errors.New("certs: malformed PEM or DER")
	// ErrUnsupportedKey: the private key is encrypted or of a type that cannot
	// sign.
	ErrUnsupportedKey = errors.New("certs: unsupported private key")
	// ErrKeyMismatch: the private key does not belong to the certificate.
	ErrKeyMismatch = errors.New("certs: private key does not match certificate")
	// ErrNotCA: a certificate used as a CA is not a CA certificate.
	ErrNotCA = errors.New("certs: not a CA certificate")
	// ErrNoPeerCertificate: the peer presented no certificate.
	ErrNoPeerCertificate = errors.New("certs: peer presented no certificate")
	// ErrNoServerName: a client cannot tell which name the server's
	// certificate must carry (TLS sends no server name for IP addresses) and
	// has no verify callback to check its identity instead.
	ErrNoServerName = errors.New("certs: server name unknown")
	// ErrIdentity: a verified certificate lacks the identity the caller requires.
	ErrIdentity = errors.New("certs: certificate lacks the required identity")
)
