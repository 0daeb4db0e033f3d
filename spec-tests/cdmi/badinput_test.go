package cdmi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/occicdmi/occicdmi/spec-tests/harness"
)

// CDMI 1.1.1 §8.2.8, §8.4.7, §9.2.8, §9.4.8: a request with invalid
// parameters or field names is 400 Bad Request. Each bad request below
// gets a 4xx with a message, and the store is what it was before (checked
// with GET): nothing half-applied.
func TestBadInput(t *testing.T) {
	c := testContainer(t)
	obj := c + "keep.txt"
	putObject(t, obj, map[string]any{"value": "original", "mimetype": "text/plain", "metadata": map[string]any{"k": "v"}})
	_, before := get(t, obj, ctObject)
	_, cbefore := get(t, c, ctContainer)

	type req struct {
		method, url, ctype, body string
	}
	cases := map[string]req{
		"object: invalid JSON":        {http.MethodPut, obj, ctObject, `{"value": "x"`},
		"object: not an object":       {http.MethodPut, obj, ctObject, `["value"]`},
		"object: value wrong type":    {http.MethodPut, obj, ctObject, `{"value": 42}`},
		"object: metadata wrong type": {http.MethodPut, obj, ctObject, `{"metadata": ["a"], "value": "new"}`},
		"object: mimetype wrong type": {http.MethodPut, obj, ctObject, `{"mimetype": 7, "value": "new"}`},
		"object: copy and move":       {http.MethodPut, obj, ctObject, `{"copy": "/a", "move": "/b"}`},
		"object: empty body":          {http.MethodPut, obj, ctObject, ``},
		"object: bad value range":     {http.MethodPut, obj + "?value:5-2", ctObject, `{"value": "new"}`},
		"object: range not numbers":   {http.MethodPut, obj + "?value:x-y", ctObject, `{"value": "new"}`},
		"container: invalid JSON":     {http.MethodPut, c, ctContainer, `{`},
		"container: blank body":       {http.MethodPut, c + "empty/", ctContainer, "  "},
		"container: metadata string":  {http.MethodPut, c, ctContainer, `{"metadata": "x"}`},
		"container: exports number":   {http.MethodPut, c, ctContainer, `{"exports": 1, "metadata": {"half": "applied"}}`},
		"post: invalid JSON":          {http.MethodPost, c, ctObject, `{"value":`},
		"post: value wrong type":      {http.MethodPost, c, ctObject, `{"value": true}`},
		"post by ID: invalid JSON":    {http.MethodPost, rootURL(t) + "cdmi_objectid/", ctObject, `nope`},
		"queue: invalid JSON":         {http.MethodPut, c + "q", ctQueue, `{{`},
		"object: bad base64":          {http.MethodPut, obj, ctObject, `{"valuetransferencoding": "base64", "value": "!!!"}`},
		"object: short base64":        {http.MethodPut, obj, ctObject, `{"valuetransferencoding": "base64", "value": "QUJD="}`},
	}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			resp, body := harness.Do(t, r.method, r.url, hdr(r.ctype, ""), strings.NewReader(r.body))
			expect4xx(t, resp, body)
			if resp.StatusCode == http.StatusInternalServerError {
				t.Errorf("500 is a bug")
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
	assert.Equal(t, userMeta(cbefore.meta()), userMeta(cafter.meta()))
	for _, u := range []string{c + "empty/", c + "q"} {
		resp, _ := harness.Do(t, http.MethodGet, u, nil, nil)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, "%s must not exist", u)
	}

	// Bad ranges on plain reads: a malformed Range header is ignored per
	// RFC 2616 §14.35.1 (200 with the whole value) or refused, never 500.
	resp, body := getRaw(t, obj, http.Header{"Range": {"bytes=z-q"}})
	assert.Contains(t, []int{http.StatusOK, http.StatusBadRequest, http.StatusRequestedRangeNotSatisfiable}, resp.StatusCode, "%s", body)
	if resp.StatusCode == http.StatusOK {
		assert.Equal(t, "original", string(body))
	}

	// Unknown and misused methods.
	resp, body = harness.Do(t, "BREW", obj, nil, nil)
	expect4xx(t, resp, body, http.StatusMethodNotAllowed, http.StatusBadRequest, http.StatusNotImplemented)
	// Reading a missing object: 404 with a message.
	resp, body = harness.Do(t, http.MethodGet, c+"missing", hdr("", ctObject), nil)
	expect4xx(t, resp, body, http.StatusNotFound)
	// Asking for a CDMI type that does not match the object: 406 (§8.3.7)
	// or 400, never the wrong kind of body.
	resp, body = harness.Do(t, http.MethodGet, obj, hdr("", ctContainer), nil)
	if resp.StatusCode == http.StatusOK {
		assert.NotEqual(t, ctContainer, mediaType(resp))
	} else {
		expect4xx(t, resp, body, http.StatusNotAcceptable, http.StatusBadRequest)
	}
}

// CDMI 1.1.1 §9.5: the root container cannot be deleted by a client, and a
// DELETE that fails leaves it intact.
func TestRootNotDeletable(t *testing.T) {
	resp, body := harness.Do(t, http.MethodDelete, rootURL(t), hdr("", ""), nil)
	expect4xx(t, resp, body)
	_, r := get(t, rootURL(t), ctContainer)
	assert.Equal(t, ctContainer, r.str("objectType"))
}
