//go:build ceph

package rbd_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/ceph/go-ceph/rados"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/internal/kind"
	"github.com/occicdmi/occicdmi/storagebackends"
	"github.com/occicdmi/occicdmi/storagebackends/rbd"
	"github.com/occicdmi/occicdmi/storagebackends/storagetest"
)

// Ping stats the pool: up while it is there, down (unavailable) once it is
// deleted, though the stores' IOContexts were opened before. A pool of its
// own, so no other test loses its pool.
func TestPingSeesThePool(t *testing.T) {
	conf := os.Getenv("CEPH_CONF")
	storagetest.NeedService(t, "a Ceph cluster (CEPH_CONF)", conf != "")
	admin, err := rados.NewConn()
	require.NoError(t, err)
	require.NoError(t, admin.ReadConfigFile(conf))
	require.NoError(t, admin.Connect())
	t.Cleanup(admin.Shutdown)
	pool := "occicdmi-ping-" + strings.TrimSuffix(strings.TrimPrefix(storagetest.Prefix(), "st-"), "-")
	require.NoError(t, admin.MakePool(pool))
	deleted := false
	t.Cleanup(func() {
		if !deleted {
			_ = admin.DeletePool(pool)
		}
	})

	ctx := context.Background()
	c, err := rbd.Connect(ctx, storagebackends.Options{CephConf: conf, CephPool: pool})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	objs, err := c.Objects()
	require.NoError(t, err)
	vols, err := c.Volumes()
	require.NoError(t, err)
	for _, p := range []storagebackends.Pinger{objs, vols} {
		require.NoError(t, p.Ping(ctx))
	}

	require.NoError(t, admin.DeletePool(pool))
	deleted = true
	for _, p := range []storagebackends.Pinger{objs, vols} {
		err := p.Ping(ctx)
		require.Error(t, err)
		assert.Equal(t, kind.Unavailable, kind.Of(err), "%v", err)
	}
}
