package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cpgw/cpgw/api"
)

// inputError is a request the gateway refuses before anything is read or
// forwarded: the status and code the client gets.
type inputError struct {
	status  int
	code    string
	message string
}

func (e *inputError) Error() string { return e.message }

func (e *inputError) write(w http.ResponseWriter) { writeError(w, e.status, e.code, e.message) }

func invalidf(status int, code, format string, args ...any) *inputError {
	return &inputError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// nameParam returns a validated namespace or object name from the route.
// chi hands over the raw (escaped) segment when the path holds escapes that
// its decoded form cannot show (such as %2F), so it is unescaped once here;
// otherwise the segment is already decoded and must not be decoded again,
// or a double-encoded name would slip through.
func nameParam(r *http.Request, key, what string) (string, *inputError) {
	v := chi.URLParam(r, key)
	if r.URL.RawPath != "" {
		u, err := url.PathUnescape(v)
		if err != nil {
			return "", invalidf(http.StatusBadRequest, api.CodeInvalidName, "%s name: bad escape in %q", what, v)
		}
		v = u
	}
	if !api.ValidName(v) {
		return "", invalidf(http.StatusBadRequest, api.CodeInvalidName,
			"%s name %q: want 1-%d characters of a-z, 0-9, '.', '_' and '-', starting and ending with a letter or digit",
			what, truncate(v, 64), api.MaxNameLen)
	}
	return v, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// conditions are the preconditions a write accepts.
type conditions uint8

const (
	// condIfMatch: If-Match with one quoted version.
	condIfMatch conditions = 1 << iota
	// condIfNoneMatch: If-None-Match: * (create only).
	condIfNoneMatch
)

// writeHeaders checks and collects the headers a write forwards: a valid
// Idempotency-Key, If-Match as a quoted version, If-None-Match as "*", not
// both conditions at once, and only the conditions in allowed. Refusing a
// condition beats forwarding it: an owner that does not evaluate it would
// apply the write unconditionally.
func writeHeaders(r *http.Request, allowed conditions) (http.Header, *inputError) {
	out := make(http.Header)
	if vs := r.Header.Values(api.HeaderIdempotencyKey); len(vs) > 0 {
		if len(vs) > 1 || !api.ValidIdempotencyKey(vs[0]) {
			return nil, invalidf(http.StatusBadRequest, api.CodeInvalidParameter,
				"%s: want one value of 1-%d printable ASCII characters", api.HeaderIdempotencyKey, api.MaxIdempotencyKey)
		}
		out.Set(api.HeaderIdempotencyKey, vs[0])
	}
	ifMatch, hasIfMatch := single(r.Header, "If-Match")
	if hasIfMatch {
		if allowed&condIfMatch == 0 {
			return nil, notAllowed(r, "If-Match")
		}
		if _, ok := parseETag(ifMatch); !ok {
			return nil, invalidf(http.StatusBadRequest, api.CodeInvalidParameter,
				`If-Match %q: want one quoted version, e.g. "7"`, truncate(ifMatch, 64))
		}
		out.Set("If-Match", ifMatch)
	}
	ifNone, hasIfNone := single(r.Header, "If-None-Match")
	if hasIfNone {
		if allowed&condIfNoneMatch == 0 {
			return nil, notAllowed(r, "If-None-Match")
		}
		if ifNone != "*" {
			return nil, invalidf(http.StatusBadRequest, api.CodeInvalidParameter, `If-None-Match %q: only "*" (create only) is supported`, truncate(ifNone, 64))
		}
		out.Set("If-None-Match", ifNone)
	}
	if hasIfMatch && hasIfNone {
		return nil, invalidf(http.StatusBadRequest, api.CodeInvalidParameter, "If-Match and If-None-Match together can never both hold")
	}
	return out, nil
}

// notAllowed refuses a precondition header the route does not evaluate.
func notAllowed(r *http.Request, header string) *inputError {
	return invalidf(http.StatusBadRequest, api.CodeInvalidParameter, "%s is not allowed on %s %s", header, r.Method, truncate(r.URL.EscapedPath(), 128))
}

// single returns a header's value; several values are joined so that a
// parser refuses them rather than the gateway picking one.
func single(h http.Header, key string) (string, bool) {
	vs := h.Values(key)
	if len(vs) == 0 {
		return "", false
	}
	return strings.Join(vs, ","), true
}

// parseETag parses `"<version>"`, a positive decimal version in quotes.
func parseETag(s string) (uint64, bool) {
	if len(s) < 3 || s[0] != '"' || s[len(s)-1] != '"' {
		return 0, false
	}
	v, err := strconv.ParseUint(s[1:len(s)-1], 10, 64)
	return v, err == nil && v > 0
}

// etag formats a version as an ETag.
func etag(version uint64) string { return `"` + strconv.FormatUint(version, 10) + `"` }

// jsonBody checks the Content-Type, reads the body within api.MaxBodyBytes
// and checks that it is one JSON object. The order fixes which error wins:
// 415, then 413, then 400.
func jsonBody(w http.ResponseWriter, r *http.Request) ([]byte, *inputError) {
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || mt != "application/json" {
		return nil, invalidf(http.StatusUnsupportedMediaType, api.CodeUnsupportedMedia,
			"Content-Type %q: want application/json", truncate(ct, 64))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return nil, invalidf(http.StatusUnsupportedMediaType, api.CodeUnsupportedMedia,
			"charset %q: JSON is UTF-8", truncate(cs, 32))
	}
	if r.ContentLength > api.MaxBodyBytes {
		return nil, tooLarge()
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, api.MaxBodyBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, tooLarge()
	case err != nil:
		return nil, invalidf(http.StatusBadRequest, api.CodeBadRequest, "reading the body: %v", err)
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' || !json.Valid(body) {
		return nil, invalidf(http.StatusBadRequest, api.CodeInvalidBody, "the body must be one JSON object")
	}
	return body, nil
}

func tooLarge() *inputError {
	return invalidf(http.StatusRequestEntityTooLarge, api.CodeBodyTooLarge, "the body exceeds %d bytes", api.MaxBodyBytes)
}

// readParams are the query parameters of a read.
type readParams struct {
	strong       bool
	maxStaleness time.Duration
	minVersion   uint64
}

// parseReadParams parses consistency, maxStaleness and minVersion.
func parseReadParams(r *http.Request, defaultMaxStaleness time.Duration) (readParams, *inputError) {
	q := parseReadQuery(r.URL.RawQuery)
	p := readParams{maxStaleness: defaultMaxStaleness}
	if q.consistency.ok {
		switch q.consistency.v {
		case api.ConsistencyLocal:
		case api.ConsistencyStrong:
			p.strong = true
		default:
			return p, invalidf(http.StatusBadRequest, api.CodeInvalidParameter,
				"%s %q: want %s or %s", api.QueryConsistency, truncate(q.consistency.v, 32), api.ConsistencyLocal, api.ConsistencyStrong)
		}
	}
	if q.maxStaleness.ok {
		d, err := time.ParseDuration(q.maxStaleness.v)
		if err != nil || d < 0 {
			return p, invalidf(http.StatusBadRequest, api.CodeInvalidParameter,
				"%s %q: want a non-negative Go duration such as 500ms or 5s", api.QueryMaxStaleness, truncate(q.maxStaleness.v, 32))
		}
		p.maxStaleness = d
	}
	if q.minVersion.ok {
		v, err := strconv.ParseUint(q.minVersion.v, 10, 64)
		if err != nil {
			return p, invalidf(http.StatusBadRequest, api.CodeInvalidParameter,
				"%s %q: want a non-negative integer", api.QueryMinVersion, truncate(q.minVersion.v, 32))
		}
		p.minVersion = v
	}
	return p, nil
}

// readQuery is what a read's query says of its parameters: each value as
// strings.Join(url.Values[key], ",") would give it.
type readQuery struct {
	consistency, maxStaleness, minVersion queryValue
}

// queryValue is one parameter's values joined with ","; ok if it was given.
type queryValue struct {
	v  string
	ok bool
}

func (q *queryValue) add(v string) {
	if q.ok {
		q.v += "," + v
		return
	}
	q.v, q.ok = v, true
}

// parseReadQuery reads a raw query as url.ParseQuery does, without
// building its map for the usual query of plain pairs
// (consistency=local): that map was about 2% of a local read's CPU.
func parseReadQuery(raw string) readQuery {
	var q readQuery
	if strings.ContainsAny(raw, "%+;") {
		// Escapes to undo, or pairs url.ParseQuery drops: its own rules.
		vs, _ := url.ParseQuery(raw)
		for _, k := range []string{api.QueryConsistency, api.QueryMaxStaleness, api.QueryMinVersion} {
			for _, v := range vs[k] {
				q.add(k, v)
			}
		}
		return q
	}
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(pair, "=")
		q.add(k, v)
	}
	return q
}

// add records value v of parameter k; parameters reads do not take are
// ignored, as they always were.
func (q *readQuery) add(k, v string) {
	switch k {
	case api.QueryConsistency:
		q.consistency.add(v)
	case api.QueryMaxStaleness:
		q.maxStaleness.add(v)
	case api.QueryMinVersion:
		q.minVersion.add(v)
	}
}
