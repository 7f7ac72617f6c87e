package coordinator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/cpgw/cpgw/api"
)

// objectRef is what an internal route names: a shard, a namespace and, for
// object routes, an object.
type objectRef struct {
	shard     int
	namespace string
	name      string
}

// parseRef reads the path parameters. Before Run has read the shard count
// nothing can be checked, so the answer is 503.
func (c *Coordinator) parseRef(r *http.Request, withName bool) (objectRef, *apiError) {
	n := c.shardCount()
	if n == 0 {
		return objectRef{}, unavailable("coordinator %s is starting", c.cfg.ID)
	}
	var ref objectRef
	s, err := strconv.Atoi(chi.URLParam(r, "shard"))
	if err != nil || s < 0 || s >= n {
		return ref, badRequest(api.CodeInvalidParameter, "shard %q is not a shard number in 0..%d", chi.URLParam(r, "shard"), n-1)
	}
	ref.shard = s
	var e *apiError
	if ref.namespace, e = pathName(r, "ns", "namespace"); e != nil {
		return ref, e
	}
	if withName {
		if ref.name, e = pathName(r, "name", "object name"); e != nil {
			return ref, e
		}
	}
	return ref, nil
}

// pathName reads a name from the path; chi hands it over still escaped when
// the request path needed escaping.
func pathName(r *http.Request, param, what string) (string, *apiError) {
	raw := chi.URLParam(r, param)
	s, err := url.PathUnescape(raw)
	if err != nil || !api.ValidName(s) {
		return "", badRequest(api.CodeInvalidName, "%s %q does not match %s", what, raw, api.NamePattern)
	}
	return s, nil
}

// ownerFor returns the writer of a shard this coordinator serves, after
// checking that the namespace lives there. Otherwise the answer is 421
// naming the owner the store knows of (or 503 while a just-acquired shard
// reloads the namespace settings).
func (c *Coordinator) ownerFor(ctx context.Context, shard int, namespace string) (*writer, *apiError) {
	if c.failed.Load() {
		return nil, unavailable("coordinator %s stopped: the store lost its state", c.cfg.ID)
	}
	w := c.writerOf(shard)
	if w == nil || !w.lease.Valid() {
		return nil, c.misdirected(ctx, shard, "coordinator %s does not own shard %d", c.cfg.ID, shard)
	}
	if !w.synced.Load() {
		return nil, unavailable("shard %d was just acquired and is not ready yet", shard)
	}
	n := c.shardCount()
	if s := c.ns.shardOf(namespace, n); s != shard {
		// Another coordinator may have moved the namespace onto this shard
		// since the last reload: ask the store before refusing.
		fctx, cancel := context.WithTimeout(ctx, c.cfg.StoreTimeout)
		err := c.ns.fetch(fctx, namespace)
		cancel()
		if err != nil {
			return nil, unavailable("reading the settings of namespace %q: %v", namespace, err)
		}
		if s := c.ns.shardOf(namespace, n); s != shard {
			return nil, c.misdirected(ctx, s, "namespace %q lives on shard %d, not %d", namespace, s, shard)
		}
	}
	return w, nil
}

// parseIfMatch reads If-Match: a single quoted version, `"<n>"` with n ≥ 1.
// Zero means no condition.
func parseIfMatch(h http.Header) (uint64, *apiError) {
	vs := h.Values("If-Match")
	if len(vs) == 0 {
		return 0, nil
	}
	v := strings.TrimSpace(vs[0])
	if len(vs) == 1 && len(v) >= 3 && v[0] == '"' && v[len(v)-1] == '"' {
		if n, err := strconv.ParseUint(v[1:len(v)-1], 10, 64); err == nil && n > 0 {
			return n, nil
		}
	}
	return 0, badRequest(api.CodeInvalidParameter, `If-Match must be one quoted version, like "7"`)
}

// parseIfNoneMatch reads If-None-Match; only `*` (create-only) is meaningful.
func parseIfNoneMatch(h http.Header) (bool, *apiError) {
	vs := h.Values("If-None-Match")
	if len(vs) == 0 {
		return false, nil
	}
	if len(vs) == 1 && strings.TrimSpace(vs[0]) == "*" {
		return true, nil
	}
	return false, badRequest(api.CodeInvalidParameter, "If-None-Match must be *")
}

// parseIdempotencyKey reads Idempotency-Key; "" means none.
func parseIdempotencyKey(h http.Header) (string, *apiError) {
	vs := h.Values(api.HeaderIdempotencyKey)
	if len(vs) == 0 {
		return "", nil
	}
	if len(vs) > 1 || !api.ValidIdempotencyKey(vs[0]) {
		return "", badRequest(api.CodeInvalidParameter, "Idempotency-Key must be one value of 1..%d printable ASCII characters", api.MaxIdempotencyKey)
	}
	return vs[0], nil
}

// requireJSON answers 415 unless the request says its body is JSON.
func requireJSON(r *http.Request) *apiError {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return newError(http.StatusUnsupportedMediaType, api.CodeUnsupportedMedia, "Content-Type must be application/json")
	}
	return nil
}

// readBody reads at most api.MaxBodyBytes of the body (413 beyond).
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	tooLarge := newError(http.StatusRequestEntityTooLarge, api.CodeBodyTooLarge, "body exceeds %d bytes", api.MaxBodyBytes)
	if r.ContentLength > api.MaxBodyBytes {
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, api.MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, tooLarge
		}
		return nil, badRequest(api.CodeBadRequest, "reading the body: %v", err)
	}
	return body, nil
}

// jsonObject checks that body is one JSON object and returns it compacted,
// the form stored and fingerprinted.
func jsonObject(body []byte) ([]byte, *apiError) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, badRequest(api.CodeInvalidBody, "the body is empty; it must be a JSON object")
	}
	// Compact validates as it goes (one scan, not json.Valid's and its).
	var buf bytes.Buffer
	buf.Grow(len(trimmed))
	if err := json.Compact(&buf, trimmed); err != nil {
		return nil, badRequest(api.CodeInvalidBody, "the body is not valid JSON")
	}
	if trimmed[0] != '{' {
		return nil, badRequest(api.CodeInvalidBody, "the body must be a JSON object")
	}
	return buf.Bytes(), nil
}
