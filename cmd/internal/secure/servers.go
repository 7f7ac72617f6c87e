package secure

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/go-chi/chi/v5/middleware"
	"github.com/jonboulle/clockwork"

	"github.com/cpgw/cpgw/authz"
	"github.com/cpgw/cpgw/gateway"
	"github.com/cpgw/cpgw/internal/certs"
)

// ReloadInterval is how often certificate, JWKS and policy files are checked
// for changes.
const ReloadInterval = time.Second

// GatewayFiles are what a gateway needs to run securely.
type GatewayFiles struct {
	// CertFile and KeyFile are the gateway's certificate (with its chain)
	// and key: served to clients and presented to coordinators, so the
	// certificate needs both server and client key usage and a gateway
	// identity (certs.GatewayURI). Required.
	CertFile, KeyFile string
	// CAFile is the cluster CA bundle: coordinators' certificates chain to
	// it. Required.
	CAFile string
	// ClientCAFile is the CA bundle callers' client certificates must chain
	// to. Default CAFile.
	ClientCAFile string
	// JWKSFile holds the public keys bearer tokens are verified with.
	// Optional: without it only client certificates authenticate.
	JWKSFile string
	// Issuer and Audience are the required iss and aud of bearer tokens.
	// Default "cpgw" both.
	Issuer, Audience string
	// PolicyFile is the RBAC policy (YAML). Required: the default is deny.
	PolicyFile string
	// AuditLog is the file audit records are appended to. Optional.
	AuditLog string
}

// Gateway is the security of one gateway: its TLS config, its transport to
// coordinators and its authentication middleware. Run keeps them current.
type Gateway struct {
	// ServerTLS is the config of the gateway's client-facing listener.
	ServerTLS *tls.Config
	// Transport carries mTLS requests to coordinators, and refuses any
	// coordinator address that is not https: a lease naming a plain-HTTP
	// address (an --insecure coordinator, or a forged lease) must not get
	// client data in the clear. Pass it as gateway.Config.Transport.
	Transport http.RoundTripper

	pool *http.Transport
	// Middleware authenticates, authorises and audits /v1 requests; pass
	// its Handler as gateway.Config.Authenticate.
	Middleware *authz.Middleware

	runs  []func(context.Context) error
	audit *authz.Auditor
}

// NewGateway loads f. Every file is read now: a missing or bad one is an
// error here rather than a failed request later.
func NewGateway(f GatewayFiles, region string, clock clockwork.Clock, log *slog.Logger) (*Gateway, error) {
	if f.CertFile == "" || f.KeyFile == "" || f.CAFile == "" {
		return nil, errors.New("a certificate, its key and the cluster CA are required (--tls-cert, --tls-key, --tls-ca)")
	}
	if f.PolicyFile == "" {
		return nil, errors.New("an RBAC policy is required (--policy); without one every request would be denied")
	}
	if f.ClientCAFile == "" {
		f.ClientCAFile = f.CAFile
	}
	if f.Issuer == "" {
		f.Issuer = "cpgw"
	}
	if f.Audience == "" {
		f.Audience = "cpgw"
	}
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	g := &Gateway{}
	// The client-facing listener verifies callers' certificates against the
	// client CA; the transport verifies coordinators against the cluster CA.
	serving, err := certs.NewReloader(certs.Files{CertFile: f.CertFile, KeyFile: f.KeyFile, CAFile: f.ClientCAFile,
		Interval: ReloadInterval, Clock: clock, Logger: log})
	if err != nil {
		return nil, err
	}
	g.runs = append(g.runs, serving.Run)
	g.ServerTLS = serving.ServerConfig(tls.VerifyClientCertIfGiven, nil)
	peer := serving
	if f.ClientCAFile != f.CAFile {
		if peer, err = certs.NewReloader(certs.Files{CertFile: f.CertFile, KeyFile: f.KeyFile, CAFile: f.CAFile,
			Interval: ReloadInterval, Clock: clock, Logger: log}); err != nil {
			return nil, err
		}
		g.runs = append(g.runs, peer.Run)
	}
	g.pool = gateway.NewTransport()
	g.pool.TLSClientConfig = peer.ClientConfig(requireURI(certs.CoordinatorURIPrefix, "a coordinator"))
	g.Transport = httpsOnly{g.pool}

	m := &authz.Middleware{Region: region, RequestID: middleware.GetReqID, Logger: log}
	if f.JWKSFile != "" {
		vc := authz.DefaultVerifierConfig()
		vc.JWKSFile, vc.Issuer, vc.Audience = f.JWKSFile, f.Issuer, f.Audience
		vc.ReloadInterval, vc.Clock, vc.Logger = ReloadInterval, clock, log
		v, err := authz.NewVerifier(vc)
		if err != nil {
			return nil, err
		}
		m.Verifier = v
		g.runs = append(g.runs, v.Run)
	}
	pf, err := authz.NewPolicyFile(f.PolicyFile, ReloadInterval, clock, log)
	if err != nil {
		return nil, err
	}
	m.Policy = pf
	g.runs = append(g.runs, pf.Run)
	if f.AuditLog != "" {
		if g.audit, err = authz.OpenAuditor(f.AuditLog, clock); err != nil {
			return nil, err
		}
		m.Audit = g.audit
	}
	g.Middleware = m
	return g, nil
}

