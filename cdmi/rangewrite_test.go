package cdmi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/storagebackends"
)

// Issue 12 item 3: a range write is all or nothing. A non-CDMI update with
// Content-Range (§6.3, Example 2) or a CDMI update of ?value:<range>
// (§8.4.1, §8.4.8 Example 3) whose body stops early leaves the value as it
// was and answers 400, and cdmi_hash (§16.4) always agrees with the bytes.
// Before the fix the range went into the value in place: 600,000 of the
// 1,048,576 bytes changed although the answer was 400.
func TestRangeWriteAllOrNothing(t *testing.T) {
	ts := newTestServer(t)
	handled := trackHandlers(ts)
	resp, body := ts.do("PUT", "/cdmi/rw/", `{"metadata":{"cdmi_value_hash":"SHA256"}}`, cdmiHdr(ctContainer)...)
	require.Equal(t, 201, resp.StatusCode, body)
	const size = 1 << 20
	value := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	resp, body = ts.do("PUT", "/cdmi/rw/o", string(value), "Content-Type", "application/octet-stream")
	require.Equal(t, 201, resp.StatusCode, body)

	t.Run("fewer bytes than the Content-Range", func(t *testing.T) {
		// Chunked, so the body ends cleanly: the server sees the range's
		// bytes stop at 600,000 of 1,048,576.
		req, err := http.NewRequest("PUT", ts.URL+"/cdmi/rw/o", io.LimitReader(zeroReader{}, 600_000))
		require.NoError(t, err)
		req.Header.Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", size-1, size))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, 400, resp.StatusCode, "%s", b)
		assertValue(t, ts, "/cdmi/rw/o", value)
	})
	t.Run("connection cut mid-range", func(t *testing.T) {
		req, err := http.NewRequest("PUT", ts.URL+"/cdmi/rw/o", io.MultiReader(io.LimitReader(zeroReader{}, 600_000), cutReader{}))
		require.NoError(t, err)
		req.ContentLength = size
		req.Header.Set("X-Test-Track", "1")
		req.Header.Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", size-1, size))
		_, err = http.DefaultClient.Do(req)
		require.Error(t, err, "the client gave up mid-body")
		<-handled // the server's handler has seen the cut and returned
		assertValue(t, ts, "/cdmi/rw/o", value)
	})
	t.Run("CDMI value range cut", func(t *testing.T) {
		body := `{"value":"` + strings.Repeat("A", 1000)
		req, err := http.NewRequest("PUT", ts.URL+"/cdmi/rw/o?value:0-999", io.MultiReader(strings.NewReader(body), cutReader{}))
		require.NoError(t, err)
		req.ContentLength = int64(len(body)) + 100
		req.Header.Set("X-Test-Track", "1")
		for i, h := 0, cdmiHdr(ctObject); i < len(h); i += 2 {
			req.Header.Set(h[i], h[i+1])
		}
		_, err = http.DefaultClient.Do(req)
		require.Error(t, err)
		<-handled
		assertValue(t, ts, "/cdmi/rw/o", value)
	})
	t.Run("a whole range is swapped in with its hash", func(t *testing.T) {
		resp, body := ts.do("PUT", "/cdmi/rw/o", "ZZZZ", "Content-Range", "bytes 21-24/*")
		require.Equal(t, 204, resp.StatusCode, body)
		copy(value[21:], "ZZZZ")
		assertValue(t, ts, "/cdmi/rw/o", value)
		resp, body = ts.do("PUT", "/cdmi/rw/o?value:2-5", `{"value":"WVlZWQ=="}`, cdmiHdr(ctObject)...)
		require.Equal(t, 204, resp.StatusCode, body)
		copy(value[2:], "YYYY")
		assertValue(t, ts, "/cdmi/rw/o", value)
	})
	t.Run("a range into a new object", func(t *testing.T) {
		resp, body := ts.do("PUT", "/cdmi/rw/fresh", "abc", "Content-Range", "bytes 2-4/*")
		require.Equal(t, 201, resp.StatusCode, body)
		assertValue(t, ts, "/cdmi/rw/fresh", []byte("\x00\x00abc"))
	})
}

// assertValue checks the value at path and that its cdmi_hash is the
// SHA-256 of those bytes.
func assertValue(t *testing.T, ts *testServer, path string, want []byte) {
	t.Helper()
	resp, got := ts.do("GET", path, "")
	require.Equal(t, 200, resp.StatusCode)
	assert.True(t, bytes.Equal(want, []byte(got)), "value of %s: %d bytes, %d differ from what was acknowledged", path, len(got), differing(want, []byte(got)))
	resp, body := ts.do("GET", path+"?metadata:cdmi_hash", "", cdmiHdr(ctObject)...)
	require.Equal(t, 200, resp.StatusCode, body)
	md := decode(t, body)["metadata"].(map[string]any)
	sum := sha256.Sum256([]byte(got))
	assert.Equal(t, strings.ToUpper(hex.EncodeToString(sum[:])), md["cdmi_hash"], "cdmi_hash agrees with the bytes of %s", path)
}

