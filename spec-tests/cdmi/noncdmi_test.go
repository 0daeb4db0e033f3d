package cdmi_test

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/spec-tests/harness"
)

// CDMI 1.1.1 §6.2, §6.3, §6.4, §6.5: plain HTTP create, read, update and
// delete of a data object; the Content-Type becomes the mimetype, and a
// request without one is accepted (real clients send none).
func TestNonCDMIDataObject(t *testing.T) {
	c := testContainer(t)
	u := c + "plain.html"
	putRaw(t, u, "text/html", []byte("<p>hi</p>"))
	resp, body := getRaw(t, u, nil)
	expect(t, resp, body, http.StatusOK)
	assert.Equal(t, "<p>hi</p>", string(body))
	assert.Equal(t, "text/html", mediaType(resp))
	// §6.2.3 Table 6: the Content-Type is the mimetype; without a
	// charset=utf-8 parameter the value travels base64 in CDMI reads.
	_, o := get(t, u, ctObject)
	assert.Equal(t, "text/html", o.str("mimetype"))
	assert.Equal(t, "base64", o.str("valuetransferencoding"))
	assert.Equal(t, base64.StdEncoding.EncodeToString([]byte("<p>hi</p>")), o.str("value"))
	assert.Equal(t, "0-8", o.str("valuerange"))
	// With charset=utf-8 it is utf-8.
	putRaw(t, c+"utf8.txt", "text/plain; charset=utf-8", []byte("grüße"))
	_, o = get(t, c+"utf8.txt", ctObject)
	assert.Equal(t, "utf-8", o.str("valuetransferencoding"))
	assert.Equal(t, "grüße", o.str("value"))
	assert.True(t, strings.HasPrefix(o.str("mimetype"), "text/plain"), "mimetype %q", o.str("mimetype"))

	// §6.4: a plain PUT replaces the value.
	putRaw(t, u, "text/html", []byte("<p>bye</p>"))
	_, body = getRaw(t, u, nil)
	assert.Equal(t, "<p>bye</p>", string(body))

	// No Content-Type at all: stored, served as application/octet-stream
	// (§6.2.3: Content-Type optional; RFC 2616 §7.2.1 default).
	n := c + "untyped"
	putRaw(t, n, "", []byte{1, 2, 3})
	resp, body = getRaw(t, n, nil)
	expect(t, resp, body, http.StatusOK)
	assert.Equal(t, []byte{1, 2, 3}, body)
	assert.Equal(t, "application/octet-stream", mediaType(resp))

	// A CDMI-created object reads back raw with its mimetype.
	putObject(t, c+"cdmi.json", map[string]any{"mimetype": "application/json", "value": `{"a":1}`})
	resp, body = getRaw(t, c+"cdmi.json", nil)
	expect(t, resp, body, http.StatusOK)
	assert.Equal(t, "application/json", mediaType(resp))
	assert.Equal(t, `{"a":1}`, string(body))

	// §7.2: a plain PUT to a URI with a trailing slash creates a container.
	resp, body = harness.Do(t, http.MethodPut, c+"plaindir/", nil, nil)
	expect(t, resp, body, http.StatusCreated)
	_, d := get(t, c+"plaindir/", ctContainer)
	assert.Equal(t, ctContainer, d.str("objectType"))

	// §6.5: plain DELETE.
	resp, body = harness.Do(t, http.MethodDelete, u, nil, nil)
	expect(t, resp, body, http.StatusNoContent)
	resp, body = getRaw(t, u, nil)
	expect4xx(t, resp, body, http.StatusNotFound)
}

