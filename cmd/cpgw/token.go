package main

import (
	"crypto"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cpgw/cpgw/authz"
)

// maxTokenTTL caps what cpgw token mints: a bearer token cannot be revoked,
// so a long-lived one is a standing risk.
const maxTokenTTL = 30 * 24 * time.Hour

// runToken mints a bearer token signed with a key file and prints it, or
// with --jwks prints the key set that verifies such tokens.
func runToken(args []string, stdout, stderr io.Writer) error {
	fs, _ := newFlagSet("token", stderr)
	keyFile := fs.String("key", "", "the signing key (PEM, PKCS#8: EC P-256, Ed25519 or RSA), e.g. cpgw dev's signing.key (required)")
	sub := fs.String("sub", "", "the token's subject (required)")
	roles := fs.String("roles", "", "comma-separated groups the token carries (its groups claim); the RBAC policy binds groups to roles")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid (at most 720h)")
	issuer := fs.String("issuer", "cpgw", "the token's iss (a gateway's --jwt-issuer)")
	audience := fs.String("audience", "cpgw", "the token's aud (a gateway's --jwt-audience)")
	jwks := fs.Bool("jwks", false, "print the JWKS of --key's public key (a gateway's --jwks file) instead of a token; --key may then list several files, comma-separated, to publish old and new keys together while rotating")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *jwks {
		return printJWKS(*keyFile, fs, stdout)
	}
	if err := required(fs, "key", "sub"); err != nil {
		return err
	}
	if *ttl <= 0 || *ttl > maxTokenTTL {
		return fmt.Errorf("token: --ttl %v: want more than 0 and at most %v", *ttl, maxTokenTTL)
	}
	key, err := authz.LoadSigningKey(*keyFile)
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	var groups []string
	for _, g := range strings.Split(*roles, ",") {
		if g = strings.TrimSpace(g); g != "" {
			groups = append(groups, g)
		}
	}
	tok, err := authz.Mint(key, authz.Claims{Issuer: *issuer, Audience: *audience, Subject: *sub,
		Groups: groups, TTL: *ttl, Now: time.Now()})
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

// printJWKS writes the key set of the comma-separated signing key files in
// keyFiles: public keys only, so the output can be published.
func printJWKS(keyFiles string, fs *flag.FlagSet, stdout io.Writer) error {
	if err := required(fs, "key"); err != nil {
		return err
	}
	var pubs []crypto.PublicKey
	for _, f := range strings.Split(keyFiles, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		key, err := authz.LoadSigningKey(f)
		if err != nil {
			return fmt.Errorf("token: %w", err)
		}
		pubs = append(pubs, key.Key.Public())
	}
	doc, err := authz.JWKS(pubs...)
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	_, err = stdout.Write(doc)
	return err
}
