package authz

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jonboulle/clockwork"

	"github.com/cpgw/cpgw/internal/files"
)

// MaxTokenBytes is the longest bearer token Verify parses. Longer ones are
// refused before any decoding: no honest token is that large, and parsing
// attacker-sized input is work for nothing.
const MaxTokenBytes = 8 << 10

// maxLeeway caps VerifierConfig.Leeway: more would make exp meaningless.
const maxLeeway = 5 * time.Minute

// kidReloadInterval rate-limits the reloads that tokens with an unknown kid
// trigger, so a stream of made-up kids costs at most one file read a second.
const kidReloadInterval = time.Second

// VerifierConfig configures a Verifier. Zero fields stand for their
// defaults (DefaultVerifierConfig), except the three required ones.
type VerifierConfig struct {
	// JWKSFile is a JSON Web Key Set file (RFC 7517) of public keys, each
	// with a "kid". Required.
	JWKSFile string
	// Issuer is the required "iss". Required.
	Issuer string
	// Audience must be among the token's "aud". Required.
	Audience string
	// Methods are the accepted algorithms ("alg"): any of ES256, EdDSA and
	// RS256. Symmetric ones (HS256) and "none" are refused: the gateway holds
	// public keys only. Default all three.
	Methods []string
	// Leeway is the clock-skew allowance on exp, nbf and iat. Default 5s
	// (a zero Leeway means the default); at most 5m.
	Leeway time.Duration
	// GroupsClaim is the claim holding a list of group names. Default
	// "groups".
	GroupsClaim string
	// CacheSize is how many verified tokens are kept, until their exp, so
	// the hot path does not verify a signature per request. Default 10000;
	// negative disables the cache.
	CacheSize int
	// ReloadInterval is how often Run checks the JWKS file. Default 1s.
	ReloadInterval time.Duration
	// Clock is the time tokens are validated against and drives Run.
	// Default the real clock.
	Clock clockwork.Clock
	// Logger receives key reloads and reload failures. Default
	// slog.Default().
	Logger *slog.Logger
}

// DefaultVerifierConfig returns a VerifierConfig with every default filled
// in; set JWKSFile, Issuer and Audience.
func DefaultVerifierConfig() VerifierConfig {
	return VerifierConfig{
		Methods:        []string{algES256, algEdDSA, algRS256},
		Leeway:         5 * time.Second,
		GroupsClaim:    "groups",
		CacheSize:      10000,
		ReloadInterval: time.Second,
		Clock:          clockwork.NewRealClock(),
		Logger:         slog.Default(),
	}
}

func (c VerifierConfig) withDefaults() VerifierConfig {
	d := DefaultVerifierConfig()
	if len(c.Methods) == 0 {
		c.Methods = d.Methods
	}
	c.Methods = slices.Clone(c.Methods)
	if c.Leeway == 0 {
		c.Leeway = d.Leeway
	}
	if c.GroupsClaim == "" {
		c.GroupsClaim = d.GroupsClaim
	}
	if c.CacheSize == 0 {
		c.CacheSize = d.CacheSize
	}
	if c.ReloadInterval == 0 {
		c.ReloadInterval = d.ReloadInterval
	}
	if c.Clock == nil {
		c.Clock = d.Clock
	}
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	return c
}

// Validate reports a config NewVerifier would refuse, wrapping
// ErrInvalidConfig.
func (c VerifierConfig) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.JWKSFile == "" {
		bad("JWKSFile is required")
	}
	if c.Issuer == "" {
		bad("Issuer is required")
	}
	if c.Audience == "" {
		bad("Audience is required")
	}
	for i, m := range c.Methods {
		switch m {
		case algES256, algEdDSA, algRS256:
		default:
			bad("Methods[%d] %q: want ES256, EdDSA or RS256 (asymmetric signatures only)", i, m)
		}
	}
	if c.Leeway < 0 || c.Leeway > maxLeeway {
		bad("Leeway %v: want 0 (the default, 5s) to %v", c.Leeway, maxLeeway)
	}
	if c.ReloadInterval < 0 {
		bad("ReloadInterval %v is negative", c.ReloadInterval)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: verifier: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return nil
}

