package cdmi

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/storagebackends"
)

// §8.2.5: valuetransferencoding "json" stores a JSON value as given.
func TestJSONEncoding(t *testing.T) {
	ts := newTestServer(t)
	resp, body := ts.do("PUT", "/cdmi/j", `{"valuetransferencoding":"json","value":{"a":[1,2]}}`, cdmiHdr(ctObject)...)
	require.Equal(t, 201, resp.StatusCode, body)
	_, body = ts.do("GET", "/cdmi/j?value;valuetransferencoding", "", cdmiHdr(ctObject)...)
	got := decode(t, body)
	assert.Equal(t, "json", got["valuetransferencoding"])
	assert.Equal(t, map[string]any{"a": []any{1.0, 2.0}}, got["value"])
	resp, body = ts.do("PUT", "/cdmi/j2", `{"valuetransferencoding":"json","value":{"a":}}`, cdmiHdr(ctObject)...)
	assert.Equal(t, 400, resp.StatusCode, body)
	resp, body = ts.do("PUT", "/cdmi/j3", `{"valuetransferencoding":"base64","value":"not base64!"}`, cdmiHdr(ctObject)...)
	assert.Equal(t, 400, resp.StatusCode, body)
	resp, _ = ts.do("GET", "/cdmi/j3", "")
	assert.Equal(t, 404, resp.StatusCode, "nothing half-created")
}

// Plain HTTP: a PUT of a path ending in '/' without a body creates a
// container; a raw value with non-UTF-8 bytes reads back as base64.
func TestNonCDMIContainerAndBinary(t *testing.T) {
	ts := newTestServer(t)
	resp, body := ts.do("PUT", "/cdmi/plain/", "")
	require.Equal(t, 201, resp.StatusCode, body)
	resp, body = ts.do("PUT", "/cdmi/plain/bin", "\xff\xfe\x00")
	require.Equal(t, 201, resp.StatusCode, body)
	_, body = ts.do("GET", "/cdmi/plain/bin", "", cdmiHdr(ctObject)...)
	got := decode(t, body)
	assert.Equal(t, "base64", got["valuetransferencoding"])
	assert.Equal(t, base64.StdEncoding.EncodeToString([]byte("\xff\xfe\x00")), got["value"])
	assert.Equal(t, "application/octet-stream", got["mimetype"], "no Content-Type: octet-stream")
	resp, _ = ts.do("HEAD", "/cdmi/plain/bin", "")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "3", resp.Header.Get("Content-Length"))
}

// A value bigger than the in-memory spool goes through a temporary file.
func TestLargeCDMIBody(t *testing.T) {
	ts := newTestServer(t)
	raw := strings.Repeat("0123456789abcdef", 200_000) // 3.2 MB
	enc := base64.StdEncoding.EncodeToString([]byte(raw))
	resp, body := ts.do("PUT", "/cdmi/big", `{"valuetransferencoding":"base64","value":"`+enc+`"}`, cdmiHdr(ctObject)...)
	require.Equal(t, 201, resp.StatusCode, body)
	_, body = ts.do("GET", "/cdmi/big", "")
	assert.Equal(t, len(raw), len(body))
	assert.True(t, body == raw)
	_, body = ts.do("GET", "/cdmi/big?value", "", cdmiHdr(ctObject)...)
	assert.Equal(t, enc, decode(t, body)["value"])
}

// failing wraps a backend and fails Put when told.
type failing struct {
	storagebackends.Objects
	failPut error
}

func (f *failing) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if f.failPut != nil {
		io.Copy(io.Discard, io.LimitReader(r, 3)) // a torn write, as far as it went
		return f.failPut
	}
	return f.Objects.Put(ctx, key, r, size)
}

// A failed write leaves the object as it was, and backend kinds map to
// status codes (503 for ErrUnavailable, 400 for ErrInvalid).
func TestBackendFailure(t *testing.T) {
	var f *failing
	ts := newTestServer(t, func(c *Config) { f = &failing{Objects: c.Objects}; c.Objects = f })
	resp, _ := ts.do("PUT", "/cdmi/o", "old value")
	require.Equal(t, 201, resp.StatusCode)
	for _, tc := range []struct {
		err    error
		status int
	}{{storagebackends.ErrUnavailable, 503}, {storagebackends.ErrInvalid, 400}, {storagebackends.ErrNotFound, 404}} {
		f.failPut = fmt.Errorf("test: %w", tc.err)
		resp, body := ts.do("PUT", "/cdmi/o", "new value that fails")
		assert.Equal(t, tc.status, resp.StatusCode, body)
		f.failPut = nil
		_, body = ts.do("GET", "/cdmi/o", "")
		assert.Equal(t, "old value", body)
	}
}

