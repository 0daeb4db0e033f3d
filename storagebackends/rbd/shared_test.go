//go:build ceph

package rbd_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/storagebackends"
	"github.com/occicdmi/occicdmi/storagebackends/storagetest"
)

// TestTwoServers runs two independent connections on one pool, as two
// servers sharing it would: what one changes, the other sees at once,
// despite the image handles each keeps open between calls.
func TestTwoServers(t *testing.T) {
	a, err := connect(t).Volumes()
	require.NoError(t, err)
	b, err := connect(t).Volumes()
	require.NoError(t, err)
	ctx := context.Background()
	name := storagetest.Prefix() + "shared"
	require.NoError(t, a.CreateVolume(ctx, name, 4<<20))
	t.Cleanup(func() { _ = a.DeleteVolume(ctx, name) })
	_, err = a.WriteAt(ctx, name, []byte("from a"), 0) // a now holds a handle
	require.NoError(t, err)

	require.NoError(t, b.ResizeVolume(ctx, name, 8<<20))
	n, err := a.VolumeSize(ctx, name)
	require.NoError(t, err)
	assert.Equal(t, int64(8<<20), n, "a sees b's resize")
	_, err = a.WriteAt(ctx, name, []byte("tail"), 8<<20-4)
	assert.NoError(t, err, "a can write in the space b added")

	_, err = b.WriteAt(ctx, name, []byte("from b"), 0)
	require.NoError(t, err)
	got := make([]byte, 6)
	_, err = a.ReadAt(ctx, name, got, 0)
	require.NoError(t, err)
	assert.Equal(t, "from b", string(got), "a reads b's write")

	// b deletes while a has just used the image: RBD refuses while a's
	// handle is open, b waits for a to let it go, then succeeds.
	require.NoError(t, b.DeleteVolume(ctx, name))
	_, err = a.VolumeSize(ctx, name)
	assert.ErrorIs(t, err, storagebackends.ErrNotFound, "a sees the volume gone")
}