func differing(a, b []byte) int {
	n := max(len(a), len(b)) - min(len(a), len(b))
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// cutReader fails: the client side of a connection that breaks.
type cutReader struct{}

func (cutReader) Read([]byte) (int, error) { return 0, errors.New("connection cut") }

// trackHandlers tells when the server's handler of a request marked with
// the header X-Test-Track has returned, so a test can wait for the one
// whose client hung up (no sleeping).
func trackHandlers(ts *testServer) <-chan struct{} {
	done := make(chan struct{}, 8)
	next := ts.Config.Handler
	ts.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Test-Track") != "" {
			defer func() { done <- struct{}{} }()
		}
		next.ServeHTTP(w, r)
	})
	return done
}

// Concurrent range writes into one value (§8.4.1, §6.3) each answer 204
// only when their range went into the value that was current at their
// commit; one staged from a value replaced meanwhile answers 409 rather
// than dropping the other's bytes. So the value left is the first one with
// exactly the acknowledged ranges, and its hash agrees.
func TestConcurrentRangeWrites(t *testing.T) {
	ts := newTestServer(t)
	resp, body := ts.do("PUT", "/cdmi/crw/", `{"metadata":{"cdmi_value_hash":"SHA256"}}`, cdmiHdr(ctContainer)...)
	require.Equal(t, 201, resp.StatusCode, body)
	value := bytes.Repeat([]byte("-"), 64)
	resp, body = ts.do("PUT", "/cdmi/crw/o", string(value), "Content-Type", "application/octet-stream")
	require.Equal(t, 201, resp.StatusCode, body)
	statuses := map[int]int{}
	for round := range 10 {
		const writers = 4
		codes := make([]int, writers)
		start := make(chan struct{})
		done := make(chan struct{})
		for i := range writers {
			go func() {
				defer func() { done <- struct{}{} }()
				<-start
				piece := strings.Repeat(fmt.Sprint(round%10), 4)
				off := (round*writers + i) % 16 * 4
				resp, _ := ts.do("PUT", "/cdmi/crw/o", piece, "Content-Range", fmt.Sprintf("bytes %d-%d/*", off, off+3))
				codes[i] = resp.StatusCode
			}()
		}
		close(start)
		for range writers {
			<-done
		}
		for i, c := range codes {
			statuses[c]++
			require.Contains(t, []int{204, 409}, c, "round %d writer %d", round, i)
			if c == 204 {
				off := (round*writers + i) % 16 * 4
				copy(value[off:], strings.Repeat(fmt.Sprint(round%10), 4))
			}
		}
		assertValue(t, ts, "/cdmi/crw/o", value)
	}
	t.Logf("statuses: %v", statuses)
}

// failingSize is a backend whose Size fails when told: the step after a
// range is staged.
type failingSize struct {
	storagebackends.Objects
	fail bool
}

func (f *failingSize) Size(ctx context.Context, key string) (int64, error) {
	if f.fail {
		return 0, fmt.Errorf("test: %w", storagebackends.ErrUnavailable)
	}
	return f.Objects.Size(ctx, key)
}

// A range write that fails after its range was staged answers for the
// failure (503 for a backend that is down), leaves the value as it was and
// leaves no staged value behind (nothing half-applied, nothing to sweep).
func TestRangeWriteFailureLeavesNothing(t *testing.T) {
	var f *failingSize
	ts := newTestServer(t, func(c *Config) { f = &failingSize{Objects: c.Objects}; c.Objects = f })
	resp, body := ts.do("PUT", "/cdmi/o", "0123456789", "Content-Type", "text/plain")
	require.Equal(t, 201, resp.StatusCode, body)
	keys := func() []string {
		var out []string
		require.NoError(t, f.List(context.Background(), "cdmi/", func(k string, _ int64) error { out = append(out, k); return nil }))
		return out
	}
	before := keys()
	f.fail = true
	resp, body = ts.do("PUT", "/cdmi/o", "ab", "Content-Range", "bytes 2-3/*")
	f.fail = false
	assert.Equal(t, 503, resp.StatusCode, body)
	assert.Equal(t, before, keys(), "no staged value left behind")
	_, body = ts.do("GET", "/cdmi/o", "")
	assert.Equal(t, "0123456789", body)
}
