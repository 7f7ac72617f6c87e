package authz

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

func FuzzParseJWKS(f *testing.F) {
	es, ed, rs := newES256(f), newEdDSA(f), newRS256(f)
	doc, err := JWKS(es.Key.Public(), ed.Key.Public(), rs.Key.Public())
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		string(doc), "", "{}", `{"keys":[]}`, `{"keys":[null]}`, `{"keys":[{"kty":"EC"}]}`,
		`{"keys":[{"kty":"RSA","kid":"r","n":"AQAB","e":"AQAB"}]}`,
		`{"keys":[{"kty":"OKP","kid":"o","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`,
		`{"keys":[{"kty":"EC","kid":"e","crv":"P-256","x":"","y":""}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := parseJWKS(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidJWKS) {
				t.Fatalf("error %v does not wrap ErrInvalidJWKS", err)
			}
			return
		}
		if len(keys) == 0 {
			t.Fatal("an empty key set parsed")
		}
		for kid, k := range keys {
			if kid == "" || k.id != kid || k.key == nil {
				t.Fatalf("key %q: %+v", kid, k)
			}
			switch k.method {
			case algES256, algEdDSA, algRS256:
			default:
				t.Fatalf("key %q: method %q", kid, k.method)
			}
			// Whatever parsed is a key this package can publish again.
			if _, err := JWKS(k.key); err != nil {
				t.Fatalf("key %q parsed but does not re-encode: %v", kid, err)
			}
		}
	})
}

// Random and mutated tokens never panic, never verify unless they are one
// of the genuinely signed ones, and their errors never quote them.
func FuzzVerify(f *testing.F) {
	es, ed := newES256(f), newEdDSA(f)
	env := newVerifierEnv(f, nil, es, ed)
	now := env.clock.Now()
	genuine := map[string]bool{}
	for _, k := range []SigningKey{es, ed} {
		tok := sign(f, k, k.ID, claimsAt(now))
		genuine[tok] = true
		f.Add(tok)
		parts := strings.Split(tok, ".")
		f.Add(parts[0] + "." + parts[1] + ".")
		f.Add(parts[0] + "." + parts[1])
		f.Add(tok + ".")
		f.Add(strings.ToUpper(tok))
		hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
		for _, alg := range []string{"none", "HS256", "RS256", "ES384"} {
			h := strings.Replace(string(hdr), `"alg":"`+k.Method+`"`, `"alg":"`+alg+`"`, 1)
			f.Add(base64.RawURLEncoding.EncodeToString([]byte(h)) + "." + parts[1] + "." + parts[2])
		}
		hs := jwt.NewWithClaims(jwt.SigningMethodHS256, claimsAt(now))
		hs.Header["kid"] = k.ID
		pub, _ := toJWK(k.Key.Public())
		if s, err := hs.SignedString([]byte(pub.X)); err == nil {
			f.Add(s)
		}
	}
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, raw string) {
		id, err := env.v.Verify(ctx, raw)
		if err == nil {
			if !genuine[raw] {
				t.Fatalf("a token that was never signed verified: %q → %+v", raw, id)
			}
			if id.Subject != "alice" || id.Method != MethodJWT {
				t.Fatalf("identity %+v", id)
			}
			return
		}
		if !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("error %v does not wrap ErrUnauthenticated", err)
		}
		if len(raw) >= 16 && strings.Contains(err.Error(), raw) {
			t.Fatalf("error %q quotes the token", err)
		}
	})
}

func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(testPolicy))
	for _, s := range []string{
		"", "roles: [", "roles: []\nbindings: []\n", "{}", "---\n---\n", "roles: &a [*a]",
		"roles:\n  - name: r\n    rules:\n      - {verbs: [admin], resources: [shards], namespaces: [\"p-*\"]}\nbindings:\n  - {role: r, subjects: [\"cert:x\"]}\n",
		"roles:\n  - name: r\n    rules:\n      - {verbs: [get], resources: [objects], namespaces: [\"*\"]}\nbindings:\n  - {role: r, subjects: [\"user:a\", \"group:g\"]}\n",
	} {
		f.Add([]byte(s))
	}
	ids := []Identity{
		{Subject: "a", Groups: []string{"g", "readers"}, Method: MethodJWT},
		{Subject: "x", Method: MethodMTLS},
		{Subject: "spiffe://example/ops", Method: MethodMTLS},
	}
	reqs := []Request{
		{Verb: VerbGet, Resource: ResourceObjects, Namespace: "p-1"},
		{Verb: VerbPut, Resource: ResourceNamespaces, Namespace: "payments"},
		{Verb: VerbGet, Resource: ResourceShards},
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePolicy(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("error %v does not wrap ErrInvalidPolicy", err)
			}
			return
		}
		for _, id := range ids {
			for _, req := range reqs {
				p.Allowed(id, req)
			}
		}
	})
}
