package cdmi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/spec-tests/harness"
)

// CDMI 1.1.1 §8.2.6 (Table 22) and every response-header table: the client
// sends the versions it supports; the server answers with the highest
// version both support, or 400 when they share none. The lists are the ones
// real clients send.
func TestVersionNegotiation(t *testing.T) {
	c := testContainer(t)
	for _, tc := range []struct{ ask, want string }{
		{"1.0.1", "1.0.1"},
		{"1.0.2", "1.0.2"},
		{"1.1", "1.1"},
		{"1.1.1", "1.1.1"},
		{"1.0.2, 1.1", "1.1"},
		{"1.1,1.0.2", "1.1"},
		{"1.0.1, 1.0.2, 1.1, 1.1.1", "1.1.1"},
		{"0.9, 1.1.1, 7.0", "1.1.1"},
	} {
		h := http.Header{}
		h.Set("X-CDMI-Specification-Version", tc.ask)
		h.Set("Accept", ctContainer)
		resp, body := harness.Do(t, http.MethodGet, c, h, nil)
		expect(t, resp, body, http.StatusOK)
		assert.Equal(t, tc.want, strings.TrimSpace(resp.Header.Get("X-CDMI-Specification-Version")), "client versions %q", tc.ask)
	}
	for _, ask := range []string{"0.9", "7.0, 8.1", "banana"} {
		h := http.Header{}
		h.Set("X-CDMI-Specification-Version", ask)
		h.Set("Accept", ctContainer)
		resp, body := harness.Do(t, http.MethodGet, c, h, nil)
		expect4xx(t, resp, body, http.StatusBadRequest)
		// A create with no shared version must not create anything.
		h.Set("Content-Type", ctObject)
		resp, body = harness.Do(t, http.MethodPut, c+"nover.txt", h, jsonBody(t, map[string]any{"value": "x"}))
		expect4xx(t, resp, body, http.StatusBadRequest)
		assert.Equal(t, http.StatusNotFound, status(t, c+"nover.txt", hdr("", ctObject)))
	}
}

// CDMI 2.0 (cdmi_core/cdmi_data_object read.txt and update.txt): clients
// send no X-CDMI-Specification-Version, update with PATCH and select with
// ?value=<range>&metadata=<prefix>.
func TestCDMI2Client(t *testing.T) {
	c := testContainer(t)
	u := c + "v2.txt"
	h := http.Header{"Content-Type": {ctObject}, "Accept": {ctObject}}
	resp, body := harness.Do(t, http.MethodPut, u, h, jsonBody(t, map[string]any{
		"mimetype": "text/plain", "metadata": map[string]any{"colour": "red", "size": "big"},
		"value": "This is the Value of this Data Object",
	}))
	expect(t, resp, body, http.StatusCreated)

	resp, body = harness.Do(t, http.MethodGet, u+"?value=8-12&metadata=col", http.Header{"Accept": {ctObject}}, nil)
	expect(t, resp, body, http.StatusOK)
	o := decode(t, body)
	assert.Equal(t, "the V", o.str("value"))
	assert.Equal(t, map[string]any{"colour": "red"}, o.meta())

	// PATCH sets the fields given (update.txt Example 1): 204.
	resp, body = harness.Do(t, http.MethodPatch, u, http.Header{"Content-Type": {ctObject}}, jsonBody(t, map[string]any{
		"metadata": map[string]any{"colour": "blue"},
	}))
	expect(t, resp, body, http.StatusNoContent)
	resp, body = harness.Do(t, http.MethodGet, u+"?metadata=colour&value", http.Header{"Accept": {ctObject}}, nil)
	expect(t, resp, body, http.StatusOK)
	o = decode(t, body)
	assert.Equal(t, "blue", o.meta()["colour"])
	assert.Equal(t, "This is the Value of this Data Object", o.str("value"))

	// Containers too: read and PATCH without the version header.
	resp, body = harness.Do(t, http.MethodGet, c+"?children", http.Header{"Accept": {ctContainer}}, nil)
	expect(t, resp, body, http.StatusOK)
	assert.Contains(t, decode(t, body).list("children"), "v2.txt")
	resp, body = harness.Do(t, http.MethodPatch, c, http.Header{"Content-Type": {ctContainer}}, jsonBody(t, map[string]any{"metadata": map[string]any{"v": "2"}}))
	expect(t, resp, body, http.StatusNoContent)
	resp, body = harness.Do(t, http.MethodGet, c+"?metadata=v", http.Header{"Accept": {ctContainer}}, nil)
	expect(t, resp, body, http.StatusOK)
	assert.Equal(t, "2", decode(t, body).meta()["v"])

	// PATCH ?mimetype (update.txt Example 2).
	resp, body = harness.Do(t, http.MethodPatch, u+"?mimetype", http.Header{"Content-Type": {ctObject}}, jsonBody(t, map[string]any{"mimetype": "text/markdown"}))
	expect(t, resp, body, http.StatusNoContent)
	resp, body = harness.Do(t, http.MethodGet, u+"?mimetype", http.Header{"Accept": {ctObject}}, nil)
	expect(t, resp, body, http.StatusOK)
	require.Equal(t, "text/markdown", decode(t, body).str("mimetype"))
}
