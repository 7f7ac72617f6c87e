package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/cpgw/cpgw/api"
)

// Sentinel errors. Test for them with errors.Is; server errors (*Error) match
// by HTTP status as listed.
var (
	// ErrNotFound: 404, the object or namespace does not exist.
	ErrNotFound = errors.New("cpgw: not found")
	// ErrConflict: 409, e.g. a namespace that cannot move because it has
	// objects, or an idempotent write still in flight after retries ran out.
	ErrConflict = errors.New("cpgw: conflict")
	// ErrPreconditionFailed: 412, an IfMatch version did not match or an
	// IfNoneMatch write found the object.
	ErrPreconditionFailed = errors.New("cpgw: precondition failed")
	// ErrIdempotencyMismatch: 422, the idempotency key was already used for
	// a different request.
	ErrIdempotencyMismatch = errors.New("cpgw: idempotency key reused for another request")
	// ErrUnavailable: 502, 503 or 504, no gateway reachable, or retries ran
	// out. The error also wraps the last attempt's error.
	ErrUnavailable = errors.New("cpgw: unavailable")
	// ErrUnauthenticated: 401, missing or bad credentials.
	ErrUnauthenticated = errors.New("cpgw: unauthenticated")
	// ErrForbidden: 403, the credentials do not allow the request.
	ErrForbidden = errors.New("cpgw: forbidden")
	// ErrInvalid: 400, 413 or 415 from the server, or an argument the client
	// refused before sending anything.
	ErrInvalid = errors.New("cpgw: invalid request")
	// ErrOverloaded: 429, the gateway shed the request.
	ErrOverloaded = errors.New("cpgw: overloaded")
)

// Error is an error response from a gateway.
type Error struct {
	StatusCode int    // HTTP status
	Code       string // the API's snake_case code (api.Code*); empty if the body had none
	Message    string
	RequestID  string        // X-Request-Id, for support
	RetryAfter time.Duration // Retry-After; zero if absent
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cpgw: %d", e.StatusCode)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request " + e.RequestID + ")")
	}
	return b.String()
}

// Is maps the status code to the package's sentinel errors.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrInvalid:
		return e.StatusCode == http.StatusBadRequest ||
			e.StatusCode == http.StatusRequestEntityTooLarge ||
			e.StatusCode == http.StatusUnsupportedMediaType
	case ErrUnauthenticated:
		return e.StatusCode == http.StatusUnauthorized
	case ErrForbidden:
		return e.StatusCode == http.StatusForbidden
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrConflict:
		return e.StatusCode == http.StatusConflict
	case ErrPreconditionFailed:
		return e.StatusCode == http.StatusPreconditionFailed
	case ErrIdempotencyMismatch:
		return e.StatusCode == http.StatusUnprocessableEntity
	case ErrOverloaded:
		return e.StatusCode == http.StatusTooManyRequests
	case ErrUnavailable:
		return e.StatusCode == http.StatusBadGateway ||
			e.StatusCode == http.StatusServiceUnavailable ||
			e.StatusCode == http.StatusGatewayTimeout
	}
	return false
}

// maxErrorBody bounds what is read of an error response: the API's errors
// are small, and a proxy's HTML page is not worth more.
const maxErrorBody = 64 << 10

// maxFallbackMessage bounds the Message taken from a body that is not the
// API's error JSON (a proxy's page, plain text).
const maxFallbackMessage = 256

// decodeError builds the *Error for a non-2xx response. It never fails:
// whatever the body holds, the status code survives.
func decodeError(status int, h http.Header, body []byte) *Error {
	e := &Error{
		StatusCode: status,
		RequestID:  h.Get(api.HeaderRequestID),
		RetryAfter: parseRetryAfter(h.Get(api.HeaderRetryAfter), time.Now()),
	}
	var eb api.ErrorBody
	if json.Unmarshal(body, &eb) == nil && (eb.Error.Code != "" || eb.Error.Message != "") {
		e.Code, e.Message = eb.Error.Code, eb.Error.Message
		return e
	}
	e.Message = fallbackMessage(body)
	if e.Message == "" {
		e.Message = strings.ToLower(http.StatusText(status))
	}
	return e
}

// fallbackMessage turns a body that is not the API's error JSON into a short
// printable message.
func fallbackMessage(body []byte) string {
	s := strings.ToValidUTF8(string(body), "")
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return ' '
		}
		if !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxFallbackMessage {
		s = strings.ToValidUTF8(s[:maxFallbackMessage], "") + "..."
	}
	return s
}

// parseRetryAfter reads Retry-After as delta-seconds or an HTTP date
// (RFC 9110 §10.2.3). Anything unusable is zero: no minimum wait.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		// Cap before multiplying so a hostile value cannot overflow.
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, maxRetryAfter)
		}
	}
	return 0
}

// maxRetryAfter caps a Retry-After; the retry budget and the context cut
// waits much shorter anyway.
const maxRetryAfter = 24 * time.Hour

// retryError ends a call whose retries did not succeed: cause is
// ErrUnavailable or the context's error, last the final attempt's error.
type retryError struct {
	cause    error
	attempts int
	last     error
}

func (e *retryError) Error() string {
	return fmt.Sprintf("cpgw: %s after %d attempt(s): %s",
		strings.TrimPrefix(e.cause.Error(), "cpgw: "), e.attempts,
		strings.TrimPrefix(e.last.Error(), "cpgw: "))
}

func (e *retryError) Unwrap() []error { return []error{e.cause, e.last} }

// invalidf returns an error, matching ErrInvalid, for an argument refused
// before sending. A %w verb in format wraps the cause as well.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}
