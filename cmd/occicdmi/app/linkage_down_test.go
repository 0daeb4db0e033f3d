package app

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/internal/testsupport"
)

// switchableProxy forwards to a real S3 endpoint, or, while down, drops
// every connection it is given: the volume backend unreachable.
type switchableProxy struct {
	down atomic.Bool
	to   *httputil.ReverseProxy
}

func (p *switchableProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.down.Load() {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
		}
		return
	}
	p.to.ServeHTTP(w, r)
}

// Issue 9 item 5 and 6, over HTTP: with the volume backend (S3, through a
// proxy the test cuts) unreachable, making an exported container (CDMI
// 1.1.1 §13.1 step 1) or an OCCI storage answers 503 with Retry-After and
// a message, and leaves nothing behind: no container, no storage. With the
// backend back, the same requests succeed.
func TestLinkageVolumeBackendDown(t *testing.T) {
	endpoint := testsupport.Need(t, "an S3 endpoint", "OCCICDMI_S3_ENDPOINT")
	target, err := url.Parse(endpoint)
	require.NoError(t, err)
	proxy := &switchableProxy{to: httputil.NewSingleHostReverseProxy(target)}
	s3 := httptest.NewServer(proxy)
	t.Cleanup(s3.Close)

	cfg := basicUsersConfig(t)
	cfg.Volumes = "s3"
	cfg.S3Endpoint, cfg.S3Region = s3.URL, os.Getenv("OCCICDMI_S3_REGION")
	cfg.S3AccessKey, cfg.S3SecretKey = os.Getenv("OCCICDMI_S3_ACCESS_KEY"), os.Getenv("OCCICDMI_S3_SECRET_KEY")
	var b [6]byte
	_, _ = rand.Read(b[:])
	cfg.S3Bucket = "occicdmi-down-" + hex.EncodeToString(b[:])
	_, srv, _ := newOpsApp(t, cfg) // creates the bucket through the proxy
	t.Cleanup(func() {
		emptyAndDeleteBucket(t.Context(), s3Client(t, Config{S3Endpoint: endpoint, S3Region: cfg.S3Region, S3AccessKey: cfg.S3AccessKey, S3SecretKey: cfg.S3SecretKey}), cfg.S3Bucket)
	})

	creds := []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("ops:s3cret")), "X-CDMI-Specification-Version", "1.1.1"}
	exported := `{"metadata": {"cdmi_assignedsize": "1048576"}, "exports": {"OCCI/NBD": {}}}`
	storage := "Category: storage; scheme=\"http://schemas.ogf.org/occi/infrastructure#\"; class=\"kind\"\nX-OCCI-Attribute: occi.storage.size=0.001"

	proxy.down.Store(true)
	resp, body := send(t, "PUT", srv.URL+"/cdmi/down/", "application/cdmi-container", exported, creds...)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, body)
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))
	assert.NotContains(t, body, s3.URL, "no backend address in the answer")
	resp, body = send(t, "POST", srv.URL+"/storage/", "text/plain", storage, creds...)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, body)
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))

	resp, body = send(t, "GET", srv.URL+"/cdmi/down/", "", "", creds...)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "the refused container is not there: %s", body)
	resp, body = send(t, "GET", srv.URL+"/storage/", "", "", append(creds, "Accept", "text/uri-list")...)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Empty(t, strings.TrimSpace(body), "no OCCI storage was left behind")

	proxy.down.Store(false)
	resp, body = send(t, "PUT", srv.URL+"/cdmi/down/", "application/cdmi-container", exported, creds...)
	assert.Equal(t, http.StatusCreated, resp.StatusCode, body)
	resp, body = send(t, "POST", srv.URL+"/storage/", "text/plain", storage, creds...)
	assert.Equal(t, http.StatusCreated, resp.StatusCode, body)
}
