package cdmi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/occicdmi/occicdmi/spec-tests/harness"
)

// Hostile inputs of issue 12 (items 6, 7, 8), the same answer on SQLite
// and PostgreSQL (OCCICDMI_DATABASE=postgres://... runs this suite there).
// RFC 8259 §8.1 (JSON is UTF-8) and §8.2 (a lone surrogate is no
// character): invalid UTF-8 in names, metadata and utf-8 values is 400,
// not stored as U+FFFD; a mimetype longer than its 255-byte column is 400;
// a value range past the server's maximum value size (README "Limits") is
// 413, never 503, and names no server path. Nothing changes.
func TestHostileInput(t *testing.T) {
	c := testContainer(t)
	obj := c + "keep.txt"
	putObject(t, obj, map[string]any{"value": "original", "mimetype": "text/plain", "metadata": map[string]any{"k": "v"}})
	_, before := get(t, obj, ctObject)
	_, cbefore := get(t, c, ctContainer)

	cases := []struct {
		name, method, url, ctype, body string
		header                         map[string]string
		want                           int
	}{
		{"metadata value with byte 0xFF", http.MethodPut, obj, ctObject, "{\"metadata\": {\"k\": \"bad \xff\"}}", nil, 400},
		{"metadata name with byte 0xFF", http.MethodPut, obj, ctObject, "{\"metadata\": {\"k\xff\": \"v\"}}", nil, 400},
		{"metadata value with a lone surrogate", http.MethodPut, obj, ctObject, `{"metadata": {"k": "\ud800"}}`, nil, 400},
		{"metadata value with NUL", http.MethodPut, obj, ctObject, `{"metadata": {"k": "a\u0000b"}}`, nil, 400},
		{"utf-8 value with byte 0xFF", http.MethodPut, obj, ctObject, "{\"valuetransferencoding\": \"utf-8\", \"value\": \"x\xffy\"}", nil, 400},
		{"utf-8 value with overlong UTF-8", http.MethodPut, obj, ctObject, "{\"value\": \"x\xc0\xafy\"}", nil, 400},
		{"utf-8 value with a lone surrogate", http.MethodPut, obj, ctObject, `{"value": "x\udc00y"}`, nil, 400},
		{"new name with byte 0xFF", http.MethodPut, c + "bad%FFname", ctObject, `{"value": "x"}`, nil, 400},
		{"new name with overlong UTF-8", http.MethodPut, c + "bad%C0%AFname", ctObject, `{"value": "x"}`, nil, 400},
		{"new name with NUL", http.MethodPut, c + "bad%00name", ctObject, `{"value": "x"}`, nil, 400},
		{"300-character mimetype (CDMI)", http.MethodPut, obj, ctObject, `{"mimetype": "text/` + strings.Repeat("x", 295) + `", "value": "new"}`, nil, 400},
		{"300-character mimetype (non-CDMI)", http.MethodPut, obj, "text/" + strings.Repeat("x", 295), "new", nil, 400},
		{"300-character mimetype (new object)", http.MethodPut, c + "mt", ctObject, `{"mimetype": "text/` + strings.Repeat("x", 295) + `", "value": "new"}`, nil, 400},
		{"Content-Range at 2^63-10", http.MethodPut, obj, "text/plain", "0123456789", map[string]string{"Content-Range": "bytes 9223372036854775798-9223372036854775807/*"}, 413},
		{"Content-Range past 2^63", http.MethodPut, obj, "text/plain", "0123456789", map[string]string{"Content-Range": "bytes 9223372036854775808-9223372036854775817/*"}, 400},
		{"10 bytes at offset 1 TiB", http.MethodPut, obj, "text/plain", "0123456789", map[string]string{"Content-Range": "bytes 1099511627776-1099511627785/*"}, 413},
		{"?value: at 2^62", http.MethodPut, obj + "?value:4611686018427387904-4611686018427387907", ctObject, `{"value": "dGhhdA==", "valuetransferencoding": "base64"}`, nil, 413},
		{"negative ?value:", http.MethodPut, obj + "?value:-4-0", ctObject, `{"value": "dGhhdA=="}`, nil, 400},
	}
	for _, r := range cases {
		t.Run(r.name, func(t *testing.T) {
			h := hdr(r.ctype, "")
			if !strings.HasPrefix(r.ctype, "application/cdmi") {
				h.Del("X-CDMI-Specification-Version")
			}
			for k, v := range r.header {
				h.Set(k, v)
			}
			resp, body := harness.Do(t, r.method, r.url, h, strings.NewReader(r.body))
			expect4xx(t, resp, body, r.want)
			if r.want == 413 {
				assert.Contains(t, string(body), "--max-value-size", "the answer names the limit")
			}
			for _, p := range []string{"/tmp/", "/var/", "/home/", "/work/", "occicdmi-spec-"} {
				assert.NotContains(t, string(body), p, "the answer names a server path")
			}
		})
	}
	_, after := get(t, obj, ctObject)
	for _, k := range []string{"objectID", "value", "mimetype", "valuerange"} {
		assert.Equal(t, before[k], after[k], k)
	}
	assert.Equal(t, userMeta(before.meta()), userMeta(after.meta()))
	_, cafter := get(t, c, ctContainer)
	assert.Equal(t, cbefore.list("children"), cafter.list("children"), "no object appeared or vanished")
}

// CDMI 1.1.1 §16.4 (cdmi_assignedsize) and §13.6 (an OCCI export): a
// container whose volume would be larger than the server's maximum volume
// size is 400 naming the limit, never 503 with a server path; no
// container is left.
func TestHostileVolumeSize(t *testing.T) {
	c := testContainer(t)
	u := c + uniq("big") + "/"
	id := mkcontainer(t, u, map[string]any{}).str("objectID")
	body := `{"metadata": {"cdmi_assignedsize": "107374182400000"}, "exports": {"OCCI/NBD": {"identifier": "` + id + `", "permissions": []}}}`
	resp, b := harness.Do(t, http.MethodPut, u, hdr(ctContainer, ctContainer), strings.NewReader(body))
	expect4xx(t, resp, b, 400)
	assert.Contains(t, string(b), "maximum volume size", "the answer names the limit")
	assert.NotContains(t, string(b), "/tmp/")
	_, after := get(t, u, ctContainer)
	assert.Empty(t, after["exports"], "a refused export left an export")
	assert.NotContains(t, after.meta(), "cdmi_assignedsize", "a refused change was half-applied")
}