// CDMI 1.1.1 §5.13.3 and §6.3.3: Range requests per RFC 2616 §14.35 get
// 206 with Content-Range; several ranges get multipart/byteranges; an
// unsatisfiable range gets 416.
func TestRangeRequests(t *testing.T) {
	c := testContainer(t)
	u := c + "digits"
	val := []byte("0123456789abcdefghij")
	putRaw(t, u, "text/plain", val)

	for _, tc := range []struct {
		rng, want, cr string
	}{
		{"bytes=0-4", "01234", "bytes 0-4/20"},
		{"bytes=10-", "abcdefghij", "bytes 10-19/20"},
		{"bytes=-3", "hij", "bytes 17-19/20"},
		{"bytes=15-99", "fghij", "bytes 15-19/20"},
	} {
		resp, body := getRaw(t, u, http.Header{"Range": {tc.rng}})
		expect(t, resp, body, http.StatusPartialContent)
		assert.Equal(t, tc.want, string(body), tc.rng)
		assert.Equal(t, tc.cr, resp.Header.Get("Content-Range"), tc.rng)
	}

	resp, body := getRaw(t, u, http.Header{"Range": {"bytes=0-1,5-6"}})
	expect(t, resp, body, http.StatusPartialContent)
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "multipart/byteranges", mt)
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var parts []string
	var ranges []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		b, err := io.ReadAll(p)
		require.NoError(t, err)
		parts = append(parts, string(b))
		ranges = append(ranges, p.Header.Get("Content-Range"))
	}
	assert.Equal(t, []string{"01", "56"}, parts)
	assert.Equal(t, []string{"bytes 0-1/20", "bytes 5-6/20"}, ranges)

	resp, body = getRaw(t, u, http.Header{"Range": {"bytes=50-60"}})
	assert.Equal(t, http.StatusRequestedRangeNotSatisfiable, resp.StatusCode, "body %s", body)
	assert.Equal(t, "bytes */20", resp.Header.Get("Content-Range"))

	// §6.4.3: a plain PUT with Content-Range writes that range only.
	resp, body = harness.Do(t, http.MethodPut, u, http.Header{"Content-Range": {"bytes 2-4/20"}, "Content-Type": {"text/plain"}}, strings.NewReader("XYZ"))
	expect(t, resp, body, http.StatusNoContent, http.StatusOK, http.StatusCreated)
	_, body = getRaw(t, u, nil)
	assert.Equal(t, "01XYZ56789abcdefghij", string(body))
}

// CDMI 1.1.1 §6.2.3, §8.2.4, §8.4.3: X-CDMI-Partial marks a value still
// being written: completionStatus is "Processing" until a write without it
// completes the object, and the parts land where their ranges say.
func TestPartialUpload(t *testing.T) {
	c := testContainer(t)
	u := c + "partial.txt"
	h := hdr(ctObject, ctObject)
	h.Set("X-CDMI-Partial", "true")
	resp, body := harness.Do(t, http.MethodPut, u, h, jsonBody(t, map[string]any{"mimetype": "text/plain", "value": "Hello "}))
	expect(t, resp, body, http.StatusCreated)
	assert.Equal(t, "Processing", decode(t, body).str("completionStatus"))
	_, o := get(t, u+"?completionStatus", ctObject)
	assert.Equal(t, "Processing", o.str("completionStatus"))

	// Second part by plain HTTP, still partial (works across CDMI and
	// non-CDMI operations).
	resp, body = harness.Do(t, http.MethodPut, u, http.Header{
		"Content-Range": {"bytes 6-10/*"}, "X-CDMI-Partial": {"true"}, "Content-Type": {"text/plain; charset=utf-8"},
	}, strings.NewReader("CDMI "))
	expect(t, resp, body, http.StatusNoContent, http.StatusOK, http.StatusCreated)
	_, o = get(t, u+"?completionStatus", ctObject)
	assert.Equal(t, "Processing", o.str("completionStatus"))

	// Last part with CDMI ?value:<range>, no X-CDMI-Partial: complete.
	// The range travels base64 (§8.4.4: "When storing a range, the value
	// shall be encoded using base 64").
	resp, body = harness.Do(t, http.MethodPut, u+"?value:11-15", hdr(ctObject, ""), jsonBody(t, map[string]any{
		"value": base64.StdEncoding.EncodeToString([]byte("world")), "valuetransferencoding": "base64",
	}))
	expect(t, resp, body, http.StatusNoContent, http.StatusOK)
	_, o = get(t, u, ctObject)
	assert.Equal(t, "Complete", o.str("completionStatus"))
	assert.Equal(t, "Hello CDMI world", string(valueBytes(t, o)))
	resp, body = getRaw(t, u, nil)
	expect(t, resp, body, http.StatusOK)
	assert.Equal(t, "Hello CDMI world", string(body))
}

