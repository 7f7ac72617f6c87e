package coordinator

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/cpgw/cpgw/api"
)

// TestSendObjectAsEncodingJSON: send encodes an api.Object by hand; the
// bytes, Content-Length included, are encoding/json's, and an object
// encoding/json refuses gets the 500 it would.
func TestSendObjectAsEncodingJSON(t *testing.T) {
	obj := api.Object{
		Metadata: api.Metadata{Namespace: "n<s>", Name: "o", Version: 3, Shard: 2, FencingToken: 9,
			UpdatedAt: time.Date(2026, 12, 3, 10, 0, 0, 5, time.UTC)},
		Value: json.RawMessage(`{"a":[1,"x y"]}`),
	}
	spaced := obj
	spaced.Value = json.RawMessage(`{ "a" : 1 }`) // the encoding/json fallback
	bad := obj
	bad.Value = json.RawMessage(`{`)
	for _, tc := range []struct {
		name   string
		obj    api.Object
		status int
	}{
		{"typical", obj, http.StatusCreated},
		{"uncompacted value", spaced, http.StatusCreated},
		{"invalid value", bad, http.StatusInternalServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			send(rec, req, reply{status: http.StatusCreated, body: tc.obj})
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			want, err := json.Marshal(tc.obj)
			if err != nil {
				want, _ = json.Marshal(newError(http.StatusInternalServerError, api.CodeInternal, "could not encode the response").reply().body)
			}
			want = append(want, '\n')
			if got := rec.Body.String(); got != string(want) {
				t.Errorf("body\n got %s\nwant %s", got, want)
			}
			if cl := rec.Header().Get("Content-Length"); cl != strconv.Itoa(len(want)) {
				t.Errorf("Content-Length %s, want %d", cl, len(want))
			}
		})
	}
}
