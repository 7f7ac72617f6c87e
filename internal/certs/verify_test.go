package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cpgw/cpgw/internal/logbuf"
)

func TestIdentityURIs(t *testing.T) {
	if got, want := GatewayURI("us-east", "us-east-g1"), "spiffe://cpgw/gateway/us-east/us-east-g1"; got != want {
		t.Errorf("GatewayURI = %q, want %q", got, want)
	}
	if got, want := CoordinatorURI("eu-west", "c2"), "spiffe://cpgw/coordinator/eu-west/c2"; got != want {
		t.Errorf("CoordinatorURI = %q, want %q", got, want)
	}
	if got, want := GatewayURI("a/b", "c"), "spiffe://cpgw/gateway/a%2Fb/c"; got != want {
		t.Errorf("GatewayURI escapes: %q, want %q", got, want)
	}

	ca := testCA(t, "ca")
	withURIs := func(uris ...string) *x509.Certificate {
		return parseLeaf(t, issue(t, ca, Request{CommonName: "x", URIs: uris, Client: true}))
	}
	for _, tc := range []struct {
		name   string
		cert   *x509.Certificate
		prefix string
		want   bool
	}{
		{"gateway", withURIs(GatewayURI("us-east", "g1")), GatewayURIPrefix, true},
		{"gateway is not a coordinator", withURIs(GatewayURI("us-east", "g1")), CoordinatorURIPrefix, false},
		{"second URI", withURIs("https://example.com/x", CoordinatorURI("us-east", "c1")), CoordinatorURIPrefix, true},
		{"look-alike", withURIs("spiffe://cpgw/gateway-evil/us-east/g1"), GatewayURIPrefix, false},
		{"prefix only", withURIs(GatewayURIPrefix), GatewayURIPrefix, false},
		{"no URIs", parseLeaf(t, issue(t, ca, serverReq("x"))), GatewayURIPrefix, false},
		{"nil certificate", nil, GatewayURIPrefix, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := HasURIPrefix(tc.cert, tc.prefix); got != tc.want {
				t.Errorf("HasURIPrefix = %v, want %v", got, tc.want)
			}
			err := RequireURIPrefix(tc.prefix)(tc.cert)
			if (err == nil) != tc.want {
				t.Errorf("RequireURIPrefix: err = %v", err)
			}
			if err != nil && !errors.Is(err, ErrIdentity) {
				t.Errorf("RequireURIPrefix: err = %v, want ErrIdentity", err)
			}
		})
	}
}

