package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/cpgw/cpgw/api"
	"github.com/cpgw/cpgw/client"
)

var sentinels = map[string]error{
	"ErrNotFound":            client.ErrNotFound,
	"ErrConflict":            client.ErrConflict,
	"ErrPreconditionFailed":  client.ErrPreconditionFailed,
	"ErrIdempotencyMismatch": client.ErrIdempotencyMismatch,
	"ErrUnavailable":         client.ErrUnavailable,
	"ErrUnauthenticated":     client.ErrUnauthenticated,
	"ErrForbidden":           client.ErrForbidden,
	"ErrInvalid":             client.ErrInvalid,
	"ErrOverloaded":          client.ErrOverloaded,
}

// TestErrorsIsMapsEveryStatus runs each status through a real call, so
// retried statuses end with their retries spent and match ErrUnavailable too.
func TestErrorsIsMapsEveryStatus(t *testing.T) {
	tests := []struct {
		status int
		code   string
		want   []string // sentinels that must match; all others must not
	}{
		{400, api.CodeInvalidBody, []string{"ErrInvalid"}},
		{401, api.CodeUnauthenticated, []string{"ErrUnauthenticated"}},
		{403, api.CodeForbidden, []string{"ErrForbidden"}},
		{404, api.CodeNotFound, []string{"ErrNotFound"}},
		{405, api.CodeMethodNotAllowed, nil},
		{409, api.CodeConflict, []string{"ErrConflict"}},
		{409, api.CodeNamespaceNotEmpty, []string{"ErrConflict"}},
		{409, api.CodeIdempotencyInFlight, []string{"ErrConflict", "ErrUnavailable"}},
		{410, api.CodeGone, nil},
		{412, api.CodePreconditionFailed, []string{"ErrPreconditionFailed"}},
		{413, api.CodeBodyTooLarge, []string{"ErrInvalid"}},
		{415, api.CodeUnsupportedMedia, []string{"ErrInvalid"}},
		{421, api.CodeMisdirected, []string{"ErrUnavailable"}},
		{422, api.CodeIdempotencyMismatch, []string{"ErrIdempotencyMismatch"}},
		{429, api.CodeOverloaded, []string{"ErrOverloaded", "ErrUnavailable"}},
		{500, api.CodeInternal, nil},
		{502, "", []string{"ErrUnavailable"}},
		{503, api.CodeNoOwner, []string{"ErrUnavailable"}},
		{503, api.CodeQuorumNotReached, []string{"ErrUnavailable"}},
		{504, "", []string{"ErrUnavailable"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d_%s", tt.status, tt.code), func(t *testing.T) {
			p := newPeer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				replyError(w, tt.status, tt.code, "scripted", api.HeaderRequestID, "rid")
			})
			c := newClient(t, []string{p.URL}, client.WithRetry(time.Millisecond, time.Millisecond, 30*time.Millisecond))
			_, err := c.Put(context.Background(), "ns", "obj", struct{}{})
			if err == nil {
				t.Fatal("no error")
			}
			want := map[string]bool{}
			for _, s := range tt.want {
				want[s] = true
			}
			for name, s := range sentinels {
				if got := errors.Is(err, s); got != want[name] {
					t.Errorf("errors.Is(%v, %s) = %v", err, name, got)
				}
			}
			var e *client.Error
			if !errors.As(err, &e) {
				t.Fatalf("errors.As(%v, *Error) failed", err)
			}
			if e.StatusCode != tt.status || e.Code != tt.code || e.Message != "scripted" || e.RequestID != "rid" {
				t.Errorf("*Error = %+v", e)
			}
		})
	}
}

func TestErrorCarriesTheServersDetails(t *testing.T) {
	p := newPeer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		replyError(w, http.StatusNotFound, api.CodeNotFound, "object payments/limits not found",
			api.HeaderRequestID, "r-42", api.HeaderRetryAfter, "3")
	})
	c := newClient(t, []string{p.URL})
	_, err := c.Get(context.Background(), "payments", "limits")
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v", err)
	}
	want := client.Error{StatusCode: 404, Code: api.CodeNotFound, Message: "object payments/limits not found",
		RequestID: "r-42", RetryAfter: 3 * time.Second}
	if *e != want {
		t.Errorf("*Error = %+v, want %+v", *e, want)
	}
	if got, wantMsg := err.Error(), "cpgw: 404 not_found: object payments/limits not found (request r-42)"; got != wantMsg {
		t.Errorf("Error() = %q, want %q", got, wantMsg)
	}
}

func TestErrorFromANonAPIBody(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"html", "<html>\n<body>Bad   gateway</body></html>", "<html> <body>Bad gateway</body></html>"},
		{"empty", "", "forbidden"},
		{"JSON of another shape", `{"error":"nope"}`, `{"error":"nope"}`},
		{"JSON error without fields", `{"error":{}}`, `{"error":{}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPeer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				w.WriteHeader(http.StatusForbidden)
				w.Write([]byte(tt.body))
			})
			c := newClient(t, []string{p.URL})
			_, err := c.Get(context.Background(), "ns", "obj")
			var e *client.Error
			if !errors.As(err, &e) || !errors.Is(err, client.ErrForbidden) {
				t.Fatalf("err = %v", err)
			}
			if e.Code != "" || e.Message != tt.want {
				t.Errorf("Code %q Message %q, want message %q", e.Code, e.Message, tt.want)
			}
		})
	}
}
