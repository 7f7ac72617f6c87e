package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cpgw/cpgw/authz"
	"github.com/cpgw/cpgw/internal/logbuf"
)

func TestFlagSources(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "cpgw.yaml")
	if err := os.WriteFile(cfgFile, []byte("region: from-file\nlisten: 127.0.0.1:1\nredis: redis://file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		region string
		redis  string
	}{
		{"command line", []string{"--region", "cli", "--redis", "redis://cli"}, nil, "cli", "redis://cli"},
		{"environment", nil, map[string]string{"CPGW_REGION": "env", "CPGW_REDIS": "redis://env"}, "env", "redis://env"},
		{"config file", []string{"--config", cfgFile}, nil, "from-file", "redis://file"},
		{"command line beats environment beats file", []string{"--config", cfgFile, "--region", "cli"},
			map[string]string{"CPGW_REGION": "env", "CPGW_REDIS": "redis://env"}, "cli", "redis://env"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			fs, _ := newFlagSet("gateway", io.Discard)
			region := fs.String("region", "", "")
			redis := fs.String("redis", "", "")
			fs.String("listen", "", "")
			if err := parseFlags(fs, tt.args); err != nil {
				t.Fatal(err)
			}
			if *region != tt.region || *redis != tt.redis {
				t.Fatalf("region %q redis %q, want %q %q", *region, *redis, tt.region, tt.redis)
			}
		})
	}
}

func TestCommandErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		says string
	}{
		{"no command", nil, 2, "Commands:"},
		{"unknown command", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"missing required flag", []string{"gateway", "--region", "r"}, 2, "--listen is required"},
		{"unknown flag", []string{"coordinator", "--nope"}, 2, "flag provided but not defined"},
		{"stray argument", []string{"gateway", "extra"}, 2, "unexpected arguments"},
		{"secure by default", []string{"gateway", "--region", "r", "--listen", "127.0.0.1:0", "--redis", "redis://127.0.0.1:1"}, 1, "refusing to start"},
		{"bad advertise URL", []string{"coordinator", "--region", "r", "--id", "c", "--listen", "127.0.0.1:0",
			"--advertise", "nope", "--redis", "redis://127.0.0.1:1", "--insecure"}, 1, "--advertise"},
		{"unreachable redis", []string{"gateway", "--region", "r", "--listen", "127.0.0.1:0", "--redis", "redis://127.0.0.1:1", "--insecure"}, 1, "redis 127.0.0.1:1"},
		{"bad log level", []string{"gateway", "--region", "r", "--listen", "x", "--redis", "y", "--log-level", "loud"}, 1, "--log-level"},
		{"token without a key", []string{"token", "--sub", "me"}, 2, "--key is required"},
		{"token with a bad key file", []string{"token", "--sub", "me", "--key", "/nonexistent/key"}, 1, "/nonexistent/key"},
		{"token with a silly ttl", []string{"token", "--sub", "me", "--key", "k", "--ttl", "-1h"}, 1, "--ttl"},
		{"key set without a key", []string{"token", "--jwks"}, 2, "--key is required"},
		{"key set of a bad key file", []string{"token", "--jwks", "--key", "/nonexistent/key"}, 1, "/nonexistent/key"},
		{"key set of no file", []string{"token", "--jwks", "--key", " , "}, 1, "no keys"},
		{"coordinator advertising http", []string{"coordinator", "--region", "r", "--id", "c", "--listen", "127.0.0.1:0",
			"--advertise", "http://127.0.0.1:1", "--redis", "redis://127.0.0.1:1"}, 1, "must be https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tt.args, &out, &errb)
			if code != tt.code || !strings.Contains(out.String()+errb.String(), tt.says) {
				t.Fatalf("run(%q) = %d, output %q; want %d mentioning %q", tt.args, code, out.String()+errb.String(), tt.code, tt.says)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"version"}, &out, io.Discard); code != 0 || !strings.HasPrefix(out.String(), "cpgw ") {
		t.Fatalf("version: %d %q", code, out.String())
	}
}

