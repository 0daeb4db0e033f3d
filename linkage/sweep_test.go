package linkage

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/cdmi"
	"github.com/occicdmi/occicdmi/internal/kind"
	"github.com/occicdmi/occicdmi/internal/testsupport"
)

// A crash leaves nothing a start-up sweep does not clean (issue 9 item 5).
// A volume made by a prepare phase whose commit never came, or a snapshot
// volume whose row never committed, is journaled (linkage_pending_volumes)
// and named by no export or snapshot. A server starting on the same
// database and backends removes it once it is older than sweepAge; a young
// one (another server's create under way) stays, as do the volumes of a
// live export and of its snapshot (whose journal rows went with their
// commits) and volumes nothing here journaled (another deployment's on a
// shared pool: reported, not removed).
func TestStartUpSweepsVolumesWithoutRows(t *testing.T) {
	db, shared := testsupport.DB(t), t.TempDir()
	r := newDiskRigOn(t, db, shared)
	ctx, admin := context.Background(), cdmi.Administrator()
	vm, _, err := r.cdmi.PutContainer(ctx, admin, "/vm/", exportChange("1048576"))
	require.NoError(t, err)
	require.NoError(t, r.cdmi.Snapshot(ctx, admin, "/vm/", "s"))
	snap, err := r.cdmi.Container(ctx, admin, "/vm/cdmi_snapshots/s/")
	require.NoError(t, err)
	var n int64
	require.NoError(t, db.Model(&pendingVolume{}).Count(&n).Error)
	assert.Zero(t, n, "committed exports and snapshots leave no journal rows")

	// Volumes named by objectIDs (of containers with no export), as a
	// crash between making a volume and committing leaves them (journaled)
	// or as another deployment sharing the backend has them (not).
	objectID := func(path string) string {
		c, _, err := r.cdmi.PutContainer(ctx, admin, path, cdmi.ContainerChange{})
		require.NoError(t, err)
		return c.ObjectID
	}
	crashed := func(path string) string {
		id := objectID(path)
		require.NoError(t, r.l.makeVolume(ctx, id, func() error { return r.l.cfg.Volumes.CreateVolume(ctx, id, 1<<20) }))
		return id
	}
	old, young, foreign := crashed("/old/"), crashed("/young/"), objectID("/foreign/")
	require.NoError(t, r.l.cfg.Volumes.CreateVolume(ctx, foreign, 1<<20))
	long := time.Now().Add(-2 * sweepAge)
	require.NoError(t, db.Model(&pendingVolume{}).Where("volume = ?", old).Update("created_at", long).Error)
	for _, name := range []string{vm.ObjectID, snap.ObjectID, old, foreign} {
		p := filepath.Join(shared, "volumes", "v", url.PathEscape(name)+".img")
		require.NoError(t, os.Chtimes(p, long, long))
	}

	restarted := newDiskRigOn(t, db, shared)
	exists := func(name string) error { _, err := restarted.l.cfg.Volumes.VolumeSize(ctx, name); return err }
	assert.Equal(t, kind.NotFound, kind.Of(exists(old)), "an old journaled volume no row names is swept")
	assert.NoError(t, exists(young), "a young one may be another server's create under way")
	assert.NoError(t, exists(vm.ObjectID), "an export's volume stays")
	assert.NoError(t, exists(snap.ObjectID), "a snapshot's volume stays")
	assert.NoError(t, exists(foreign), "a volume this server never journaled is not its to remove")
	var left []string
	require.NoError(t, db.Model(&pendingVolume{}).Pluck("volume", &left).Error)
	assert.Equal(t, []string{young}, left, "the swept volume's journal row went with it")
}