// TestServerVerification covers the client side: which servers a ClientConfig
// accepts, by chain, name and identity.
func TestServerVerification(t *testing.T) {
	dir := t.TempDir()
	ca, other := testCA(t, "ca"), testCA(t, "other")
	caFile := writeBundle(t, filepath.Join(dir, "ca.pem"), ca)
	otherFile := writeBundle(t, filepath.Join(dir, "other.pem"), other)

	serve := func(name string, req Request, from *CA) string {
		c, k := writePair(t, dir, name, issue(t, from, req))
		return startServer(t, newReloader(t, Files{CertFile: c, KeyFile: k}).ServerConfig(tls.NoClientCert, nil))
	}
	ipAddr := serve("ip", Request{CommonName: "gw", IPs: []net.IP{localhost}, URIs: []string{GatewayURI("us-east", "g1")}, Server: true}, ca)
	dnsAddr := serve("dns", Request{CommonName: "coord", DNSNames: []string{"coord.cpgw.test"}, URIs: []string{CoordinatorURI("us-east", "c1")}, Server: true}, ca)
	foreignAddr := serve("foreign", serverReq("foreign"), other)
	coordIPAddr := serve("coord-ip", Request{CommonName: "coord", IPs: []net.IP{localhost}, URIs: []string{CoordinatorURI("us-east", "c1")}, Server: true}, ca)
	clientOnlyAddr := serve("client-only", Request{CommonName: "c", IPs: []net.IP{localhost}, Client: true, Server: false}, ca)

	trusting := newReloader(t, Files{CAFile: caFile})
	// withServerName: ClientConfig with ServerName set, as for an IP literal.
	withServerName := func(r *Reloader, name string, verify func(*x509.Certificate) error) *http.Client {
		cfg := r.ClientConfig(verify)
		cfg.ServerName = name
		return newClient(t, &http.Transport{TLSClientConfig: cfg})
	}
	// plainClient: ClientConfig as net/http's TLSClientConfig.
	plainClient := func(r *Reloader, verify func(*x509.Certificate) error) *http.Client {
		return newClient(t, &http.Transport{TLSClientConfig: r.ClientConfig(verify)})
	}
	// toAddr: ClientConfig, with every host name dialled at addr.
	toAddr := func(r *Reloader, addr string, h2 bool) *http.Client {
		var d net.Dialer
		return newClient(t, &http.Transport{
			TLSClientConfig:   r.ClientConfig(nil),
			ForceAttemptHTTP2: h2,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return d.DialContext(ctx, network, addr)
			},
		})
	}

	for _, tc := range []struct {
		name    string
		client  *http.Client
		url     string
		ok      bool
		wantErr error
	}{
		{"IP SAN, ServerName set", withServerName(trusting, "127.0.0.1", nil), "https://" + ipAddr, true, nil},
		{"TLS 1.2 client", withMaxVersion(withServerName(trusting, "127.0.0.1", nil), tls.VersionTLS12), "https://" + ipAddr, true, nil},
		{"TLS 1.1 client", withMaxVersion(withServerName(trusting, "127.0.0.1", nil), tls.VersionTLS11), "https://" + ipAddr, false, nil},
		{"IP SAN, DialTLSContext", dialClient(t, trusting, nil), "https://" + ipAddr, true, nil},
		{"IP SAN, no name and no verify", plainClient(trusting, nil), "https://" + ipAddr, false, ErrNoServerName},
		// Where net/http knows no name (an IP URL), verify is the identity check.
		{"IP URL, no name, verify wants a coordinator, gets one", plainClient(trusting, RequireURIPrefix(CoordinatorURIPrefix)), "https://" + coordIPAddr, true, nil},
		{"IP URL, no name, verify wants a coordinator, gets a gateway", plainClient(trusting, RequireURIPrefix(CoordinatorURIPrefix)), "https://" + ipAddr, false, ErrIdentity},
		{"IP URL, no name, verify, foreign CA", plainClient(trusting, RequireURIPrefix(GatewayURIPrefix)), "https://" + foreignAddr, false, nil},
		{"DNS SAN via net/http ServerName", toAddr(trusting, dnsAddr, false), "https://coord.cpgw.test/", true, nil},
		{"DNS SAN, wrong name", toAddr(trusting, dnsAddr, false), "https://other.cpgw.test/", false, nil},
		{"DNS-only certificate dialled by IP", dialClient(t, trusting, nil), "https://" + dnsAddr, false, nil},
		{"server from another CA", dialClient(t, trusting, nil), "https://" + foreignAddr, false, nil},
		{"client trusts only the other CA", dialClient(t, newReloader(t, Files{CAFile: otherFile}), nil), "https://" + ipAddr, false, nil},
		{"server certificate without ServerAuth", dialClient(t, trusting, nil), "https://" + clientOnlyAddr, false, nil},
		{"verify wants a coordinator, gets a gateway", dialClient(t, trusting, RequireURIPrefix(CoordinatorURIPrefix)), "https://" + ipAddr, false, ErrIdentity},
		{"verify wants a coordinator, gets one", toAddr(trusting, dnsAddr, false), "https://coord.cpgw.test/", true, nil},
		{"verify wants a gateway, gets one", dialClient(t, trusting, RequireURIPrefix(GatewayURIPrefix)), "https://" + ipAddr, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.ok {
				mustGet(t, tc.client, tc.url)
				return
			}
			err := mustFail(t, tc.client, tc.url)
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}

	t.Run("TLS 1.3 by default", func(t *testing.T) {
		if res := mustGet(t, dialClient(t, trusting, nil), "https://"+ipAddr); res.version != tls.VersionTLS13 {
			t.Errorf("TLS version %x, want 1.3", res.version)
		}
	})

	t.Run("HTTP/2 through GetConfigForClient", func(t *testing.T) {
		if res := mustGet(t, toAddr(trusting, dnsAddr, true), "https://coord.cpgw.test/"); res.proto != 2 {
			t.Errorf("protocol HTTP/%d, want HTTP/2", res.proto)
		}
	})
}

