package authz

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
)

func TestJWKSRoundTrip(t *testing.T) {
	es, ed, rs := newES256(t), newEdDSA(t), newRS256(t)
	b, err := JWKS(es.Key.Public(), ed.Key.Public(), rs.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := parseJWKS(b)
	if err != nil {
		t.Fatalf("parseJWKS(JWKS(...)): %v\n%s", err, b)
	}
	for _, k := range []SigningKey{es, ed, rs} {
		got, ok := keys[k.ID]
		if !ok {
			t.Fatalf("kid %s missing from %s", k.ID, b)
		}
		if got.method != k.Method {
			t.Errorf("kid %s: method %s, want %s", k.ID, got.method, k.Method)
		}
		if !got.key.(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Key.Public()) {
			t.Errorf("kid %s: key differs after the round trip", k.ID)
		}
	}
	var doc struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range doc.Keys {
		if k["use"] != "sig" || k["alg"] == "" || k["kid"] == "" {
			t.Errorf("key %v: want use sig, alg and kid", k)
		}
	}
	if _, err := JWKS(es.Key.Public(), es.Key.Public()); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("a key twice: %v, want ErrInvalidKey", err)
	}
	if _, err := JWKS(); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("no keys: %v, want ErrInvalidKey", err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := JWKS(p384.Public()); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("P-384: %v, want ErrInvalidKey", err)
	}
}

// The thumbprint of RFC 7638 §3.1's example key.
func TestThumbprintRFC7638(t *testing.T) {
	n, _ := base64.RawURLEncoding.DecodeString("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
	j, err := toJWK(&rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537})
	if err != nil {
		t.Fatal(err)
	}
	if want := "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; j.Kid != want {
		t.Fatalf("thumbprint %s, want %s", j.Kid, want)
	}
}

func TestParseJWKSErrors(t *testing.T) {
	es := newES256(t)
	good, err := toJWK(es.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	ec := func(mod func(map[string]any)) map[string]any {
		m := map[string]any{"kty": "EC", "kid": "k1", "use": "sig", "alg": "ES256", "crv": "P-256", "x": good.X, "y": good.Y}
		mod(m)
		return m
	}
	b64 := base64.RawURLEncoding.EncodeToString
	// A 1024-bit odd modulus: only its size matters to the parser.
	small := make([]byte, 128)
	small[0], small[127] = 0x80, 1
	// A point off the curve: good's x with y+1.
	yb, _ := base64.RawURLEncoding.DecodeString(good.Y)
	yb[31] ^= 1
	tests := []struct {
		name string
		doc  any // marshalled, unless a string
		want string
	}{
		{"not JSON", "{", "not a JSON object"},
		{"an array", "[]", "not a JSON object"},
		{"no keys member", map[string]any{}, `no "keys" member`},
		{"no keys", map[string]any{"keys": []any{}}, "no keys"},
		{"key not an object", map[string]any{"keys": []any{"x"}}, "not a JSON object"},
		{"no kid", []any{ec(func(m map[string]any) { delete(m, "kid") })}, `keys[0]: no "kid"`},
		{"kid not a string", []any{ec(func(m map[string]any) { m["kid"] = 1 })}, `keys[0]: "kid" is not a string`},
		{"duplicate kid", []any{ec(func(map[string]any) {}), ec(func(map[string]any) {})}, `keys[1]: duplicate kid "k1"`},
		{"private EC key", []any{ec(func(m map[string]any) { m["d"] = good.X })}, `keys[0] (kid "k1"): holds private key material ("d")`},
		{"symmetric key", []any{map[string]any{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}}, `holds private key material ("k")`},
		{"use enc", []any{ec(func(m map[string]any) { m["use"] = "enc" })}, `"use" is "enc", want "sig"`},
		{"key_ops without verify", []any{ec(func(m map[string]any) { m["key_ops"] = []string{"sign"} })}, `"key_ops" does not include "verify"`},
		{"alg that does not fit", []any{ec(func(m map[string]any) { m["alg"] = "RS256" })}, `"alg" "RS256" does not fit a EC key (want ES256)`},
		{"HS256 alg on an EC key", []any{ec(func(m map[string]any) { m["alg"] = "HS256" })}, `"alg" "HS256" does not fit`},
		{"P-384", []any{ec(func(m map[string]any) { m["crv"] = "P-384" })}, `EC curve "P-384" not supported`},
		{"short x", []any{ec(func(m map[string]any) { m["x"] = b64([]byte{1, 2, 3}) })}, "coordinates must be 32 bytes"},
		{"padded base64", []any{ec(func(m map[string]any) { m["x"] = good.X + "=" })}, `"x" is not unpadded base64url`},
		{"point off the curve", []any{ec(func(m map[string]any) { m["y"] = b64(yb) })}, "not a point on P-256"},
		{"no kty", []any{ec(func(m map[string]any) { delete(m, "kty") })}, `no "kty"`},
		{"unknown kty", []any{ec(func(m map[string]any) { m["kty"] = "XYZ" })}, `key type "XYZ" not supported`},
		{"Ed448", []any{map[string]any{"kty": "OKP", "kid": "e", "crv": "Ed448", "x": b64(make([]byte, 57))}}, `OKP curve "Ed448" not supported`},
		{"short Ed25519", []any{map[string]any{"kty": "OKP", "kid": "e", "crv": "Ed25519", "x": b64(make([]byte, 31))}}, "Ed25519 public key must be 32 bytes"},
		{"RSA 1024", []any{map[string]any{"kty": "RSA", "kid": "r", "n": b64(small), "e": "AQAB"}}, "RSA modulus of 1024 bits, want 2048 to 8192"},
		{"RSA even exponent", []any{map[string]any{"kty": "RSA", "kid": "r", "n": b64(rsaTestKey().N.Bytes()), "e": b64([]byte{1, 0})}}, "RSA exponent must be odd"},
		{"RSA no e", []any{map[string]any{"kty": "RSA", "kid": "r", "n": b64(rsaTestKey().N.Bytes())}}, `no "e"`},
		{"RSA private", []any{map[string]any{"kty": "RSA", "kid": "r", "n": b64(rsaTestKey().N.Bytes()), "e": "AQAB", "p": "AQAB"}}, `holds private key material ("p")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b []byte
			switch d := tt.doc.(type) {
			case string:
				b = []byte(d)
			case []any:
				b, _ = json.Marshal(map[string]any{"keys": d})
			default:
				b, _ = json.Marshal(d)
			}
			keys, err := parseJWKS(b)
			if !errors.Is(err, ErrInvalidJWKS) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("parseJWKS(%s) = %v, %v; want ErrInvalidJWKS with %q", b, keys, err, tt.want)
			}
		})
	}
}
