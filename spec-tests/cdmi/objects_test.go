package cdmi_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/spec-tests/harness"
)

// checkCommon checks the fields every CDMI object body carries (CDMI 1.1.1
// §8.2.7 Table 23, §9.2.7): the object type, a valid ID, a parentURI that
// with objectName gives the object's own URI, the parent's ID, a domainURI
// and a capabilitiesURI that lead to existing objects, and "Complete".
func checkCommon(t *testing.T, o obj, objectType, selfURL string) {
	t.Helper()
	assert.Equal(t, objectType, o.str("objectType"))
	assert.NoError(t, checkID(o.str("objectID")))
	if assert.NotEmpty(t, o.str("parentURI")) {
		assert.Equal(t, pathOf(t, selfURL), pathOf(t, resolve(t, o.str("parentURI")+escapeName(o.str("objectName")))),
			"parentURI %q + objectName %q must give the object's URI", o.str("parentURI"), o.str("objectName"))
		_, parent := get(t, resolve(t, o.str("parentURI")), ctContainer)
		assert.Equal(t, parent.str("objectID"), o.str("parentID"))
	}
	assert.Equal(t, "Complete", o.str("completionStatus"))
	if assert.NotEmpty(t, o.str("domainURI")) {
		_, d := get(t, resolve(t, o.str("domainURI")), ctDomain)
		assert.Equal(t, ctDomain, d.str("objectType"))
	}
	if assert.NotEmpty(t, o.str("capabilitiesURI")) {
		_, c := get(t, resolve(t, o.str("capabilitiesURI")), ctCapability)
		assert.Equal(t, ctCapability, c.str("objectType"))
	}
	_, isMeta := o["metadata"].(map[string]any)
	assert.True(t, isMeta, "metadata must be a JSON object, got %T", o["metadata"])
}

// escapeName percent-encodes a name the way it travels in a URI path
// (CDMI 1.1.1 §5.13.4), keeping a container's trailing slash.
func escapeName(name string) string {
	trail := strings.HasSuffix(name, "/")
	n := strings.TrimSuffix(name, "/")
	n = url.PathEscape(n)
	if trail {
		n += "/"
	}
	return n
}

// CDMI 1.1.1 §9.2, §9.3, §9.4, §9.5: create, read, update and delete a
// container with CDMI content types, every field checked.
func TestContainerCRUD(t *testing.T) {
	parent := testContainer(t)
	u := parent + "box/"
	resp, body := harness.Do(t, http.MethodPut, u, hdr(ctContainer, ctContainer), jsonBody(t, map[string]any{
		"metadata": map[string]any{"colour": "green"},
	}))
	expect(t, resp, body, http.StatusCreated)
	assert.Equal(t, ctContainer, mediaType(resp))
	assert.NotEmpty(t, resp.Header.Get("X-CDMI-Specification-Version"))
	o := decode(t, body)
	checkCommon(t, o, ctContainer, u)
	assert.Equal(t, "box/", o.str("objectName"))
	assert.Equal(t, "green", o.meta()["colour"])
	assert.Equal(t, "", o.str("childrenrange"))
	assert.Empty(t, o.list("children"))

	resp, r := get(t, u, ctContainer)
	assert.Equal(t, ctContainer, mediaType(resp))
	checkCommon(t, r, ctContainer, u)
	assert.Equal(t, o.str("objectID"), r.str("objectID"))
	_, isList := r["children"].([]any)
	assert.True(t, isList, "children must be a JSON array")

	// The parent lists it with its trailing slash (§9.3.6).
	_, p := get(t, parent, ctContainer)
	assert.Contains(t, p.list("children"), "box/")

	// Update replaces the metadata given (§9.4): 204, then visible.
	resp, body = harness.Do(t, http.MethodPut, u, hdr(ctContainer, ""), jsonBody(t, map[string]any{
		"metadata": map[string]any{"colour": "blue", "shape": "round"},
	}))
	expect(t, resp, body, http.StatusNoContent, http.StatusOK)
	_, r = get(t, u, ctContainer)
	assert.Equal(t, "blue", r.meta()["colour"])
	assert.Equal(t, "round", r.meta()["shape"])
	assert.Equal(t, o.str("objectID"), r.str("objectID"), "an update keeps the ID")

	// Delete (§9.5): 204, then 404, and gone from the parent's children.
	resp, body = harness.Do(t, http.MethodDelete, u, hdr("", ""), nil)
	expect(t, resp, body, http.StatusNoContent)
	assert.Equal(t, http.StatusNotFound, status(t, u, hdr("", ctContainer)))
	_, p = get(t, parent, ctContainer)
	assert.NotContains(t, p.list("children"), "box/")
}

