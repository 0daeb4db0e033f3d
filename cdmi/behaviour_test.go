package cdmi

import (
	"context"

	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// CDMI 1.1.1 §5.13 / CDMI 2.0 overview: version negotiation.
func TestVersionNegotiation(t *testing.T) {
	ts := newTestServer(t)
	for _, tc := range []struct{ sent, want string }{
		{"1.1.1", "1.1.1"}, {"1.0.1", "1.0.1"}, {"1.0.2, 1.1", "1.1"}, {"1.1, 1.0.2, 1.1.1", "1.1.1"},
	} {
		resp, body := ts.do("GET", "/cdmi/", "", v11, tc.sent, "Accept", ctContainer)
		require.Equal(t, 200, resp.StatusCode, body)
		assert.Equal(t, tc.want, resp.Header.Get(v11), tc.sent)
	}
	resp, body := ts.do("GET", "/cdmi/", "", v11, "0.9, 3.0")
	assert.Equal(t, 400, resp.StatusCode, body)
	assert.Contains(t, body, "1.1.1")
	// A CDMI 2.x client sends no header.
	resp, body = ts.do("GET", "/cdmi/", "", "Accept", ctContainer)
	assert.Equal(t, 200, resp.StatusCode, body)
	assert.Equal(t, ctContainer, resp.Header.Get("Content-Type"))
}

// Names are decoded one segment at a time (paths.go).
func TestNames(t *testing.T) {
	ts := newTestServer(t)
	for _, tc := range []struct{ escaped, name string }{
		{"with%20space", "with space"}, {"per%25cent", "per%cent"}, {"caf%C3%A9", "café"},
	} {
		resp, body := ts.do("PUT", "/cdmi/"+tc.escaped, "v", "Content-Type", "text/plain")
		require.Equal(t, 201, resp.StatusCode, body)
		resp, body = ts.do("GET", "/cdmi/"+tc.escaped, "", cdmiHdr(ctObject)...)
		require.Equal(t, 200, resp.StatusCode, body)
		assert.Equal(t, tc.name, decode(t, body)["objectName"])
	}
	resp, body := ts.do("GET", "/cdmi/", "", cdmiHdr(ctContainer)...)
	require.Equal(t, 200, resp.StatusCode)
	assert.ElementsMatch(t, []any{"with space", "per%cent", "café"}, decode(t, body)["children"])
	for _, bad := range []string{"a%2Fb", "..", "%2E%2E", "a//b", "x/%2e%2E/y", "q%3Fmark"} {
		resp, body := ts.do("PUT", "/cdmi/"+bad, "v", "Content-Type", "text/plain")
		assert.Equal(t, 400, resp.StatusCode, bad+": "+body)
	}
	resp, _ = ts.do("GET", "/cdmi/..%2Fetc", "")
	assert.Equal(t, 400, resp.StatusCode)
}

// §8 and §9: create, read, update, delete, with field selection.
func TestDataObjectLifecycle(t *testing.T) {
	ts := newTestServer(t)
	resp, body := ts.do("PUT", "/cdmi/c/", " x", cdmiHdr(ctContainer)...)
	assert.Equal(t, 400, resp.StatusCode, "a CDMI container body that is there must be JSON: "+body)
	resp, body = ts.do("PUT", "/cdmi/c/", "{}", cdmiHdr(ctContainer)...)
	require.Equal(t, 201, resp.StatusCode, body)
	c := decode(t, body)
	resp, body = ts.do("PUT", "/cdmi/c/sub/", `{"metadata":{"k":"v"}}`, cdmiHdr(ctContainer)...)
	require.Equal(t, 201, resp.StatusCode, body)
	assert.Equal(t, c["objectID"], decode(t, body)["parentID"])

	resp, body = ts.do("PUT", "/cdmi/c/sub/o", `{"valuetransferencoding":"base64","mimetype":"application/octet-stream","value":"`+base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 255})+`"}`, cdmiHdr(ctObject)...)
	require.Equal(t, 201, resp.StatusCode, body)
	o := decode(t, body)
	id := o["objectID"].(string)
	assert.NotEmpty(t, resp.Header.Get("Location"))

	resp, body = ts.do("GET", "/cdmi/c/sub/o?valuetransferencoding;valuerange;value;metadata:cdmi_size", "", cdmiHdr(ctObject)...)
	require.Equal(t, 200, resp.StatusCode, body)
	got := decode(t, body)
	assert.Equal(t, "base64", got["valuetransferencoding"])
	assert.Equal(t, "0-3", got["valuerange"])
	assert.Equal(t, "AAEC/w==", got["value"])
	assert.Equal(t, map[string]any{"cdmi_size": "4"}, got["metadata"])
	assert.NotContains(t, got, "objectID")

	// Non-CDMI read returns the bytes with the mimetype.
	resp, body = ts.do("GET", "/cdmi/c/sub/o", "")
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "application/octet-stream", resp.Header.Get("Content-Type"))
	assert.Equal(t, "\x00\x01\x02\xff", body)

	// Update: 204, objectID kept, mcount grows.
	resp, body = ts.do("PUT", "/cdmi/c/sub/o", `{"value":"new text","valuetransferencoding":"utf-8","metadata":{"a":"b"}}`, cdmiHdr(ctObject)...)
	require.Equal(t, 204, resp.StatusCode, body)
	resp, body = ts.do("GET", "/cdmi/cdmi_objectid/"+id, "", cdmiHdr(ctObject)...)
	require.Equal(t, 200, resp.StatusCode, body)
	got = decode(t, body)
	assert.Equal(t, "new text", got["value"])
	assert.Equal(t, "utf-8", got["valuetransferencoding"])
	md := got["metadata"].(map[string]any)
	assert.Equal(t, "b", md["a"])
	assert.Equal(t, "1", md["cdmi_mcount"])

	// Unknown metadata with the reserved prefix is refused; storage
	// system items (§16.3 Table 118) are ignored.
	resp, body = ts.do("PUT", "/cdmi/c/sub/o", `{"metadata":{"cdmi_sizes":"1"}}`, cdmiHdr(ctObject)...)
	assert.Equal(t, 400, resp.StatusCode, body)
	resp, body = ts.do("PUT", "/cdmi/c/sub/o?metadata:cdmi_size", `{"metadata":{"cdmi_size":"1"}}`, cdmiHdr(ctObject)...)
	assert.Equal(t, 204, resp.StatusCode, body)
	// Partial metadata update (?metadata:<name>).
	resp, body = ts.do("PUT", "/cdmi/c/sub/o?metadata:x", `{"metadata":{"x":"1","a":"ignored"}}`, cdmiHdr(ctObject)...)
	require.Equal(t, 204, resp.StatusCode, body)
	_, body = ts.do("GET", "/cdmi/c/sub/o?metadata", "", cdmiHdr(ctObject)...)
	md = decode(t, body)["metadata"].(map[string]any)
	assert.Equal(t, "1", md["x"])
	assert.Equal(t, "b", md["a"])

	// Children by ID, with a slash.
	resp, body = ts.do("GET", "/cdmi/cdmi_objectid/"+c["objectID"].(string)+"/sub/o?objectID", "", cdmiHdr(ctObject)...)
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Equal(t, id, decode(t, body)["objectID"])
	resp, _ = ts.do("GET", "/cdmi/cdmi_objectid/"+c["objectID"].(string), "", cdmiHdr(ctContainer)...)
	assert.Equal(t, 301, resp.StatusCode)

	// Deleting a non-empty container deletes what is below it.
	resp, _ = ts.do("DELETE", "/cdmi/c/", "", cdmiHdr("")...)
	require.Equal(t, 204, resp.StatusCode)
	resp, _ = ts.do("GET", "/cdmi/cdmi_objectid/"+id, "", cdmiHdr(ctObject)...)
	assert.Equal(t, 404, resp.StatusCode)
	resp, _ = ts.do("DELETE", "/cdmi/", "", cdmiHdr("")...)
	assert.Equal(t, 400, resp.StatusCode)
}