// §5.10: updates through /cdmi_objectid/ reach the same object; the root
// container's metadata can change.
func TestUpdateByID(t *testing.T) {
	ts := newTestServer(t)
	ts.do("PUT", "/cdmi/c/", "{}", cdmiHdr(ctContainer)...)
	_, body := ts.do("PUT", "/cdmi/c/o", `{"value":"one"}`, cdmiHdr(ctObject)...)
	id := decode(t, body)["objectID"].(string)
	resp, body := ts.do("PUT", "/cdmi/cdmi_objectid/"+id, `{"value":"two"}`, cdmiHdr(ctObject)...)
	require.Equal(t, 204, resp.StatusCode, body)
	_, body = ts.do("GET", "/cdmi/c/o", "")
	assert.Equal(t, "two", body)
	_, body = ts.do("GET", "/cdmi/", "", cdmiHdr(ctContainer)...)
	rootID := decode(t, body)["objectID"].(string)
	resp, body = ts.do("PUT", "/cdmi/cdmi_objectid/"+rootID+"/", `{"metadata":{"site":"lab"}}`, cdmiHdr(ctContainer)...)
	require.Equal(t, 204, resp.StatusCode, body)
	_, body = ts.do("GET", "/cdmi/?metadata:site", "", cdmiHdr(ctContainer)...)
	assert.Equal(t, map[string]any{"site": "lab"}, decode(t, body)["metadata"])
}

// §5.13.2: "+json" media types are accepted; an Accept that excludes the
// object's type is 406; a Content-Type not matching the object is 400.
func TestMediaTypes(t *testing.T) {
	ts := newTestServer(t)
	resp, body := ts.do("PUT", "/cdmi/c/", "{}", v11, "1.1.1", "Content-Type", "application/cdmi-container+json")
	require.Equal(t, 201, resp.StatusCode, body)
	resp, body = ts.do("PUT", "/cdmi/c/o", `{"value":"v"}`, v11, "1.1.1", "Content-Type", "application/vnd.org.snia.cdmi.object+json")
	require.Equal(t, 201, resp.StatusCode, body)
	resp, body = ts.do("GET", "/cdmi/c/o", "", v11, "1.1.1", "Accept", ctContainer)
	assert.Equal(t, 406, resp.StatusCode, body)
	resp, _ = ts.do("GET", "/cdmi/c/o", "", v11, "1.1.1", "Accept", ctContainer+", */*")
	assert.Equal(t, 200, resp.StatusCode)
	resp, body = ts.do("PUT", "/cdmi/c/o", `{}`, cdmiHdr(ctQueue)...)
	assert.Equal(t, 400, resp.StatusCode, body)
}

// The root is configurable; every URI the server writes lives under it.
func TestOtherRoot(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Root = "/storage/v1/" })
	resp, body := ts.do("PUT", "/storage/v1/c/", "{}", cdmiHdr(ctContainer)...)
	require.Equal(t, 201, resp.StatusCode, body)
	got := decode(t, body)
	assert.Equal(t, "/storage/v1/", got["parentURI"])
	assert.Equal(t, "/storage/v1/cdmi_capabilities/container/", got["capabilitiesURI"])
	assert.Equal(t, "/storage/v1/cdmi_domains/default/", got["domainURI"])
	resp, _ = ts.do("GET", "/storage/v1", "", cdmiHdr(ctContainer)...)
	assert.Equal(t, 301, resp.StatusCode)
	resp, _ = ts.do("GET", "/cdmi/", "", cdmiHdr(ctContainer)...)
	assert.Equal(t, 404, resp.StatusCode)
}

// §9.4.1: ?children:<range> pages through a container; childrenrange says
// which children came back.
func TestChildrenPaging(t *testing.T) {
	ts := newTestServer(t)
	ts.do("PUT", "/cdmi/p/", "{}", cdmiHdr(ctContainer)...)
	for i := range 25 {
		resp, _ := ts.do("PUT", fmt.Sprintf("/cdmi/p/o%02d", i), "x")
		require.Equal(t, 201, resp.StatusCode)
	}
	_, body := ts.do("GET", "/cdmi/p/?children:10-14;childrenrange", "", cdmiHdr(ctContainer)...)
	got := decode(t, body)
	assert.Equal(t, "10-14", got["childrenrange"])
	assert.Equal(t, []any{"o10", "o11", "o12", "o13", "o14"}, got["children"])
	assert.NotContains(t, got, "metadata")
	_, body = ts.do("GET", "/cdmi/p/?children:20-100;childrenrange", "", cdmiHdr(ctContainer)...)
	got = decode(t, body)
	assert.Equal(t, "20-24", got["childrenrange"])
	assert.Len(t, got["children"], 5)
	_, body = ts.do("GET", "/cdmi/p/?children:30-40;childrenrange", "", cdmiHdr(ctContainer)...)
	got = decode(t, body)
	assert.Equal(t, "", got["childrenrange"])
	assert.Equal(t, []any{}, got["children"])
	_, body = ts.do("GET", "/cdmi/p/", "", cdmiHdr(ctContainer)...)
	got = decode(t, body)
	assert.Equal(t, "0-24", got["childrenrange"])
	assert.Equal(t, "25", got["metadata"].(map[string]any)["cdmi_size"])
}

// §7.1: read, update and delete of a container without its slash answer
// 301 and change nothing.
func TestContainerWithoutSlash(t *testing.T) {
	ts := newTestServer(t)
	ts.do("PUT", "/cdmi/d/", "{}", cdmiHdr(ctContainer)...)
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		resp, _ := ts.do(m, "/cdmi/d", "x", "Content-Type", "text/plain")
		assert.Equal(t, 301, resp.StatusCode, m)
		assert.True(t, strings.HasSuffix(resp.Header.Get("Location"), "/cdmi/d/"), m)
	}
	resp, _ := ts.do("GET", "/cdmi/d/", "", cdmiHdr(ctContainer)...)
	assert.Equal(t, 200, resp.StatusCode)
}
