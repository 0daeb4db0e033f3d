package cdmi_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/spec-tests/harness"
)

// Request shapes real CDMI clients send (issue 11), each checked against
// the clause that allows or requires it.

// CDMI 1.0.x-era clients (and curl scripts following the 1.0.2 examples)
// create a container with an empty body and Content-Length: 0. §9.2.5 makes
// every request field optional, so the empty body is read as {}.
func TestContainerEmptyBody(t *testing.T) {
	c := testContainer(t)
	for _, h := range []http.Header{hdr(ctContainer, ctContainer), hdr(ctContainer, "")} {
		u := c + uniq("empty") + "/"
		resp, body := harness.Do(t, http.MethodPut, u, h, strings.NewReader(""))
		expect(t, resp, body, http.StatusCreated)
		assert.Equal(t, ctContainer, decode(t, body).str("objectType"))
		_, o := get(t, u, ctContainer)
		assert.Equal(t, ctContainer, o.str("objectType"))
		// An update with no body changes nothing.
		resp, body = harness.Do(t, http.MethodPut, u, h, strings.NewReader(""))
		expect(t, resp, body, http.StatusNoContent)
	}
	// A body that is there must be a JSON object (§9.2.5).
	resp, body := harness.Do(t, http.MethodPut, c+"bad/", hdr(ctContainer, ""), strings.NewReader(" "))
	expect4xx(t, resp, body, http.StatusBadRequest)
}