// §8.4: value ranges, and HTTP ranges on the non-CDMI read (RFC 7233).
func TestRanges(t *testing.T) {
	ts := newTestServer(t)
	val := "0123456789abcdefghij"
	resp, body := ts.do("PUT", "/cdmi/r", val, "Content-Type", "text/plain; charset=utf-8")
	require.Equal(t, 201, resp.StatusCode, body)
	_, body = ts.do("GET", "/cdmi/r?valuerange;value:5-9", "", cdmiHdr(ctObject)...)
	assert.Equal(t, "56789", decode(t, body)["value"])
	assert.Equal(t, "5-9", decode(t, body)["valuerange"])

	resp, body = ts.do("GET", "/cdmi/r", "", "Range", "bytes=2-4")
	assert.Equal(t, 206, resp.StatusCode)
	assert.Equal(t, "234", body)
	assert.Equal(t, "bytes 2-4/20", resp.Header.Get("Content-Range"))

	resp, body = ts.do("GET", "/cdmi/r", "", "Range", "bytes=0-1,18-")
	require.Equal(t, 206, resp.StatusCode)
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	require.NoError(t, err)
	assert.Equal(t, "multipart/byteranges", mt)
	mr := multipart.NewReader(strings.NewReader(body), params["boundary"])
	var parts []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		b, _ := io.ReadAll(p)
		parts = append(parts, string(b))
	}
	assert.Equal(t, []string{"01", "ij"}, parts)

	resp, _ = ts.do("GET", "/cdmi/r", "", "Range", "bytes=50-60")
	assert.Equal(t, 416, resp.StatusCode)

	// Range writes, CDMI and non-CDMI (§8.5, Content-Range).
	resp, body = ts.do("PUT", "/cdmi/r?value:0-2", `{"value":"XYZ"}`, cdmiHdr(ctObject)...)
	require.Equal(t, 204, resp.StatusCode, body)
	resp, body = ts.do("PUT", "/cdmi/r", "!!", "Content-Range", "bytes 20-21/22")
	require.Equal(t, 204, resp.StatusCode, body)
	_, body = ts.do("GET", "/cdmi/r", "")
	assert.Equal(t, "XYZ3456789abcdefghij!!", body)
	resp, body = ts.do("PUT", "/cdmi/r?value:0-2", `{"value":"TOO LONG"}`, cdmiHdr(ctObject)...)
	assert.Equal(t, 400, resp.StatusCode, body)
}

