package authz

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jonboulle/clockwork"

	"github.com/cpgw/cpgw/internal/logbuf"
)

// t0 is the fake clocks' start: fixed, so tokens and records are exact.
var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

const (
	testIssuer   = "https://issuer.test"
	testAudience = "cpgw"
)

// rsaTestKey is generated once: 2048-bit generation is slow under -race.
var rsaTestKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func newES256(t testing.TB) SigningKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return mustSigningKey(t, k)
}

func newEdDSA(t testing.TB) SigningKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return mustSigningKey(t, k)
}

func newRS256(t testing.TB) SigningKey { t.Helper(); return mustSigningKey(t, rsaTestKey()) }

func mustSigningKey(t testing.TB, s crypto.Signer) SigningKey {
	t.Helper()
	k, err := newSigningKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// verifierEnv is a verifier over a JWKS file in a temp dir, on a fake clock.
type verifierEnv struct {
	v     *Verifier
	clock *clockwork.FakeClock
	jwks  string
	log   *logbuf.Buffer
}

func newVerifierEnv(t testing.TB, mod func(*VerifierConfig), keys ...SigningKey) *verifierEnv {
	t.Helper()
	e := &verifierEnv{clock: clockwork.NewFakeClockAt(t0), jwks: filepath.Join(t.TempDir(), "jwks.json"), log: &logbuf.Buffer{}}
	e.writeKeys(t, keys...)
	cfg := DefaultVerifierConfig()
	cfg.JWKSFile, cfg.Issuer, cfg.Audience = e.jwks, testIssuer, testAudience
	cfg.Clock = e.clock
	cfg.Logger = slog.New(slog.NewTextHandler(e.log, nil))
	if mod != nil {
		mod(&cfg)
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.v = v
	return e
}

func (e *verifierEnv) writeKeys(t testing.TB, keys ...SigningKey) {
	t.Helper()
	pubs := make([]crypto.PublicKey, len(keys))
	for i, k := range keys {
		pubs[i] = k.Key.Public()
	}
	if err := WriteJWKS(e.jwks, pubs...); err != nil {
		t.Fatal(err)
	}
}

// claims returns valid claims at now, for mutation by a test.
func claimsAt(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss":    testIssuer,
		"aud":    testAudience,
		"sub":    "alice",
		"groups": []string{"readers", "payments-team"},
		"iat":    now.Unix(),
		"nbf":    now.Unix(),
		"exp":    now.Add(time.Hour).Unix(),
	}
}

// sign signs claims with k, with header kid (none if kid is "").
func sign(t testing.TB, k SigningKey, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(k.Method), claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	var key any = k.Key
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