// §5.13.1 and each response-header table (e.g. §9.2.6) spell the
// header X-CDMI-Specification-Version; some test harnesses compare header
// names case-sensitively, so the server writes it that way on the wire
// (HTTP itself is case-insensitive, RFC 7230 §3.2).
func TestVersionHeaderSpelling(t *testing.T) {
	u, err := url.Parse(rootURL(t))
	require.NoError(t, err)
	if u.Scheme != "http" {
		t.Skip("raw header check needs a plain-HTTP server")
	}
	conn, err := net.Dial("tcp", u.Host)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write([]byte("GET " + u.Path + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nAccept: application/cdmi-container\r\nX-CDMI-Specification-Version: 1.1.1\r\nConnection: close\r\n\r\n"))
	require.NoError(t, err)
	br := bufio.NewReader(conn)
	status, err := br.ReadString('\n')
	require.NoError(t, err)
	require.Contains(t, status, " 200 ")
	var names []string
	for {
		line, err := br.ReadString('\n')
		require.NoError(t, err)
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		n, _, _ := strings.Cut(line, ":")
		names = append(names, n)
	}
	assert.Contains(t, names, "X-CDMI-Specification-Version", "response header names: %v", names)
}

// A widely used QoS extension (and any read-modify-write client) sends
// capabilitiesURI back in an update. §9.4.5 / §8.4.4 list no such request field;
// the server ignores it rather than refusing the update.
func TestUpdateWithCapabilitiesURI(t *testing.T) {
	c := testContainer(t)
	_, o := get(t, c, ctContainer)
	resp, body := harness.Do(t, http.MethodPut, c, hdr(ctContainer, ""), jsonBody(t, map[string]any{
		"capabilitiesURI": o.str("capabilitiesURI"), "metadata": map[string]any{"qos": "gold"}}))
	expect(t, resp, body, http.StatusNoContent)
	_, o = get(t, c, ctContainer)
	assert.Equal(t, "gold", o.meta()["qos"])

	obj := c + "o.txt"
	putObject(t, obj, map[string]any{"value": "v"})
	resp, body = harness.Do(t, http.MethodPut, obj, hdr(ctObject, ""), jsonBody(t, map[string]any{
		"capabilitiesURI": "/cdmi_capabilities/dataobject/gold/", "metadata": map[string]any{"qos": "gold"}}))
	expect(t, resp, body, http.StatusNoContent)
}

// §16.3 (Table 118): client updates of storage system metadata (cdmi_size,
// cdmi_ctime, ...) "shall be ignored", and fields only the server sets
// (objectType, objectID, parentURI, ...) carry nothing a client can
// change. A client that reads an object and PUTs the whole body back with
// one change (read-modify-write, as CDMI browsers and libcdmi-based tools
// do) succeeds for data objects, containers and queues; unknown cdmi_*
// metadata names stay refused (§16.1).
func TestReadModifyWrite(t *testing.T) {
	c := testContainer(t)
	obj := c + "rmw.txt"
	putObject(t, obj, map[string]any{"value": "hello", "mimetype": "text/plain", "metadata": map[string]any{"k": "1"}})
	q := c + "rmwq"
	resp, body := harness.Do(t, http.MethodPut, q, hdr(ctQueue, ctQueue), jsonBody(t, map[string]any{"metadata": map[string]any{"k": "1"}}))
	expect(t, resp, body, http.StatusCreated)
	sub := c + "rmwc/"
	mkcontainer(t, sub, map[string]any{"metadata": map[string]any{"k": "1"}})

	for _, tc := range []struct{ u, ct string }{{obj, ctObject}, {q, ctQueue}, {sub, ctContainer}} {
		_, o := get(t, tc.u, tc.ct)
		o.meta()["k"] = "2"
		resp, body := harness.Do(t, http.MethodPut, tc.u, hdr(tc.ct, ""), jsonBody(t, o))
		expect(t, resp, body, http.StatusNoContent)
		_, after := get(t, tc.u, tc.ct)
		assert.Equal(t, "2", after.meta()["k"], tc.u)
		assert.Equal(t, o.str("objectID"), after.str("objectID"), tc.u)
		assert.NotEqual(t, o.meta()["cdmi_mcount"], after.meta()["cdmi_mcount"], "%s: cdmi_mcount is the server's", tc.u)
	}
	_, o := get(t, obj, ctObject)
	assert.Equal(t, "hello", o.str("value"))

	// Server fields with other values are ignored too, never applied.
	resp, body = harness.Do(t, http.MethodPut, obj, hdr(ctObject, ""), jsonBody(t, map[string]any{
		"objectID": "00007ED900104E1D", "parentURI": "/elsewhere/", "objectType": ctContainer,
		"metadata": map[string]any{"k": "3", "cdmi_size": "999", "cdmi_ctime": "2000-01-01T00:00:00.000000Z"}}))
	expect(t, resp, body, http.StatusNoContent)
	_, after := get(t, obj, ctObject)
	assert.Equal(t, o.str("objectID"), after.str("objectID"))
	assert.Equal(t, "5", after.meta()["cdmi_size"])
	assert.Equal(t, o.meta()["cdmi_ctime"], after.meta()["cdmi_ctime"])
	assert.Equal(t, "3", after.meta()["k"])

	resp, body = harness.Do(t, http.MethodPut, obj, hdr(ctObject, ""), jsonBody(t, map[string]any{"metadata": map[string]any{"cdmi_nosuch": "x"}}))
	expect4xx(t, resp, body, http.StatusBadRequest)
}

// §8.3.7 Table 28 (data objects), §9.3.7 (containers), §11.3.7 (queues):
// "400 Bad Request: The request contains invalid parameters or field
// names". A read selecting a field the object has not gets 400 with a
// message, not 200 with {}; valid selections of each type still work.
func TestInvalidFieldName(t *testing.T) {
	c := testContainer(t)
	obj := c + "f.txt"
	putObject(t, obj, map[string]any{"value": "x"})
	q := c + "fq"
	resp, body := harness.Do(t, http.MethodPut, q, hdr(ctQueue, ctQueue), jsonBody(t, map[string]any{}))
	expect(t, resp, body, http.StatusCreated)
	for _, tc := range []struct{ u, ct, good string }{
		{obj, ctObject, "?objectID;valuerange;value:0-0;metadata:cdmi_"},
		{c, ctContainer, "?children:0-0;childrenrange;exports"},
		{q, ctQueue, "?queueValues;values:1;mimetype"},
		{rootURL(t) + "cdmi_capabilities/", ctCapability, "?capabilities;children"},
	} {
		resp, body := harness.Do(t, http.MethodGet, tc.u+"?nosuchfield", hdr("", tc.ct), nil)
		expect4xx(t, resp, body, http.StatusBadRequest)
		assert.Contains(t, string(body), "nosuchfield")
		resp, body = harness.Do(t, http.MethodGet, tc.u+"?objectID;nosuchfield", hdr("", tc.ct), nil)
		expect4xx(t, resp, body, http.StatusBadRequest)
		get(t, tc.u+tc.good, tc.ct)
	}
	// CDMI 2.0 query form, the same rule.
	resp, body = harness.Do(t, http.MethodGet, obj+"?nosuchfield=1", hdr("", ctObject), nil)
	expect4xx(t, resp, body, http.StatusBadRequest)
	// A non-CDMI read of the value (§8.4) is plain HTTP: a query there
	// (a browser's cache-buster) is no field selection.
	resp, body = getRaw(t, obj+"?nocache=1", nil)
	expect(t, resp, body, http.StatusOK)
	assert.Equal(t, "x", string(body))
}

// RFC 2616 §14.35.1, adopted by CDMI 1.1.1 §5.13.1 for non-CDMI reads
// (§8.4): "The recipient of a byte-range-set that includes one or more
// syntactically invalid byte-range-spec values MUST ignore the header";
// the whole value is served with 200. A well-formed range that cannot be
// satisfied is still 416 (§14.35.1, §10.4.17).
func TestMalformedRangeIgnored(t *testing.T) {
	c := testContainer(t)
	u := c + "r.txt"
	putRaw(t, u, "text/plain", []byte("0123456789"))
	for _, r := range []string{"10-15", "items=0-1", "bytes=2-1", "bytes=a-b", "bytes=", "bytes=-"} {
		resp, body := getRaw(t, u, http.Header{"Range": {r}})
		expect(t, resp, body, http.StatusOK)
		assert.Equal(t, "0123456789", string(body), "Range: %s", r)
	}
	resp, body := getRaw(t, u, http.Header{"Range": {"bytes=2-4"}})
	expect(t, resp, body, http.StatusPartialContent)
	assert.Equal(t, "234", string(body))
	resp, body = getRaw(t, u, http.Header{"Range": {"bytes=-3"}})
	expect(t, resp, body, http.StatusPartialContent)
	assert.Equal(t, "789", string(body))
	resp, body = getRaw(t, u, http.Header{"Range": {"bytes=100-200"}})
	expect(t, resp, body, http.StatusRequestedRangeNotSatisfiable)
}

// CDMI 1.1.1 §6.2.3 Table 6: the Content-Type of a non-CDMI create or
// update is the data object's mimetype, stored as sent. Parameters keep
// their case: a multipart boundary or a charset must still match the
// value when it is read back (§6.3, §8.3.6 mimetype).
func TestMimetypeAsSent(t *testing.T) {
	c := testContainer(t)
	u := c + "mt.eml"
	ct := `multipart/related; boundary="AbCdEf"; type="Text/HTML"`
	putRaw(t, u, ct, []byte("--AbCdEf\r\n\r\nx\r\n--AbCdEf--\r\n"))
	resp, body := getRaw(t, u, nil)
	expect(t, resp, body, http.StatusOK)
	assert.Equal(t, ct, resp.Header.Get("Content-Type"))
	_, o := get(t, u+"?mimetype", ctObject)
	assert.Equal(t, ct, o.str("mimetype"))

	// POST to a container (§9.6) keeps it too.
	resp, body = harness.Do(t, http.MethodPost, c, http.Header{"Content-Type": {"Text/Plain; charset=UTF-8"}}, strings.NewReader("hi"))
	expect(t, resp, body, http.StatusCreated)
	resp, body = getRaw(t, resp.Header.Get("Location"), nil)
	expect(t, resp, body, http.StatusOK)
	assert.Equal(t, "Text/Plain; charset=UTF-8", resp.Header.Get("Content-Type"))
}

// CDMI 1.1.1 §5.13.5: the root container reports a parentURI. At "/" it
// is "" and parentID is omitted; when the root URI is not "/" and its
// parent path is no CDMI container (here OCCI is served there), parentURI
// is the parent path's URI and parentID is omitted. Either way parentURI
// followed by objectName is the root's own URI (§5.13.5, §9.3.6).
func TestRootParentURI(t *testing.T) {
	root := rootURL(t)
	_, o := get(t, root, ctContainer)
	require.Contains(t, o, "parentURI", "§5.13.5: the root container has a parentURI")
	assert.NotContains(t, o, "parentID")
	if pathOf(t, root) == "/" {
		assert.Equal(t, "", o.str("parentURI"))
		return
	}
	assert.Equal(t, pathOf(t, root), o.str("parentURI")+o.str("objectName"))
	_, sel := get(t, root+"?parentURI;objectName", ctContainer)
	assert.Equal(t, o.str("parentURI"), sel.str("parentURI"))
}

// CDMI 1.1.1 §16.1.9: "all hexadecimal integers in CDMI ACLs shall be
// represented as quoted strings containing a leading 0x": acetype,
// aceflags and acemask in responses are "0x..." strings (clients parse
// them with int(x, 16)), whichever form the request used (the text forms
// of §16.1.2-§16.1.4 stay accepted).
func TestACLHexForm(t *testing.T) {
	c := testContainer(t)
	u := c + "acl.txt"
	putObject(t, u, map[string]any{"value": "x", "metadata": map[string]any{"cdmi_acl": []any{
		map[string]any{"acetype": "ALLOW", "identifier": "EVERYONE@", "aceflags": "NO_FLAGS", "acemask": "READ_OBJECT, READ_METADATA"},
		map[string]any{"acetype": "0x01", "identifier": "mallory", "aceflags": "0x00", "acemask": "0x00000002"},
		map[string]any{"acetype": "ALLOW", "identifier": "OWNER@", "aceflags": "NO_FLAGS", "acemask": "ALL_PERMS"},
	}}})
	_, o := get(t, u+"?metadata:cdmi_acl", ctObject)
	acl, _ := o.meta()["cdmi_acl"].([]any)
	require.Len(t, acl, 3)
	want := []struct{ typ, flags, mask string }{{"0x00", "0x00", "0x00000009"}, {"0x01", "0x00", "0x00000002"}, {"0x00", "0x00", "0x001F07FF"}}
	for i, a := range acl {
		ace := a.(map[string]any)
		for k, v := range map[string]string{"acetype": want[i].typ, "aceflags": want[i].flags, "acemask": want[i].mask} {
			s, _ := ace[k].(string)
			require.True(t, strings.HasPrefix(s, "0x"), "ace %d %s = %v: §16.1.9 wants a \"0x\" string", i, k, ace[k])
			assert.Equal(t, parseHex(t, v), parseHex(t, s), "ace %d %s", i, k)
		}
	}
	// Every object's ACL reads in that form, inherited ones included.
	_, r := get(t, c+"?metadata:cdmi_acl", ctContainer)
	for _, a := range r.meta()["cdmi_acl"].([]any) {
		for _, k := range []string{"acetype", "aceflags", "acemask"} {
			s, _ := a.(map[string]any)[k].(string)
			assert.True(t, strings.HasPrefix(s, "0x"), "%s = %q", k, s)
		}
	}
}

func parseHex(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(s), "0x"), 16, 32)
	require.NoError(t, err, s)
	return n
}