// Run reloads the gateway's files when they change, until ctx ends.
func (g *Gateway) Run(ctx context.Context) error { return runAll(ctx, g.runs) }

// Close closes the audit log. Call it after the server has stopped.
func (g *Gateway) Close() error {
	g.pool.CloseIdleConnections()
	if g.audit != nil {
		return g.audit.Close()
	}
	return nil
}

// httpsOnly refuses requests that would leave without TLS.
type httpsOnly struct{ rt http.RoundTripper }

func (h httpsOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != "https" {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, fmt.Errorf("secure: refusing to send to %s://%s: coordinators are reached over mTLS only", r.URL.Scheme, r.URL.Host)
	}
	return h.rt.RoundTrip(r)
}

// CoordinatorFiles are what a coordinator needs to run securely.
type CoordinatorFiles struct {
	// CertFile and KeyFile are the coordinator's serving certificate (with
	// its chain) and key; the certificate carries a coordinator identity
	// (certs.CoordinatorURI). Required.
	CertFile, KeyFile string
	// CAFile is the cluster CA: gateways' client certificates chain to it.
	// Required.
	CAFile string
}

// Coordinator is the security of one coordinator: mTLS that admits
// gateways only.
type Coordinator struct {
	// ServerTLS is the config of the coordinator's listener.
	ServerTLS *tls.Config
	runs      []func(context.Context) error
}

// NewCoordinator loads f.
func NewCoordinator(f CoordinatorFiles, clock clockwork.Clock, log *slog.Logger) (*Coordinator, error) {
	if f.CertFile == "" || f.KeyFile == "" || f.CAFile == "" {
		return nil, errors.New("a certificate, its key and the cluster CA are required (--tls-cert, --tls-key, --tls-ca)")
	}
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	r, err := certs.NewReloader(certs.Files{CertFile: f.CertFile, KeyFile: f.KeyFile, CAFile: f.CAFile,
		Interval: ReloadInterval, Clock: clock, Logger: log})
	if err != nil {
		return nil, err
	}
	return &Coordinator{
		ServerTLS: r.ServerConfig(tls.RequireAndVerifyClientCert, requireURI(certs.GatewayURIPrefix, "a gateway")),
		runs:      []func(context.Context) error{r.Run},
	}, nil
}

// Run reloads the coordinator's files when they change, until ctx ends.
func (c *Coordinator) Run(ctx context.Context) error { return runAll(ctx, c.runs) }

// requireURI refuses a peer certificate without an identity under prefix.
func requireURI(prefix, what string) func(*x509.Certificate) error {
	return func(leaf *x509.Certificate) error {
		if !certs.HasURIPrefix(leaf, prefix) {
			return fmt.Errorf("peer certificate %q does not carry %s identity (%s...)", leaf.Subject.CommonName, what, prefix)
		}
		return nil
	}
}

// runAll runs every loop until ctx ends, and returns the first error.
func runAll(ctx context.Context, runs []func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for _, run := range runs {
		wg.Go(func() {
			if err := run(ctx); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		})
	}
	wg.Wait()
	return first
}