// Verifier verifies bearer JWTs against the public keys of a JWKS file and
// follows the file as keys rotate. Its methods are safe for concurrent use.
type Verifier struct {
	cfg    VerifierConfig // defaults applied
	parser *jwt.Parser

	// state is the current key set with its token cache. It is replaced,
	// never changed, so Verify needs no lock to read the keys.
	state atomic.Pointer[keyState]

	// verifications counts signature checks; tests tell cache hits by it.
	verifications atomic.Int64

	// mu serialises loads (Run, Reload, unknown-kid reloads) and guards the
	// fields below it.
	mu         sync.Mutex
	file       *files.Watched
	lastErr    string    // the last load failure logged, to log each once
	lastForced time.Time // the last reload an unknown kid triggered
}

// keyState is a key set and the cache of tokens verified with it.
type keyState struct {
	keys  map[string]publicKey
	cache *tokenCache // nil when caching is disabled
}

// NewVerifier validates cfg and loads the JWKS file now: a missing or bad
// file is an error here, not a failed request later.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	v := &Verifier{
		cfg: cfg,
		parser: jwt.NewParser(
			jwt.WithValidMethods(cfg.Methods),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(cfg.Leeway),
			jwt.WithTimeFunc(cfg.Clock.Now),
			// Strict base64: one token, one spelling; a signature with
			// altered padding bits is not the signature that was issued.
			jwt.WithStrictDecoding(),
		),
		file: files.Watch(maxFileBytes, cfg.JWKSFile),
	}
	if err := v.Reload(); err != nil {
		return nil, err
	}
	return v, nil
}

// Verify verifies a compact JWT (without "Bearer ") and returns its
// identity. Every failure wraps ErrUnauthenticated with a short reason that
// never quotes the token. ctx is accepted for future key sources; the
// file-based key set needs no I/O per token.
func (v *Verifier) Verify(ctx context.Context, raw string) (Identity, error) {
	if v == nil {
		return Identity{}, unauthenticated("no token verifier configured")
	}
	if raw == "" {
		return Identity{}, unauthenticated("empty token")
	}
	if len(raw) > MaxTokenBytes {
		return Identity{}, unauthenticated("token longer than 8 KiB")
	}
	now := v.cfg.Clock.Now()
	st := v.state.Load()
	if st == nil { // a Verifier not made by NewVerifier
		return Identity{}, unauthenticated("no token verifier configured")
	}
	var key [sha256.Size]byte
	if st.cache != nil {
		key = sha256.Sum256([]byte(raw))
		if id, ok := st.cache.get(key, now); ok {
			return id, nil
		}
	}
	id, exp, st, err := v.verify(raw, st)
	if err != nil {
		return Identity{}, err
	}
	// Cache in the state the token was verified with: if a reload replaced
	// it meanwhile, the entry goes with the old cache.
	if st.cache != nil {
		st.cache.put(key, id, exp, now)
	}
	return id, nil
}

// verify checks raw's signature and claims. It returns the state whose key
// verified it: a newer one if an unknown kid made it reload.
func (v *Verifier) verify(raw string, st *keyState) (Identity, time.Time, *keyState, error) {
	var keyErr error
	keyLookedUp := false
	keyfunc := func(t *jwt.Token) (any, error) {
		keyLookedUp = true
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			keyErr = unauthenticated("token has no kid")
			return nil, keyErr
		}
		k, ok := st.keys[kid]
		if !ok {
			st = v.reloadForUnknownKid()
			if k, ok = st.keys[kid]; !ok {
				keyErr = unauthenticated("unknown kid")
				return nil, keyErr
			}
		}
		// A key verifies only the algorithm its type implies: an RSA key
		// never checks an ES256 token, an HMAC never uses a public key.
		if t.Method == nil || t.Method.Alg() != k.method {
			keyErr = unauthenticated("token alg does not fit its key")
			return nil, keyErr
		}
		v.verifications.Add(1)
		return k.key, nil
	}
	claims := jwt.MapClaims{}
	if _, err := v.parser.ParseWithClaims(raw, claims, keyfunc); err != nil {
		if keyErr != nil {
			return Identity{}, time.Time{}, st, keyErr
		}
		return Identity{}, time.Time{}, st, unauthenticated(jwtReason(err, claims, keyLookedUp))
	}
	sub, _ := claims["sub"].(string)
	if sub == "" {
		return Identity{}, time.Time{}, st, unauthenticated("token has no sub")
	}
	var groups []string
	switch g := claims[v.cfg.GroupsClaim].(type) {
	case nil:
	case []any:
		groups = make([]string, 0, len(g))
		for _, e := range g {
			s, ok := e.(string)
			if !ok {
				return Identity{}, time.Time{}, st, unauthenticated("groups claim is not a list of strings")
			}
			groups = append(groups, s)
		}
	default:
		return Identity{}, time.Time{}, st, unauthenticated("groups claim is not a list of strings")
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil { // the parser required it; be safe anyway
		return Identity{}, time.Time{}, st, unauthenticated("token has no exp")
	}
	return Identity{Subject: sub, Groups: groups, Method: MethodJWT}, exp.Time, st, nil
}