// CDMI 1.1.1 §16.3 Table 118: cdmi_size is "the number of bytes consumed
// by the object"; for a queue (§11) that is the bytes of the values it
// holds, which change with enqueue (§11.6) and dequeue (§11.7). A
// container's cdmi_size (its subtree) counts them too.
func TestQueueSize(t *testing.T) {
	c := testContainer(t)
	q := c + "sized"
	resp, body := harness.Do(t, http.MethodPut, q, hdr(ctQueue, ctQueue), jsonBody(t, map[string]any{}))
	expect(t, resp, body, http.StatusCreated)
	size := func(u, ct string) string {
		_, o := get(t, u+"?metadata:cdmi_size", ct)
		return fmt.Sprint(o.meta()["cdmi_size"])
	}
	assert.Equal(t, "0", size(q, ctQueue))
	resp, body = harness.Do(t, http.MethodPost, q, hdr(ctQueue, ""), jsonBody(t, map[string]any{"value": []string{"abc", "defgh"}}))
	expect(t, resp, body, http.StatusNoContent, http.StatusCreated, http.StatusOK)
	assert.Equal(t, "8", size(q, ctQueue))
	assert.Equal(t, "8", size(c, ctContainer))
	resp, body = harness.Do(t, http.MethodDelete, q+"?values:1", hdr("", ""), nil)
	expect(t, resp, body, http.StatusNoContent, http.StatusOK)
	assert.Equal(t, "5", size(q, ctQueue))
}

