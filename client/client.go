package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/cpgw/cpgw/api"
)

// Client talks to cpgw gateways. It is safe for concurrent use.
type Client struct {
	gateways  *gatewaySet
	http      *http.Client
	token     func(context.Context) (string, error)
	userAgent string
	log       *slog.Logger
	retry     retryPolicy
	session   *session // nil without WithSession
}

// New returns a Client for the gateways at gatewayURLs (http or https base
// URLs, optionally with a path prefix). The first is the preferred gateway,
// normally the caller's own region; the others are fallbacks in order.
func New(gatewayURLs []string, opts ...Option) (*Client, error) {
	if len(gatewayURLs) == 0 {
		return nil, invalidf("no gateway URLs")
	}
	cfg := config{
		userAgent:     DefaultUserAgent,
		logger:        slog.New(slog.DiscardHandler),
		retry:         defaultRetry,
		failbackAfter: DefaultFailbackAfter,
	}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if cfg.err != nil {
		return nil, cfg.err
	}
	urls := make([]*url.URL, 0, len(gatewayURLs))
	for _, s := range gatewayURLs {
		u, err := parseGatewayURL(s)
		if err != nil {
			return nil, err
		}
		urls = append(urls, u)
	}
	hc := cfg.httpClient
	if hc == nil {
		hc = &http.Client{Timeout: defaultAttemptTimeout}
	}
	c := &Client{
		gateways:  &gatewaySet{urls: urls, failbackAfter: cfg.failbackAfter},
		http:      hc,
		token:     cfg.token,
		userAgent: cfg.userAgent,
		log:       cfg.logger,
		retry:     cfg.retry,
	}
	if cfg.session {
		c.session = newSession()
	}
	return c, nil
}

func parseGatewayURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, invalidf("gateway URL %q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, invalidf("gateway URL %q: scheme must be http or https", s)
	}
	if u.Host == "" {
		return nil, invalidf("gateway URL %q: no host", s)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, invalidf("gateway URL %q: no query, fragment or user info allowed", s)
	}
	return u, nil
}

// Get reads one object. With WithSession, it sees this Client's writes of
// the object.
func (c *Client) Get(ctx context.Context, ns, name string, opts ...ReadOption) (*Object, error) {
	if err := checkObjectName(ns, name); err != nil {
		return nil, err
	}
	ro, err := collectRead(opts)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, &request{
		method: http.MethodGet,
		path:   objectPath(ns, name),
		query:  ro.query(c.session.objectFloor(ns, name)),
	})
	if err != nil {
		return nil, err
	}
	return decodeObject(resp, ns, name)
}

// List reads a namespace's objects. With WithSession, it reflects at least
// this Client's latest write in the namespace.
func (c *Client) List(ctx context.Context, ns string, opts ...ReadOption) (*List, error) {
	if err := checkName("namespace", ns); err != nil {
		return nil, err
	}
	ro, err := collectRead(opts)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, &request{
		method: http.MethodGet,
		path:   strings.Replace(api.RouteObjects, "{ns}", url.PathEscape(ns), 1),
		query:  ro.query(c.session.namespaceFloor(ns)),
	})
	if err != nil {
		return nil, err
	}
	var body api.ObjectList
	if err := json.Unmarshal(resp.body, &body); err != nil {
		return nil, fmt.Errorf("cpgw: decode list of %s: %w", ns, err)
	}
	info := resp.info()
	l := &List{Items: make([]Object, len(body.Items)), Revision: body.Revision, Info: info}
	for i, it := range body.Items {
		l.Items[i] = Object{Metadata: it.Metadata, Value: it.Value, Info: info}
	}
	return l, nil
}

