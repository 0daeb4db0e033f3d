package cdmi

import (
	"log/slog"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/occicdmi/occicdmi/internal/testsupport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A client closing its connection mid-request (issue 11: hundreds of
// "ERROR ... 500" lines after a load run) is no server error: nothing is
// logged at ERROR, nothing is stored, and the server goes on serving.
func TestClientGoneMidRequest(t *testing.T) {
	var logs testsupport.LogBuffer
	ts := newTestServer(t, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	resp, body := ts.do("PUT", "/cdmi/c/", "{}", cdmiHdr(ctContainer)...)
	require.Equal(t, 201, resp.StatusCode, body)
	u, err := url.Parse(ts.URL)
	require.NoError(t, err)
	for _, req := range []string{
		"PUT /cdmi/c/raw HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 10000000\r\n\r\n",
		"PUT /cdmi/c/json HTTP/1.1\r\nHost: x\r\nContent-Type: application/cdmi-object\r\nX-CDMI-Specification-Version: 1.1.1\r\nContent-Length: 10000000\r\n\r\n{\"value\":\"",
		"PUT /cdmi/c/chunked HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n100000\r\n",
	} {
		conn, err := net.Dial("tcp", u.Host)
		require.NoError(t, err)
		_, err = conn.Write([]byte(req + strings.Repeat("a", 200<<10)))
		require.NoError(t, err)
		time.Sleep(50 * time.Millisecond)
		require.NoError(t, conn.Close())
	}
	// Reading a large value and hanging up half-way.
	resp, body = ts.do("PUT", "/cdmi/c/big", strings.Repeat("b", 8<<20))
	require.Equal(t, 201, resp.StatusCode, body)
	for _, req := range []string{
		"GET /cdmi/c/big HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /cdmi/c/big HTTP/1.1\r\nHost: x\r\nX-CDMI-Specification-Version: 1.1.1\r\n\r\n",
	} {
		conn, err := net.Dial("tcp", u.Host)
		require.NoError(t, err)
		_, err = conn.Write([]byte(req))
		require.NoError(t, err)
		buf := make([]byte, 4096)
		_, _ = conn.Read(buf)
		require.NoError(t, conn.Close())
	}
	time.Sleep(300 * time.Millisecond)
	out := logs.String()
	assert.NotContains(t, out, "level=ERROR", "a client going away is not an error:\n%s", out)
	assert.NotContains(t, out, "status=500", out)
	for _, n := range []string{"raw", "json", "chunked"} {
		resp, _ := ts.do("GET", "/cdmi/c/"+n, "")
		assert.Equal(t, 404, resp.StatusCode, "%s: a cut-short upload stores nothing", n)
	}
	resp, _ = ts.do("GET", "/cdmi/c/", "", cdmiHdr(ctContainer)...)
	assert.Equal(t, 200, resp.StatusCode)
}
