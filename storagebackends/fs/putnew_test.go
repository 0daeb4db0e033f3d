package fs

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/storagebackends"
)

func readAll(t *testing.T, o *Objects, key string) string {
	t.Helper()
	rc, err := o.Open(context.Background(), key, 0, -1)
	require.NoError(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	return string(b)
}

// PutNew stores a fresh key's value, and returns only after the folder's
// fsync (which makes the new name durable) and the file's.
func TestPutNew(t *testing.T) {
	o, err := NewObjects(t.TempDir())
	require.NoError(t, err)
	var folderSyncs atomic.Int64
	o.rootSync.syncFn = func(dir string) error { folderSyncs.Add(1); return syncDir(dir) }
	require.NoError(t, o.PutNew(context.Background(), "k", strings.NewReader("hello"), 5))
	assert.Equal(t, "hello", readAll(t, o, "k"))
	assert.Equal(t, int64(1), folderSyncs.Load(), "the new name is made durable")
	tmp, err := os.ReadDir(o.tmp)
	require.NoError(t, err)
	assert.Empty(t, tmp, "no temporary file")

	// A key that names a value already is refused, and the value stays.
	err = o.PutNew(context.Background(), "k", strings.NewReader("other"), 5)
	require.Error(t, err)
	assert.Equal(t, "hello", readAll(t, o, "k"))
}

// A value that fails (short, a failing source, a failing folder fsync)
// leaves no file behind.
func TestPutNewFailureLeavesNothing(t *testing.T) {
	o, err := NewObjects(t.TempDir())
	require.NoError(t, err)
	ctx := context.Background()
	err = o.PutNew(ctx, "short", strings.NewReader("abc"), 5)
	require.ErrorIs(t, err, storagebackends.ErrInvalid)
	boom := errors.New("client gone")
	err = o.PutNew(ctx, "cut", io.MultiReader(strings.NewReader("ab"), failing{boom}), -1)
	require.Error(t, err)
	o.rootSync.syncFn = func(string) error { return errors.New("EIO") }
	err = o.PutNew(ctx, "nosync", strings.NewReader("abc"), 3)
	require.ErrorIs(t, err, storagebackends.ErrUnavailable)
	for _, k := range []string{"short", "cut", "nosync"} {
		_, err := o.Size(ctx, k)
		assert.ErrorIs(t, err, storagebackends.ErrNotFound, k)
	}
}

type failing struct{ err error }

func (f failing) Read([]byte) (int, error) { return 0, f.err }

// OpenSized reads like Open and tells the whole value's size.
func TestOpenSized(t *testing.T) {
	o, err := NewObjects(t.TempDir())
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, o.Put(ctx, "k", strings.NewReader("hello world"), 11))
	rc, size, err := o.OpenSized(ctx, "k", 6, 3)
	require.NoError(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	assert.Equal(t, "wor", string(b))
	assert.Equal(t, int64(11), size)
	_, _, err = o.OpenSized(ctx, "missing", 0, -1)
	assert.ErrorIs(t, err, storagebackends.ErrNotFound)
}
