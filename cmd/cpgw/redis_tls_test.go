package main

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cpgw/cpgw/internal/certs"
	"github.com/cpgw/cpgw/internal/redisserver"
)

// A rediss:// store is reached over TLS with the CA given by --redis-ca,
// and refused without it.
func TestRedisTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := certs.NewCA("redis test CA", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.crt")
	if err := ca.Write(caFile, filepath.Join(dir, "ca.key")); err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Issue(certs.Request{CommonName: "redis", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true, TTL: time.Hour, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "redis.crt"), filepath.Join(dir, "redis.key")
	if err := pair.Write(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsPort := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ctx := context.Background()
	srv, err := redisserver.Start(ctx, redisserver.Options{Dir: dir, Args: []string{
		"--tls-port", strconv.Itoa(tlsPort), "--tls-cert-file", certFile, "--tls-key-file", keyFile,
		"--tls-ca-cert-file", caFile, "--tls-auth-clients", "no",
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	url := "rediss://127.0.0.1:" + strconv.Itoa(tlsPort)

	tests := []struct {
		name, url, ca string
		wantErr       string // "" for success
	}{
		{"TLS with the CA", url, caFile, ""},
		{"TLS without the CA", url, "", "certificate"},
		{"a CA for a plain URL", srv.URL(), caFile, "not rediss://"},
		{"a CA file that is not PEM", url, certFile + ".missing", "--redis-ca"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := redisClient(ctx, tt.url, tt.ca)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("redisClient: %v", err)
				}
				c.Close()
				return
			}
			if err == nil {
				c.Close()
				t.Fatalf("connected; want an error mentioning %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q; want it to mention %q", err, tt.wantErr)
			}
		})
	}
}
