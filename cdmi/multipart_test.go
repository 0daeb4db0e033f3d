package cdmi

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cutBody is a request body whose connection drops after prefix.
func cutBody(prefix string) io.Reader {
	return io.MultiReader(strings.NewReader(prefix), failingReader{})
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset by peer") }

// CDMI 1.1.1 §8.1.2: "If a write is terminated due to errors, the contents
// of the data object shall be as if the write never occurred." A
// multi-part body whose connection drops in the middle of a value (whole
// or a range, a create or an update, a queue's second value) leaves no
// object, no changed value and no enqueued value. The handler is called
// directly so that its work is done when the test looks.
func TestMultipartCutBodyChangesNothing(t *testing.T) {
	ts := newTestServer(t)
	ts.do(http.MethodPut, "/cdmi/c/", "{}", cdmiHdr(ctContainer)...)
	ts.do(http.MethodPut, "/cdmi/c/old", `{"value":"old value","metadata":{"colour":"blue"}}`, cdmiHdr(ctObject)...)
	ts.do(http.MethodPut, "/cdmi/c/q", `{}`, cdmiHdr(ctQueue)...)
	json := "--b\r\nContent-Type: application/cdmi-object\r\n\r\n{\"metadata\":{\"colour\":\"red\"}}\r\n"
	for _, tc := range []struct{ name, method, path, body string }{
		{"create", http.MethodPut, "/cdmi/c/new", json + "--b\r\nContent-Type: application/octet-stream\r\n\r\nnew val"},
		{"update", http.MethodPut, "/cdmi/c/old", json + "--b\r\nContent-Type: application/octet-stream\r\n\r\nnew val"},
		{"ranged-update", http.MethodPut, "/cdmi/c/old", json + "--b\r\nContent-Range: bytes 0-1/9\r\n\r\nAB\r\n--b\r\nContent-Range: bytes 4-5/9\r\n\r\nC"},
		{"enqueue", http.MethodPost, "/cdmi/c/q", strings.Replace(json, "cdmi-object", "cdmi-queue", 1) +
			"--b\r\nContent-Type: text/plain\r\n\r\nfirst\r\n--b\r\nContent-Type: text/plain\r\n\r\nsec"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, cutBody(tc.body))
			req.Header.Set(v11, "1.1.1")
			req.Header.Set("Content-Type", "multipart/mixed; boundary=b")
			rec := httptest.NewRecorder()
			ts.Config.Handler.ServeHTTP(rec, req)
			assert.True(t, rec.Code >= 400 && rec.Code < 500, "status %d: %s", rec.Code, rec.Body)

			resp, _ := ts.do(http.MethodGet, "/cdmi/c/new", "")
			assert.Equal(t, http.StatusNotFound, resp.StatusCode, "no object from a cut create")
			resp, body := ts.do(http.MethodGet, "/cdmi/c/old", "")
			require.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, "old value", body)
			_, body = ts.do(http.MethodGet, "/cdmi/c/old?metadata:colour", "", cdmiHdr(ctObject)...)
			assert.Contains(t, body, `"blue"`)
			_, body = ts.do(http.MethodGet, "/cdmi/c/q?queueValues", "", cdmiHdr(ctQueue)...)
			assert.Contains(t, body, `"queueValues":""`, "nothing enqueued")
		})
	}
}