// CDMI 1.1.1 §8.2, §8.3, §8.4, §8.5: create, read, update and delete a
// data object with CDMI content types.
func TestDataObjectCRUD(t *testing.T) {
	c := testContainer(t)
	u := c + "hello.txt"
	resp, body := harness.Do(t, http.MethodPut, u, hdr(ctObject, ctObject), jsonBody(t, map[string]any{
		"mimetype": "text/plain", "metadata": map[string]any{"colour": "red"}, "value": "Hello CDMI",
	}))
	expect(t, resp, body, http.StatusCreated)
	assert.Equal(t, ctObject, mediaType(resp))
	o := decode(t, body)
	checkCommon(t, o, ctObject, u)
	assert.Equal(t, "hello.txt", o.str("objectName"))
	assert.Equal(t, "text/plain", o.str("mimetype"))
	assert.Equal(t, "red", o.meta()["colour"])

	resp, r := get(t, u, ctObject)
	assert.Equal(t, ctObject, mediaType(resp))
	checkCommon(t, r, ctObject, u)
	assert.Equal(t, o.str("objectID"), r.str("objectID"))
	assert.Equal(t, "Hello CDMI", r.str("value"))
	assert.Equal(t, "0-9", r.str("valuerange"))
	assert.Equal(t, "utf-8", r.str("valuetransferencoding"))
	assert.Equal(t, "text/plain", r.str("mimetype"))

	_, p := get(t, c, ctContainer)
	assert.Contains(t, p.list("children"), "hello.txt")
	assert.Equal(t, "0-0", p.str("childrenrange"))

	// Update the value (§8.4): 204, same ID, new value and range.
	resp, body = harness.Do(t, http.MethodPut, u, hdr(ctObject, ""), jsonBody(t, map[string]any{"value": "Bye"}))
	expect(t, resp, body, http.StatusNoContent, http.StatusOK)
	_, r = get(t, u, ctObject)
	assert.Equal(t, "Bye", r.str("value"))
	assert.Equal(t, "0-2", r.str("valuerange"))
	assert.Equal(t, o.str("objectID"), r.str("objectID"))

	resp, body = harness.Do(t, http.MethodDelete, u, hdr("", ""), nil)
	expect(t, resp, body, http.StatusNoContent)
	assert.Equal(t, http.StatusNotFound, status(t, u, hdr("", ctObject)))
	resp, body = harness.Do(t, http.MethodDelete, u, hdr("", ""), nil)
	expect4xx(t, resp, body, http.StatusNotFound)
}

