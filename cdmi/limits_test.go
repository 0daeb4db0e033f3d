package cdmi

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Config.MaxValueSize bounds a data object's value whatever way it comes:
// a known Content-Length, a body of unknown length (chunked), a CDMI
// body, a range ending past it. Each is 413 naming the limit, and the
// value stays as it was (README "Limits").
func TestMaxValueSize(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.MaxValueSize = 16 })
	resp, b := ts.do("PUT", "/cdmi/v.txt", "0123456789", "Content-Type", "text/plain")
	require.Equal(t, http.StatusCreated, resp.StatusCode, b)

	tooLarge := func(name string, resp *http.Response, b string) {
		t.Helper()
		assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "%s: %s", name, b)
		assert.Contains(t, b, "--max-value-size", name)
		_, got := ts.do("GET", "/cdmi/v.txt", "")
		assert.Equal(t, "0123456789", got, "%s changed the value", name)
	}
	resp, b = ts.do("PUT", "/cdmi/v.txt", strings.Repeat("x", 17), "Content-Type", "text/plain")
	tooLarge("Content-Length 17", resp, b)

	req, err := http.NewRequest("PUT", ts.URL+"/cdmi/v.txt", io.MultiReader(strings.NewReader(strings.Repeat("y", 10)), strings.NewReader(strings.Repeat("z", 10))))
	require.NoError(t, err)
	req.ContentLength = -1 // chunked: the size is found out while reading
	req.Header.Set("Content-Type", "text/plain")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tooLarge("chunked 20 bytes", resp, string(body))

	resp, b = ts.do("PUT", "/cdmi/v.txt", `{"valuetransferencoding": "utf-8", "value": "`+strings.Repeat("w", 17)+`"}`, cdmiHdr("application/cdmi-object")...)
	tooLarge("CDMI body of 17 bytes", resp, b)

	resp, b = ts.do("PUT", "/cdmi/v.txt", "ab", "Content-Type", "text/plain", "Content-Range", "bytes 15-16/*")
	tooLarge("range 15-16", resp, b)
	resp, b = ts.do("PUT", "/cdmi/v.txt", "ab", "Content-Type", "text/plain", "Content-Range", "bytes 14-15/*")
	assert.Equal(t, http.StatusNoContent, resp.StatusCode, "a range ending at the limit is fine: %s", b)

	resp, b = ts.do("PUT", "/cdmi/w.txt", strings.Repeat("x", 16), "Content-Type", "text/plain")
	assert.Equal(t, http.StatusCreated, resp.StatusCode, "a value of exactly the limit is fine: %s", b)
}

// A mimetype longer than its column, or holding a control character, is
// 400 on every way in: CDMI bodies, non-CDMI PUTs, queue values.
func TestMimetypeLimits(t *testing.T) {
	ts := newTestServer(t)
	long := "text/" + strings.Repeat("x", 251)
	for name, r := range map[string][]string{
		"cdmi":     append([]string{`{"mimetype": "` + long + `", "value": "v"}`}, cdmiHdr("application/cdmi-object")...),
		"raw":      {"v", "Content-Type", long},
		"cdmi ctl": append([]string{`{"mimetype": "text/pl\u0001ain", "value": "v"}`}, cdmiHdr("application/cdmi-object")...),
	} {
		resp, b := ts.do("PUT", "/cdmi/m.txt", r[0], r[1:]...)
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s: %s", name, b)
		assert.Contains(t, b, "mimetype", name)
	}
	resp, _ := ts.do("GET", "/cdmi/m.txt", "")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	resp, b := ts.do("PUT", "/cdmi/m.txt", "v", "Content-Type", "text/"+strings.Repeat("x", 250))
	assert.Equal(t, http.StatusCreated, resp.StatusCode, "255 bytes fit: %s", b)
}