// CDMI 1.1.1 §8.4.8 Example 3: PUT ?value:21-24 with {"value": "dGhhdA=="}
// (no valuetransferencoding) to a utf-8 object answers 204, the range's
// bytes travelling base 64 (§8.1); the bullet after the example: a base 64
// string sent to update a utf-8 object is no error. Where the literal text
// is what fits the range, it is stored literally.
func TestRangeUpdateExample3(t *testing.T) {
	c := testContainer(t)
	u := c + "MyDataObject.txt"
	putObject(t, u, map[string]any{"mimetype": "text/plain", "value": "Hello CDMI World! Is this here?"})
	resp, body := harness.Do(t, http.MethodPut, u+"?value:21-24", hdr(ctObject, ""), stringsReader(`{"value" : "dGhhdA=="}`))
	expect(t, resp, body, http.StatusNoContent)
	resp, raw := getRaw(t, u, nil)
	expect(t, resp, raw, http.StatusOK)
	assert.Equal(t, "Hello CDMI World! Is that here?", string(raw))
	_, o := get(t, u+"?valuetransferencoding", ctObject)
	assert.Equal(t, "utf-8", o.str("valuetransferencoding"))

	// Eight bytes: the literal base-64-looking text fits and is stored.
	resp, body = harness.Do(t, http.MethodPut, u+"?value:0-7", hdr(ctObject, ""), stringsReader(`{"value" : "dGhhdA=="}`))
	expect(t, resp, body, http.StatusNoContent)
	_, raw = getRaw(t, u, nil)
	assert.Equal(t, "dGhhdA==MI World! Is that here?", string(raw))
	// Neither reading fits: 400 naming the lengths.
	resp, body = harness.Do(t, http.MethodPut, u+"?value:0-2", hdr(ctObject, ""), stringsReader(`{"value" : "dGhhdA=="}`))
	expect4xx(t, resp, body, http.StatusBadRequest)
}

