package authz

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"

	"github.com/cpgw/cpgw/internal/files"
)

// The signature algorithms (JWS "alg") this package verifies and signs.
// Only asymmetric ones: a gateway holds public keys only, so a forged
// token needs a private key it never sees.
const (
	algES256 = "ES256" // ECDSA P-256 with SHA-256
	algEdDSA = "EdDSA" // Ed25519
	algRS256 = "RS256" // RSA PKCS#1 v1.5 with SHA-256
)

// RSA key sizes accepted. Under 2048 bits is breakable; over 8192 bits makes
// each verification slow for no gain.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// publicKey is one verification key of a key set: a key may verify exactly
// one algorithm, the one its type implies.
type publicKey struct {
	id     string
	method string           // algES256, algEdDSA or algRS256
	key    crypto.PublicKey // *ecdsa.PublicKey (P-256), ed25519.PublicKey or *rsa.PublicKey
}

// privateMembers are JWK members that carry private or symmetric key
// material (RFC 7518 §6.2.2, §6.3.2, §6.4.1). A file meant to be public must
// not hold them: refusing it says the key leaked into the wrong file.
var privateMembers = [...]string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// parseJWKS parses a JSON Web Key Set (RFC 7517) of public signature keys:
// EC P-256, OKP Ed25519 and RSA of at least 2048 bits, each with a unique
// "kid". Any other key type, a "use" other than "sig", an "alg" that does not
// fit the key, or private material makes the whole set an error: a
// half-understood key file is a configuration mistake to fix, not to guess
// around.
func parseJWKS(b []byte) (map[string]publicKey, error) {
	var doc struct {
		Keys *[]map[string]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%w: not a JSON object with a \"keys\" array", ErrInvalidJWKS)
	}
	if doc.Keys == nil {
		return nil, fmt.Errorf("%w: no \"keys\" member", ErrInvalidJWKS)
	}
	if len(*doc.Keys) == 0 {
		return nil, fmt.Errorf("%w: no keys", ErrInvalidJWKS)
	}
	keys := make(map[string]publicKey, len(*doc.Keys))
	for i, m := range *doc.Keys {
		k, err := parseJWK(m)
		if err != nil {
			if k.id != "" {
				return nil, fmt.Errorf("%w: keys[%d] (kid %q): %v", ErrInvalidJWKS, i, k.id, err)
			}
			return nil, fmt.Errorf("%w: keys[%d]: %v", ErrInvalidJWKS, i, err)
		}
		if _, dup := keys[k.id]; dup {
			return nil, fmt.Errorf("%w: keys[%d]: duplicate kid %q", ErrInvalidJWKS, i, k.id)
		}
		keys[k.id] = k
	}
	return keys, nil
}

// parseJWK parses one key. On error the returned key carries the kid, if
// one was read, for the message.
func parseJWK(m map[string]json.RawMessage) (publicKey, error) {
	if m == nil {
		return publicKey{}, errors.New("not a JSON object")
	}
	str := func(name string) (string, error) {
		raw, ok := m[name]
		if !ok {
			return "", nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("%q is not a string", name)
		}
		return s, nil
	}
	var k publicKey
	var err error
	if k.id, err = str("kid"); err != nil {
		return publicKey{}, err
	}
	for _, name := range privateMembers {
		if _, ok := m[name]; ok {
			return k, fmt.Errorf("holds private key material (%q): the key set must hold public keys only", name)
		}
	}
	if k.id == "" {
		return k, errors.New("no \"kid\"")
	}
	kty, err := str("kty")
	if err != nil {
		return k, err
	}
	if use, err := str("use"); err != nil {
		return k, err
	} else if _, ok := m["use"]; ok && use != "sig" {
		return k, fmt.Errorf("\"use\" is %q, want \"sig\"", use)
	}
	if raw, ok := m["key_ops"]; ok {
		var ops []string
		if err := json.Unmarshal(raw, &ops); err != nil {
			return k, errors.New("\"key_ops\" is not a list of strings")
		}
		verify := false
		for _, op := range ops {
			verify = verify || op == "verify"
		}
		if !verify {
			return k, errors.New("\"key_ops\" does not include \"verify\"")
		}
	}
	alg, err := str("alg")
	if err != nil {
		return k, err
	}
	crv, err := str("crv")
	if err != nil {
		return k, err
	}
	b64 := func(name string) ([]byte, error) {
		s, err := str(name)
		if err != nil {
			return nil, err
		}
		if s == "" {
			return nil, fmt.Errorf("no %q", name)
		}
		b, err := base64.RawURLEncoding.Strict().DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not unpadded base64url", name)
		}
		return b, nil
	}
	switch kty {
	case "EC":
		k.method = algES256
		if crv != "P-256" {
			return k, fmt.Errorf("EC curve %q not supported, want P-256", crv)
		}
		x, err := b64("x")
		if err != nil {
			return k, err
		}
		y, err := b64("y")
		if err != nil {
			return k, err
		}
		if len(x) != 32 || len(y) != 32 {
			return k, errors.New("P-256 coordinates must be 32 bytes each")
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return k, errors.New("not a point on P-256")
		}
		k.key = pub
	case "OKP":
		k.method = algEdDSA
		if crv != "Ed25519" {
			return k, fmt.Errorf("OKP curve %q not supported, want Ed25519", crv)
		}
		x, err := b64("x")
		if err != nil {
			return k, err
		}
		if len(x) != ed25519.PublicKeySize {
			return k, fmt.Errorf("Ed25519 public key must be %d bytes", ed25519.PublicKeySize)
		}
		k.key = ed25519.PublicKey(x)
	case "RSA":
		k.method = algRS256
		nb, err := b64("n")
		if err != nil {
			return k, err
		}
		eb, err := b64("e")
		if err != nil {
			return k, err
		}
		if len(nb) > maxRSABits/8+1 {
			return k, fmt.Errorf("RSA modulus over %d bits", maxRSABits)
		}
		n := new(big.Int).SetBytes(nb)
		if bits := n.BitLen(); bits < minRSABits || bits > maxRSABits {
			return k, fmt.Errorf("RSA modulus of %d bits, want %d to %d", bits, minRSABits, maxRSABits)
		}
		if n.Bit(0) == 0 {
			return k, errors.New("RSA modulus is even")
		}
		if len(eb) > 4 {
			return k, errors.New("RSA exponent too large")
		}
		var e int64
		for _, c := range eb {
			e = e<<8 | int64(c)
		}
		if e < 3 || e > 1<<31-1 || e%2 == 0 {
			return k, errors.New("RSA exponent must be odd, at least 3 and below 2^31")
		}
		k.key = &rsa.PublicKey{N: n, E: int(e)}
	case "":
		return k, errors.New("no \"kty\"")
	default:
		return k, fmt.Errorf("key type %q not supported, want EC, OKP or RSA", kty)
	}
	if alg != "" && alg != k.method {
		return k, fmt.Errorf("\"alg\" %q does not fit a %s key (want %s)", alg, kty, k.method)
	}
	return k, nil
}