// CDMI 1.1.1 §8.1.2, §8.4.4, §6.3.6: a range written past the end leaves
// a gap that reads as zeros and counts in cdmi_size.
func TestValueGaps(t *testing.T) {
	c := testContainer(t)
	u := c + "gappy"
	putObject(t, u, map[string]any{"value": "abc"})
	resp, body := harness.Do(t, http.MethodPut, u+"?value:10-12", hdr(ctObject, ""), jsonBody(t, map[string]any{
		"value": base64.StdEncoding.EncodeToString([]byte("XYZ")), "valuetransferencoding": "base64",
	}))
	expect(t, resp, body, http.StatusNoContent, http.StatusOK)
	resp, body = getRaw(t, u, nil)
	expect(t, resp, body, http.StatusOK)
	assert.Equal(t, []byte("abc\x00\x00\x00\x00\x00\x00\x00XYZ"), body)
	_, o := get(t, u+"?metadata:cdmi_size", ctObject)
	assert.Equal(t, "13", o.meta()["cdmi_size"])

	// The same through plain HTTP Content-Range (§6.4.3).
	resp, body = harness.Do(t, http.MethodPut, u, http.Header{"Content-Range": {"bytes 15-15/*"}, "Content-Type": {"application/octet-stream"}}, strings.NewReader("!"))
	expect(t, resp, body, http.StatusNoContent, http.StatusOK, http.StatusCreated)
	_, body = getRaw(t, u, nil)
	assert.Equal(t, []byte("abc\x00\x00\x00\x00\x00\x00\x00XYZ\x00\x00!"), body)
}

// CDMI 1.1.1 §5.13.4, §5.13.6: names travel percent-encoded; spaces, "%",
// an encoded "/" and non-ASCII are name characters; ".." is not a way out
// of a container.
func TestNames(t *testing.T) {
	c := testContainer(t)
	for _, tc := range []struct{ enc, name string }{
		{"with%20space.txt", "with space.txt"},
		{"100%25.txt", "100%.txt"},
		{"gr%C3%BC%C3%9Fe-%E4%B8%96%E7%95%8C", "grüße-世界"},
		{"plus+sign", "plus+sign"},
	} {
		putRaw(t, c+tc.enc, "text/plain", []byte(tc.name))
		resp, body := getRaw(t, c+tc.enc, nil)
		expect(t, resp, body, http.StatusOK)
		assert.Equal(t, tc.name, string(body))
		_, o := get(t, c+tc.enc, ctObject)
		assert.Equal(t, tc.name, o.str("objectName"), "names are stored unescaped (§5.13.4)")
		_, p := get(t, c, ctContainer)
		assert.Contains(t, p.list("children"), tc.name)
	}
	// A container whose name needs escaping, and an object below it.
	mkcontainer(t, c+"a%20dir/", nil)
	putRaw(t, c+"a%20dir/in%25side", "text/plain", []byte("nested"))
	_, o := get(t, c+"a%20dir/in%25side", ctObject)
	assert.Equal(t, "in%side", o.str("objectName"))
	assert.Equal(t, pathOf(t, c+"a%20dir/in%25side"), pathOf(t, resolve(t, o.str("parentURI")+escapeName(o.str("objectName")))))

	// §5.13.6: "/" is reserved, so %2F in a name is refused or at least
	// never splits the name into containers.
	resp, body := harness.Do(t, http.MethodPut, c+"a%2Fb", http.Header{"Content-Type": {"text/plain"}}, strings.NewReader("slash"))
	if resp.StatusCode < 300 {
		assert.Equal(t, http.StatusNotFound, status(t, c+"a/b", nil), "%%2F must not be decoded into a path separator")
	} else {
		expect4xx(t, resp, body, http.StatusBadRequest)
	}
	assert.Equal(t, http.StatusNotFound, status(t, c+"a/", hdr("", ctContainer)))

	// ".." must not climb out: it is refused or names nothing, and never
	// reaches the sibling.
	sib := testContainer(t)
	putRaw(t, sib+"secret", "text/plain", []byte("sibling"))
	sibName := strings.TrimSuffix(strings.TrimPrefix(pathOf(t, sib), pathOf(t, rootURL(t))), "/")
	for _, p := range []string{c + "../" + sibName + "/secret", c + "%2E%2E/" + sibName + "/secret"} {
		resp, body := harness.Do(t, http.MethodGet, p, nil, nil)
		assert.NotEqual(t, "sibling", string(body), p)
		assert.True(t, resp.StatusCode >= 400 && resp.StatusCode < 500, "GET %s: %d", p, resp.StatusCode)
		resp, body = harness.Do(t, http.MethodDelete, p, nil, nil)
		assert.True(t, resp.StatusCode >= 400 && resp.StatusCode < 500, "DELETE %s: %d %s", p, resp.StatusCode, body)
	}
	_, body = getRaw(t, sib+"secret", nil)
	assert.Equal(t, "sibling", string(body))
	// "?" is reserved too (§5.13.6): %3F in a name is refused.
	resp, body = harness.Do(t, http.MethodPut, c+"what%3F", http.Header{"Content-Type": {"text/plain"}}, strings.NewReader("q"))
	expect4xx(t, resp, body, http.StatusBadRequest)
}
