package main

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/cpgw/cpgw/internal/certs"
	"github.com/cpgw/cpgw/internal/redistest"
)

// A rediss:// store is reached over TLS with the CA given by --redis-ca,
// and refused without it.
func TestRedisTLS(t *testing.T) {
	x := redistest.NewTLS(t)
	srv, tlsPort := x.Start(t, "redis", certs.Request{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}, nil)
	caFile := x.CAFile
	ctx := context.Background()
	url := "rediss://127.0.0.1:" + tlsPort

	tests := []struct {
		name, url, ca string
		wantErr       string // "" for success
	}{
		{"TLS with the CA", url, caFile, ""},
		{"TLS without the CA", url, "", "certificate"},
		{"a CA for a plain URL", srv.URL(), caFile, "not rediss://"},
		{"a CA file that is not PEM", url, caFile + ".missing", "--redis-ca"},
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