// TestMutualTLS covers the server side: which client certificates a
// ServerConfig accepts.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, other := testCA(t, "ca"), testCA(t, "other")
	caFile := writeBundle(t, filepath.Join(dir, "ca.pem"), ca)
	srvCert, srvKey := writePair(t, dir, "srv", issue(t, ca, serverReq("srv")))
	srv := newReloader(t, Files{CertFile: srvCert, KeyFile: srvKey, CAFile: caFile})
	gw := RequireURIPrefix(GatewayURIPrefix)
	var requiredLog, ifGivenLog logbuf.Buffer
	required := "https://" + startServerLog(t, srv.ServerConfig(tls.RequireAndVerifyClientCert, gw), &requiredLog)
	ifGiven := "https://" + startServerLog(t, srv.ServerConfig(tls.VerifyClientCertIfGiven, gw), &ifGivenLog)

	gatewayURI := GatewayURI("us-east", "us-east-g1")
	client := func(name string, from *CA, req Request) *http.Client {
		f := Files{CAFile: caFile}
		if from != nil {
			f.CertFile, f.KeyFile = writePair(t, dir, name, issue(t, from, req))
		}
		return dialClient(t, newReloader(t, f), nil)
	}
	gateway := client("gateway", ca, clientReq("g1", gatewayURI))
	foreign := client("foreign", other, clientReq("g1", gatewayURI))
	anonymous := client("anonymous", nil, Request{})
	coordinator := client("coordinator", ca, clientReq("c1", CoordinatorURI("us-east", "c1")))
	serverOnly := client("server-only", ca, Request{CommonName: "g1", IPs: []net.IP{localhost}, URIs: []string{gatewayURI}, Server: true})

	for _, tc := range []struct {
		name      string
		client    *http.Client
		url       string
		serverLog *logbuf.Buffer
		ok        bool
		wantBody  string // if ok: the client identity the handler saw
		wantLog   string // if !ok: what the server logs
	}{
		{"required: gateway cert from the CA", gateway, required, &requiredLog, true, gatewayURI, ""},
		{"required: cert from another CA", foreign, required, &requiredLog, false, "", "unknown authority"},
		{"required: no cert", anonymous, required, &requiredLog, false, "", "didn't provide a certificate"},
		{"required: no gateway identity", coordinator, required, &requiredLog, false, "", ErrIdentity.Error()},
		{"required: cert without ClientAuth", serverOnly, required, &requiredLog, false, "", "incompatible key usage"},
		{"if given: gateway cert from the CA", gateway, ifGiven, &ifGivenLog, true, gatewayURI, ""},
		{"if given: no cert", anonymous, ifGiven, &ifGivenLog, true, "", ""},
		{"if given: cert from another CA", foreign, ifGiven, &ifGivenLog, false, "", "unknown authority"},
		{"if given: no gateway identity", coordinator, ifGiven, &ifGivenLog, false, "", ErrIdentity.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.ok {
				before := strings.Count(tc.serverLog.String(), tc.wantLog)
				mustFail(t, tc.client, tc.url)
				eventually(t, "server log: "+tc.wantLog, func() bool {
					return strings.Count(tc.serverLog.String(), tc.wantLog) > before
				})
				return
			}
			if res := mustGet(t, tc.client, tc.url); res.body != tc.wantBody {
				t.Errorf("server saw client identity %q, want %q", res.body, tc.wantBody)
			}
		})
	}
}

func TestNoCAFileRefusesEveryClient(t *testing.T) {
	dir := t.TempDir()
	ca := testCA(t, "ca")
	caFile := writeBundle(t, filepath.Join(dir, "ca.pem"), ca)
	c, k := writePair(t, dir, "srv", issue(t, ca, serverReq("srv")))
	srv := newReloader(t, Files{CertFile: c, KeyFile: k}) // no CAFile: empty pool, not the system roots
	if srv.Pool() == nil {
		t.Fatal("Pool is nil")
	}
	url := "https://" + startServer(t, srv.ServerConfig(tls.RequireAnyClientCert, nil)) // does not verify by itself
	cc, ck := writePair(t, dir, "cli", issue(t, ca, clientReq("g1", GatewayURI("r", "g1"))))
	mustFail(t, dialClient(t, newReloader(t, Files{CertFile: cc, KeyFile: ck, CAFile: caFile}), nil), url)
}

func TestPlainHTTPToTLSPort(t *testing.T) {
	dir := t.TempDir()
	ca := testCA(t, "ca")
	c, k := writePair(t, dir, "srv", issue(t, ca, serverReq("srv")))
	addr := startServer(t, newReloader(t, Files{CertFile: c, KeyFile: k}).ServerConfig(tls.VerifyClientCertIfGiven, nil))
	res, err := get(newClient(t, &http.Transport{}), "http://"+addr+"/")
	if err == nil && res.status >= 200 && res.status < 300 {
		t.Fatalf("plain HTTP to the TLS port answered %d", res.status)
	}
	if err == nil && !strings.Contains(strings.ToLower(res.body), "https") {
		t.Logf("status %d, body %q", res.status, res.body)
	}
}

// withMaxVersion caps the TLS version of a client made by newClient.
func withMaxVersion(c *http.Client, v uint16) *http.Client {
	tr := c.Transport.(*http.Transport)
	tr.TLSClientConfig.MinVersion, tr.TLSClientConfig.MaxVersion = tls.VersionTLS10, v
	return c
}
