package gateway

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cpgw/cpgw/api"
)

// TestInputValidation: every malformed request gets its exact status and
// code, and nothing reaches a coordinator or the replica.
func TestInputValidation(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	coord := newStub(t, func(n int, w http.ResponseWriter, r *http.Request) { created(w, r) })
	for _, ns := range []string{"payments", "a", "b"} {
		h.own(ns, "c1", coord.URL, true)
	}
	obj := "/v1/namespaces/payments/objects/limits"
	long := strings.Repeat("a", 254)
	big := `{"a":"` + strings.Repeat("x", api.MaxBodyBytes) + `"}`

	cases := []struct {
		name         string
		method, path string
		body         string
		hdr          map[string]string
		status       int
		code         string
	}{
		// Names.
		{"escaped slash in namespace", "PUT", "/v1/namespaces/a%2Fb/objects/x", `{}`, jsonHdr(nil), 400, api.CodeInvalidName},
		{"escaped slash in name", "GET", "/v1/namespaces/a/objects/x%2Fy", "", nil, 400, api.CodeInvalidName},
		{"dot-dot namespace", "PUT", "/v1/namespaces/../objects/x", `{}`, jsonHdr(nil), 400, api.CodeInvalidName},
		{"dot-dot name", "DELETE", "/v1/namespaces/a/objects/..", "", nil, 400, api.CodeInvalidName},
		{"unicode namespace", "PUT", "/v1/namespaces/caf%C3%A9/objects/x", `{}`, jsonHdr(nil), 400, api.CodeInvalidName},
		{"upper case name", "PUT", "/v1/namespaces/a/objects/Limits", `{}`, jsonHdr(nil), 400, api.CodeInvalidName},
		{"empty namespace", "PUT", "/v1/namespaces//objects/x", `{}`, jsonHdr(nil), 400, api.CodeInvalidName},
		{"empty object name", "PUT", "/v1/namespaces/a/objects/", `{}`, jsonHdr(nil), 400, api.CodeInvalidName},
		{"empty namespace in list", "GET", "/v1/namespaces//objects", "", nil, 400, api.CodeInvalidName},
		{"leading dash", "GET", "/v1/namespaces/-a/objects/x", "", nil, 400, api.CodeInvalidName},
		{"trailing dot", "GET", "/v1/namespaces/a./objects/x", "", nil, 400, api.CodeInvalidName},
		{"too long", "GET", "/v1/namespaces/" + long + "/objects/x", "", nil, 400, api.CodeInvalidName},
		{"double-encoded", "GET", "/v1/namespaces/%2561/objects/x", "", nil, 400, api.CodeInvalidName},
		{"escaped space", "GET", "/v1/namespaces/a%20b/objects/x", "", nil, 400, api.CodeInvalidName},
		{"hash-tag brace", "GET", "/v1/namespaces/%7Bs1%7D/objects/x", "", nil, 400, api.CodeInvalidName},
		{"namespace settings bad name", "PUT", "/v1/namespaces/Bad", `{}`, jsonHdr(nil), 400, api.CodeInvalidName},
		{"watch bad name", "GET", "/v1/namespaces/a%2Fb/watch", "", nil, 400, api.CodeInvalidName},

		// Bodies and media types.
		{"no content type", "PUT", obj, `{}`, nil, 415, api.CodeUnsupportedMedia},
		{"text/plain", "PUT", obj, `{}`, map[string]string{"Content-Type": "text/plain"}, 415, api.CodeUnsupportedMedia},
		{"latin1 charset", "PUT", obj, `{}`, map[string]string{"Content-Type": "application/json; charset=latin1"}, 415, api.CodeUnsupportedMedia},
		{"malformed content type", "PUT", obj, `{}`, map[string]string{"Content-Type": "application/json; ==="}, 415, api.CodeUnsupportedMedia},
		{"body too large", "PUT", obj, big, jsonHdr(nil), 413, api.CodeBodyTooLarge},
		{"array body", "PUT", obj, `[1,2]`, jsonHdr(nil), 400, api.CodeInvalidBody},
		{"string body", "PUT", obj, `"x"`, jsonHdr(nil), 400, api.CodeInvalidBody},
		{"broken json", "PUT", obj, `{"a":`, jsonHdr(nil), 400, api.CodeInvalidBody},
		{"two objects", "PUT", obj, `{}{}`, jsonHdr(nil), 400, api.CodeInvalidBody},
		{"empty body", "PUT", obj, ``, jsonHdr(nil), 400, api.CodeInvalidBody},
		{"namespace settings not an object", "PUT", "/v1/namespaces/a", `null`, jsonHdr(nil), 400, api.CodeInvalidBody},
		{"namespace settings too large", "PUT", "/v1/namespaces/a", big, jsonHdr(nil), 413, api.CodeBodyTooLarge},

		// Write headers.
		{"idempotency key too long", "PUT", obj, `{}`, jsonHdr(map[string]string{api.HeaderIdempotencyKey: strings.Repeat("k", 256)}), 400, api.CodeInvalidParameter},
		{"idempotency key not ASCII", "DELETE", obj, "", map[string]string{api.HeaderIdempotencyKey: "ключ"}, 400, api.CodeInvalidParameter},
		{"if-match unquoted", "PUT", obj, `{}`, jsonHdr(map[string]string{"If-Match": "7"}), 400, api.CodeInvalidParameter},
		{"if-match not a version", "DELETE", obj, "", map[string]string{"If-Match": `"seven"`}, 400, api.CodeInvalidParameter},
		{"if-none-match not star", "PUT", obj, `{}`, jsonHdr(map[string]string{"If-None-Match": `"7"`}), 400, api.CodeInvalidParameter},
		{"both conditions", "PUT", obj, `{}`, jsonHdr(map[string]string{"If-Match": `"7"`, "If-None-Match": "*"}), 400, api.CodeInvalidParameter},
		{"create-only delete", "DELETE", obj, "", map[string]string{"If-None-Match": "*"}, 400, api.CodeInvalidParameter},
		// Namespace settings carry no version: a condition would be ignored.
		{"conditional namespace settings", "PUT", "/v1/namespaces/a", `{}`, jsonHdr(map[string]string{"If-Match": `"1"`}), 400, api.CodeInvalidParameter},
		{"create-only namespace settings", "PUT", "/v1/namespaces/a", `{}`, jsonHdr(map[string]string{"If-None-Match": "*"}), 400, api.CodeInvalidParameter},

		// Read parameters.
		{"unknown consistency", "GET", obj + "?consistency=eventual", "", nil, 400, api.CodeInvalidParameter},
		{"empty consistency", "GET", obj + "?consistency=", "", nil, 400, api.CodeInvalidParameter},
		{"two consistencies", "GET", obj + "?consistency=local&consistency=strong", "", nil, 400, api.CodeInvalidParameter},
		{"maxStaleness not a duration", "GET", obj + "?maxStaleness=5", "", nil, 400, api.CodeInvalidParameter},
		{"maxStaleness negative", "GET", obj + "?maxStaleness=-1s", "", nil, 400, api.CodeInvalidParameter},
		{"minVersion negative", "GET", obj + "?minVersion=-1", "", nil, 400, api.CodeInvalidParameter},
		{"minVersion not a number", "GET", obj + "?minVersion=x", "", nil, 400, api.CodeInvalidParameter},
		{"minVersion overflow", "GET", obj + "?minVersion=18446744073709551616", "", nil, 400, api.CodeInvalidParameter},
		{"strong read with bad minVersion", "GET", obj + "?consistency=strong&minVersion=x", "", nil, 400, api.CodeInvalidParameter},
		{"list with bad consistency", "GET", "/v1/namespaces/a/objects?consistency=LOCAL", "", nil, 400, api.CodeInvalidParameter},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			readsBefore := h.counter("cpgw_gateway_reads_total")
			resp := h.do(c.method, c.path, c.body, c.hdr)
			wantError(t, resp, c.status, c.code)
			if n := coord.count(); n != 0 {
				t.Fatalf("the coordinator saw %d requests; want none", n)
			}
			if d := h.counter("cpgw_gateway_reads_total") - readsBefore; d != 0 {
				t.Fatalf("%v reads were served; want none", d)
			}
		})
	}
}

