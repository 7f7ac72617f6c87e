package coordinator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"sync"

	"github.com/cpgw/cpgw/api"
	"github.com/cpgw/cpgw/internal/objectjson"
	"github.com/cpgw/cpgw/store"
)

// reply is a response waiting to be written: status, extra headers and a
// body marshalled as JSON. Writers build replies; handlers send them.
type reply struct {
	status int
	header http.Header
	body   any
}

// send writes rep. The body is marshalled in one go, so a replayed response
// is byte for byte the first one.
func send(w http.ResponseWriter, r *http.Request, rep reply) {
	var b []byte
	var err error
	if o, ok := rep.body.(api.Object); ok {
		// Every object read and write answers with one: encoded by hand,
		// to the same bytes (package objectjson).
		b, err = objectjson.Marshal(make([]byte, 0, 256+len(o.Value)), &o)
	} else {
		b, err = json.Marshal(rep.body)
	}
	if err != nil {
		logger(r.Context()).Error("marshal response", "err", err)
		rep = newError(http.StatusInternalServerError, api.CodeInternal, "could not encode the response").reply()
		b, _ = json.Marshal(rep.body)
	}
	h := w.Header()
	for k, vs := range rep.header {
		h[k] = vs
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(rep.status)
	_, _ = w.Write(append(b, '\n'))
}

func sendError(w http.ResponseWriter, r *http.Request, e *apiError) { send(w, r, e.reply()) }

// etag is the ETag of an object version.
func etag(version uint64) string { return `"` + strconv.FormatUint(version, 10) + `"` }

// apiObject turns a stored object into its wire form.
func apiObject(o store.Object) api.Object {
	return api.Object{
		Metadata: api.Metadata{
			Namespace:    o.Namespace,
			Name:         o.Name,
			Version:      o.Version,
			Shard:        o.Shard,
			FencingToken: uint64(o.Token),
			UpdatedAt:    o.UpdatedAt.UTC(),
		},
		Value: json.RawMessage(o.Value),
	}
}

// Request ids and per-request loggers.

type loggerKey struct{}

// requestLog is the request's logger, built with its request_id attribute
// only when something logs: most requests log nothing at the default
// level, and slog.Logger.With was about 3% of an owner's CPU per write.
type requestLog struct {
	base *slog.Logger
	id   string
	once sync.Once
	l    *slog.Logger
}

func (rl *requestLog) logger() *slog.Logger {
	rl.once.Do(func() { rl.l = rl.base.With("request_id", rl.id) })
	return rl.l
}

// withLogger returns ctx carrying the request's logger: base with the
// request's id.
func withLogger(ctx context.Context, base *slog.Logger, id string) (context.Context, *requestLog) {
	rl := &requestLog{base: base, id: id}
	return context.WithValue(ctx, loggerKey{}, rl), rl
}

// logger returns the request's logger (which carries its request id).
func logger(ctx context.Context) *slog.Logger {
	if rl, ok := ctx.Value(loggerKey{}).(*requestLog); ok {
		return rl.logger()
	}
	return slog.Default()
}

// maxRequestID bounds the request ids accepted from callers; longer or
// non-printable ones are replaced, so logs stay readable.
const maxRequestID = 128

func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestID {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= 0x20 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}
