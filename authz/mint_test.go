package authz

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Each key type: write, load, mint, verify.
func TestMintAndVerify(t *testing.T) {
	gen, err := GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	if gen.Method != "ES256" {
		t.Fatalf("GenerateSigningKey: method %s, want ES256", gen.Method)
	}
	for _, k := range []SigningKey{gen, newEdDSA(t), newRS256(t)} {
		t.Run(k.Method, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "signing.key")
			if err := WriteSigningKey(path, k); err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("key file mode %v, %v; want 0600", fi.Mode(), err)
			}
			loaded, err := LoadSigningKey(path)
			if err != nil {
				t.Fatal(err)
			}
			if loaded.ID != k.ID || loaded.Method != k.Method {
				t.Fatalf("loaded %s %s, want %s %s", loaded.ID, loaded.Method, k.ID, k.Method)
			}
			env := newVerifierEnv(t, nil, loaded)
			now := env.clock.Now()
			tok, err := Mint(loaded, Claims{Issuer: testIssuer, Audience: testAudience, Subject: "bob",
				Groups: []string{"ops"}, TTL: time.Hour, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			id, err := env.v.Verify(context.Background(), tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if want := (Identity{Subject: "bob", Groups: []string{"ops"}, Method: MethodJWT}); !reflect.DeepEqual(id, want) {
				t.Fatalf("identity %+v, want %+v", id, want)
			}
			claims := jwt.MapClaims{}
			parsed, _, err := jwt.NewParser().ParseUnverified(tok, claims)
			if err != nil {
				t.Fatal(err)
			}
			if parsed.Header["kid"] != k.ID || parsed.Header["alg"] != k.Method {
				t.Fatalf("header %v", parsed.Header)
			}
			for claim, want := range map[string]any{"iss": testIssuer, "aud": testAudience, "sub": "bob",
				"iat": float64(now.Unix()), "nbf": float64(now.Unix()), "exp": float64(now.Add(time.Hour).Unix())} {
				if claims[claim] != want {
					t.Errorf("%s = %v, want %v", claim, claims[claim], want)
				}
			}
			if jti, _ := claims["jti"].(string); len(jti) < 16 {
				t.Errorf("jti %q: want a random id", claims["jti"])
			}
			env.clock.Advance(time.Hour + 5*time.Second)
			if _, err := env.v.Verify(context.Background(), tok); !errors.Is(err, ErrUnauthenticated) {
				t.Errorf("past exp + leeway: %v", err)
			}
		})
	}
}

func TestMintErrors(t *testing.T) {
	k := newES256(t)
	ok := Claims{Issuer: "i", Audience: "a", Subject: "s", TTL: time.Minute, Now: t0}
	a, err := Mint(k, ok)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Mint(k, ok)
	if a == b {
		t.Error("two tokens of the same claims are equal: jti is not random")
	}
	tests := []struct {
		name string
		key  SigningKey
		mod  func(*Claims)
		want error
	}{
		{"no subject", k, func(c *Claims) { c.Subject = "" }, ErrInvalidClaims},
		{"no issuer", k, func(c *Claims) { c.Issuer = "" }, ErrInvalidClaims},
		{"no audience", k, func(c *Claims) { c.Audience = "" }, ErrInvalidClaims},
		{"zero TTL", k, func(c *Claims) { c.TTL = 0 }, ErrInvalidClaims},
		{"zero Now", k, func(c *Claims) { c.Now = time.Time{} }, ErrInvalidClaims},
		{"empty group", k, func(c *Claims) { c.Groups = []string{""} }, ErrInvalidClaims},
		{"no key", SigningKey{ID: "x", Method: "ES256"}, func(*Claims) {}, ErrInvalidKey},
		{"no ID", SigningKey{Key: k.Key, Method: "ES256"}, func(*Claims) {}, ErrInvalidKey},
		{"method of another key type", SigningKey{ID: k.ID, Key: k.Key, Method: "RS256"}, func(*Claims) {}, ErrInvalidKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mod(&c)
			if tok, err := Mint(tt.key, c); !errors.Is(err, tt.want) {
				t.Fatalf("Mint = %q, %v; want %v", tok, err, tt.want)
			}
		})
	}
}

func TestLoadSigningKeyErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pkcs8 := func(key any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	sec1, _ := x509.MarshalECPrivateKey(p384)
	tests := []struct{ name, path, want string }{
		{"missing", filepath.Join(dir, "none"), "no such file"},
		{"not PEM", write("junk", []byte("hello")), `no PEM "PRIVATE KEY" block`},
		{"SEC 1 EC key", write("sec1", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})), `no PEM "PRIVATE KEY" block`},
		{"bad DER", write("der", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2}})), "not a PKCS#8 private key"},
		{"P-384", write("p384", pkcs8(p384)), "ECDSA keys must be on P-256"},
		{"RSA 1024", write("rsa1024", pkcs8(rsa1024)), "RSA keys must have 2048 to 8192 bits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := LoadSigningKey(tt.path); !errors.Is(err, ErrInvalidKey) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("LoadSigningKey: %v; want ErrInvalidKey with %q", err, tt.want)
			}
		})
	}
}
