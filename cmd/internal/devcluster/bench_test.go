package devcluster

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Latency through a gateway on a real Redis deployment (primary + one replica
// per other region, loopback), one request at a time. Run with
//
//	go test -run '^$' -bench Gateway -benchtime 3000x ./cmd/internal/devcluster/
//
// p50/p99 are reported in µs alongside ns/op.
func BenchmarkGateway(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := Start(ctx, Options{Regions: []string{"us-east", "eu-west"}, Backend: Redis, Dir: b.TempDir(),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Stop()
	us, _ := c.Region("us-east")
	gw := us.Gateway.URL
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	send := func(method, url, body string) {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, _ := http.NewRequest(method, url, rd)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
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
	obj := objURL(gw, "bench", "obj")
	send("PUT", obj, `{"v":0}`)

	cases := []struct {
		name string
		req  func(i int)
	}{
		{"LocalRead", func(int) { send("GET", obj, "") }},
		{"StrongRead", func(int) { send("GET", obj+"?consistency=strong", "") }},
		{"Write", func(i int) { send("PUT", obj, `{"v":`+strconv.Itoa(i)+`}`) }},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				bc.req(i)
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
