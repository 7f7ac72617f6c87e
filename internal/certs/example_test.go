package certs_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"time"

	"github.com/cpgw/cpgw/internal/certs"
)

func ExampleCA_Issue() {
	now := time.Now()
	ca, err := certs.NewCA("cpgw dev CA", 24*time.Hour, now)
	if err != nil {
		panic(err)
	}
	pair, err := ca.Issue(certs.Request{
		CommonName: "us-east-g1",
		IPs:        []net.IP{net.IPv4(127, 0, 0, 1)},
		URIs:       []string{certs.GatewayURI("us-east", "us-east-g1")},
		Server:     true,
		Client:     true,
		TTL:        time.Hour,
		Now:        now,
	})
	if err != nil {
		panic(err)
	}

	tc, err := tls.X509KeyPair(pair.CertPEM, pair.KeyPEM)
	if err != nil {
		panic(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	_, err = tc.Leaf.Verify(x509.VerifyOptions{DNSName: "127.0.0.1", Roots: roots})
	fmt.Println("chain:", len(tc.Certificate), "certificates")
	fmt.Println("uri:", tc.Leaf.URIs[0])
	fmt.Println("gateway:", certs.HasURIPrefix(tc.Leaf, certs.GatewayURIPrefix))
	fmt.Println("verifies for 127.0.0.1:", err == nil)
	// Output:
	// chain: 2 certificates
	// uri: spiffe://cpgw/gateway/us-east/us-east-g1
	// gateway: true
	// verifies for 127.0.0.1: true
}