// §8.2.3 X-CDMI-Partial.
func TestPartialUpload(t *testing.T) {
	ts := newTestServer(t)
	resp, body := ts.do("PUT", "/cdmi/p", `{"value":"first "}`, append(cdmiHdr(ctObject), "X-CDMI-Partial", "true")...)
	require.Equal(t, 201, resp.StatusCode, body)
	assert.Equal(t, "Processing", decode(t, body)["completionStatus"])
	_, body = ts.do("GET", "/cdmi/p", "", cdmiHdr(ctObject)...)
	assert.NotContains(t, decode(t, body), "value", "§9.6.2: no value while Processing")
	resp, body = ts.do("PUT", "/cdmi/p?value:6-11", `{"value":"second"}`, cdmiHdr(ctObject)...)
	require.Equal(t, 204, resp.StatusCode, body)
	_, body = ts.do("GET", "/cdmi/p", "", cdmiHdr(ctObject)...)
	got := decode(t, body)
	assert.Equal(t, "Complete", got["completionStatus"])
	assert.Equal(t, "first second", got["value"])
}

// §9.6: POST into a container and to /cdmi_objectid/.
func TestPost(t *testing.T) {
	ts := newTestServer(t)
	ts.do("PUT", "/cdmi/box/", "{}", cdmiHdr(ctContainer)...)
	resp, body := ts.do("POST", "/cdmi/box/", `{"value":"posted"}`, cdmiHdr(ctObject)...)
	require.Equal(t, 201, resp.StatusCode, body)
	o := decode(t, body)
	assert.Equal(t, o["objectID"], o["objectName"])
	assert.True(t, strings.HasSuffix(resp.Header.Get("Location"), "/cdmi/box/"+o["objectID"].(string)))

	resp, body = ts.do("POST", "/cdmi/cdmi_objectid/", `{"value":"by id"}`, cdmiHdr(ctObject)...)
	require.Equal(t, 201, resp.StatusCode, body)
	o = decode(t, body)
	assert.NotContains(t, o, "parentURI")
	assert.True(t, strings.HasSuffix(resp.Header.Get("Location"), "/cdmi/cdmi_objectid/"+o["objectID"].(string)))
	_, body = ts.do("GET", "/cdmi/cdmi_objectid/"+o["objectID"].(string), "")
	assert.Equal(t, "by id", body)
}