// CDMI 1.1.1 §8.2.5, §8.3.6, §5.15.1: values travel as utf-8 or base64
// (and, with CDMI 2.0, json) and come back in the encoding they were
// stored with, byte for byte.
func TestValueTransferEncodings(t *testing.T) {
	c := testContainer(t)
	bin := []byte{0, 1, 2, 0xff, 0xfe, 'a', '\n', 0x80}
	putObject(t, c+"b64", map[string]any{"value": base64.StdEncoding.EncodeToString(bin), "valuetransferencoding": "base64"})
	_, r := get(t, c+"b64", ctObject)
	assert.Equal(t, "base64", r.str("valuetransferencoding"))
	got, err := base64.StdEncoding.DecodeString(r.str("value"))
	require.NoError(t, err)
	assert.Equal(t, bin, got)
	assert.Equal(t, "0-7", r.str("valuerange"))
	// A range of a base64 value is the base64 of those bytes (§8.3.1).
	_, r = get(t, c+"b64?value:1-3;valuerange;valuetransferencoding", ctObject)
	assert.Equal(t, base64.StdEncoding.EncodeToString(bin[1:4]), r.str("value"))
	assert.Equal(t, "1-3", r.str("valuerange"))
	resp, raw := getRaw(t, c+"b64", nil)
	expect(t, resp, raw, http.StatusOK)
	assert.Equal(t, bin, raw)

	putObject(t, c+"u8", map[string]any{"value": "grüße, 世界", "valuetransferencoding": "utf-8"})
	_, r = get(t, c+"u8", ctObject)
	assert.Equal(t, "grüße, 世界", r.str("value"))
	assert.Equal(t, "utf-8", r.str("valuetransferencoding"))
	assert.Equal(t, "0-14", r.str("valuerange"), "ranges count bytes (15 here), not characters (10)")

	// CDMI 2.0 §"valuetransferencoding": json keeps a JSON value as such.
	putObject(t, c+"js", map[string]any{"value": map[string]any{"a": []any{1.0, "two"}}, "valuetransferencoding": "json"})
	_, r = get(t, c+"js", ctObject)
	assert.Equal(t, "json", r.str("valuetransferencoding"))
	assert.Equal(t, map[string]any{"a": []any{1.0, "two"}}, r["value"])

	// §8.4.8 after Example 3: an update without valuetransferencoding uses
	// the object's. A valid base64 string sent to a utf-8 object is stored
	// literally; a non-base64 string sent to a base64 object is an error.
	resp, body := harness.Do(t, http.MethodPut, c+"u8", hdr(ctObject, ""), jsonBody(t, map[string]any{"value": "dGhhdA=="}))
	expect(t, resp, body, http.StatusNoContent, http.StatusOK)
	_, raw = getRaw(t, c+"u8", nil)
	assert.Equal(t, "dGhhdA==", string(raw))
	resp, body = harness.Do(t, http.MethodPut, c+"b64", hdr(ctObject, ""), jsonBody(t, map[string]any{"value": "not base64!"}))
	expect4xx(t, resp, body, http.StatusBadRequest)
	_, raw = getRaw(t, c+"b64", nil)
	assert.Equal(t, bin, raw, "a refused update leaves the value")

	// Bad base64 and unknown encodings are refused, nothing created.
	for name, body := range map[string]map[string]any{
		"badb64": {"value": "!!!not base64", "valuetransferencoding": "base64"},
		"badenc": {"value": "x", "valuetransferencoding": "rot13"},
		"badu8":  {"value": 12, "valuetransferencoding": "utf-8"},
	} {
		resp, b := harness.Do(t, http.MethodPut, c+name, hdr(ctObject, ctObject), jsonBody(t, body))
		expect4xx(t, resp, b, http.StatusBadRequest)
		assert.Equal(t, http.StatusNotFound, status(t, c+name, hdr("", ctObject)), name)
	}
}

// CDMI 1.1.1 §8.3.1, §9.3.1: ?<field>;<field> returns only those fields;
// value:<range>, children:<range> and metadata:<prefix> select parts.
func TestFieldSelection(t *testing.T) {
	c := testContainer(t)
	val := strings.Repeat("0123456789", 20)
	putObject(t, c+"f.txt", map[string]any{"value": val, "metadata": map[string]any{"abc": "1", "abd": "2", "xyz": "3"}})

	_, o := get(t, c+"f.txt?objectID;parentURI", ctObject)
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	assert.Equal(t, []string{"objectID", "parentURI"}, keys)

	_, o = get(t, c+"f.txt?value:0-99", ctObject)
	assert.Equal(t, val[:100], o.str("value"))
	_, o = get(t, c+"f.txt?valuerange;value:10-19", ctObject)
	assert.Equal(t, val[10:20], o.str("value"))
	assert.Equal(t, "10-19", o.str("valuerange"))
	// A range past the end is cut at the end.
	_, o = get(t, c+"f.txt?value:190-500", ctObject)
	assert.Equal(t, val[190:], o.str("value"))

	_, o = get(t, c+"f.txt?metadata:ab", ctObject)
	assert.Equal(t, map[string]any{"abc": "1", "abd": "2"}, o.meta())
	_, o = get(t, c+"f.txt?metadata:abc;objectName", ctObject)
	assert.Equal(t, map[string]any{"abc": "1"}, o.meta())
	assert.Equal(t, "f.txt", o.str("objectName"))

	for i := 0; i < 12; i++ {
		putRaw(t, c+"k"+string(rune('a'+i)), "text/plain", []byte{byte('a' + i)})
	}
	_, all := get(t, c+"?children;childrenrange", ctContainer)
	require.Len(t, all.list("children"), 13)
	assert.Equal(t, "0-12", all.str("childrenrange"))
	_, o = get(t, c+"?children:0-9;childrenrange", ctContainer)
	assert.Equal(t, all.list("children")[:10], o.list("children"))
	assert.Equal(t, "0-9", o.str("childrenrange"))
	_, o = get(t, c+"?children:10-12", ctContainer)
	assert.Equal(t, all.list("children")[10:], o.list("children"))

	// Unknown fields and malformed ranges are 400 (§8.3.7: "invalid
	// parameters or field names").
	for _, q := range []string{"?value:9-2", "?value:a-b", "?children:x"} {
		resp, b := harness.Do(t, http.MethodGet, c+"f.txt"+q, hdr("", ctObject), nil)
		if strings.HasPrefix(q, "?children") {
			resp, b = harness.Do(t, http.MethodGet, c+q, hdr("", ctContainer), nil)
		}
		expect4xx(t, resp, b, http.StatusBadRequest)
	}
}

