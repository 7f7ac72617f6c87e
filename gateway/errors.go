package gateway

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/cpgw/cpgw/api"
	"github.com/cpgw/cpgw/internal/objectjson"
)

// retryAfterSeconds is the Retry-After of the gateway's own 503s: long
// enough for a lease to move or a refresh to land, short enough that a
// client does not sit idle through a quick failover.
const retryAfterSeconds = 1

// writeJSON writes v as the JSON body of a response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only the gateway's own types reach here; a failure is a bug, and
		// the client still deserves a well-formed error.
		status = http.StatusInternalServerError
		body = []byte(`{"error":{"code":"internal","message":"response encoding failed"}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// writeObject writes o like writeJSON, without reflection and with a
// pooled buffer: it is the local read's response.
func writeObject(w http.ResponseWriter, status int, o *api.Object) {
	buf := getBuf()
	defer putBuf(buf)
	body, ok := objectjson.Append((*buf)[:0], o)
	if !ok {
		// encoding/json decides, 500 included. A copy, so that only this
		// rare path moves the object to the heap.
		slow := *o
		writeJSON(w, status, &slow)
		return
	}
	body = append(body, '\n')
	*buf = body // keep the grown buffer for the next response
	// Canonical keys assigned directly, with one backing array, instead of
	// one allocation per Set.
	vals := []string{"application/json", strconv.Itoa(len(body))}
	h := w.Header()
	h["Content-Type"] = vals[0:1:1]
	h["Content-Length"] = vals[1:2:2]
	w.WriteHeader(status)
	// net/http copies the body into its own buffer before Write returns,
	// so the pooled buffer may be reused afterwards.
	w.Write(body)
}

// writeError writes an api.ErrorBody. 503 and 429 always carry Retry-After
// (the contract's promise), the caller's own if it set one.
func writeError(w http.ResponseWriter, status int, code, message string) {
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		if w.Header().Get(api.HeaderRetryAfter) == "" {
			w.Header().Set(api.HeaderRetryAfter, strconv.Itoa(retryAfterSeconds))
		}
	}
	writeJSON(w, status, api.ErrorBody{Error: api.Error{Code: code, Message: message}})
}

// badRequest is a 400 with the given code.
func badRequest(w http.ResponseWriter, code, message string) {
	writeError(w, http.StatusBadRequest, code, message)
}

// noOwner is the 503 a client may retry: nothing was applied.
func noOwner(w http.ResponseWriter, message string) {
	writeError(w, http.StatusServiceUnavailable, api.CodeNoOwner, message)
}
