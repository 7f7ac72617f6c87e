package authz_test

import (
	"context"
	"crypto"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/cpgw/cpgw/authz"
)

func ExampleMint() {
	key, err := authz.GenerateSigningKey()
	if err != nil {
		panic(err)
	}
	dir, err := os.MkdirTemp("", "authz-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	jwks := filepath.Join(dir, "jwks.json")
	if err := authz.WriteJWKS(jwks, key.Key.Public()); err != nil {
		panic(err)
	}

	tok, err := authz.Mint(key, authz.Claims{Issuer: "cpgw", Audience: "cpgw", Subject: "alice",
		Groups: []string{"readers"}, TTL: time.Hour, Now: time.Now()})
	if err != nil {
		panic(err)
	}

	cfg := authz.DefaultVerifierConfig()
	cfg.JWKSFile, cfg.Issuer, cfg.Audience = jwks, "cpgw", "cpgw"
	cfg.Logger = slog.New(slog.DiscardHandler)
	v, err := authz.NewVerifier(cfg)
	if err != nil {
		panic(err)
	}
	id, err := v.Verify(context.Background(), tok)
	fmt.Println(id.Subject, id.Groups, id.Method, err)
	fmt.Println(key.Method)
	// Output:
	// alice [readers] jwt <nil>
	// ES256
}

func ExampleParsePolicy() {
	p, err := authz.ParsePolicy([]byte(`
roles:
  - name: payments-writer
    rules:
      - verbs: [get, list, put, delete]
        resources: [objects]
        namespaces: ["payments", "payments-*"]
bindings:
  - role: payments-writer
    subjects: ["group:payments-team"]
`))
	if err != nil {
		panic(err)
	}
	pat := authz.Identity{Subject: "pat", Groups: []string{"payments-team"}, Method: authz.MethodJWT}
	put := func(ns string) authz.Request {
		return authz.Request{Verb: authz.VerbPut, Resource: authz.ResourceObjects, Namespace: ns, Name: "limits"}
	}
	fmt.Println(p.Allowed(pat, put("payments-eu")))
	fmt.Println(p.Allowed(pat, put("orders")))
	fmt.Println(p.Allowed(pat, authz.Request{Verb: authz.VerbGet, Resource: authz.ResourceShards}))

	_, err = authz.ParsePolicy([]byte(`
roles:
  - name: r
    rules:
      - {verbs: [get, wrtie], resources: [objects], namespaces: ["*"]}
bindings:
  - {role: r, subjects: ["user:alice"]}
`))
	fmt.Println(err)
	// Output:
	// true
	// false
	// false
	// authz: invalid policy: roles[0].rules[0].verbs[1]: unknown verb "wrtie"
}

// JWKS publishes public keys; during a rotation, old and new together.
func ExampleJWKS() {
	oldKey, _ := authz.GenerateSigningKey()
	newKey, _ := authz.GenerateSigningKey()
	doc, err := authz.JWKS(oldKey.Key.Public(), newKey.Key.Public())
	fmt.Println(len(doc) > 0, err)
	_, err = authz.JWKS(crypto.PublicKey("not a key"))
	fmt.Println(err)
	// Output:
	// true <nil>
	// authz: invalid key: unsupported public key type string (want ECDSA P-256, Ed25519 or RSA)
}
