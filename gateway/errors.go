package gateway

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/cpgw/cpgw/api"
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
