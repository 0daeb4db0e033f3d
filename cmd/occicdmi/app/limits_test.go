package app

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// limitsApp serves an app configured by edit on a fresh data folder.
func limitsApp(t *testing.T, edit func(*Config)) (*httptest.Server, Config) {
	t.Helper()
	cfg := Defaults()
	cfg.DataDir = t.TempDir()
	edit(&cfg)
	a, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(srv.Close)
	resp, err := http.DefaultClient.Do(mustRequest(t, "PUT", srv.URL+"/cdmi/box/", "application/cdmi-container", "{}"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	return srv, cfg
}

// startUpload opens a connection and sends the headers of a non-CDMI PUT
// announcing length bytes, and the first bytes of its body.
func startUpload(t *testing.T, srv *httptest.Server, name string, length int, first []byte) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	_, err = fmt.Fprintf(c, "PUT /cdmi/box/%s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n",
		name, srv.Listener.Addr(), length)
	require.NoError(t, err)
	_, err = c.Write(first)
	require.NoError(t, err)
	return c
}

// awaitServerEnd waits (generously) until the server answers or closes the
// connection, and returns what it sent.
func awaitServerEnd(t *testing.T, c net.Conn) string {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(60*time.Second)))
	b, err := io.ReadAll(c)
	var ne net.Error
	if err != nil && (!isNetError(err, &ne) || ne.Timeout()) {
		t.Fatalf("the server held a stalled upload for a minute: %v", err)
	}
	return string(b)
}

func isNetError(err error, ne *net.Error) bool {
	e, ok := err.(net.Error)
	if ok {
		*ne = e
	}
	return ok || strings.Contains(err.Error(), "reset")
}

// tempFiles lists the files of the folders uploads are written through.
func tempFiles(t *testing.T, dataDir string) []string {
	t.Helper()
	var out []string
	for _, d := range []string{filepath.Join(dataDir, "tmp"), filepath.Join(dataDir, "objects", "tmp")} {
		es, err := os.ReadDir(d)
		if err != nil && !os.IsNotExist(err) {
			require.NoError(t, err)
		}
		for _, e := range es {
			out = append(out, filepath.Join(d, e.Name()))
		}
	}
	return out
}

// Issue 12 item 4: a body that stops (a 10 MiB Content-Length of which
// 64 KiB arrive) or trickles (a byte at a time, far below the minimum
// rate) is cut once the server has waited a window without the minimum
// rate's bytes: the connection is answered or closed, the temporary file
// the upload was written to is gone, and no value appears.
func TestSlowBodyIsCut(t *testing.T) {
	srv, cfg := limitsApp(t, func(c *Config) {
		c.BodyMinRate = 1000
		c.BodyRateWindow = "1s"
	})
	t.Run("stalled", func(t *testing.T) {
		c := startUpload(t, srv, "stalled", 10<<20, make([]byte, 64<<10))
		assertCut(t, awaitServerEnd(t, c))
	})
	t.Run("trickle", func(t *testing.T) {
		c := startUpload(t, srv, "trickle", 1<<20, []byte("x"))
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
					if _, err := c.Write([]byte("y")); err != nil {
						return
					}
				}
			}
		}()
		assertCut(t, awaitServerEnd(t, c))
	})
	require.Eventually(t, func() bool { return len(tempFiles(t, cfg.DataDir)) == 0 }, 30*time.Second, 50*time.Millisecond,
		"temporary files left: %v", tempFiles(t, cfg.DataDir))
	for _, name := range []string{"stalled", "trickle"} {
		resp, err := http.Get(srv.URL + "/cdmi/box/" + name)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, name)
	}
	// A body at a normal rate is not cut.
	resp, err := http.DefaultClient.Do(mustRequest(t, "PUT", srv.URL+"/cdmi/box/fast", "application/octet-stream", strings.Repeat("z", 1<<20)))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusCreated, resp.StatusCode)
}

// The same cut on HTTP/2, where the deadline is the stream's.
func TestSlowBodyIsCutHTTP2(t *testing.T) {
	cfg := Defaults()
	cfg.DataDir = t.TempDir()
	cfg.BodyMinRate = 1000
	cfg.BodyRateWindow = "1s"
	a, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	defer a.Close()
	srv := httptest.NewUnstartedServer(a.Handler)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	client := srv.Client()
	client.Timeout = 60 * time.Second

	pr, pw := io.Pipe()
	defer pw.Close()
	go func() { _, _ = pw.Write(make([]byte, 64<<10)) }() // then nothing
	req, err := http.NewRequest("PUT", srv.URL+"/cdmi/stalled", pr)
	require.NoError(t, err)
	req.ContentLength = 10 << 20
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := client.Do(req)
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, "HTTP/2.0", resp.Proto)
		assert.Equal(t, http.StatusRequestTimeout, resp.StatusCode, "%s", b)
	}
	require.Eventually(t, func() bool { return len(tempFiles(t, cfg.DataDir)) == 0 }, 30*time.Second, 50*time.Millisecond,
		"temporary files left: %v", tempFiles(t, cfg.DataDir))
}

