package gateway

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cpgw/cpgw/api"
)

// TestWriteObjectMatchesWriteJSON: the fast writer sends what writeJSON
// sends, headers included, and writeJSON's 500 when encoding fails.
func TestWriteObjectMatchesWriteJSON(t *testing.T) {
	good := api.Object{Metadata: api.Metadata{Namespace: "n", Name: "o", Version: 1, UpdatedAt: time.Unix(5, 0).UTC()},
		Value: json.RawMessage(`{"a":1}`)}
	bad := good
	bad.Value = json.RawMessage(`{`)
	for _, tc := range []struct {
		name string
		obj  api.Object
	}{{"ok", good}, {"encoding fails", bad}} {
		t.Run(tc.name, func(t *testing.T) {
			want, got := httptest.NewRecorder(), httptest.NewRecorder()
			writeJSON(want, http.StatusOK, tc.obj)
			writeObject(got, http.StatusOK, &tc.obj)
			if got.Code != want.Code || got.Body.String() != want.Body.String() {
				t.Errorf("writeObject: %d %q, writeJSON: %d %q", got.Code, got.Body, want.Code, want.Body)
			}
			for _, k := range []string{"Content-Type", "Content-Length"} {
				if got.Header().Get(k) != want.Header().Get(k) {
					t.Errorf("%s: %q, want %q", k, got.Header().Get(k), want.Header().Get(k))
				}
			}
		})
	}
}

// TestLocalHeaderKeys: readLocal assigns header keys directly, which is
// only the same as Header.Set for keys in canonical form.
func TestLocalHeaderKeys(t *testing.T) {
	for _, k := range []string{api.HeaderConsistency, api.HeaderServedBy, api.HeaderStalenessMs, headerETag, api.HeaderRequestID, "Content-Type", "Content-Length"} {
		if c := http.CanonicalHeaderKey(k); c != k {
			t.Errorf("header key %q is not canonical (%q)", k, c)
		}
	}
}
