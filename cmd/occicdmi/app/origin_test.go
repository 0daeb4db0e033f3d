package app

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const computeBody = `Category: compute; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="kind"`

// do sends method url with the given headers ("Host" sets the Host) and
// returns the status, the Location and the body.
func do(t *testing.T, method, url, contentType, body string, header map[string]string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("X-CDMI-Specification-Version", "1.1.1")
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

// Issue 12 item 9: a browser page of another origin cannot write through
// a user's browser. POST/PUT/DELETE/PATCH whose Origin (or Sec-Fetch-Site)
// says cross-origin are refused with 403 on both protocols; the server's
// own origin, an origin in --allowed-origins and the configured base URL's
// origin pass; a request without Origin (curl, SDKs) passes; reads pass.
func TestCrossOriginWritesRefused(t *testing.T) {
	srv, _ := limitsApp(t, func(c *Config) { c.AllowedOrigins = "https://console.example.org, http://ui.example.net:8000" })
	evil := map[string]string{"Origin": "https://evil.example"}

	status, _, body := do(t, "POST", srv.URL+"/compute/", "text/plain", computeBody, evil)
	assert.Equal(t, http.StatusForbidden, status)
	assert.Contains(t, body, "cross-origin")
	status, _, _ = do(t, "PUT", srv.URL+"/cdmi/box/evil", "application/octet-stream", "x", evil)
	assert.Equal(t, http.StatusForbidden, status)
	status, _, _ = do(t, "DELETE", srv.URL+"/cdmi/box/", "", "", evil)
	assert.Equal(t, http.StatusForbidden, status)
	status, _, _ = do(t, "PUT", srv.URL+"/cdmi/box/site", "application/octet-stream", "x", map[string]string{"Sec-Fetch-Site": "cross-site"})
	assert.Equal(t, http.StatusForbidden, status)

	status, _, _ = do(t, "GET", srv.URL+"/cdmi/box/evil", "", "", nil)
	assert.Equal(t, http.StatusNotFound, status, "the refused PUT stored nothing")
	status, _, body = do(t, "GET", srv.URL+"/compute/", "", "", map[string]string{"Accept": "text/uri-list"})
	assert.Equal(t, http.StatusOK, status)
	assert.Empty(t, strings.TrimSpace(body), "the refused POST created nothing")
	status, _, _ = do(t, "GET", srv.URL+"/compute/", "", "", evil)
	assert.Equal(t, http.StatusOK, status, "a read is not refused")

	for _, origin := range []string{srv.URL, "https://console.example.org", "http://ui.example.net:8000", ""} {
		h := map[string]string{}
		if origin != "" {
			h["Origin"] = origin
		}
		status, _, body = do(t, "POST", srv.URL+"/compute/", "text/plain", computeBody, h)
		assert.Equal(t, http.StatusCreated, status, "Origin %q: %s", origin, body)
	}
}

// Behind a proxy the server's Host is not the public one: the configured
// base URL's origin is the server's own.
func TestCrossOriginBaseURL(t *testing.T) {
	srv, _ := limitsApp(t, func(c *Config) { c.BaseURL = "https://cloud.example.org" })
	status, loc, body := do(t, "POST", srv.URL+"/compute/", "text/plain", computeBody, map[string]string{"Origin": "https://cloud.example.org"})
	require.Equal(t, http.StatusCreated, status, body)
	assert.True(t, strings.HasPrefix(loc, "https://cloud.example.org/compute/"), loc)
	status, _, _ = do(t, "POST", srv.URL+"/compute/", "text/plain", computeBody, map[string]string{"Origin": "https://cloud.example.org.evil.example"})
	assert.Equal(t, http.StatusForbidden, status)
}

// Issue 12 item 9: without --base-url, locations come from the Host, so a
// forged Host is refused with 400 before anything happens, on both
// protocols, and never appears in a Location or a body; loopback names
// pass. With --base-url the Host does not matter: locations use the base.
func TestForgedHostNeverInLocations(t *testing.T) {
	srv, _ := limitsApp(t, func(*Config) {})
	forged := map[string]string{"Host": "evil.example:80"}
	status, loc, body := do(t, "POST", srv.URL+"/compute/", "text/plain", computeBody, forged)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, body, "unknown Host")
	assert.Empty(t, loc)
	status, _, body = do(t, "PUT", srv.URL+"/cdmi/box/h", "application/cdmi-object", `{"value":"v"}`, forged)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.NotContains(t, body, "evil.example:80/")
	status, _, _ = do(t, "GET", srv.URL+"/cdmi/box/", "", "", forged)
	assert.Equal(t, http.StatusBadRequest, status)

	_, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "http://"), ":")
	status, loc, body = do(t, "POST", srv.URL+"/compute/", "text/plain", computeBody, map[string]string{"Host": "localhost:" + port})
	require.Equal(t, http.StatusCreated, status, body)
	assert.True(t, strings.HasPrefix(loc, "http://localhost:"+port+"/compute/"), loc)

	based, _ := limitsApp(t, func(c *Config) { c.BaseURL = "https://cloud.example.org/" })
	status, loc, body = do(t, "POST", based.URL+"/compute/", "text/plain", computeBody, forged)
	require.Equal(t, http.StatusCreated, status, body)
	assert.True(t, strings.HasPrefix(loc, "https://cloud.example.org/compute/"), loc)
	status, _, body = do(t, "PUT", based.URL+"/cdmi/box/h", "application/cdmi-object", `{"value":"v"}`, forged)
	require.Equal(t, http.StatusCreated, status, body)
	assert.NotContains(t, body, "evil.example")
}
