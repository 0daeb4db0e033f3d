package cdmi_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/spec-tests/harness"
)

// Content types of CDMI objects, RFC 6208 and CDMI 1.1.1 §5.13.2.
const (
	ctObject     = "application/cdmi-object"
	ctContainer  = "application/cdmi-container"
	ctCapability = "application/cdmi-capability"
	ctDomain     = "application/cdmi-domain"
	ctQueue      = "application/cdmi-queue"
	// specVersion is what the suite's CDMI requests ask for.
	specVersion = "1.1.1"
)

// rootURL is the absolute URL of the root container, with its trailing
// slash: every URI in a CDMI body is relative to it (CDMI 1.1.1 §5.13.5).
func rootURL(t testing.TB) string {
	t.Helper()
	root := os.Getenv("OCCICDMI_CDMI_ROOT")
	if root == "" {
		root = "/cdmi"
	}
	return harness.URL(t) + "/" + strings.Trim(root, "/") + "/"
}

// resolve turns a URI found in a CDMI body or header into an absolute URL,
// per RFC 3986 §5.2 against the root URI (CDMI 1.1.1 §5.13.5, Table 5).
func resolve(t testing.TB, ref string) string {
	t.Helper()
	base, err := url.Parse(rootURL(t))
	require.NoError(t, err)
	r, err := url.Parse(ref)
	require.NoError(t, err, "URI %q", ref)
	return base.ResolveReference(r).String()
}

// samePath compares two URLs by their escaped path, the part CDMI names.
func pathOf(t testing.TB, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	require.NoError(t, err)
	return p.EscapedPath()
}

// hdr builds a header for a CDMI request: the version header every CDMI
// request carries (CDMI 1.1.1 §8.2.4, Table 20) and the given content types.
func hdr(contentType, accept string) http.Header {
	h := http.Header{}
	h.Set("X-CDMI-Specification-Version", specVersion)
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	if accept != "" {
		h.Set("Accept", accept)
	}
	return h
}

// obj is a decoded CDMI JSON body.
type obj map[string]any

func (o obj) str(k string) string { s, _ := o[k].(string); return s }

func (o obj) meta() map[string]any { m, _ := o["metadata"].(map[string]any); return m }

func (o obj) list(k string) []any { l, _ := o[k].([]any); return l }

func jsonBody(t testing.TB, v any) io.Reader {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return bytes.NewReader(b)
}

func decode(t testing.TB, body []byte) obj {
	t.Helper()
	var o obj
	require.NoError(t, json.Unmarshal(body, &o), "body is not a JSON object: %.300s", body)
	return o
}

// mediaType returns the Content-Type without parameters.
func mediaType(resp *http.Response) string {
	ct := resp.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.TrimSpace(strings.ToLower(ct))
}

// expect asserts the status and fails the test with the body when it
// differs: the body carries the server's explanation.
func expect(t testing.TB, resp *http.Response, body []byte, codes ...int) {
	t.Helper()
	for _, c := range codes {
		if resp.StatusCode == c {
			return
		}
	}
	t.Fatalf("%s %s: status %d, want %v; body: %.500s", resp.Request.Method, resp.Request.URL, resp.StatusCode, codes, body)
}

// expect4xx asserts a client error that explains itself (DESIGN: bad input
// gets a 4xx with a message naming the problem).
func expect4xx(t testing.TB, resp *http.Response, body []byte, codes ...int) {
	t.Helper()
	if len(codes) > 0 {
		assert.Contains(t, codes, resp.StatusCode, "%s %s: body %.300s", resp.Request.Method, resp.Request.URL, body)
	}
	assert.True(t, resp.StatusCode >= 400 && resp.StatusCode < 500, "%s %s: status %d, want 4xx; body %.300s", resp.Request.Method, resp.Request.URL, resp.StatusCode, body)
	assert.NotEmpty(t, strings.TrimSpace(string(body)), "%s %s: a %d with no message", resp.Request.Method, resp.Request.URL, resp.StatusCode)
}

