//go:build ceph

package app

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"testing"

	"github.com/ceph/go-ceph/rados"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/internal/testsupport"
)

// /readyz asks the Ceph cluster about the pool (RADOS values, RBD
// volumes): with the pool deleted the server is not ready, naming both
// backends and nothing of the cluster. A pool of its own.
func TestReadyzCephPoolDeleted(t *testing.T) {
	conf := testsupport.Need(t, "a Ceph cluster", "CEPH_CONF")
	admin, err := rados.NewConn()
	require.NoError(t, err)
	require.NoError(t, admin.ReadConfigFile(conf))
	require.NoError(t, admin.Connect())
	t.Cleanup(admin.Shutdown)
	var b [6]byte
	_, _ = rand.Read(b[:])
	pool := "occicdmi-readyz-" + hex.EncodeToString(b[:])
	require.NoError(t, admin.MakePool(pool))
	deleted := false
	t.Cleanup(func() {
		if !deleted {
			_ = admin.DeletePool(pool)
		}
	})

	cfg := basicUsersConfig(t)
	cfg.Objects, cfg.Volumes, cfg.CephConf, cfg.CephPool = "rados", "rbd", conf, pool
	_, srv, logs := newOpsApp(t, cfg)
	resp, body := send(t, "GET", srv.URL+"/readyz", "", "")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)

	require.NoError(t, admin.DeletePool(pool))
	deleted = true
	resp, body = send(t, "GET", srv.URL+"/readyz", "", "")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "not ready: objects, volumes\n", body)
	var logged bool
	for _, l := range logs.lines(t) {
		if l["msg"] == "readiness: volumes is down" {
			logged = true
			assert.Equal(t, "rbd", l["backend"])
			assert.Contains(t, l["err"], pool)
		}
	}
	assert.True(t, logged)
}