// CDMI 1.1.1 §8.2.4 (Table 20), §11.6.3: a CDMI request (it carries
// X-CDMI-Specification-Version) with a multipart/mixed body is multi-part
// MIME, offered only with the cdmi_multipart_mime capability (§12.1.1).
// A server that does not advertise it refuses such a request (415, with a
// message) and never stores the envelope as a value; TestMultipartMIME
// covers servers that do advertise it.
func TestMultipartRefusedUnlessOffered(t *testing.T) {
	_, sys := get(t, rootURL(t)+"cdmi_capabilities/", ctCapability)
	if sc, _ := sys["capabilities"].(map[string]any); sc["cdmi_multipart_mime"] == "true" {
		t.Skip("cdmi_multipart_mime is advertised: TestMultipartMIME applies")
	}
	c := testContainer(t)
	q := c + "mq"
	resp, body := harness.Do(t, http.MethodPut, q, hdr(ctQueue, ctQueue), jsonBody(t, map[string]any{}))
	expect(t, resp, body, http.StatusCreated)
	envelope := "--b1\r\nContent-Type: application/cdmi-object\r\n\r\n{}\r\n--b1\r\nContent-Type: application/octet-stream\r\n\r\nabc\r\n--b1--\r\n"
	for _, tc := range []struct{ method, u string }{
		{http.MethodPut, c + "mp.bin"}, {http.MethodPost, c}, {http.MethodPost, q},
		{http.MethodPost, rootURL(t) + "cdmi_objectid/"},
	} {
		resp, body := harness.Do(t, tc.method, tc.u, hdr("multipart/mixed; boundary=b1", ctObject), strings.NewReader(envelope))
		expect4xx(t, resp, body, http.StatusUnsupportedMediaType, http.StatusBadRequest)
		assert.Contains(t, strings.ToLower(string(body)), "multi", "%s %s: the message names the problem", tc.method, tc.u)
	}
	resp, _ = harness.Do(t, http.MethodGet, c+"mp.bin", nil, nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "the envelope must not be stored")
	_, o := get(t, c, ctContainer)
	assert.Equal(t, []any{"mq"}, o.list("children"))
	_, qo := get(t, q+"?queueValues", ctQueue)
	assert.Equal(t, "", qo.str("queueValues"), "nothing enqueued")
}

