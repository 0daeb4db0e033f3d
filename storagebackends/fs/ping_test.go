package fs_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/internal/kind"
	"github.com/occicdmi/occicdmi/storagebackends"
	"github.com/occicdmi/occicdmi/storagebackends/fs"
)

// Ping checks the folders and writes a file: it fails once the data
// folder is gone (a lost mount) or is not a folder, and leaves nothing
// behind when it passes.
func TestPing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	o, err := fs.NewObjects(filepath.Join(dir, "objects"))
	require.NoError(t, err)
	v, err := fs.NewVolumes(filepath.Join(dir, "volumes"))
	require.NoError(t, err)
	for _, p := range []storagebackends.Pinger{o, v} {
		require.NoError(t, p.Ping(ctx))
	}
	left, err := os.ReadDir(filepath.Join(dir, "objects", "tmp"))
	require.NoError(t, err)
	assert.Empty(t, left, "the write check removes its file")

	require.NoError(t, os.RemoveAll(filepath.Join(dir, "objects")))
	err = o.Ping(ctx)
	require.Error(t, err)
	assert.Equal(t, kind.Unavailable, kind.Of(err))
	assert.NoError(t, v.Ping(ctx))

	// A file where the temporary folder was: it cannot be written in.
	require.NoError(t, os.RemoveAll(filepath.Join(dir, "volumes", "tmp")))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "volumes", "tmp"), nil, 0o600))
	assert.Equal(t, kind.Unavailable, kind.Of(v.Ping(ctx)))
}