// Put creates or replaces an object. value must marshal to a JSON object;
// json.RawMessage and []byte are taken as JSON text as they are. Anything
// else (null, arrays, scalars, invalid JSON) is refused with ErrInvalid
// before sending.
//
// The write carries an idempotency key (IdempotencyKey, or a generated one)
// that every retry repeats, so it is applied at most once.
func (c *Client) Put(ctx context.Context, ns, name string, value any, opts ...WriteOption) (*Object, error) {
	if err := checkObjectName(ns, name); err != nil {
		return nil, err
	}
	body, err := objectJSON(value)
	if err != nil {
		return nil, err
	}
	wo, err := collectWrite(opts)
	if err != nil {
		return nil, err
	}
	if wo.ifMatch != nil && wo.ifNoneMatch {
		return nil, invalidf("IfMatch and IfNoneMatch together")
	}
	return c.write(ctx, ns, name, &request{
		method: http.MethodPut,
		path:   objectPath(ns, name),
		header: wo.header(),
		body:   body,
	})
}

// Delete deletes an object and returns the delete's metadata: Deleted is
// set and Version is the revision of the delete. A missing object is
// ErrNotFound. Like Put, it carries one idempotency key across retries.
func (c *Client) Delete(ctx context.Context, ns, name string, opts ...WriteOption) (*Object, error) {
	if err := checkObjectName(ns, name); err != nil {
		return nil, err
	}
	wo, err := collectWrite(opts)
	if err != nil {
		return nil, err
	}
	if wo.ifNoneMatch {
		return nil, invalidf("IfNoneMatch on Delete")
	}
	obj, err := c.write(ctx, ns, name, &request{
		method: http.MethodDelete,
		path:   objectPath(ns, name),
		header: wo.header(),
	})
	if err != nil {
		return nil, err
	}
	obj.Deleted = true // the status says so, whatever the body did
	return obj, nil
}

// write sends a Put or Delete and records its version in the session.
func (c *Client) write(ctx context.Context, ns, name string, r *request) (*Object, error) {
	resp, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	obj, err := decodeObject(resp, ns, name)
	if err != nil {
		return nil, err
	}
	obj.Info.IdempotencyKey = r.header.Get(api.HeaderIdempotencyKey)
	c.session.wrote(ns, name, obj.Version)
	return obj, nil
}

// SetNamespace stores a namespace's settings, e.g. its home region, and
// returns them as the gateway does (with the namespace's shard). Only
// IdempotencyKey applies of the write options.
func (c *Client) SetNamespace(ctx context.Context, ns string, settings api.NamespaceSettings, opts ...WriteOption) (*api.NamespaceSettings, error) {
	if err := checkName("namespace", ns); err != nil {
		return nil, err
	}
	wo, err := collectWrite(opts)
	if err != nil {
		return nil, err
	}
	if wo.ifMatch != nil || wo.ifNoneMatch {
		return nil, invalidf("IfMatch or IfNoneMatch on SetNamespace")
	}
	body, err := json.Marshal(settings)
	if err != nil {
		return nil, invalidf("namespace settings: %w", err)
	}
	resp, err := c.do(ctx, &request{
		method: http.MethodPut,
		path:   strings.Replace(api.RouteNamespace, "{ns}", url.PathEscape(ns), 1),
		header: wo.header(),
		body:   body,
	})
	if err != nil {
		return nil, err
	}
	var out api.NamespaceSettings
	if len(bytes.TrimSpace(resp.body)) > 0 {
		if err := json.Unmarshal(resp.body, &out); err != nil {
			return nil, fmt.Errorf("cpgw: decode settings of %s: %w", ns, err)
		}
	}
	return &out, nil
}

// Shards returns the shard map: each shard's owner, region, address,
// fencing token and remaining lease.
func (c *Client) Shards(ctx context.Context) (*api.ShardMap, error) {
	resp, err := c.do(ctx, &request{method: http.MethodGet, path: api.RouteShards})
	if err != nil {
		return nil, err
	}
	var m api.ShardMap
	if err := json.Unmarshal(resp.body, &m); err != nil {
		return nil, fmt.Errorf("cpgw: decode shard map: %w", err)
	}
	return &m, nil
}