// CDMI 1.1.1 §7.1, §9.1.3: a container's URI ends in "/"; a GET without it
// is answered 301 with the slash form in Location. A data object is not a
// container: its name with a slash is not found.
func TestTrailingSlash(t *testing.T) {
	c := testContainer(t)
	mkcontainer(t, c+"sub/", nil)
	putRaw(t, c+"leaf", "text/plain", []byte("x"))

	for _, h := range []http.Header{nil, hdr("", ctContainer)} {
		resp, body := harness.Do(t, http.MethodGet, c+"sub", h, nil)
		expect(t, resp, body, http.StatusMovedPermanently)
		loc := resp.Header.Get("Location")
		require.NotEmpty(t, loc)
		assert.Equal(t, pathOf(t, c+"sub/"), pathOf(t, resolve(t, loc)))
	}
	assert.Equal(t, http.StatusNotFound, status(t, c+"leaf/", hdr("", ctContainer)))

	// §7.1 covers update and delete too: 301, and the container is
	// untouched (not deleted, not replaced by a data object). A plain PUT
	// without the slash may also be read as creating a data object of the
	// container's name (§7.1 uses the slash to tell the two creates apart),
	// so 409 Conflict is accepted for it.
	for _, m := range []string{http.MethodDelete, http.MethodPut} {
		d := c + "d" + m + "/"
		mkcontainer(t, d, nil)
		resp, body := harness.Do(t, m, strings.TrimSuffix(d, "/"), http.Header{"Content-Type": {"text/plain"}}, strings.NewReader("not a container"))
		if m == http.MethodPut && resp.StatusCode == http.StatusConflict {
			assert.NotEmpty(t, body)
		} else if assert.Equal(t, http.StatusMovedPermanently, resp.StatusCode, "%s without the slash: %s", m, body) {
			assert.Equal(t, pathOf(t, d), pathOf(t, resolve(t, resp.Header.Get("Location"))), m)
		}
		resp, body = harness.Do(t, http.MethodGet, d, hdr("", ctContainer), nil)
		assert.Equal(t, http.StatusOK, resp.StatusCode, "%s without the slash must leave the container: %s", m, body)
	}
}

// CDMI 1.1.1 §9.2, §9.5.1: containers nest; deleting a container deletes
// everything below it.
func TestNestedContainersAndRecursiveDelete(t *testing.T) {
	c := testContainer(t)
	a := c + "a/"
	mkcontainer(t, a, nil)
	b := mkcontainer(t, a+"b/", nil)
	assert.Equal(t, pathOf(t, a), pathOf(t, resolve(t, b.str("parentURI"))))
	o := putObject(t, a+"b/deep.txt", map[string]any{"value": "deep"})
	_, r := get(t, a+"b/deep.txt", ctObject)
	assert.Equal(t, "deep", r.str("value"))

	resp, body := harness.Do(t, http.MethodDelete, a, hdr("", ""), nil)
	expect(t, resp, body, http.StatusNoContent)
	assert.Equal(t, http.StatusNotFound, status(t, a, hdr("", ctContainer)))
	assert.Equal(t, http.StatusNotFound, status(t, a+"b/", hdr("", ctContainer)))
	assert.Equal(t, http.StatusNotFound, status(t, a+"b/deep.txt", hdr("", ctObject)))
	assert.Equal(t, http.StatusNotFound, status(t, rootURL(t)+"cdmi_objectid/"+o.str("objectID"), hdr("", ctObject)))

	// A missing parent is not created on the fly (§9.2.8: 404).
	resp, body = harness.Do(t, http.MethodPut, c+"nope/x.txt", hdr(ctObject, ctObject), jsonBody(t, map[string]any{"value": "x"}))
	expect4xx(t, resp, body, http.StatusNotFound)
}

