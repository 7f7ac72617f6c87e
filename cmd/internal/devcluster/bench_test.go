package devcluster

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cpgw/cpgw/authz"
	"github.com/cpgw/cpgw/cmd/internal/secure"
)

// Latency through a gateway on a real Redis deployment (primary + one replica
// per other region, loopback), one request at a time, with and without
// security (TLS, mTLS to coordinators, a bearer token per request, RBAC and
// the audit log). Run with
//
//	go test -run '^$' -bench Gateway -benchtime 3000x ./cmd/internal/devcluster/
//
// p50/p99 are reported in µs alongside ns/op. Secure/LocalReadFreshToken
// sends a token the gateway has not seen before on every request, so it
// pays a signature verification each time; Secure/LocalRead reuses one
// token, which the gateway's cache has verified already.
func BenchmarkGateway(b *testing.B) {
	for _, mode := range []string{"Insecure", "Secure"} {
		b.Run(mode, func(b *testing.B) { benchGateway(b, mode == "Secure") })
	}
}

func benchGateway(b *testing.B, secured bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var dev *secure.Dev
	if secured {
		var err error
		if dev, err = secure.NewDev(filepath.Join(b.TempDir(), "pki"), time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	c, err := Start(ctx, Options{Regions: []string{"us-east", "eu-west"}, Backend: Redis, Dir: b.TempDir(),
		Logger: slog.New(slog.DiscardHandler), Security: dev})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Stop()
	us, _ := c.Region("us-east")
	gw := us.Gateway.URL
	t := c.HTTPClient().Transport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 4
	client := &http.Client{Transport: t}
	send := func(method, url, body, token string) {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, _ := http.NewRequest(method, url, rd)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			b.Fatalf("%s %s = %d", method, url, resp.StatusCode)
		}
	}
	token := ""
	if dev != nil {
		token = dev.AdminToken
	}
	obj := objURL(gw, "bench", "obj")
	send("PUT", obj, `{"v":0}`, token)

	cases := []struct {
		name   string
		secure bool // only with security on
		req    func(b *testing.B) func(i int)
	}{
		{"LocalRead", false, func(*testing.B) func(int) { return func(int) { send("GET", obj, "", token) } }},
		{"LocalReadFreshToken", true, func(b *testing.B) func(int) {
			key, err := authz.LoadSigningKey(dev.KeyFile)
			if err != nil {
				b.Fatal(err)
			}
			tokens := make([]string, b.N)
			for i := range tokens {
				if tokens[i], err = authz.Mint(key, authz.Claims{Issuer: "cpgw", Audience: "cpgw", Subject: "bench-" + strconv.Itoa(i),
					Groups: []string{secure.DevAdminGroup}, TTL: time.Hour, Now: time.Now()}); err != nil {
					b.Fatal(err)
				}
			}
			return func(i int) { send("GET", obj, "", tokens[i]) }
		}},
		{"StrongRead", false, func(*testing.B) func(int) {
			return func(int) { send("GET", obj+"?consistency=strong", "", token) }
		}},
		{"Write", false, func(*testing.B) func(int) {
			return func(i int) { send("PUT", obj, `{"v":`+strconv.Itoa(i)+`}`, token) }
		}},
	}
	for _, bc := range cases {
		if bc.secure && !secured {
			continue
		}
		b.Run(bc.name, func(b *testing.B) {
			req := bc.req(b)
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				req(i)
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
			b.ReportMetric(pct(0.50), "p50-µs")
			b.ReportMetric(pct(0.99), "p99-µs")
		})
	}
}
