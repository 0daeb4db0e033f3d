package fs_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/storagebackends"
	"github.com/occicdmi/occicdmi/storagebackends/fs"
	"github.com/occicdmi/occicdmi/storagebackends/storagetest"
)

func TestObjects(t *testing.T) {
	storagetest.RunObjects(t, func(t *testing.T) storagebackends.Objects {
		o, err := fs.NewObjects(t.TempDir())
		require.NoError(t, err)
		return o
	})
}

func TestVolumes(t *testing.T) {
	storagetest.RunVolumes(t, func(t *testing.T) storagebackends.Volumes {
		v, err := fs.NewVolumes(t.TempDir())
		require.NoError(t, err)
		return v
	})
}

func TestAccessIsAbsoluteRawFile(t *testing.T) {
	v, err := fs.NewVolumes(t.TempDir())
	require.NoError(t, err)
	require.NoError(t, v.CreateVolume(t.Context(), "a/../b c", 1<<20))
	acc, err := v.Access(t.Context(), "a/../b c")
	require.NoError(t, err)
	require.Equal(t, "file", acc.Type)
	require.FileExists(t, acc.Path)
	require.Contains(t, acc.Path, "a%2F..%2Fb%20c", "names are escaped, never interpreted as paths")
}