// cpgw dev on both backends, from a relative state directory as a new user
// runs it: endpoints.json appears, its gateways answer over TLS with the
// generated CA and tokens, and a stop removes it. --insecure runs plain HTTP.
func TestDev(t *testing.T) {
	tests := []struct {
		backend  string
		insecure bool
	}{{"embedded", false}, {"redis", false}, {"embedded", true}}
	for _, tt := range tests {
		name := tt.backend
		if tt.insecure {
			name += "-insecure"
		}
		t.Run(name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			var out logbuf.Buffer
			args := []string{"--backend", tt.backend, "--regions", "us-east,eu-west", "--port", "0",
				"--state-dir", "state", "--log-level", "error"}
			if tt.insecure {
				args = append(args, "--insecure")
			}
			go func() { done <- runDev(ctx, args, &out, io.Discard) }()
			path := filepath.Join("state", "endpoints.json")
			var ep endpoints
			deadline := time.Now().Add(60 * time.Second)
			for {
				if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &ep) == nil {
					break
				}
				select {
				case err := <-done:
					t.Fatalf("cpgw dev exited early: %v", err)
				case <-time.After(50 * time.Millisecond):
				}
				if time.Now().After(deadline) {
					t.Fatal("no endpoints.json")
				}
			}
			if len(ep.Regions) != 2 {
				t.Fatalf("endpoints: %+v", ep)
			}
			client := http.DefaultClient
			if tt.insecure {
				if ep.CAFile != "" || ep.AdminToken != "" || ep.ReaderToken != "" || ep.AuditLog != "" {
					t.Fatalf("insecure endpoints name security material: %+v", ep)
				}
			} else {
				if ep.CAFile == "" || ep.AdminToken == "" || ep.ReaderToken == "" || ep.AuditLog == "" {
					t.Fatalf("endpoints lack security material: %+v", ep)
				}
				pem, err := os.ReadFile(ep.CAFile)
				if err != nil {
					t.Fatal(err)
				}
				pool := x509.NewCertPool()
				if !pool.AppendCertsFromPEM(pem) {
					t.Fatalf("caFile %s holds no certificate", ep.CAFile)
				}
				client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
			}
			for name, r := range ep.Regions {
				if want := map[bool]string{false: "https://", true: "http://"}[tt.insecure]; !strings.HasPrefix(r.Gateway, want) {
					t.Fatalf("%s gateway %s: want %s", name, r.Gateway, want)
				}
				resp, err := client.Get(r.Gateway + "/readyz")
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("%s gateway %s not ready: %v", name, r.Gateway, err)
				}
				resp.Body.Close()
				if !strings.Contains(out.String(), r.Gateway) {
					t.Fatalf("table does not list %s:\n%s", r.Gateway, out.String())
				}
				if tt.insecure {
					continue
				}
				for _, c := range []struct {
					token string
					want  int
				}{{"", http.StatusUnauthorized}, {ep.ReaderToken, http.StatusOK}, {ep.AdminToken, http.StatusOK}} {
					req, _ := http.NewRequest("GET", r.Gateway+"/v1/shards", nil)
					if c.token != "" {
						req.Header.Set("Authorization", "Bearer "+c.token)
					}
					resp, err := client.Do(req)
					if err != nil || resp.StatusCode != c.want {
						t.Fatalf("%s /v1/shards with token %.8q: %v %v, want %d", name, c.token, resp.StatusCode, err, c.want)
					}
					resp.Body.Close()
				}
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("cpgw dev: %v", err)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Fatalf("endpoints.json left behind after stop: %v", err)
			}
		})
	}
}

// cpgw token mints what a gateway accepts: signed by the key, with the
// subject and groups asked for, for the ttl asked for.
func TestToken(t *testing.T) {
	dir := t.TempDir()
	key, err := authz.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	keyFile, jwksFile := filepath.Join(dir, "signing.key"), filepath.Join(dir, "jwks.json")
	if err := authz.WriteSigningKey(keyFile, key); err != nil {
		t.Fatal(err)
	}
	if err := authz.WriteJWKS(jwksFile, key.Key.Public()); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if code := run([]string{"token", "--key", keyFile, "--sub", "alice", "--roles", "admin, ops", "--ttl", "10m"}, &out, io.Discard); code != 0 {
		t.Fatalf("token: exit %d", code)
	}
	cfg := authz.DefaultVerifierConfig()
	cfg.JWKSFile, cfg.Issuer, cfg.Audience = jwksFile, "cpgw", "cpgw"
	v, err := authz.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	id, err := v.Verify(context.Background(), strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatalf("the minted token does not verify: %v", err)
	}
	if id.Subject != "alice" || strings.Join(id.Groups, ",") != "admin,ops" {
		t.Fatalf("identity %+v", id)
	}
	// The ttl: a verifier eleven minutes on refuses it.
	cfg.Clock = clockwork.NewFakeClockAt(time.Now().Add(11 * time.Minute))
	late, err := authz.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := late.Verify(context.Background(), strings.TrimSpace(out.String())); !errors.Is(err, authz.ErrUnauthenticated) {
		t.Fatalf("an expired token: %v", err)
	}
}

// TestTokenJWKS: the key set token --jwks prints verifies the tokens of
// every key it lists, and holds no private key.
func TestTokenJWKS(t *testing.T) {
	dir := t.TempDir()
	var keyFiles []string
	for _, name := range []string{"old.key", "new.key"} {
		key, err := authz.GenerateSigningKey()
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, name)
		if err := authz.WriteSigningKey(f, key); err != nil {
			t.Fatal(err)
		}
		keyFiles = append(keyFiles, f)
	}
	var out bytes.Buffer
	if code := run([]string{"token", "--jwks", "--key", strings.Join(keyFiles, ",")}, &out, io.Discard); code != 0 {
		t.Fatalf("token --jwks: exit %d", code)
	}
	if strings.Contains(out.String(), `"d"`) {
		t.Fatalf("the key set holds a private part:\n%s", out.String())
	}
	jwksFile := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(jwksFile, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := authz.DefaultVerifierConfig()
	cfg.JWKSFile, cfg.Issuer, cfg.Audience = jwksFile, "cpgw", "cpgw"
	v, err := authz.NewVerifier(cfg)
	if err != nil {
		t.Fatalf("the printed key set does not load: %v\n%s", err, out.String())
	}
	for _, f := range keyFiles {
		var tok bytes.Buffer
		if code := run([]string{"token", "--key", f, "--sub", "alice"}, &tok, io.Discard); code != 0 {
			t.Fatalf("token: exit %d", code)
		}
		if _, err := v.Verify(context.Background(), strings.TrimSpace(tok.String())); err != nil {
			t.Errorf("a token of %s does not verify: %v", filepath.Base(f), err)
		}
	}
}
