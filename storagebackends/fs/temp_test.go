package fs_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/storagebackends"
	"github.com/occicdmi/occicdmi/storagebackends/fs"
)

// A crash mid-write leaves a file in the temporary folder; RemoveTemp takes
// it away at start-up (issue 12 item 11): all of them for age 0, only the
// ones untouched for longer than age otherwise (another process's write in
// progress keeps touching its own). Values in place are never touched.
func TestRemoveTemp(t *testing.T) {
	dir := t.TempDir()
	objs, err := fs.NewObjects(filepath.Join(dir, "objects"))
	require.NoError(t, err)
	vols, err := fs.NewVolumes(filepath.Join(dir, "volumes"))
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, objs.Put(ctx, "kept", strings.NewReader(""), 0))

	for _, c := range []struct {
		r   storagebackends.TempRemover
		tmp string
	}{{objs, filepath.Join(dir, "objects", "tmp")}, {vols, filepath.Join(dir, "volumes", "tmp")}} {
		old, young := filepath.Join(c.tmp, "put-old"), filepath.Join(c.tmp, "put-young")
		require.NoError(t, os.WriteFile(old, []byte("torn"), 0o600))
		require.NoError(t, os.WriteFile(young, []byte("in progress"), 0o600))
		require.NoError(t, os.Chtimes(old, time.Now(), time.Now().Add(-2*time.Hour)))

		n, err := c.r.RemoveTemp(ctx, time.Hour)
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		assert.NoFileExists(t, old)
		assert.FileExists(t, young)

		n, err = c.r.RemoveTemp(ctx, 0)
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		assert.NoFileExists(t, young)
	}
	size, err := objs.Size(ctx, "kept")
	require.NoError(t, err)
	assert.Zero(t, size)
}