// jwtReason maps a parser error to a fixed reason. The parser's own messages
// are not used: some quote bits of the token.
func jwtReason(err error, claims jwt.MapClaims, keyLookedUp bool) string {
	switch {
	case !keyLookedUp && errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed token"
	case !keyLookedUp:
		// The parser refuses an algorithm outside Methods (HS256, none)
		// before it asks for a key.
		return "token alg not accepted"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "invalid signature"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		for _, c := range []string{"exp", "iss", "aud"} {
			if _, ok := claims[c]; !ok {
				return "token has no " + c
			}
		}
		return "token lacks a required claim"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "token expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "token not valid yet"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "token issued in the future"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "wrong issuer"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "wrong audience"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed token"
	default:
		return "invalid token claims"
	}
}

// reloadForUnknownKid reloads the key file if it changed and no other
// unknown kid did so within kidReloadInterval, so a token signed with a
// just-published key verifies before Run's next check. It returns the
// current state either way.
func (v *Verifier) reloadForUnknownKid() *keyState {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.cfg.Clock.Now()
	if v.lastForced.IsZero() || now.Sub(v.lastForced) >= kidReloadInterval || now.Before(v.lastForced) {
		v.lastForced = now
		v.logFailure(v.load(false))
	}
	return v.state.Load()
}

// Run checks the JWKS file every ReloadInterval until ctx ends and swaps in
// a changed key set. A file that does not parse keeps the previous keys, is
// logged once, and is retried on the next check. Run returns nil when ctx
// ends.
func (v *Verifier) Run(ctx context.Context) error {
	return files.Poll(ctx, v.cfg.Clock, v.cfg.ReloadInterval, func() {
		v.mu.Lock()
		defer v.mu.Unlock()
		v.logFailure(v.load(false))
	})
}

// Reload reads the JWKS file now. If its content changed, the new keys
// replace the old and the token cache starts empty; if it does not parse,
// the old keys stay and the error is returned.
func (v *Verifier) Reload() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.load(true)
}

// load reads the file if it may have changed (always, if force). v.mu is held.
func (v *Verifier) load(force bool) error {
	ch, err := v.file.Changed(force)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidJWKS, err)
	}
	if ch == nil {
		return nil
	}
	keys, err := parseJWKS(ch.Content[0])
	if err != nil {
		return fmt.Errorf("%w (file %s)", err, v.cfg.JWKSFile)
	}
	v.state.Store(&keyState{keys: keys, cache: newTokenCache(v.cfg.CacheSize)})
	v.file.Commit(ch)
	kids := make([]string, 0, len(keys))
	for kid := range keys {
		kids = append(kids, kid)
	}
	slices.Sort(kids)
	v.cfg.Logger.Info("authz: loaded JWKS", "file", v.cfg.JWKSFile, "kids", strings.Join(kids, ","))
	return nil
}

// logFailure logs err unless it is the failure logged last. v.mu is held.
func (v *Verifier) logFailure(err error) {
	if err == nil {
		v.lastErr = ""
		return
	}
	if msg := err.Error(); msg != v.lastErr {
		v.lastErr = msg
		v.cfg.Logger.Error("authz: JWKS reload failed; keeping the previous keys", "file", v.cfg.JWKSFile, "err", err)
	}
}