// CDMI 1.1.1 §9.6: POST into a container creates a data object named by
// its server-assigned ID; POST to cdmi_objectid/ creates one reachable by
// ID only.
func TestCreateByPOST(t *testing.T) {
	c := testContainer(t)
	resp, body := harness.Do(t, http.MethodPost, c, hdr(ctObject, ctObject), jsonBody(t, map[string]any{
		"mimetype": "text/plain", "value": "posted",
	}))
	expect(t, resp, body, http.StatusCreated)
	o := decode(t, body)
	id := o.str("objectID")
	require.NoError(t, checkID(id))
	assert.Equal(t, id, o.str("objectName"))
	loc := resp.Header.Get("Location")
	if assert.NotEmpty(t, loc) {
		assert.Equal(t, pathOf(t, c+id), pathOf(t, resolve(t, loc)))
	}
	_, r := get(t, c+id, ctObject)
	assert.Equal(t, "posted", r.str("value"))
	_, r = get(t, rootURL(t)+"cdmi_objectid/"+id, ctObject)
	assert.Equal(t, "posted", r.str("value"))

	resp, body = harness.Do(t, http.MethodPost, rootURL(t)+"cdmi_objectid/", hdr(ctObject, ctObject), jsonBody(t, map[string]any{
		"mimetype": "text/plain", "value": "orphan",
	}))
	expect(t, resp, body, http.StatusCreated)
	o = decode(t, body)
	id2 := o.str("objectID")
	require.NoError(t, checkID(id2))
	byID := rootURL(t) + "cdmi_objectid/" + id2
	t.Cleanup(func() { harness.Do(t, http.MethodDelete, byID, hdr("", ""), nil) })
	if loc := resp.Header.Get("Location"); assert.NotEmpty(t, loc) {
		assert.Equal(t, pathOf(t, byID), pathOf(t, resolve(t, loc)))
	}
	_, r = get(t, byID, ctObject)
	assert.Equal(t, "orphan", r.str("value"))
	resp, body = harness.Do(t, http.MethodDelete, byID, hdr("", ""), nil)
	expect(t, resp, body, http.StatusNoContent)
	assert.Equal(t, http.StatusNotFound, status(t, byID, hdr("", ctObject)))
}

// CDMI 1.1.1 §8.2.5 (copy, move, reference fields) and §5.16: copy
// duplicates value and metadata under a new ID; move keeps the ID and
// removes the source; a reference answers 302 to its target and is listed
// with a trailing "?".
func TestCopyMoveReference(t *testing.T) {
	c := testContainer(t)
	// Source URIs are sent as absolute paths: they resolve to the same
	// object whatever the root URI (§5.13.5, RFC 3986 §5.2).
	src := putObject(t, c+"src.txt", map[string]any{"value": "payload", "mimetype": "text/plain", "metadata": map[string]any{"k": "v"}})
	srcRel := pathOf(t, c+"src.txt")

	cp := putObject(t, c+"copy.txt", map[string]any{"copy": srcRel})
	assert.NotEqual(t, src.str("objectID"), cp.str("objectID"))
	_, r := get(t, c+"copy.txt", ctObject)
	assert.Equal(t, "payload", r.str("value"))
	assert.Equal(t, "v", r.meta()["k"])
	assert.Equal(t, "text/plain", r.str("mimetype"))
	_, r = get(t, c+"src.txt", ctObject)
	assert.Equal(t, "payload", r.str("value"), "a copy leaves the source")

	mv := putObject(t, c+"moved.txt", map[string]any{"move": srcRel})
	assert.Equal(t, src.str("objectID"), mv.str("objectID"), "a move keeps the object ID")
	assert.Equal(t, http.StatusNotFound, status(t, c+"src.txt", hdr("", ctObject)))
	_, r = get(t, c+"moved.txt", ctObject)
	assert.Equal(t, "payload", r.str("value"))

	movedRel := pathOf(t, c+"moved.txt")
	resp, body := harness.Do(t, http.MethodPut, c+"ref", hdr(ctObject, ctObject), jsonBody(t, map[string]any{"reference": movedRel}))
	expect(t, resp, body, http.StatusCreated)
	for _, h := range []http.Header{hdr("", ctObject), nil} {
		resp, body = harness.Do(t, http.MethodGet, c+"ref", h, nil)
		expect(t, resp, body, http.StatusFound)
		assert.Equal(t, pathOf(t, c+"moved.txt"), pathOf(t, resolve(t, resp.Header.Get("Location"))))
	}
	_, p := get(t, c, ctContainer)
	assert.Contains(t, p.list("children"), "ref?")
	// A delete removes the reference, not its target.
	resp, body = harness.Do(t, http.MethodDelete, c+"ref", hdr("", ""), nil)
	expect(t, resp, body, http.StatusNoContent)
	assert.Equal(t, http.StatusNotFound, status(t, c+"ref", hdr("", ctObject)))
	_, r = get(t, c+"moved.txt", ctObject)
	assert.Equal(t, "payload", r.str("value"))

	// Copying a container copies its children (§9.2.5 copy) when the
	// container capability grants cdmi_copy_container; otherwise the
	// request is refused with 400 (§12.1.5) and nothing is created.
	mkcontainer(t, c+"dir/", nil)
	putRaw(t, c+"dir/in.txt", "text/plain", []byte("inside"))
	dirRel := pathOf(t, c+"dir/")
	resp, body = harness.Do(t, http.MethodPut, c+"dircopy/", hdr(ctContainer, ctContainer), jsonBody(t, map[string]any{"copy": dirRel}))
	if granted(t, c, "cdmi_copy_container") {
		expect(t, resp, body, http.StatusCreated)
		resp, raw := getRaw(t, c+"dircopy/in.txt", nil)
		expect(t, resp, raw, http.StatusOK)
		assert.Equal(t, "inside", string(raw))
	} else {
		expect4xx(t, resp, body, http.StatusBadRequest)
		assert.Equal(t, http.StatusNotFound, status(t, c+"dircopy/", hdr("", ctContainer)))
	}

	// Copying from a source that does not exist is a client error and
	// creates nothing.
	resp, body = harness.Do(t, http.MethodPut, c+"ghost.txt", hdr(ctObject, ctObject), jsonBody(t, map[string]any{"copy": srcRel}))
	expect4xx(t, resp, body)
	assert.Equal(t, http.StatusNotFound, status(t, c+"ghost.txt", hdr("", ctObject)))
}