// RFC 7231 §4.3.2 (HTTP, which CDMI 1.1.1 §5.13.1 builds on): HEAD is GET
// without the body. Wherever GET works in CDMI (containers, data objects
// read with and without CDMI, queues, capabilities, domains, objects by
// ID, redirects, errors) HEAD answers the same status and Content-Type and
// no body (issue 11, OCCI item 8's CDMI side).
func TestHEADLikeGET(t *testing.T) {
	c := testContainer(t)
	obj := c + "h.txt"
	putObject(t, obj, map[string]any{"value": "hello", "mimetype": "text/plain"})
	q := c + "hq"
	resp, body := harness.Do(t, http.MethodPut, q, hdr(ctQueue, ctQueue), jsonBody(t, map[string]any{}))
	expect(t, resp, body, http.StatusCreated)
	_, o := get(t, obj+"?objectID", ctObject)
	root := rootURL(t)
	noCDMI := http.Header{}
	for _, tc := range []struct {
		u string
		h http.Header
	}{
		{root, hdr("", ctContainer)}, {c, hdr("", ctContainer)}, {obj, hdr("", ctObject)},
		{obj + "?metadata", hdr("", ctObject)}, {obj, noCDMI}, {obj, http.Header{"Range": {"bytes=1-2"}}},
		{q, hdr("", ctQueue)}, {root + "cdmi_capabilities/", hdr("", ctCapability)},
		{root + "cdmi_domains/default/", hdr("", ctDomain)}, {root + "cdmi_objectid/" + o.str("objectID"), hdr("", ctObject)},
		{strings.TrimSuffix(c, "/"), hdr("", ctContainer)}, {c + "missing", hdr("", ctObject)},
		{obj + "?nosuchfield", hdr("", ctObject)},
	} {
		g, _ := harness.Do(t, http.MethodGet, tc.u, tc.h, nil)
		h, hb := harness.Do(t, http.MethodHead, tc.u, tc.h, nil)
		assert.Equal(t, g.StatusCode, h.StatusCode, "HEAD %s", tc.u)
		assert.Equal(t, g.Header.Get("Content-Type"), h.Header.Get("Content-Type"), "HEAD %s", tc.u)
		assert.Equal(t, g.Header.Get("Location"), h.Header.Get("Location"), "HEAD %s", tc.u)
		assert.Empty(t, hb, "HEAD %s has no body", tc.u)
		if g.StatusCode == http.StatusOK && len(tc.h.Values("X-CDMI-Specification-Version")) > 0 {
			assert.Equal(t, g.Header.Get("X-CDMI-Specification-Version"), h.Header.Get("X-CDMI-Specification-Version"), "HEAD %s", tc.u)
		}
	}
}

// CDMI 1.1.1 §8.1 (data objects), §9.1 (containers), §11.1 (queues):
// fields the standard does not define "shall be stored as part of the
// object". They are read back in a full read and when named in ?field
// (and are then valid field names, §8.3.7); an update replaces those it
// names and keeps the others.
func TestNonStandardFieldsStored(t *testing.T) {
	c := testContainer(t)
	obj := c + "x.txt"
	q := c + "xq"
	sub := c + "xc/"
	extra := map[string]any{"vendorTag": "blue", "x_counts": []any{1.0, 2.0}, "nested": map[string]any{"a": "b"}}
	for _, tc := range []struct{ u, ct string }{{obj, ctObject}, {q, ctQueue}, {sub, ctContainer}} {
		b := map[string]any{"metadata": map[string]any{"k": "v"}}
		for k, v := range extra {
			b[k] = v
		}
		if tc.ct == ctObject {
			b["value"] = "hello"
		}
		resp, body := harness.Do(t, http.MethodPut, tc.u, hdr(tc.ct, tc.ct), jsonBody(t, b))
		expect(t, resp, body, http.StatusCreated)
		created := decode(t, body)
		_, o := get(t, tc.u, tc.ct)
		for k, v := range extra {
			assert.Equal(t, v, o[k], "%s: %s in a full read", tc.u, k)
			assert.Equal(t, v, created[k], "%s: %s in the create's answer", tc.u, k)
		}
		_, sel := get(t, tc.u+"?vendorTag;objectID", tc.ct)
		assert.Equal(t, "blue", sel["vendorTag"], tc.u)
		assert.NotContains(t, sel, "nested", tc.u)
		// An update names one; the others stay.
		resp, body = harness.Do(t, http.MethodPut, tc.u, hdr(tc.ct, ""), jsonBody(t, map[string]any{"vendorTag": "green"}))
		expect(t, resp, body, http.StatusNoContent)
		_, o = get(t, tc.u, tc.ct)
		assert.Equal(t, "green", o["vendorTag"], tc.u)
		assert.Equal(t, extra["nested"], o["nested"], tc.u)
		assert.Equal(t, "v", o.meta()["k"], "%s: metadata untouched", tc.u)
		assert.NotContains(t, o.meta(), "cdmi_x_fields", "%s: the storage of extra fields does not show in metadata", tc.u)
	}
	_, o := get(t, obj, ctObject)
	assert.Equal(t, "hello", o.str("value"))
}
