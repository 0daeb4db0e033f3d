package linkage

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/cdmi"
	"github.com/occicdmi/occicdmi/internal/kind"
)

// A CDMI snapshot (clause 14) is a volume of its own: it is deleted with
// its snapshot container, a replaced snapshot's volume goes, and deleting
// the source container leaves no snapshot volume or row behind.
func TestSnapshotVolumesGoWithTheirContainers(t *testing.T) {
	r := newDiskRig(t)
	ctx := context.Background()
	admin := cdmi.Administrator()
	c, _, err := r.cdmi.PutContainer(ctx, admin, "/vm/", exportChange("1048576"))
	require.NoError(t, err)
	snapVolume := func(name string) string {
		s, err := r.cdmi.Container(ctx, admin, "/vm/cdmi_snapshots/"+name+"/")
		require.NoError(t, err)
		return s.ObjectID
	}
	size := func(vol string) error { _, err := r.l.cfg.Volumes.VolumeSize(ctx, vol); return err }

	require.NoError(t, r.cdmi.Snapshot(ctx, admin, "/vm/", "a"))
	first := snapVolume("a")
	require.NoError(t, size(first))
	require.NoError(t, r.cdmi.Snapshot(ctx, admin, "/vm/", "a"))
	second := snapVolume("a")
	assert.NotEqual(t, first, second)
	assert.Equal(t, kind.NotFound, kind.Of(size(first)), "the replaced snapshot's volume is gone")

	require.NoError(t, r.cdmi.Snapshot(ctx, admin, "/vm/", "b"))
	b := snapVolume("b")
	require.NoError(t, r.cdmi.Delete(ctx, admin, "/vm/cdmi_snapshots/b/"))
	assert.Equal(t, kind.NotFound, kind.Of(size(b)), "a deleted snapshot's volume is gone")

	require.NoError(t, r.cdmi.Delete(ctx, admin, "/vm/"))
	assert.Equal(t, kind.NotFound, kind.Of(size(second)), "the source's deletion takes its snapshots")
	var n int64
	require.NoError(t, r.l.cfg.DB.Model(&snapshot{}).Where("source_id = ?", c.ObjectID).Count(&n).Error)
	assert.Zero(t, n)
}
