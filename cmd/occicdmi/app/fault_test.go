package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/internal/testsupport"
	"github.com/occicdmi/occicdmi/storagebackends/storagetest"
)

// With the S3 endpoint gone mid-run, CDMI requests answer 503 with a message
// that says the storage is unavailable, nothing half-written shows, and
// service resumes by itself once the endpoint is back (issue 4, item 7).
func TestS3EndpointGoneAndBack(t *testing.T) {
	endpoint := testsupport.Need(t, "an S3 endpoint (radosgw)", "OCCICDMI_S3_ENDPOINT")
	u, err := url.Parse(endpoint)
	require.NoError(t, err)
	px := storagetest.StartProxy(t, u.Host)

	cfg := Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Objects = "s3"
	cfg.S3Endpoint = "http://" + px.Addr
	cfg.S3AccessKey = os.Getenv("OCCICDMI_S3_ACCESS_KEY")
	cfg.S3SecretKey = os.Getenv("OCCICDMI_S3_SECRET_KEY")
	cfg.S3Bucket = os.Getenv("OCCICDMI_S3_BUCKET")
	if r := os.Getenv("OCCICDMI_S3_REGION"); r != "" {
		cfg.S3Region = r
	}
	a, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	defer a.Close()
	srv := httptest.NewServer(a.Handler)
	defer srv.Close()

	do := func(method, path, contentType, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if strings.HasPrefix(contentType, "application/cdmi") {
			req.Header.Set("X-CDMI-Specification-Version", "1.1.1")
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}

	c := "/cdmi/fault-" + time.Now().Format("150405.000000") + "/"
	code, body := do(http.MethodPut, c, "application/cdmi-container", "{}")
	require.Equal(t, http.StatusCreated, code, body)
	defer do(http.MethodDelete, c, "", "")
	code, body = do(http.MethodPut, c+"v", "text/plain", "first value")
	require.Equal(t, http.StatusCreated, code, body)

	px.Cut()
	start := time.Now()
	code, body = do(http.MethodGet, c+"v", "", "")
	assert.Equal(t, http.StatusServiceUnavailable, code, body)
	assert.Contains(t, strings.ToLower(body), "unavailable")
	code, body = do(http.MethodPut, c+"v", "text/plain", "second value, never stored")
	assert.Equal(t, http.StatusServiceUnavailable, code, body)
	// A guard against hanging, not a speed claim.
	assert.Less(t, time.Since(start), 60*time.Second)

	px.Restore(t)
	code, body = do(http.MethodGet, c+"v", "", "")
	require.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, "first value", body, "the failed write left the previous value")
	code, body = do(http.MethodPut, c+"v", "text/plain", "second value")
	require.Less(t, code, 300, body)
	code, body = do(http.MethodGet, c+"v", "", "")
	require.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, "second value", body)
	code, body = do(http.MethodDelete, c+"v", "", "")
	assert.Less(t, code, 300, body)
}
