package cdmi_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/spec-tests/harness"
)

func mkqueue(t testing.TB, u string) obj {
	t.Helper()
	resp, b := harness.Do(t, http.MethodPut, u, hdr(ctQueue, ctQueue), jsonBody(t, map[string]any{}))
	expect(t, resp, b, http.StatusCreated)
	return decode(t, b)
}

// CDMI 1.1.1 clause 11: create a queue (§11.2), enqueue by POST (§11.6),
// read the oldest values with queueValues (§11.3), dequeue by DELETE
// ?values:<count> (§11.7), delete the queue (§11.5).
func TestQueue(t *testing.T) {
	c := testContainer(t)
	u := c + "jobs"
	q := mkqueue(t, u)
	assert.Equal(t, ctQueue, q.str("objectType"))
	assert.NoError(t, checkID(q.str("objectID")))
	assert.Equal(t, "", q.str("queueValues"))

	for _, v := range []string{"first", "second", "third"} {
		resp, body := harness.Do(t, http.MethodPost, u, hdr(ctQueue, ""), jsonBody(t, map[string]any{
			"mimetype": []string{"text/plain"}, "value": []string{v},
		}))
		expect(t, resp, body, http.StatusNoContent)
	}
	// §11.6 Example 1 enqueues several at once.
	resp, body := harness.Do(t, http.MethodPost, u, hdr(ctQueue, ""), jsonBody(t, map[string]any{
		"mimetype": []string{"text/plain", "text/plain"}, "value": []string{"fourth", "fifth"},
	}))
	expect(t, resp, body, http.StatusNoContent)

	resp, o := get(t, u, ctQueue)
	assert.Equal(t, ctQueue, mediaType(resp))
	assert.Equal(t, ctQueue, o.str("objectType"))
	assert.Equal(t, "0-4", o.str("queueValues"))
	vals := o.list("value")
	// §11.3.1: a read returns, by default, the complete oldest value.
	assert.Equal(t, []any{"first"}, vals)

	// ?values:<count> reads the oldest <count> values; ?value:<range> is a
	// byte range of the oldest one (§11.3.1).
	_, o = get(t, u+"?values:2;queueValues", ctQueue)
	assert.Equal(t, []any{"first", "second"}, o.list("value"))
	_, o = get(t, u+"?value:0-2", ctQueue)
	assert.Equal(t, []any{"fir"}, o.list("value"))

	// Dequeue the two oldest. Designators are unique and monotonically
	// increasing (§11.3.6 queueValues): the rest keep theirs.
	resp, body = harness.Do(t, http.MethodDelete, u+"?values:2", hdr("", ""), nil)
	expect(t, resp, body, http.StatusNoContent)
	_, o = get(t, u, ctQueue)
	assert.Equal(t, "2-4", o.str("queueValues"))
	assert.Equal(t, "third", o.list("value")[0])

	// A count larger than the queue empties it (§11.7.1).
	resp, body = harness.Do(t, http.MethodDelete, u+"?values:99", hdr("", ""), nil)
	expect(t, resp, body, http.StatusNoContent)
	_, o = get(t, u, ctQueue)
	assert.Equal(t, "", o.str("queueValues"))
	assert.Empty(t, o.list("value"))

	// The queue is listed in its container and reachable by ID.
	_, p := get(t, c, ctContainer)
	assert.Contains(t, p.list("children"), "jobs")
	_, byID := get(t, rootURL(t)+"cdmi_objectid/"+q.str("objectID"), ctQueue)
	assert.Equal(t, ctQueue, byID.str("objectType"))

	// Bad enqueue bodies change nothing.
	for _, bad := range []string{`{"value": 5}`, `{"value": ["x"], "mimetype": 3}`, `not json`} {
		resp, body = harness.Do(t, http.MethodPost, u, hdr(ctQueue, ""), stringsReader(bad))
		expect4xx(t, resp, body, http.StatusBadRequest)
	}
	_, o = get(t, u, ctQueue)
	assert.Equal(t, "", o.str("queueValues"))

	resp, body = harness.Do(t, http.MethodDelete, u, hdr("", ""), nil)
	expect(t, resp, body, http.StatusNoContent)
	assert.Equal(t, http.StatusNotFound, status(t, u, hdr("", ctQueue)))
}

// CDMI 1.1.1 §9.7: POST of a queue into a container creates it under a
// server-assigned name, its object ID, and answers 201 with Location.
func TestQueueByPOST(t *testing.T) {
	c := testContainer(t)
	resp, body := harness.Do(t, http.MethodPost, c, hdr(ctQueue, ctQueue), jsonBody(t, map[string]any{"metadata": map[string]any{"k": "v"}}))
	expect(t, resp, body, http.StatusCreated)
	q := decode(t, body)
	id := q.str("objectID")
	require.NoError(t, checkID(id))
	assert.Equal(t, ctQueue, q.str("objectType"))
	assert.Equal(t, id, q.str("objectName"))
	if loc := resp.Header.Get("Location"); assert.NotEmpty(t, loc) {
		assert.Equal(t, pathOf(t, c+id), pathOf(t, resolve(t, loc)))
	}
	_, o := get(t, c+id, ctQueue)
	assert.Equal(t, "v", o.meta()["k"])
}

// CDMI 1.1.1 clause 10: there is a domain under cdmi_domains/, and every
// object's domainURI names an existing domain object.
func TestDefaultDomain(t *testing.T) {
	_, ds := get(t, rootURL(t)+"cdmi_domains/", ctDomain)
	assert.Equal(t, ctDomain, ds.str("objectType"))
	assert.NotEmpty(t, ds.list("children"), "cdmi_domains/ lists its domains (§10.3.6 children)")
	c := testContainer(t)
	putRaw(t, c+"o", "text/plain", []byte("x"))
	mkqueue(t, c+"q")
	seen := map[string]bool{}
	for u, accept := range map[string]string{c: ctContainer, c + "o": ctObject, c + "q": ctQueue} {
		_, o := get(t, u, accept)
		du := o.str("domainURI")
		require.NotEmpty(t, du, u)
		resp, d := get(t, resolve(t, du), ctDomain)
		assert.Equal(t, ctDomain, mediaType(resp))
		assert.Equal(t, ctDomain, d.str("objectType"))
		assert.NoError(t, checkID(d.str("objectID")))
		// §10.3.6: a domain names its parent, capabilities and metadata.
		assert.NotEmpty(t, d.str("parentURI"))
		assert.NotEmpty(t, d.str("capabilitiesURI"))
		assert.Equal(t, "Complete", d.str("completionStatus"))
		assert.Contains(t, d, "metadata")
		assert.Contains(t, pathOf(t, resolve(t, du)), pathOf(t, rootURL(t)+"cdmi_domains/"), "domains live under cdmi_domains/")
		seen[pathOf(t, resolve(t, du))] = true
	}
	assert.Len(t, seen, 1, "objects created without a domainURI land in the one default domain")
}
