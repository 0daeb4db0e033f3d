//go:build ceph

package rbd_test

import (
	"context"
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/storagebackends"
	"github.com/occicdmi/occicdmi/storagebackends/rbd"
	"github.com/occicdmi/occicdmi/storagebackends/storagetest"
)

// connect reaches the cluster in CEPH_CONF (scripts/testenv.sh env ceph).
func connect(t testing.TB) *rbd.Cluster {
	t.Helper()
	conf := os.Getenv("CEPH_CONF")
	storagetest.NeedService(t, "a Ceph cluster (CEPH_CONF)", conf != "")
	c, err := rbd.Connect(context.Background(), storagebackends.Options{CephConf: conf, CephPool: os.Getenv("OCCICDMI_CEPH_POOL")})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

func TestVolumes(t *testing.T) {
	c := connect(t)
	storagetest.RunVolumes(t, func(t *testing.T) storagebackends.Volumes {
		v, err := c.Volumes()
		require.NoError(t, err)
		return v
	})
}

func TestObjects(t *testing.T) {
	c := connect(t)
	storagetest.RunObjects(t, func(t *testing.T) storagebackends.Objects {
		o, err := c.Objects()
		require.NoError(t, err)
		return o
	})
}

// TestAccess checks what a hypervisor is told: the pool, the image and the
// monitors as host:port.
func TestAccess(t *testing.T) {
	c := connect(t)
	v, err := c.Volumes()
	require.NoError(t, err)
	name := storagetest.Prefix() + "a/b@c"
	require.NoError(t, v.CreateVolume(t.Context(), name, 1<<20))
	t.Cleanup(func() { _ = v.DeleteVolume(context.Background(), name) })
	acc, err := v.Access(t.Context(), name)
	require.NoError(t, err)
	assert.Equal(t, "rbd", acc.Type)
	assert.Equal(t, "raw", acc.Format)
	assert.NotEmpty(t, acc.Pool)
	assert.NotContains(t, acc.Image, "/", "an image name with / would read as pool/image")
	assert.NotContains(t, acc.Image, "@", "an image name with @ would read as image@snapshot")
	require.NotEmpty(t, acc.Monitors)
	for _, m := range acc.Monitors {
		assert.Regexp(t, `^[^:\[\]]+:\d+$`, m)
	}
	assert.Equal(t, os.Getenv("CEPH_CONF"), acc.ConfigFile)
}

// TestRegistry opens both stores by name, as the server does, and closes
// them (io.Closer), which ends their connections.
func TestRegistry(t *testing.T) {
	conf := os.Getenv("CEPH_CONF")
	storagetest.NeedService(t, "a Ceph cluster (CEPH_CONF)", conf != "")
	o := storagebackends.Options{CephConf: conf, CephPool: "rbd"}
	v, err := storagebackends.OpenVolumes(t.Context(), "rbd", o)
	require.NoError(t, err)
	objs, err := storagebackends.OpenObjects(t.Context(), "rados", o)
	require.NoError(t, err)
	name := storagetest.Prefix() + "reg"
	require.NoError(t, v.CreateVolume(t.Context(), name, 1<<20))
	_, err = v.WriteAt(t.Context(), name, []byte("x"), 0) // leaves a cached handle
	require.NoError(t, err)
	require.NoError(t, v.DeleteVolume(t.Context(), name))
	require.Implements(t, (*io.Closer)(nil), v)
	require.Implements(t, (*io.Closer)(nil), objs)
	require.NoError(t, v.(io.Closer).Close())
	require.NoError(t, objs.(io.Closer).Close())

	_, err = storagebackends.OpenVolumes(t.Context(), "rbd", storagebackends.Options{CephConf: conf, CephPool: "no-such-pool"})
	assert.ErrorIs(t, err, storagebackends.ErrNotFound, "a missing pool is named at open")
}