// §8.2: copy, move, reference.
func TestCopyMoveReference(t *testing.T) {
	ts := newTestServer(t)
	ts.do("PUT", "/cdmi/a/", "{}", cdmiHdr(ctContainer)...)
	_, body := ts.do("PUT", "/cdmi/a/src", `{"value":"payload","metadata":{"m":"1"}}`, cdmiHdr(ctObject)...)
	srcID := decode(t, body)["objectID"]
	resp, body := ts.do("PUT", "/cdmi/a/copy", `{"copy":"/cdmi/a/src"}`, cdmiHdr(ctObject)...)
	require.Equal(t, 201, resp.StatusCode, body)
	cp := decode(t, body)
	assert.NotEqual(t, srcID, cp["objectID"])
	assert.Equal(t, "1", cp["metadata"].(map[string]any)["m"])
	resp, body = ts.do("PUT", "/cdmi/a/moved", `{"move":"/a/src"}`, cdmiHdr(ctObject)...)
	require.Equal(t, 201, resp.StatusCode, body)
	assert.Equal(t, srcID, decode(t, body)["objectID"], "a move keeps the objectID")
	resp, _ = ts.do("GET", "/cdmi/a/src", "")
	assert.Equal(t, 404, resp.StatusCode)
	resp, body = ts.do("PUT", "/cdmi/a/ref", `{"reference":"/cdmi/a/moved"}`, cdmiHdr(ctObject)...)
	require.Equal(t, 201, resp.StatusCode, body)
	resp, _ = ts.do("GET", "/cdmi/a/ref", "", cdmiHdr(ctObject)...)
	assert.Equal(t, 302, resp.StatusCode)
	assert.True(t, strings.HasSuffix(resp.Header.Get("Location"), "/cdmi/a/moved"))
	// §9.4.6: references are listed with a trailing '?'.
	_, body = ts.do("GET", "/cdmi/a/?children", "", cdmiHdr(ctContainer)...)
	assert.ElementsMatch(t, []any{"copy", "moved", "ref?"}, decode(t, body)["children"])
	// §9.2.5: a container copy copies what is below it, with new IDs.
	ts.do("PUT", "/cdmi/a/deep/", `{"exports":{"Network/NFSv4":{"identifier":"/x"}}}`, cdmiHdr(ctContainer)...)
	ts.do("PUT", "/cdmi/a/deep/v", `in deep`)
	resp, body = ts.do("PUT", "/cdmi/c2/", `{"copy":"/cdmi/a/"}`, cdmiHdr(ctContainer)...)
	require.Equal(t, 201, resp.StatusCode, body)
	_, body = ts.do("GET", "/cdmi/c2/deep/v", "")
	assert.Equal(t, "in deep", body)
	_, body = ts.do("GET", "/cdmi/c2/deep/", "", cdmiHdr(ctContainer)...)
	assert.NotContains(t, decode(t, body), "exports", "exports are not copied")
	resp, body = ts.do("PUT", "/cdmi/a/deep/x/", `{"copy":"/cdmi/a/"}`, cdmiHdr(ctContainer)...)
	assert.Equal(t, 400, resp.StatusCode, body)
	resp, body = ts.do("PUT", "/cdmi/noslash", `{}`, cdmiHdr(ctContainer)...)
	assert.Equal(t, 400, resp.StatusCode, body)
	// A container move.
	resp, body = ts.do("PUT", "/cdmi/b/", `{"move":"/cdmi/a/"}`, cdmiHdr(ctContainer)...)
	require.Equal(t, 201, resp.StatusCode, body)
	_, body = ts.do("GET", "/cdmi/b/copy", "")
	assert.Equal(t, "payload", body)
	resp, body = ts.do("PUT", "/cdmi/b/inner/", `{"move":"/cdmi/b/"}`, cdmiHdr(ctContainer)...)
	assert.Equal(t, 400, resp.StatusCode, body)
}