// TestValidInputForwarded: what the table above refuses has valid
// neighbours that pass: escapes of valid characters, a charset parameter,
// and the edges of the name grammar.
func TestValidInputForwarded(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	coord := newStub(t, func(n int, w http.ResponseWriter, r *http.Request) { created(w, r) })
	h.own("abc", "c1", coord.URL, true)
	name253 := strings.Repeat("a", 253)
	cases := []struct {
		name, path, ct, wantPath string
	}{
		{"escaped letter", "/v1/namespaces/%61bc/objects/x", "application/json", api.InternalObjectPath(h.shardOf("abc"), "abc", "x")},
		{"charset utf-8", "/v1/namespaces/abc/objects/x", "application/json; charset=UTF-8", api.InternalObjectPath(h.shardOf("abc"), "abc", "x")},
		{"grammar edges", "/v1/namespaces/abc/objects/0.a_b-c9", "application/json", api.InternalObjectPath(h.shardOf("abc"), "abc", "0.a_b-c9")},
		{"longest name", "/v1/namespaces/abc/objects/" + name253, "application/json", api.InternalObjectPath(h.shardOf("abc"), "abc", name253)},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := h.do("PUT", c.path, ` {"a": 1} `, map[string]string{"Content-Type": c.ct})
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("status %d: %s", resp.StatusCode, readAll(t, resp))
			}
			reqs := coord.requests()
			if len(reqs) != i+1 {
				t.Fatalf("coordinator saw %d requests, want %d", len(reqs), i+1)
			}
			if got := reqs[i].Path; got != c.wantPath {
				t.Fatalf("forwarded to %s, want %s", got, c.wantPath)
			}
		})
	}
}
