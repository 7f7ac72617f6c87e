package authz

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestVerify(t *testing.T) {
	es, ed, rs := newES256(t), newEdDSA(t), newRS256(t)
	env := newVerifierEnv(t, nil, es, ed, rs)
	now := env.clock.Now()
	with := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := claimsAt(now)
		mod(c)
		return c
	}
	valid := sign(t, es, es.ID, claimsAt(now))
	parts := strings.Split(valid, ".")
	forgedPayload, _ := json.Marshal(with(func(c jwt.MapClaims) { c["sub"] = "mallory" }))
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(forgedPayload) + "." + parts[2]

	// HS256 signed with the public key's bytes as the HMAC secret: the
	// classic confusion attack on libraries that let the token pick the alg.
	pkix, err := x509.MarshalPKIXPublicKey(es.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, claimsAt(now))
	hs.Header["kid"] = es.ID
	hsToken, err := hs.SignedString(pkix)
	if err != nil {
		t.Fatal(err)
	}
	none := jwt.NewWithClaims(jwt.SigningMethodNone, claimsAt(now))
	none.Header["kid"] = es.ID
	noneToken, err := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	huge := sign(t, es, es.ID, with(func(c jwt.MapClaims) { c["pad"] = strings.Repeat("x", MaxTokenBytes) }))

	wantID := Identity{Subject: "alice", Groups: []string{"readers", "payments-team"}, Method: MethodJWT}
	tests := []struct {
		name   string
		token  string
		want   Identity // when reason is ""
		reason string   // the exact reason of the failure
	}{
		{"ES256", valid, wantID, ""},
		{"EdDSA", sign(t, ed, ed.ID, claimsAt(now)), wantID, ""},
		{"RS256", sign(t, rs, rs.ID, claimsAt(now)), wantID, ""},
		{"aud list containing ours", sign(t, es, es.ID, with(func(c jwt.MapClaims) { c["aud"] = []string{"other", testAudience} })), wantID, ""},
		{"no groups", sign(t, es, es.ID, with(func(c jwt.MapClaims) { delete(c, "groups") })), Identity{Subject: "alice", Method: MethodJWT}, ""},
		{"expired within leeway", sign(t, es, es.ID, with(func(c jwt.MapClaims) { c["exp"] = now.Add(-3 * time.Second).Unix() })), wantID, ""},
		{"empty", "", Identity{}, "empty token"},
		{"garbage", "not-a-jwt", Identity{}, "malformed token"},
		{"alg none", noneToken, Identity{}, "token alg not accepted"},
		{"HS256 with the public key as secret", hsToken, Identity{}, "token alg not accepted"},
		{"no exp", sign(t, es, es.ID, with(func(c jwt.MapClaims) { delete(c, "exp") })), Identity{}, "token has no exp"},
		{"expired beyond leeway", sign(t, es, es.ID, with(func(c jwt.MapClaims) { c["exp"] = now.Add(-6 * time.Second).Unix() })), Identity{}, "token expired"},
		{"not valid yet", sign(t, es, es.ID, with(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Minute).Unix() })), Identity{}, "token not valid yet"},
		{"issued in the future", sign(t, es, es.ID, with(func(c jwt.MapClaims) { c["iat"] = now.Add(time.Minute).Unix() })), Identity{}, "token issued in the future"},
		{"wrong iss", sign(t, es, es.ID, with(func(c jwt.MapClaims) { c["iss"] = "https://evil.test" })), Identity{}, "wrong issuer"},
		{"no iss", sign(t, es, es.ID, with(func(c jwt.MapClaims) { delete(c, "iss") })), Identity{}, "token has no iss"},
		{"wrong aud", sign(t, es, es.ID, with(func(c jwt.MapClaims) { c["aud"] = "other" })), Identity{}, "wrong audience"},
		{"no sub", sign(t, es, es.ID, with(func(c jwt.MapClaims) { delete(c, "sub") })), Identity{}, "token has no sub"},
		{"empty sub", sign(t, es, es.ID, with(func(c jwt.MapClaims) { c["sub"] = "" })), Identity{}, "token has no sub"},
		{"groups not a list", sign(t, es, es.ID, with(func(c jwt.MapClaims) { c["groups"] = "admins" })), Identity{}, "groups claim is not a list of strings"},
		{"groups with a number", sign(t, es, es.ID, with(func(c jwt.MapClaims) { c["groups"] = []any{"a", 1} })), Identity{}, "groups claim is not a list of strings"},
		{"unknown kid", sign(t, es, "no-such-kid", claimsAt(now)), Identity{}, "unknown kid"},
		{"missing kid", sign(t, es, "", claimsAt(now)), Identity{}, "token has no kid"},
		{"tampered payload", tampered, Identity{}, "invalid signature"},
		{"signed by another key under a known kid", sign(t, newES256(t), es.ID, claimsAt(now)), Identity{}, "invalid signature"},
		{"RSA key under an ES256 header", sign(t, es, rs.ID, claimsAt(now)), Identity{}, "token alg does not fit its key"},
		{"Ed25519 key under an ES256 header", sign(t, es, ed.ID, claimsAt(now)), Identity{}, "token alg does not fit its key"},
		{"over 8 KiB", huge, Identity{}, "token longer than 8 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := env.v.verifications.Load()
			id, err := env.v.Verify(context.Background(), tt.token)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if !reflect.DeepEqual(id, tt.want) {
					t.Fatalf("identity %+v, want %+v", id, tt.want)
				}
				return
			}
			if !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("error %v (identity %+v), want ErrUnauthenticated", err, id)
			}
			if want := "authz: unauthenticated: " + tt.reason; err.Error() != want {
				t.Fatalf("error %q, want %q", err, want)
			}
			if !reflect.DeepEqual(id, Identity{}) {
				t.Fatalf("identity %+v returned with an error", id)
			}
			if tt.name == "over 8 KiB" && env.v.verifications.Load() != before {
				t.Fatal("an oversized token reached signature verification")
			}
		})
	}
}