// §11: queues.
func TestQueue(t *testing.T) {
	ts := newTestServer(t)
	resp, body := ts.do("PUT", "/cdmi/q", `{"metadata":{}}`, cdmiHdr(ctQueue)...)
	require.Equal(t, 201, resp.StatusCode, body)
	assert.Equal(t, ctQueue, decode(t, body)["objectType"])
	resp, body = ts.do("POST", "/cdmi/q", `{"value":"one"}`, cdmiHdr(ctQueue)...)
	require.Equal(t, 204, resp.StatusCode, body)
	resp, body = ts.do("POST", "/cdmi/q", `{"mimetype":["text/plain","text/plain"],"value":["two","three"]}`, cdmiHdr(ctQueue)...)
	require.Equal(t, 204, resp.StatusCode, body)
	_, body = ts.do("GET", "/cdmi/q", "", cdmiHdr(ctQueue)...)
	got := decode(t, body)
	assert.Equal(t, "0-2", got["queueValues"])
	assert.Equal(t, []any{"one"}, got["value"])
	_, body = ts.do("GET", "/cdmi/q?values:2", "", cdmiHdr(ctQueue)...)
	assert.Equal(t, []any{"one", "two"}, decode(t, body)["value"])
	resp, _ = ts.do("DELETE", "/cdmi/q?values:2", "", cdmiHdr(ctQueue)...)
	require.Equal(t, 204, resp.StatusCode)
	_, body = ts.do("GET", "/cdmi/q", "", cdmiHdr(ctQueue)...)
	got = decode(t, body)
	assert.Equal(t, "2-2", got["queueValues"], "§11.3.6: designators are never reused")
	_, body = ts.do("GET", "/cdmi/q?value:1-3", "", cdmiHdr(ctQueue)...)
	assert.Equal(t, []any{"hre"}, decode(t, body)["value"])
	assert.Equal(t, []any{"three"}, got["value"])
}

// §10: the default domain every object names.
func TestDomains(t *testing.T) {
	ts := newTestServer(t)
	resp, body := ts.do("GET", "/cdmi/cdmi_domains/default/", "", cdmiHdr(ctDomain)...)
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Equal(t, ctDomain, resp.Header.Get("Content-Type"))
	assert.Equal(t, ctDomain, decode(t, body)["objectType"])
	resp, body = ts.do("GET", "/cdmi/cdmi_domains/", "", cdmiHdr(ctDomain)...)
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Equal(t, []any{"default/"}, decode(t, body)["children"])
	resp, _ = ts.do("PUT", "/cdmi/cdmi_domains/default/", "{}", cdmiHdr(ctDomain)...)
	assert.Equal(t, 400, resp.StatusCode, "the server's domains cannot be changed")
	resp, _ = ts.do("DELETE", "/cdmi/cdmi_domains/default/", "", cdmiHdr(ctDomain)...)
	assert.Equal(t, 400, resp.StatusCode)
	resp, _ = ts.do("PUT", "/cdmi/cdmi_domains/x/", "{}", cdmiHdr(ctDomain)...)
	assert.Equal(t, 201, resp.StatusCode, "domains are made (domains_test.go)")
}

// §12: every capability URI names an existing capability object.
func TestCapabilityURIs(t *testing.T) {
	ts := newTestServer(t)
	ts.do("PUT", "/cdmi/c/", "{}", cdmiHdr(ctContainer)...)
	ts.do("PUT", "/cdmi/c/o", `{"value":"x"}`, cdmiHdr(ctObject)...)
	ts.do("PUT", "/cdmi/c/q", `{}`, cdmiHdr(ctQueue)...)
	for _, p := range []string{"/cdmi/", "/cdmi/c/", "/cdmi/c/o", "/cdmi/c/q"} {
		_, body := ts.do("GET", p, "", v11, "1.1.1", "Accept", "application/cdmi-object, application/cdmi-container, application/cdmi-queue")
		capURI := decode(t, body)["capabilitiesURI"].(string)
		resp, cbody := ts.do("GET", capURI, "", cdmiHdr(ctCapability)...)
		require.Equal(t, 200, resp.StatusCode, capURI)
		caps := decode(t, cbody)["capabilities"].(map[string]any)
		assert.NotEmpty(t, caps)
	}
}

