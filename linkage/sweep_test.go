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

// A crash leaves nothing a start-up sweep does not clean (issue 9 item 5):
// a volume made by a prepare phase whose commit never came, or a snapshot
// volume whose row never committed, has no row naming it. A server
// starting on the same database and backends removes such a volume once it
// is older than sweepAge; a young one (another server's create under way),
// the volumes of a live export and of its snapshot, and a volume whose
// name is no objectID (not the linkage's) stay.
func TestStartUpSweepsVolumesWithoutRows(t *testing.T) {
	db, shared := testsupport.DB(t), t.TempDir()
	r := newDiskRigOn(t, db, shared)
	ctx, admin := context.Background(), cdmi.Administrator()
	vm, _, err := r.cdmi.PutContainer(ctx, admin, "/vm/", exportChange("1048576"))
	require.NoError(t, err)
	require.NoError(t, r.cdmi.Snapshot(ctx, admin, "/vm/", "s"))
	snap, err := r.cdmi.Container(ctx, admin, "/vm/cdmi_snapshots/s/")
	require.NoError(t, err)
	// Volumes as a crash leaves them: named by objectIDs (of containers
	// with no export), with no linkage row.
	orphanID := func(path string) string {
		c, _, err := r.cdmi.PutContainer(ctx, admin, path, cdmi.ContainerChange{})
		require.NoError(t, err)
		require.NoError(t, r.l.cfg.Volumes.CreateVolume(ctx, c.ObjectID, 1<<20))
		return c.ObjectID
	}
	old, young := orphanID("/old/"), orphanID("/young/")
	foreign := "someone-elses-volume"
	require.NoError(t, r.l.cfg.Volumes.CreateVolume(ctx, foreign, 1<<20))
	long := time.Now().Add(-2 * sweepAge)
	for _, name := range []string{vm.ObjectID, snap.ObjectID, old, foreign} {
		p := filepath.Join(shared, "volumes", "v", url.PathEscape(name)+".img")
		require.NoError(t, os.Chtimes(p, long, long))
	}

	restarted := newDiskRigOn(t, db, shared)
	exists := func(name string) error { _, err := restarted.l.cfg.Volumes.VolumeSize(ctx, name); return err }
	assert.Equal(t, kind.NotFound, kind.Of(exists(old)), "an old volume no row names is swept")
	assert.NoError(t, exists(young), "a young one may be another server's create under way")
	assert.NoError(t, exists(vm.ObjectID), "an export's volume stays")
	assert.NoError(t, exists(snap.ObjectID), "a snapshot's volume stays")
	assert.NoError(t, exists(foreign), "a volume not named by an objectID is not the linkage's")
}