// uniq returns a name no other test or run uses.
func uniq(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// get reads a CDMI object and decodes it, asserting 200.
func get(t testing.TB, u, accept string) (*http.Response, obj) {
	t.Helper()
	resp, body := harness.Do(t, http.MethodGet, u, hdr("", accept), nil)
	expect(t, resp, body, http.StatusOK)
	// Every CDMI response names the version it speaks (Mandatory in each
	// response-header table, e.g. §8.3.5) and its CDMI content type.
	assert.NotEmpty(t, resp.Header.Get("X-CDMI-Specification-Version"), "GET %s: no X-CDMI-Specification-Version", u)
	assert.True(t, strings.HasPrefix(mediaType(resp), "application/cdmi-"), "GET %s: Content-Type %q", u, resp.Header.Get("Content-Type"))
	return resp, decode(t, body)
}

// status returns the status of a GET without decoding.
func status(t testing.TB, u string, h http.Header) int {
	t.Helper()
	resp, _ := harness.Do(t, http.MethodGet, u, h, nil)
	return resp.StatusCode
}

// mkcontainer creates a container at u (which ends in "/") with the given
// body and returns the decoded response.
func mkcontainer(t testing.TB, u string, body any) obj {
	t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	resp, b := harness.Do(t, http.MethodPut, u, hdr(ctContainer, ctContainer), jsonBody(t, body))
	expect(t, resp, b, http.StatusCreated)
	return decode(t, b)
}

// testContainer makes a uniquely named container under the root for one
// test and deletes it, with everything below it, when the test ends.
func testContainer(t testing.TB) string {
	t.Helper()
	u := rootURL(t) + uniq("spec") + "/"
	mkcontainer(t, u, nil)
	t.Cleanup(func() { harness.Do(t, http.MethodDelete, u, hdr("", ""), nil) })
	return u
}

// putObject creates a data object with a CDMI body and returns the response
// body decoded.
func putObject(t testing.TB, u string, body any) obj {
	t.Helper()
	resp, b := harness.Do(t, http.MethodPut, u, hdr(ctObject, ctObject), jsonBody(t, body))
	expect(t, resp, b, http.StatusCreated)
	return decode(t, b)
}

// putRaw creates or replaces a data object with a non-CDMI PUT (CDMI 1.1.1
// §6.2).
func putRaw(t testing.TB, u, contentType string, value []byte) {
	t.Helper()
	h := http.Header{}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	resp, b := harness.Do(t, http.MethodPut, u, h, bytes.NewReader(value))
	expect(t, resp, b, http.StatusCreated, http.StatusNoContent)
}

// getRaw reads a value with a non-CDMI GET (CDMI 1.1.1 §6.3).
func getRaw(t testing.TB, u string, h http.Header) (*http.Response, []byte) {
	t.Helper()
	return harness.Do(t, http.MethodGet, u, h, nil)
}

// capsOf returns the capabilities of the object at u, read through its
// capabilitiesURI (CDMI 1.1.1 §12.1).
func capsOf(t testing.TB, u, accept string) map[string]any {
	t.Helper()
	_, o := get(t, u+"?capabilitiesURI", accept)
	require.NotEmpty(t, o.str("capabilitiesURI"), "%s has no capabilitiesURI", u)
	_, c := get(t, resolve(t, o.str("capabilitiesURI")), ctCapability)
	m, _ := c["capabilities"].(map[string]any)
	return m
}

// granted tells whether the capability object of the container at u
// grants name ("true", or a non-empty value for valued capabilities).
func granted(t testing.TB, u, name string) bool {
	t.Helper()
	accept := ctContainer
	if !strings.HasSuffix(u, "/") {
		accept = ctObject
	}
	switch v := capsOf(t, u, accept)[name].(type) {
	case string:
		return v != "" && v != "false"
	case []any:
		return len(v) > 0
	case bool:
		return v
	}
	return false
}

func stringsReader(s string) io.Reader { return strings.NewReader(s) }

// valueBytes decodes a CDMI value field by its valuetransferencoding
// (CDMI 1.1.1 §8.3.6).
func valueBytes(t testing.TB, o obj) []byte {
	t.Helper()
	switch o.str("valuetransferencoding") {
	case "base64":
		b, err := base64.StdEncoding.DecodeString(o.str("value"))
		require.NoError(t, err, "base64 value %q", o.str("value"))
		return b
	case "utf-8", "":
		return []byte(o.str("value"))
	}
	t.Fatalf("valuetransferencoding %q", o.str("valuetransferencoding"))
	return nil
}