// §13 / §9.4.9: exports are validated and stored; OCCI exports need the hook.
func TestExports(t *testing.T) {
	ts := newTestServer(t)
	resp, body := ts.do("PUT", "/cdmi/e/", `{"exports":{"Network/NFSv4":{"identifier":"/users","permissions":"domain"}}}`, cdmiHdr(ctContainer)...)
	require.Equal(t, 201, resp.StatusCode, body)
	id := decode(t, body)["objectID"].(string)
	_, body = ts.do("GET", "/cdmi/e/?exports", "", cdmiHdr(ctContainer)...)
	assert.Contains(t, decode(t, body)["exports"], "Network/NFSv4")
	resp, body = ts.do("PUT", "/cdmi/e/", `{"exports":{"OCCI/iSCSI":{"identifier":"`+id+`","permissions":["http://h/compute/1"]}}}`, cdmiHdr(ctContainer)...)
	assert.Equal(t, 400, resp.StatusCode, body)
	resp, body = ts.do("PUT", "/cdmi/e/", `{"exports":{"Bogus/x":{}}}`, cdmiHdr(ctContainer)...)
	assert.Equal(t, 400, resp.StatusCode, body)

	var got []OCCIExport
	hooked := newTestServer(t, func(c *Config) { c.ExportHook = hookFunc(func(e OCCIExport) { got = append(got, e) }) })
	resp, body = hooked.do("PUT", "/cdmi/e/", `{}`, cdmiHdr(ctContainer)...)
	require.Equal(t, 201, resp.StatusCode, body)
	id = decode(t, body)["objectID"].(string)
	resp, body = hooked.do("PUT", "/cdmi/e/", `{"exports":{"OCCI/iSCSI":{"identifier":"`+id+`","permissions":["http://h/compute/1"]}}}`, cdmiHdr(ctContainer)...)
	require.Equal(t, 204, resp.StatusCode, body)
	require.Len(t, got, 1)
	assert.Equal(t, OCCIExport{Protocol: "iSCSI", Identifier: id, Permissions: []string{"http://h/compute/1"}}, got[0])
	_, body = hooked.do("GET", "/cdmi/e/?exports", "", cdmiHdr(ctContainer)...)
	assert.Contains(t, decode(t, body)["exports"], "OCCI/iSCSI")
	resp, _ = hooked.do("DELETE", "/cdmi/e/", "", cdmiHdr("")...)
	require.Equal(t, 204, resp.StatusCode)
	require.Len(t, got, 2)
	assert.Equal(t, OCCIExport{Protocol: "iSCSI", Identifier: id, Permissions: []string{"removed"}}, got[1], "deleting the container unexports it")
}

// A body value past Config.MaxBodyValue is refused with 413.
func TestBodyLimit(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.MaxBodyValue = 10 })
	resp, body := ts.do("PUT", "/cdmi/big", `{"value":"0123456789ABC"}`, cdmiHdr(ctObject)...)
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, body)
	resp, _ = ts.do("GET", "/cdmi/big", "")
	assert.Equal(t, 404, resp.StatusCode, "nothing half-created")
}

// §16.4: cdmi_value_hash asks for cdmi_hash.
func TestValueHash(t *testing.T) {
	ts := newTestServer(t)
	resp, body := ts.do("PUT", "/cdmi/h", `{"value":"abc","metadata":{"cdmi_value_hash":"SHA256"}}`, cdmiHdr(ctObject)...)
	require.Equal(t, 201, resp.StatusCode, body)
	md := decode(t, body)["metadata"].(map[string]any)
	assert.Equal(t, "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", md["cdmi_hash"])
	assert.Equal(t, "SHA256", md["cdmi_value_hash_provided"])
	resp, body = ts.do("PUT", "/cdmi/h2", `{"value":"abc","metadata":{"cdmi_value_hash":"CRC99"}}`, cdmiHdr(ctObject)...)
	assert.Equal(t, 400, resp.StatusCode, body)
	// §16.4: inherited from a container.
	ts.do("PUT", "/cdmi/hc/", `{"metadata":{"cdmi_value_hash":"MD5"}}`, cdmiHdr(ctContainer)...)
	ts.do("PUT", "/cdmi/hc/x", "abc")
	_, body = ts.do("GET", "/cdmi/hc/x?metadata:cdmi_", "", cdmiHdr(ctObject)...)
	md = decode(t, body)["metadata"].(map[string]any)
	assert.Equal(t, "900150983CD24FB0D6963F7D28E17F72", md["cdmi_hash"])
	assert.Equal(t, "MD5", md["cdmi_value_hash_provided"])
}

type hookFunc func(OCCIExport)

func (h hookFunc) PrepareExport(context.Context, Container, OCCIExport) (Undo, error) {
	return nil, nil
}

func (h hookFunc) CommitExport(_ context.Context, _ *gorm.DB, _ Container, e OCCIExport) error {
	h(e)
	return nil
}

func (h hookFunc) PrepareUnexport(context.Context, Container, OCCIExport) (Undo, error) {
	return nil, nil
}

// CommitUnexport reports a removal as an export without permissions.
func (h hookFunc) CommitUnexport(_ context.Context, _ *gorm.DB, c Container, e OCCIExport) error {
	h(OCCIExport{Protocol: e.Protocol, Identifier: c.ObjectID, Permissions: []string{"removed"}})
	return nil
}
