package cdmi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/spec-tests/harness"
)

// CDMI 1.1.1 §8.2.4 (Table 20), §8.2.9 Example 3, §8.3.3: with the
// system-wide cdmi_multipart_mime capability a data object is created from
// a multipart/mixed body (JSON part, then the value's bytes) and read back
// the same way with Accept: multipart/mixed. Skipped, with the reason, when
// the server does not advertise it.
func TestMultipartMIME(t *testing.T) {
	_, sys := get(t, rootURL(t)+"cdmi_capabilities/", ctCapability)
	sc, _ := sys["capabilities"].(map[string]any)
	if sc["cdmi_multipart_mime"] != "true" {
		t.Skip("cdmi_multipart_mime not advertised (§12.1.1): multi-part MIME not offered")
	}
	c := testContainer(t)
	u := c + "mp.bin"
	value := []byte{0, 1, 2, 3, 0xff, 'x', '\r', '\n', 0}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	p, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {ctObject}})
	require.NoError(t, err)
	require.NoError(t, json.NewEncoder(p).Encode(map[string]any{"metadata": map[string]any{"colour": "blue"}}))
	p, err = mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/octet-stream"}, "Content-Transfer-Encoding": {"binary"}})
	require.NoError(t, err)
	_, _ = p.Write(value)
	require.NoError(t, mw.Close())
	h := hdr("multipart/mixed; boundary="+mw.Boundary(), ctObject)
	resp, body := harness.Do(t, http.MethodPut, u, h, &buf)
	expect(t, resp, body, http.StatusCreated)

	resp, raw := getRaw(t, u, nil)
	expect(t, resp, raw, http.StatusOK)
	assert.Equal(t, value, raw)
	_, o := get(t, u+"?metadata:colour", ctObject)
	assert.Equal(t, "blue", o.meta()["colour"])

	resp, body = harness.Do(t, http.MethodGet, u, hdr("", "multipart/mixed"), nil)
	expect(t, resp, body, http.StatusOK)
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "multipart/mixed", mt)
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	first, err := mr.NextPart()
	require.NoError(t, err)
	assert.Contains(t, first.Header.Get("Content-Type"), ctObject)
	js, _ := io.ReadAll(first)
	meta := decode(t, js)
	assert.Equal(t, "blue", meta.meta()["colour"])
	assert.NotContains(t, meta, "value", "§8.3.6: no value field with multi-part MIME")
	second, err := mr.NextPart()
	require.NoError(t, err)
	got, _ := io.ReadAll(second)
	assert.Equal(t, value, got)
}
