package app

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readFromWriter is a ResponseWriter whose ReadFrom notes what it was given.
type readFromWriter struct {
	*httptest.ResponseRecorder
	got    []io.Reader
	writes int
}

func (w *readFromWriter) ReadFrom(r io.Reader) (int64, error) {
	w.got = append(w.got, r)
	return io.Copy(w.ResponseRecorder, r)
}

func (w *readFromWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.ResponseRecorder.Write(p)
}

// The recorder hands a file (what sendfile takes) and small or unsized
// sources to the writer's own ReadFrom, and copies a big value from
// anything else itself in big writes; the bytes and the count are the
// same either way.
func TestRecorderReadFrom(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "v"))
	require.NoError(t, err)
	defer f.Close()
	big := bytes.Repeat([]byte("0123456789abcdef"), 3<<16) // 3 MiB
	_, err = f.Write(big)
	require.NoError(t, err)

	for name, c := range map[string]struct {
		src    func() io.Reader
		want   []byte
		passed bool // to the writer's ReadFrom
	}{
		"file": {func() io.Reader {
			_, _ = f.Seek(0, io.SeekStart)
			return &io.LimitedReader{R: f, N: int64(len(big))}
		}, big, true},
		"unsized": {func() io.Reader { return bytes.NewReader(big) }, big, true},
		"small":   {func() io.Reader { return &io.LimitedReader{R: bytes.NewReader(big), N: 4096} }, big[:4096], true},
		"big":     {func() io.Reader { return &io.LimitedReader{R: bytes.NewReader(big), N: int64(len(big))} }, big, false},
	} {
		w := &readFromWriter{ResponseRecorder: httptest.NewRecorder()}
		rec := &recorder{ResponseWriter: w}
		n, err := rec.ReadFrom(c.src())
		require.NoError(t, err, name)
		assert.Equal(t, int64(len(c.want)), n, name)
		assert.Equal(t, int64(len(c.want)), rec.bytes, name)
		assert.Equal(t, http.StatusOK, rec.status, name)
		assert.True(t, bytes.Equal(c.want, w.Body.Bytes()), name)
		assert.Equal(t, c.passed, len(w.got) == 1, name)
		if !c.passed {
			assert.Equal(t, 3, w.writes, "%s: in 1 MiB writes", name)
		}
	}
}
