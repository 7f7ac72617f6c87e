package authz

import "errors"

// Sentinel errors. Every error this package returns wraps one of them; test
// with errors.Is. Messages add a short reason and never a token or a key.
var (
	// ErrUnauthenticated: a credential was missing, malformed or did not
	// verify (Verify, IdentityFromCert). The HTTP answer is 401.
	ErrUnauthenticated = errors.New("authz: unauthenticated")
	// ErrInvalidConfig: a VerifierConfig, or a PolicyFile's arguments, were
	// refused.
	ErrInvalidConfig = errors.New("authz: invalid config")
	// ErrInvalidJWKS: a JSON Web Key Set was refused: bad JSON, an
	// unsupported or weak key, private key material, a duplicate kid.
	ErrInvalidJWKS = errors.New("authz: invalid JWKS")
	// ErrInvalidPolicy: an RBAC policy was refused; the message names the
	// place (e.g. roles[1].rules[0].verbs[2]).
	ErrInvalidPolicy = errors.New("authz: invalid policy")
	// ErrInvalidKey: a signing or public key is of an unsupported type or too
	// weak, or a key file does not hold one.
	ErrInvalidKey = errors.New("authz: invalid key")
	// ErrInvalidClaims: Mint was given claims it will not sign (no subject,
	// no issuer or audience, a TTL that is not positive, a zero Now).
	ErrInvalidClaims = errors.New("authz: invalid claims")
)

// authError is a refused credential: it wraps ErrUnauthenticated and carries
// a short, fixed reason, fit for a 401 body and the audit log because it
// never quotes the credential.
type authError struct{ reason string }

func (e *authError) Error() string { return "authz: unauthenticated: " + e.reason }
func (e *authError) Unwrap() error { return ErrUnauthenticated }

func unauthenticated(reason string) error { return &authError{reason: reason} }

// reasonOf returns the short reason of an authentication failure. Errors of
// other Verifier implementations are not quoted: this package cannot know
// that they leave the token out.
func reasonOf(err error) string {
	if ae, ok := errors.AsType[*authError](err); ok {
		return ae.reason
	}
	return "credential refused"
}