// assertCut checks what a cut client got: nothing (the connection closed)
// or a 408 saying why.
func assertCut(t *testing.T, answer string) {
	t.Helper()
	if answer != "" {
		assert.True(t, strings.HasPrefix(answer, "HTTP/1.1 408 "), "%.200q", answer)
		assert.Contains(t, answer, "--body-min-rate")
	}
}

// Issue 12 item 4: beyond --max-uploads requests with a body at once, an
// upload answers 503 with Retry-After; the slot frees when the holder ends.
func TestUploadCap(t *testing.T) {
	srv, _ := limitsApp(t, func(c *Config) { c.MaxUploads = 1 })
	holder := startUpload(t, srv, "held", 1<<20, []byte("first bytes"))
	require.Eventually(t, func() bool {
		resp, err := http.DefaultClient.Do(mustRequest(t, "PUT", srv.URL+"/cdmi/box/second", "application/octet-stream", "v"))
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "" && strings.Contains(string(b), "max-uploads")
	}, 30*time.Second, 20*time.Millisecond, "a second upload answers 503 while the first holds the only slot")
	// Requests without a body are not uploads.
	resp, err := http.Get(srv.URL + "/compute/")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	holder.Close()
	require.Eventually(t, func() bool {
		resp, err := http.DefaultClient.Do(mustRequest(t, "PUT", srv.URL+"/cdmi/box/third", "application/octet-stream", "v"))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusCreated
	}, 30*time.Second, 20*time.Millisecond, "the slot frees when the holder hangs up")
}

// Issue 12 item 4: the header and idle timeouts of the main listener come
// from the configuration; a client that sends half a header, or keeps a
// connection open without a next request, is disconnected.
func TestHeaderAndIdleTimeouts(t *testing.T) {
	cfg := Defaults()
	cfg.HeaderTimeout = "200ms"
	cfg.IdleTimeout = "200ms"
	require.NoError(t, cfg.fill())
	srv := httptest.NewUnstartedServer(nil)
	srv.Config = newHTTPServer(cfg, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }), nil)
	srv.Start()
	defer srv.Close()

	half, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer half.Close()
	_, err = io.WriteString(half, "GET / HTTP/1.1\r\nHost: x\r\n")
	require.NoError(t, err)
	awaitServerEnd(t, half)

	idle, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer idle.Close()
	_, err = io.WriteString(idle, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	br := bufio.NewReader(idle)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, idle.SetReadDeadline(time.Now().Add(60*time.Second)))
	_, err = br.ReadByte()
	assert.ErrorIs(t, err, io.EOF, "the idle connection is closed by the server")
}

func TestLimitsConfig(t *testing.T) {
	cfg, err := Load("t", []string{"--body-min-rate", "10", "--body-rate-window", "3s", "--max-uploads", "5", "--idle-timeout", "1m", "--remove-orphan-vms"},
		env(map[string]string{"OCCICDMI_HEADER_TIMEOUT": "7s", "OCCICDMI_ALLOWED_ORIGINS": "https://a.example"}), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, uint32(10), cfg.BodyMinRate)
	assert.Equal(t, 3*time.Second, cfg.limits.bodyRateWindow)
	assert.Equal(t, uint32(5), cfg.MaxUploads)
	assert.Equal(t, time.Minute, cfg.limits.idleTimeout)
	assert.Equal(t, 7*time.Second, cfg.limits.headerTimeout)
	assert.Equal(t, "https://a.example", cfg.AllowedOrigins)
	assert.True(t, cfg.RemoveOrphanVMs)

	file := filepath.Join(t.TempDir(), "c.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"idle_timeout":"90s"}`), 0o600))
	cfg, err = Load("t", []string{"--config", file}, env(nil), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 90*time.Second, cfg.limits.idleTimeout)

	for _, args := range [][]string{{"--idle-timeout", "soon"}, {"--idle-timeout", "-1s"}, {"--remove-orphan-vms=maybe"},
		{"--body-min-rate", "10", "--body-rate-window", "0s"}} {
		_, err := Load("t", args, env(nil), io.Discard)
		assert.Error(t, err, "%v", args)
	}
	cfg = Defaults()
	cfg.DataDir = t.TempDir()
	cfg.AllowedOrigins = "not an origin"
	_, err = New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	assert.ErrorContains(t, err, "--allowed-origins")
}
