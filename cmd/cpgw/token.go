package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cpgw/cpgw/authz"
)

// maxTokenTTL caps what cpgw token mints: a bearer token cannot be revoked,
// so a long-lived one is a standing risk.
const maxTokenTTL = 30 * 24 * time.Hour

// runToken mints a bearer token signed with a key file and prints it.
func runToken(args []string, stdout, stderr io.Writer) error {
	fs, _ := newFlagSet("token", stderr)
	keyFile := fs.String("key", "", "the signing key (PEM, PKCS#8: EC P-256, Ed25519 or RSA), e.g. cpgw dev's signing.key (required)")
	sub := fs.String("sub", "", "the token's subject (required)")
	roles := fs.String("roles", "", "comma-separated groups the token carries (its groups claim); the RBAC policy binds groups to roles")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid (at most 720h)")
	issuer := fs.String("issuer", "cpgw", "the token's iss (a gateway's --jwt-issuer)")
	audience := fs.String("audience", "cpgw", "the token's aud (a gateway's --jwt-audience)")
	if err := parseFlags(fs, args); err != nil {
		return err
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