func TestVerifierConfigValidate(t *testing.T) {
	ok := func() VerifierConfig {
		c := DefaultVerifierConfig()
		c.JWKSFile, c.Issuer, c.Audience = "jwks.json", "iss", "aud"
		return c
	}
	tests := []struct {
		name string
		mod  func(*VerifierConfig)
		want string // "" for valid
	}{
		{"defaults", func(*VerifierConfig) {}, ""},
		{"zero fields are defaults", func(c *VerifierConfig) { *c = VerifierConfig{JWKSFile: "f", Issuer: "i", Audience: "a"} }, ""},
		{"cache disabled", func(c *VerifierConfig) { c.CacheSize = -1 }, ""},
		{"leeway 5m", func(c *VerifierConfig) { c.Leeway = 5 * time.Minute }, ""},
		{"no JWKSFile", func(c *VerifierConfig) { c.JWKSFile = "" }, "JWKSFile is required"},
		{"no Issuer", func(c *VerifierConfig) { c.Issuer = "" }, "Issuer is required"},
		{"no Audience", func(c *VerifierConfig) { c.Audience = "" }, "Audience is required"},
		{"HS256", func(c *VerifierConfig) { c.Methods = []string{"ES256", "HS256"} }, `Methods[1] "HS256": want ES256, EdDSA or RS256`},
		{"none", func(c *VerifierConfig) { c.Methods = []string{"none"} }, `Methods[0] "none"`},
		{"PS256", func(c *VerifierConfig) { c.Methods = []string{"PS256"} }, `Methods[0] "PS256"`},
		{"leeway over 5m", func(c *VerifierConfig) { c.Leeway = 5*time.Minute + 1 }, "Leeway 5m0.000000001s"},
		{"negative leeway", func(c *VerifierConfig) { c.Leeway = -time.Second }, "Leeway -1s"},
		{"negative interval", func(c *VerifierConfig) { c.ReloadInterval = -time.Second }, "ReloadInterval -1s is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok()
			tt.mod(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate: %v, want ErrInvalidConfig with %q", err, tt.want)
			}
			if _, err := NewVerifier(c); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("NewVerifier: %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestNewVerifierBadFile(t *testing.T) {
	dir := t.TempDir()
	bad := dir + "/bad.json"
	if err := os.WriteFile(bad, []byte(`{"keys": [{"kty": "oct", "kid": "k", "k": "c2VjcmV0"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{"missing": dir + "/none.json", "symmetric key": bad} {
		t.Run(name, func(t *testing.T) {
			cfg := DefaultVerifierConfig()
			cfg.JWKSFile, cfg.Issuer, cfg.Audience = path, "i", "a"
			if _, err := NewVerifier(cfg); !errors.Is(err, ErrInvalidJWKS) {
				t.Fatalf("NewVerifier: %v, want ErrInvalidJWKS", err)
			}
		})
	}
}

func TestKeyRotation(t *testing.T) {
	ctx := context.Background()
	a, b, c := newES256(t), newEdDSA(t), newES256(t)
	env := newVerifierEnv(t, nil, a)
	now := env.clock.Now()
	tokA, tokB, tokC := sign(t, a, a.ID, claimsAt(now)), sign(t, b, b.ID, claimsAt(now)), sign(t, c, c.ID, claimsAt(now))
	mustVerify := func(t *testing.T, tok string) {
		t.Helper()
		if _, err := env.v.Verify(ctx, tok); err != nil {
			t.Fatalf("Verify: %v", err)
		}
	}
	mustFail := func(t *testing.T, tok, reason string) {
		t.Helper()
		if _, err := env.v.Verify(ctx, tok); err == nil || err.Error() != "authz: unauthenticated: "+reason {
			t.Fatalf("Verify: %v, want %q", err, reason)
		}
	}

	mustVerify(t, tokA) // now cached
	t.Run("publish a second key", func(t *testing.T) {
		env.writeKeys(t, a, b)
		if err := env.v.Reload(); err != nil {
			t.Fatal(err)
		}
		mustVerify(t, tokB)
		mustVerify(t, tokA)
	})
	t.Run("retire the first key", func(t *testing.T) {
		mustVerify(t, tokA) // cached before the reload
		env.writeKeys(t, b)
		if err := env.v.Reload(); err != nil {
			t.Fatal(err)
		}
		mustFail(t, tokA, "unknown kid")
		mustVerify(t, tokB)
	})
	t.Run("a bad file keeps the keys", func(t *testing.T) {
		if err := os.WriteFile(env.jwks, []byte(`{"keys": [`), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := env.v.Reload(); !errors.Is(err, ErrInvalidJWKS) {
			t.Fatalf("Reload: %v, want ErrInvalidJWKS", err)
		}
		mustVerify(t, tokB)
	})
	t.Run("Run follows the file", func(t *testing.T) {
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- env.v.Run(runCtx) }()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}()
		if err := env.clock.BlockUntilContext(ctx, 1); err != nil { // Run's ticker
			t.Fatal(err)
		}
		// The bad file from the last step is logged when Run sees it.
		env.clock.Advance(time.Second)
		waitFor(t, "the reload failure is logged", func() bool {
			return strings.Contains(env.log.String(), "JWKS reload failed")
		})
		mustVerify(t, tokB)

		env.writeKeys(t, c)
		// tokB's kid is known to the old key set, so only Run's reload can
		// make it fail: an unknown kid cannot have triggered it.
		waitFor(t, "Run drops the retired key", func() bool {
			env.clock.Advance(time.Second)
			_, err := env.v.Verify(ctx, tokB)
			return err != nil
		})
		mustFail(t, tokB, "unknown kid")
		mustVerify(t, tokC)
	})
}

// A token of a key published after the last reload verifies at once: its
// unknown kid reloads the file, at most once a second.
func TestUnknownKidReload(t *testing.T) {
	ctx := context.Background()
	a, b, c := newES256(t), newES256(t), newES256(t)
	env := newVerifierEnv(t, nil, a)
	now := env.clock.Now()
	env.writeKeys(t, a, b)
	if _, err := env.v.Verify(ctx, sign(t, b, b.ID, claimsAt(now))); err != nil {
		t.Fatalf("new key: %v", err)
	}
	env.writeKeys(t, a, b, c)
	tokC := sign(t, c, c.ID, claimsAt(now))
	if _, err := env.v.Verify(ctx, tokC); err == nil || !strings.Contains(err.Error(), "unknown kid") {
		t.Fatalf("second unknown-kid reload within a second: %v, want unknown kid", err)
	}
	env.clock.Advance(time.Second)
	if _, err := env.v.Verify(ctx, tokC); err != nil {
		t.Fatalf("a second later: %v", err)
	}
}

func TestVerifyCache(t *testing.T) {
	ctx := context.Background()
	k := newES256(t)

	t.Run("a cached token is not verified again", func(t *testing.T) {
		env := newVerifierEnv(t, nil, k)
		tok := sign(t, k, k.ID, claimsAt(env.clock.Now()))
		for range 3 {
			if _, err := env.v.Verify(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		if n := env.v.verifications.Load(); n != 1 {
			t.Fatalf("%d signature verifications, want 1", n)
		}
	})
	t.Run("an entry is used only before exp", func(t *testing.T) {
		env := newVerifierEnv(t, nil, k)
		c := claimsAt(env.clock.Now())
		c["exp"] = env.clock.Now().Add(10 * time.Second).Unix()
		tok := sign(t, k, k.ID, c)
		verify := func(wantVerifications int64) {
			t.Helper()
			if _, err := env.v.Verify(ctx, tok); err != nil {
				t.Fatal(err)
			}
			if n := env.v.verifications.Load(); n != wantVerifications {
				t.Fatalf("at %v: %d signature verifications, want %d", env.clock.Since(t0), n, wantVerifications)
			}
		}
		verify(1)
		env.clock.Advance(9999 * time.Millisecond)
		verify(1) // cached
		env.clock.Advance(time.Millisecond)
		// At exp: still valid within the leeway, but verified each time
		// and not cached.
		verify(2)
		verify(3)
		env.clock.Advance(5 * time.Second)
		if _, err := env.v.Verify(ctx, tok); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("past exp + leeway: %v", err)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		env := newVerifierEnv(t, func(c *VerifierConfig) { c.CacheSize = -1 }, k)
		tok := sign(t, k, k.ID, claimsAt(env.clock.Now()))
		for range 3 {
			if _, err := env.v.Verify(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		if n := env.v.verifications.Load(); n != 3 {
			t.Fatalf("%d signature verifications, want 3", n)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		env := newVerifierEnv(t, func(c *VerifierConfig) { c.CacheSize = 4 }, k)
		for i := range 20 {
			c := claimsAt(env.clock.Now())
			c["sub"] = fmt.Sprint("user-", i)
			if _, err := env.v.Verify(ctx, sign(t, k, k.ID, c)); err != nil {
				t.Fatal(err)
			}
			if n := env.v.state.Load().cache.len(); n > 4 {
				t.Fatalf("%d entries, want at most 4", n)
			}
		}
	})
	t.Run("callers cannot change cached groups", func(t *testing.T) {
		env := newVerifierEnv(t, nil, k)
		tok := sign(t, k, k.ID, claimsAt(env.clock.Now()))
		id, _ := env.v.Verify(ctx, tok)
		id.Groups[0] = "admins"
		id, _ = env.v.Verify(ctx, tok)
		if id.Groups[0] != "readers" {
			t.Fatalf("groups %v after a caller changed its copy", id.Groups)
		}
	})
}

// Verify and Reload race freely (run with -race); a token of a removed key
// never verifies once the Reload that removed it returned.
func TestVerifyConcurrentReload(t *testing.T) {
	ctx := context.Background()
	a, b := newES256(t), newES256(t)
	env := newVerifierEnv(t, nil, a, b)
	tokA := sign(t, a, a.ID, claimsAt(env.clock.Now()))
	tokB := sign(t, b, b.ID, claimsAt(env.clock.Now()))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, _ = env.v.Verify(ctx, tokA)
				if _, err := env.v.Verify(ctx, tokB); err != nil {
					t.Errorf("tokB: %v", err)
					return
				}
			}
		})
	}
	for i := range 20 {
		if i%2 == 0 {
			env.writeKeys(t, b)
		} else {
			env.writeKeys(t, a, b)
		}
		if err := env.v.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	env.writeKeys(t, b)
	if err := env.v.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := env.v.Verify(ctx, tokA); err == nil {
		t.Error("a removed key's token verified after Reload returned")
	}
	close(stop)
	wg.Wait()
}

// waitFor polls cond (for a goroutine driven by a fake clock) for up to 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func BenchmarkVerifyCached(b *testing.B) {
	k := newES256(b)
	env := newVerifierEnv(b, nil, k)
	tok := sign(b, k, k.ID, claimsAt(env.clock.Now()))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := env.v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyUncached(b *testing.B) {
	k := newES256(b)
	env := newVerifierEnv(b, func(c *VerifierConfig) { c.CacheSize = -1 }, k)
	tok := sign(b, k, k.ID, claimsAt(env.clock.Now()))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := env.v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}
