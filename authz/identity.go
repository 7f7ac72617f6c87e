package authz

import (
	"context"
	"crypto/x509"
)

// Authentication methods, the values of Identity.Method.
const (
	MethodJWT  = "jwt"
	MethodMTLS = "mtls"
)

// Identity is an authenticated caller.
type Identity struct {
	// Subject is the JWT "sub", or a client certificate's first URI SAN,
	// else its Subject CN.
	Subject string
	// Groups are the JWT's groups claim (VerifierConfig.GroupsClaim); nil
	// for certificates.
	Groups []string
	// Method is how the caller authenticated: MethodJWT or MethodMTLS. The
	// policy matches user: and group: subjects to MethodJWT identities and
	// cert: subjects to MethodMTLS ones only, so a token can never claim a
	// certificate's name.
	Method string
}

// IdentityFromCert returns the identity of a verified client certificate:
// its first URI SAN (a SPIFFE id, typically), else its Subject CN. It fails,
// wrapping ErrUnauthenticated, if the certificate has neither. It does not
// verify the certificate: the TLS handshake did.
func IdentityFromCert(c *x509.Certificate) (Identity, error) {
	if c == nil {
		return Identity{}, unauthenticated("no client certificate")
	}
	if len(c.URIs) > 0 && c.URIs[0] != nil {
		if s := c.URIs[0].String(); s != "" {
			return Identity{Subject: s, Method: MethodMTLS}, nil
		}
	}
	if c.Subject.CommonName != "" {
		return Identity{Subject: c.Subject.CommonName, Method: MethodMTLS}, nil
	}
	return Identity{}, unauthenticated("client certificate has neither a URI SAN nor a common name")
}

// identityKey is the context key of an Identity; unexported so only this
// package can set one.
type identityKey struct{}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFrom returns the identity the middleware stored in ctx, if any.
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}
