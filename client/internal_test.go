package client

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"1", time.Second},
		{" 120 ", 2 * time.Minute},
		{"-3", 0},
		{"1.5", 0},
		{"soon", 0},
		{"99999999999999999999", 0}, // does not parse as int64
		{"9223372036854775807", maxRetryAfter},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{now.Add(1000 * time.Hour).Format(http.TimeFormat), maxRetryAfter},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseETag(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{`"7"`, 7, true},
		{`W/"8"`, 8, true},
		{` "9" `, 9, true},
		{`7`, 0, false},
		{`""`, 0, false},
		{`"x"`, 0, false},
		{`"`, 0, false},
		{``, 0, false},
	}
	for _, tt := range tests {
		if got, ok := parseETag(tt.in); got != tt.want || ok != tt.ok {
			t.Errorf("parseETag(%q) = %d, %v", tt.in, got, ok)
		}
	}
	if got, _ := parseETag(formatETag(123)); got != 123 {
		t.Errorf("formatETag does not round-trip: %d", got)
	}
}

func TestDecodeError(t *testing.T) {
	tests := []struct {
		name, body        string
		wantCode, wantMsg string
	}{
		{"api error", `{"error":{"code":"no_owner","message":"shard 3 has no owner"}}`, "no_owner", "shard 3 has no owner"},
		{"code only", `{"error":{"code":"overloaded"}}`, "overloaded", ""},
		{"421 with owner", `{"error":{"code":"misdirected","message":"m"},"owner":{"id":"c2"}}`, "misdirected", "m"},
		{"plain text", "upstream connect error\r\n", "", "upstream connect error"},
		{"control characters", "a\x00b\x1bc", "", "abc"},
		{"invalid UTF-8", "ok\xff\xfe", "", "ok"},
		{"empty", "", "", "service unavailable"},
		{"null", "null", "", "null"},
		{"wrong types", `{"error":{"code":5}}`, "", `{"error":{"code":5}}`},
		{"long", strings.Repeat("x", 1000), "", strings.Repeat("x", maxFallbackMessage) + "..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := decodeError(http.StatusServiceUnavailable, http.Header{"Retry-After": {"2"}}, []byte(tt.body))
			if e.StatusCode != 503 || e.Code != tt.wantCode || e.Message != tt.wantMsg || e.RetryAfter != 2*time.Second {
				t.Errorf("decodeError = %+v", e)
			}
		})
	}
}

// FuzzDecodeError feeds hostile bodies and headers to the error decoder: it
// must not panic, must keep the status, and must produce a usable error.
func FuzzDecodeError(f *testing.F) {
	f.Add(503, "1", []byte(`{"error":{"code":"no_owner","message":"electing"}}`))
	f.Add(409, "", []byte(`{"error":{"code":"idempotency_in_flight"}}`))
	f.Add(421, "Wed, 21 Oct 2015 07:28:00 GMT", []byte(`{"error":{"code":"misdirected"},"owner":{"id":"x","fencingToken":-1}}`))
	f.Add(400, "-1", []byte(`{"error":null}`))
	f.Add(404, "99999999999999999999", []byte(`{"error":{"code":"\ud800","message":"\u0000"}}`))
	f.Add(500, "", []byte("\xff\xfe<html>"))
	f.Add(0, "", []byte(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[`))
	f.Add(-1, "1e9", []byte(`{"error":{"code":"a","message":"b"},"error":{"code":"c"}}`))
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte) {
		e := decodeError(status, http.Header{"Retry-After": {retryAfter}}, body)
		if e.StatusCode != status {
			t.Fatalf("status %d became %d", status, e.StatusCode)
		}
		if e.RetryAfter < 0 || e.RetryAfter > maxRetryAfter {
			t.Fatalf("RetryAfter %v out of range", e.RetryAfter)
		}
		msg := e.Error()
		if msg == "" || !utf8.ValidString(msg) {
			t.Fatalf("Error() = %q", msg)
		}
		if e.Code == "" && len(e.Message) > maxFallbackMessage+len("...") {
			t.Fatalf("fallback message of %d bytes", len(e.Message))
		}
		matched := 0
		for _, s := range []error{ErrNotFound, ErrConflict, ErrPreconditionFailed, ErrIdempotencyMismatch,
			ErrUnavailable, ErrUnauthenticated, ErrForbidden, ErrInvalid, ErrOverloaded} {
			if errors.Is(e, s) {
				matched++
			}
		}
		if matched > 1 {
			t.Fatalf("status %d matches %d sentinels", status, matched)
		}
		_ = classify(e)
	})
}

func TestGatewaySetFailover(t *testing.T) {
	u := func(h string) *url.URL { return &url.URL{Scheme: "http", Host: h} }
	s := &gatewaySet{urls: []*url.URL{u("a"), u("b"), u("c")}, failbackAfter: time.Hour}
	log := slog.New(slog.DiscardHandler)
	step := func(what string, want int) {
		t.Helper()
		if got := s.start(); got != want {
			t.Fatalf("%s: start() = %d, want %d", what, got, want)
		}
	}
	step("fresh", 0)
	s.answered(1, 0, log)
	step("preferred failed, b answered", 1)
	s.answered(1, 1, log)
	step("b answered again", 1)
	s.since = time.Now().Add(-2 * time.Hour)
	step("failback interval passed", 0)
	s.answered(1, 0, log)
	step("preferred failed again: another interval on b", 1)
	s.answered(2, 1, log)
	step("b failed, c answered", 2)
	s.answered(0, 2, log)
	step("c failed, preferred answered", 0)
}