// CDMI 1.1.1 §9.2.5 move: moving a container takes its children along and
// keeps every object ID; the source is gone afterwards. Refused with 400
// when cdmi_move_container is not granted (§12.1.5).
func TestMoveContainer(t *testing.T) {
	c := testContainer(t)
	a := mkcontainer(t, c+"a/", map[string]any{"metadata": map[string]any{"m": "1"}})
	in := putObject(t, c+"a/in.txt", map[string]any{"value": "inside"})
	resp, body := harness.Do(t, http.MethodPut, c+"b/", hdr(ctContainer, ctContainer), jsonBody(t, map[string]any{"move": pathOf(t, c+"a/")}))
	if !granted(t, c, "cdmi_move_container") {
		expect4xx(t, resp, body, http.StatusBadRequest)
		return
	}
	expect(t, resp, body, http.StatusCreated)
	b := decode(t, body)
	assert.Equal(t, a.str("objectID"), b.str("objectID"))
	assert.Equal(t, "b/", b.str("objectName"))
	assert.Equal(t, "1", b.meta()["m"])
	_, o := get(t, c+"b/in.txt", ctObject)
	assert.Equal(t, in.str("objectID"), o.str("objectID"))
	assert.Equal(t, "inside", o.str("value"))
	assert.Equal(t, pathOf(t, c+"b/"), pathOf(t, resolve(t, o.str("parentURI"))))
	assert.Equal(t, http.StatusNotFound, status(t, c+"a/", hdr("", ctContainer)))
	assert.Equal(t, http.StatusNotFound, status(t, c+"a/in.txt", hdr("", ctObject)))
	_, byID := get(t, rootURL(t)+"cdmi_objectid/"+in.str("objectID"), ctObject)
	assert.Equal(t, pathOf(t, c+"b/"), pathOf(t, resolve(t, byID.str("parentURI"))))

	// A container cannot be moved into itself.
	resp, body = harness.Do(t, http.MethodPut, c+"b/inner/", hdr(ctContainer, ctContainer), jsonBody(t, map[string]any{"move": pathOf(t, c+"b/")}))
	expect4xx(t, resp, body)
	_, o = get(t, c+"b/in.txt", ctObject)
	assert.Equal(t, "inside", o.str("value"))
}

// CDMI 1.1.1 §5.10: object IDs are unique; creating many objects never
// repeats one.
func TestObjectIDsUnique(t *testing.T) {
	c := testContainer(t)
	seen := map[string]string{}
	for i := 0; i < 40; i++ {
		name := c + "o" + string(rune('A'+i%26)) + string(rune('a'+i/26))
		o := putObject(t, name, map[string]any{"value": "x"})
		id := strings.ToUpper(o.str("objectID"))
		require.NoError(t, checkID(id))
		if prev, dup := seen[id]; dup {
			t.Fatalf("%s and %s share object ID %s", prev, name, id)
		}
		seen[id] = name
	}
}