// jwk is a public key's JWK as JWKS writes it.
type jwk struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

// toJWK returns pub's JWK members and its RFC 7638 thumbprint as kid.
func toJWK(pub crypto.PublicKey) (jwk, error) {
	enc := base64.RawURLEncoding.EncodeToString
	var j jwk
	// canonical is the RFC 7638 thumbprint input: the required members in
	// lexicographic order, no whitespace. The values are base64url or fixed
	// names, so they need no JSON escaping.
	var canonical string
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		if p == nil || p.Curve != elliptic.P256() {
			return jwk{}, fmt.Errorf("%w: ECDSA keys must be on P-256", ErrInvalidKey)
		}
		b, err := p.Bytes()
		if err != nil || len(b) != 65 {
			return jwk{}, fmt.Errorf("%w: bad ECDSA public key", ErrInvalidKey)
		}
		j = jwk{Kty: "EC", Alg: algES256, Crv: "P-256", X: enc(b[1:33]), Y: enc(b[33:])}
		canonical = `{"crv":"P-256","kty":"EC","x":"` + j.X + `","y":"` + j.Y + `"}`
	case ed25519.PublicKey:
		if len(p) != ed25519.PublicKeySize {
			return jwk{}, fmt.Errorf("%w: bad Ed25519 public key", ErrInvalidKey)
		}
		j = jwk{Kty: "OKP", Alg: algEdDSA, Crv: "Ed25519", X: enc(p)}
		canonical = `{"crv":"Ed25519","kty":"OKP","x":"` + j.X + `"}`
	case *rsa.PublicKey:
		if p == nil || p.N == nil || p.N.BitLen() < minRSABits || p.N.BitLen() > maxRSABits || p.E < 3 {
			return jwk{}, fmt.Errorf("%w: RSA keys must have %d to %d bits", ErrInvalidKey, minRSABits, maxRSABits)
		}
		j = jwk{Kty: "RSA", Alg: algRS256, N: enc(p.N.Bytes()), E: enc(big.NewInt(int64(p.E)).Bytes())}
		canonical = `{"e":"` + j.E + `","kty":"RSA","n":"` + j.N + `"}`
	default:
		return jwk{}, fmt.Errorf("%w: unsupported public key type %T (want ECDSA P-256, Ed25519 or RSA)", ErrInvalidKey, pub)
	}
	sum := sha256.Sum256([]byte(canonical))
	j.Use, j.Kid = "sig", enc(sum[:])
	return j, nil
}

// JWKS returns a JSON Web Key Set document of the public keys (ECDSA P-256,
// Ed25519, RSA of 2048 to 8192 bits), each with its RFC 7638 thumbprint as
// "kid", "use": "sig" and its "alg", as a Verifier reads it. Publish old and
// new keys together while rotating.
func JWKS(keys ...crypto.PublicKey) ([]byte, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no keys: a key set without keys verifies nothing", ErrInvalidKey)
	}
	doc := struct {
		Keys []jwk `json:"keys"`
	}{Keys: make([]jwk, 0, len(keys))}
	seen := make(map[string]bool, len(keys))
	for _, pub := range keys {
		j, err := toJWK(pub)
		if err != nil {
			return nil, err
		}
		if seen[j.Kid] {
			return nil, fmt.Errorf("%w: key %s given twice", ErrInvalidKey, j.Kid)
		}
		seen[j.Kid] = true
		doc.Keys = append(doc.Keys, j)
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// WriteJWKS writes JWKS(keys...) to path atomically (mode 0644: the keys are
// public), so a Verifier watching the file sees the old set or the new one.
func WriteJWKS(path string, keys ...crypto.PublicKey) error {
	b, err := JWKS(keys...)
	if err != nil {
		return err
	}
	if err := files.WriteAtomic(path, b, 0o644); err != nil {
		return fmt.Errorf("authz: %w", err)
	}
	return nil
}
