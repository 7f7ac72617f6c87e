package coordinator_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cpgw/cpgw/api"
	"github.com/cpgw/cpgw/coordinator"
	"github.com/cpgw/cpgw/internal/logbuf"
	"github.com/cpgw/cpgw/shards"
)

// TestRequestLogCarriesID: what a request's logger writes carries the
// request's id (here the access line, at debug level), now that the logger
// is built only when something logs.
func TestRequestLogCarriesID(t *testing.T) {
	var logs logbuf.Buffer
	a := startNode(t, embeddedBackend.open(t), "a", func(c *coordinator.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	a.waitOwnsAll(t)
	for _, tc := range []struct {
		name, method, path string
		body               []byte
	}{
		{"read", http.MethodGet, api.InternalObjectPath(shards.Of("ns", testShards), "ns", "x"), nil},
		{"write", http.MethodPut, api.InternalObjectPath(shards.Of("ns", testShards), "ns", "x"), []byte(`{"v":1}`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "rid-" + tc.name
			a.request(t, tc.method, tc.path, tc.body, api.HeaderRequestID, id)
			want := "request_id=" + id
			// The access line is written as the handler returns, which may
			// be just after the client has its answer.
			eventually(t, 5*time.Second, func() bool {
				for _, l := range logs.Lines() {
					if strings.Contains(l, "msg=request ") && strings.Contains(l, want) {
						return true
					}
				}
				return false
			}, "an access line with %s", want)
		})
	}
}
