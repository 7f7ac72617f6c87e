package secure

import (
	"net/http"
	"strings"
	"testing"
)

// A secure gateway's transport sends nothing to a plain-HTTP coordinator
// address, whatever a lease says.
func TestTransportRefusesPlainHTTP(t *testing.T) {
	var sent bool
	rt := httpsOnly{roundTripFunc(func(*http.Request) (*http.Response, error) {
		sent = true
		return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
	})}
	for _, tt := range []struct {
		url  string
		sent bool
	}{
		{"http://127.0.0.1:1/internal/v1/x", false},
		{"https://127.0.0.1:1/internal/v1/x", true},
	} {
		sent = false
		req, _ := http.NewRequest("PUT", tt.url, strings.NewReader("{}"))
		resp, err := rt.RoundTrip(req)
		if sent != tt.sent || (err == nil) != tt.sent {
			t.Fatalf("%s: sent %v, err %v; want sent %v", tt.url, sent, err, tt.sent)
		}
		if resp != nil {
			resp.Body.Close()
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
