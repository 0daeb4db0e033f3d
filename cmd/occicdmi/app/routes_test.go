package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newTestApp(t *testing.T) *httptest.Server {
	t.Helper()
	cfg := Defaults()
	cfg.DataDir = t.TempDir()
	a, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(srv.Close)
	return srv
}

// Behind a TLS-terminating proxy that sends X-Forwarded-Proto: HTTPS, OCCI
// and CDMI make their absolute locations with the same scheme (one base URL
// rule for both; the header's value is case-insensitive, RFC 7239 §5.4
// names it in lower case but proxies differ).
func TestForwardedProtoSameForBothProtocols(t *testing.T) {
	srv := newTestApp(t)

	req, err := http.NewRequest("POST", srv.URL+"/compute/", strings.NewReader(
		`Category: compute; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="kind"`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("X-Forwarded-Proto", "HTTPS")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.True(t, strings.HasPrefix(resp.Header.Get("Location"), "https://"), "OCCI Location %q", resp.Header.Get("Location"))

	// CDMI §7.1: the root without its slash redirects to an absolute URI.
	req, err = http.NewRequest("GET", srv.URL+"/cdmi", nil)
	require.NoError(t, err)
	req.Header.Set("X-Forwarded-Proto", "HTTPS")
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noRedirect.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMovedPermanently, resp.StatusCode)
	assert.True(t, strings.HasPrefix(resp.Header.Get("Location"), "https://"), "CDMI Location %q", resp.Header.Get("Location"))
}

// Every answer carries a request ID (a client's own plain one is kept), so
// an "internal error (request ...)" can be found in the log.
func TestRequestIDOnEveryAnswer(t *testing.T) {
	srv := newTestApp(t)
	for _, path := range []string{"/-/", "/cdmi/", "/no/such/thing"} {
		req, err := http.NewRequest("GET", srv.URL+path, nil)
		require.NoError(t, err)
		req.Header.Set("X-Request-ID", "plugfest-42")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, "plugfest-42", resp.Header.Get("X-Request-ID"), path)
	}
}
