package authz

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cpgw/cpgw/internal/files"
)

// SigningKey is a private key that mints tokens.
type SigningKey struct {
	// ID is the key's RFC 7638 JWK thumbprint (base64url SHA-256 of its
	// public JWK): the "kid" of its tokens and of its entry in JWKS.
	ID string
	// Key is an *ecdsa.PrivateKey (P-256), an ed25519.PrivateKey or an
	// *rsa.PrivateKey (at least 2048 bits).
	Key crypto.Signer
	// Method is the algorithm its type implies: ES256, EdDSA or RS256.
	Method string
}

// newSigningKey derives ID and Method from s.
func newSigningKey(s crypto.Signer) (SigningKey, error) {
	j, err := toJWK(s.Public())
	if err != nil {
		return SigningKey{}, err
	}
	return SigningKey{ID: j.Kid, Key: s, Method: j.Alg}, nil
}

// GenerateSigningKey returns a new ES256 (ECDSA P-256) key: small tokens,
// fast verification, and every JWT library supports it.
func GenerateSigningKey() (SigningKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return SigningKey{}, fmt.Errorf("authz: generate key: %w", err)
	}
	return newSigningKey(k)
}

// LoadSigningKey reads a PEM "PRIVATE KEY" (PKCS#8, unencrypted) file
// holding an EC P-256, Ed25519 or RSA (at least 2048 bits) key; the method
// follows from the key's type.
func LoadSigningKey(path string) (SigningKey, error) {
	b, err := files.ReadLimited(path, 64<<10)
	if err != nil {
		return SigningKey{}, fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	var block *pem.Block
	for rest := b; ; {
		block, rest = pem.Decode(rest)
		if block == nil || block.Type == "PRIVATE KEY" {
			break
		}
	}
	if block == nil {
		return SigningKey{}, fmt.Errorf("%w: %s holds no PEM \"PRIVATE KEY\" block (PKCS#8; convert with openssl pkcs8 -topk8 -nocrypt)", ErrInvalidKey, path)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return SigningKey{}, fmt.Errorf("%w: %s: not a PKCS#8 private key", ErrInvalidKey, path)
	}
	var s crypto.Signer
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		s = k
	case ed25519.PrivateKey:
		s = k
	case *rsa.PrivateKey:
		s = k
	default:
		return SigningKey{}, fmt.Errorf("%w: %s: unsupported key type %T", ErrInvalidKey, path, key)
	}
	sk, err := newSigningKey(s)
	if err != nil {
		return SigningKey{}, fmt.Errorf("%w (file %s)", err, path)
	}
	return sk, nil
}

// WriteSigningKey writes k as a PKCS#8 PEM file of mode 0600, atomically.
func WriteSigningKey(path string, k SigningKey) error {
	if k.Key == nil {
		return fmt.Errorf("%w: no key", ErrInvalidKey)
	}
	if _, err := toJWK(k.Key.Public()); err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.Key)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	if err := files.WriteAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("authz: %w", err)
	}
	return nil
}

// Claims are what Mint puts in a token.
type Claims struct {
	Issuer, Audience, Subject string // iss, aud, sub; all required
	Groups                    []string
	TTL                       time.Duration // exp = Now + TTL; must be positive
	Now                       time.Time     // iat and nbf; required, so the caller owns the clock
}

// Mint signs a token with k: iss, aud, sub, groups (claim "groups", when
// there are any), iat = nbf = Now, exp = Now + TTL (whole seconds), a random
// jti, and k.ID as the header's kid.
func Mint(k SigningKey, c Claims) (string, error) {
	if k.Key == nil || k.ID == "" {
		return "", fmt.Errorf("%w: a signing key needs Key and ID", ErrInvalidKey)
	}
	j, err := toJWK(k.Key.Public())
	if err != nil {
		return "", err
	}
	if k.Method != j.Alg {
		return "", fmt.Errorf("%w: method %q does not fit a %s key (want %s)", ErrInvalidKey, k.Method, j.Kty, j.Alg)
	}
	switch {
	case c.Subject == "":
		return "", fmt.Errorf("%w: no Subject", ErrInvalidClaims)
	case c.Issuer == "" || c.Audience == "":
		return "", fmt.Errorf("%w: Issuer and Audience are required", ErrInvalidClaims)
	case c.TTL <= 0:
		return "", fmt.Errorf("%w: TTL %v is not positive", ErrInvalidClaims, c.TTL)
	case c.Now.IsZero():
		return "", fmt.Errorf("%w: Now is required", ErrInvalidClaims)
	}
	for i, g := range c.Groups {
		if g == "" {
			return "", fmt.Errorf("%w: Groups[%d] is empty", ErrInvalidClaims, i)
		}
	}
	claims := jwt.MapClaims{
		"iss": c.Issuer,
		"aud": c.Audience,
		"sub": c.Subject,
		"iat": c.Now.Unix(),
		"nbf": c.Now.Unix(),
		"exp": c.Now.Add(c.TTL).Unix(),
		"jti": rand.Text(),
	}
	if len(c.Groups) > 0 {
		claims["groups"] = c.Groups
	}
	var method jwt.SigningMethod
	var key any
	switch s := k.Key.(type) {
	case *ecdsa.PrivateKey:
		method, key = jwt.SigningMethodES256, s
	case ed25519.PrivateKey:
		method, key = jwt.SigningMethodEdDSA, s
	case *rsa.PrivateKey:
		method, key = jwt.SigningMethodRS256, s
	default:
		// jwt signs ECDSA and RSA only with the concrete key types.
		return "", fmt.Errorf("%w: unsupported signer type %T", ErrInvalidKey, k.Key)
	}
	t := jwt.NewWithClaims(method, claims)
	t.Header["kid"] = k.ID
	s, err := t.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("authz: sign: %w", err)
	}
	return s, nil
}
