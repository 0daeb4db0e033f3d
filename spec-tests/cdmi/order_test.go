package cdmi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/spec-tests/harness"
)

// topKeys returns the top-level keys of a JSON object in the order sent.
func topKeys(t *testing.T, body []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	require.NoError(t, err)
	require.Equal(t, json.Delim('{'), tok, "body is not a JSON object: %.200s", body)
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, k.(string))
		var skip json.RawMessage
		require.NoError(t, dec.Decode(&skip))
	}
	return keys
}

// CDMI 1.1.1 §8.1.3, §9.1.4, §10.1.5, §11.1.3, §12.1.8: fields come in
// any order, except that valuerange and value (data objects, queues) and
// childrenrange and children (containers, domains, capabilities) come last
// and in that order: clients stream the big fields. The spec's own read
// example (§8.3.8 Example 1) puts valuetransferencoding between valuerange
// and value, so the check is: the big field last, its range before it.
func TestFieldOrder(t *testing.T) {
	c := testContainer(t)
	putObject(t, c+"o", map[string]any{"value": "v", "metadata": map[string]any{"a": "b"}})
	mkqueue(t, c+"q")
	resp, body := harness.Do(t, http.MethodPost, c+"q", hdr(ctQueue, ""), jsonBody(t, map[string]any{"value": []string{"x"}, "mimetype": []string{"text/plain"}}))
	expect(t, resp, body, http.StatusNoContent)
	for _, tc := range []struct {
		u, accept string
		last2     [2]string
	}{
		{c + "o", ctObject, [2]string{"valuerange", "value"}},
		{c + "q", ctQueue, [2]string{"valuerange", "value"}},
		{c, ctContainer, [2]string{"childrenrange", "children"}},
		{rootURL(t) + "cdmi_capabilities/", ctCapability, [2]string{"childrenrange", "children"}},
		{rootURL(t) + "cdmi_domains/", ctDomain, [2]string{"childrenrange", "children"}},
	} {
		resp, body := harness.Do(t, http.MethodGet, tc.u, hdr("", tc.accept), nil)
		expect(t, resp, body, http.StatusOK)
		keys := topKeys(t, body)
		if assert.GreaterOrEqual(t, len(keys), 2, tc.u) {
			assert.Equal(t, tc.last2[1], keys[len(keys)-1], "%s: keys %v", tc.u, keys)
			rangeAt := -1
			for i, k := range keys {
				if k == tc.last2[0] {
					rangeAt = i
				}
			}
			assert.True(t, rangeAt >= 0 && rangeAt >= len(keys)-3, "%s: %s must come just before %s: keys %v", tc.u, tc.last2[0], tc.last2[1], keys)
		}
	}
}
