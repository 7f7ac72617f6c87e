// Package authz is the gateway's authentication, authorisation and audit:
// bearer JWTs verified against a rotating JWKS file or TLS client
// certificates (Identity), an RBAC policy in YAML (Policy, PolicyFile), an
// audit log of JSON lines (Auditor), and the HTTP middleware that ties them
// together (Middleware). It also mints tokens (Mint) for `cpgw token` and
// the dev deployment.
//
//	v, err := authz.NewVerifier(cfg)            // cfg := authz.DefaultVerifierConfig(); set JWKSFile, Issuer, Audience
//	pf, err := authz.NewPolicyFile(path, time.Second, clock, log)
//	go v.Run(ctx); go pf.Run(ctx)                // follow key rotation and policy edits
//	m := &authz.Middleware{Verifier: v, Policy: pf, Audit: auditor, Region: "eu-west"}
//	r.Group(func(r chi.Router) { r.Use(m.Handler); ... }) // after routing: Classify reads the route
//
// # Guarantees
//
//   - A token verifies only if it is signed by a key of the current key set
//     chosen by its kid, with an algorithm among VerifierConfig.Methods (ES256,
//     EdDSA, RS256; never HS256 or none) that fits the key's type, and carries
//     the configured iss and aud, an exp, and a non-empty sub; exp, nbf and
//     iat hold within the leeway (at most 5m) of the injected clock.
//   - Tokens over 8 KiB are refused before any parsing.
//   - A verified token is cached (by its SHA-256, never in clear) only until
//     its exp, and the cache is emptied whenever the key file's content
//     changes: a key removed from the file stops verifying at the next
//     reload, cached tokens included.
//   - A key file or policy file that does not parse never replaces the one in
//     use; the failure is logged once. A JWKS with private key material, an
//     unsupported key or a duplicate kid is refused whole.
//   - Authorisation is default deny: no policy, an unclassified route, an
//     unknown verb or resource, or no matching rule is 403. A token identity
//     matches only user: and group: subjects, a certificate identity only
//     cert: ones. Cluster-scoped requests need a rule for namespace "*".
//   - Every 403 is audited, and so is every 401 up to
//     DefaultUnauthenticatedPerSecond a second (the next record counts those
//     left out), and every put or delete that passed, with the status the
//     client got; that record is written before the response header is
//     sent. Audit records and error messages hold short fixed reasons, never
//     a token.
//   - Nothing panics on bad input: tokens, key sets and policies are
//     fuzzed (FuzzVerify, FuzzParseJWKS, FuzzParsePolicy).
//
// # Non-guarantees
//
//   - Tokens cannot be revoked before their exp except by removing their
//     signing key; keep TTLs short.
//   - The audit log is not fsynced, so a machine crash can lose its last
//     records; a failed audit write of a mutation is logged, and the response
//     proceeds (the write has been applied by then). Reads that pass are not
//     audited.
//   - The JWKS and policy files are polled (stat every interval, then a
//     content hash), so a change takes effect within about one interval, not
//     at once; a token with an unknown kid triggers at most one extra reload
//     a second.
//   - Client certificates are verified by the TLS handshake, not here: the
//     middleware trusts r.TLS.VerifiedChains.
package authz