func objectPath(ns, name string) string {
	return strings.NewReplacer("{ns}", url.PathEscape(ns), "{name}", url.PathEscape(name)).Replace(api.RouteObject)
}

// checkName refuses a bad name without a round trip, and keeps it from
// changing the request path ("..", "/").
func checkName(what, s string) error {
	if !api.ValidName(s) {
		return invalidf("%s name %q: want %s", what, s, api.NamePattern)
	}
	return nil
}

func checkObjectName(ns, name string) error {
	if err := checkName("namespace", ns); err != nil {
		return err
	}
	return checkName("object", name)
}

func collectRead(opts []ReadOption) (readOptions, error) {
	var o readOptions
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	return o, o.err
}

// query is the read's query string; floor is the session's minVersion.
func (o readOptions) query(floor uint64) url.Values {
	q := url.Values{}
	if o.consistency != "" {
		q.Set(api.QueryConsistency, string(o.consistency))
	}
	if o.maxStaleness != nil {
		q.Set(api.QueryMaxStaleness, o.maxStaleness.String())
	}
	if v := max(o.minVersion, floor); v > 0 {
		q.Set(api.QueryMinVersion, strconv.FormatUint(v, 10))
	}
	return q
}

func collectWrite(opts []WriteOption) (writeOptions, error) {
	var o writeOptions
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	if o.err == nil && o.key == "" {
		o.key = newIdempotencyKey()
	}
	return o, o.err
}

// header is the write's headers, idempotency key included.
func (o writeOptions) header() http.Header {
	h := http.Header{}
	h.Set(api.HeaderIdempotencyKey, o.key)
	if o.ifMatch != nil {
		h.Set("If-Match", formatETag(*o.ifMatch))
	}
	if o.ifNoneMatch {
		h.Set("If-None-Match", "*")
	}
	return h
}

// newIdempotencyKey returns 128 random bits as 26 base32 characters:
// printable ASCII, well inside the API's 255.
func newIdempotencyKey() string { return rand.Text() }

// objectJSON is value as the JSON object a Put sends.
func objectJSON(value any) ([]byte, error) {
	var data []byte
	switch v := value.(type) {
	case nil:
		return nil, invalidf("value is nil, want a JSON object")
	case json.RawMessage:
		data = v
	case []byte:
		data = v
	default:
		b, err := json.Marshal(value)
		if err != nil {
			return nil, invalidf("value: %w", err)
		}
		data = b
	}
	if !json.Valid(data) {
		return nil, invalidf("value is not valid JSON")
	}
	if t := bytes.TrimLeft(data, " \t\r\n"); t[0] != '{' {
		return nil, invalidf("value is a JSON %s, want an object", jsonKind(t[0]))
	}
	return data, nil
}

func jsonKind(first byte) string {
	switch first {
	case '[':
		return "array"
	case '"':
		return "string"
	case 'n':
		return "null"
	case 't', 'f':
		return "boolean"
	}
	return "number"
}

// decodeObject reads an object response. An empty body (a DELETE answered
// 204) yields the names from the request and the version from the ETag.
func decodeObject(resp *response, ns, name string) (*Object, error) {
	var body api.Object
	if len(bytes.TrimSpace(resp.body)) > 0 {
		if err := json.Unmarshal(resp.body, &body); err != nil {
			return nil, fmt.Errorf("cpgw: decode %s/%s: %w", ns, name, err)
		}
	}
	obj := &Object{Metadata: body.Metadata, Value: body.Value, Info: resp.info()}
	if obj.Namespace == "" && obj.Name == "" {
		obj.Namespace, obj.Name = ns, name
	}
	if obj.Version == 0 {
		if v, ok := parseETag(resp.header.Get("ETag")); ok {
			obj.Version = v
		}
	}
	if string(obj.Value) == "null" {
		obj.Value = nil
	}
	return obj, nil
}

func (r *response) info() ResponseInfo {
	info := responseInfo(r.status, r.header)
	info.Gateway, info.Attempts = r.gateway, r.attempts
	return info
}
