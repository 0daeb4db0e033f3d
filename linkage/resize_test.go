package linkage

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/cdmi"
	"github.com/occicdmi/occicdmi/internal/kind"
	"github.com/occicdmi/occicdmi/occi"
)

// A volume a running compute links keeps its size (QEMU's NBD client
// cannot see a new one without reconnecting; see resize.go): a resize from
// either side (OCCI 1.2 occi.storage.size, OCCI 1.1's resize action, CDMI
// 1.1.1 cdmi_assignedsize) is refused with 409 naming the storagelink and
// changes nothing; restating the size it has is no resize; once the
// compute is stopped, the resize goes through.
func TestResizeOfAVolumeInUseIsRefused(t *testing.T) {
	r := newDiskRig(t)
	ctx, admin := context.Background(), cdmi.Administrator()
	c, _, err := r.cdmi.PutContainer(ctx, admin, "/vm/", exportChange("1048576"))
	require.NoError(t, err)
	storage := "/storage/" + c.ObjectID
	link := r.attach(t, c.ObjectID)
	le, err := r.occi.Get(ctx, link)
	require.NoError(t, err)
	vm := le.Source
	_, err = r.occi.Act(ctx, vm, occi.Invocation{Term: "start"})
	require.NoError(t, err)

	refused := func(what string, err error) {
		t.Helper()
		require.Error(t, err, what)
		assert.Equal(t, kind.Conflict, kind.Of(err), "%s: %v", what, err)
		assert.Contains(t, err.Error(), link, "%s: the answer names the storagelink", what)
	}
	_, err = r.occi.Update(ctx, storage, occi.EntityInput{Attrs: map[string]any{"occi.storage.size": 2097152.0 / (1 << 30)}})
	refused("occi.storage.size", err)
	_, err = r.occi.Act(ctx, storage, occi.Invocation{Term: "resize", Params: map[string]any{"size": 2097152.0 / (1 << 30)}})
	refused("the resize action", err)
	_, _, err = r.cdmi.PutContainer(ctx, admin, "/vm/", cdmi.ContainerChange{Metadata: map[string]any{"cdmi_assignedsize": "2097152"}})
	refused("cdmi_assignedsize", err)
	size, err := r.l.cfg.Volumes.VolumeSize(ctx, c.ObjectID)
	require.NoError(t, err)
	assert.EqualValues(t, 1048576, size, "the volume kept its size")
	got, err := r.cdmi.Container(ctx, admin, "/vm/")
	require.NoError(t, err)
	assert.EqualValues(t, 1048576, got.AssignedSize)

	_, _, err = r.cdmi.PutContainer(ctx, admin, "/vm/", cdmi.ContainerChange{Metadata: map[string]any{"cdmi_assignedsize": "1048576"}})
	assert.NoError(t, err, "the size the volume has is no resize")

	_, err = r.occi.Act(ctx, vm, occi.Invocation{Term: "stop"})
	require.NoError(t, err)
	_, _, err = r.cdmi.PutContainer(ctx, admin, "/vm/", cdmi.ContainerChange{Metadata: map[string]any{"cdmi_assignedsize": "2097152"}})
	require.NoError(t, err, "a stopped compute sees the new size at its next start")
	size, err = r.l.cfg.Volumes.VolumeSize(ctx, c.ObjectID)
	require.NoError(t, err)
	assert.EqualValues(t, 2097152, size)
}

// resizerFunc is a compute backend's disk resize, for the tests.
type resizerFunc func(ctx context.Context, machineID, diskID string, size int64) error

func (f resizerFunc) ResizeDisk(ctx context.Context, machineID, diskID string, size int64) error {
	return f(ctx, machineID, diskID, size)
}

// Over OCCI/RBD, with a compute backend that can resize disks, a volume
// grows under a running compute: the volume first, then the compute is
// told (its machine and the storagelink's disk, the new size). When the
// compute cannot be told, the volume gets its old size back and the
// resize fails with the backend's kind.
func TestRBDVolumeGrowsUnderARunningCompute(t *testing.T) {
	var told []string
	fail := false
	resizer := resizerFunc(func(_ context.Context, machine, disk string, size int64) error {
		if fail {
			return kind.New(kind.Unavailable, "hypervisor down")
		}
		told = append(told, fmt.Sprint(machine, " ", disk, " ", size))
		return nil
	})
	r := newDiskRig(t, func(c *Config) { c.RBD, c.DiskResizer = true, resizer })
	ctx, admin := context.Background(), cdmi.Administrator()
	c, _, err := r.cdmi.PutContainer(ctx, admin, "/vm/", cdmi.ContainerChange{
		Metadata: map[string]any{"cdmi_assignedsize": "1048576"}, Exports: map[string]any{"OCCI/RBD": map[string]any{}}})
	require.NoError(t, err)
	vm, err := r.occi.Create(ctx, occi.KindCompute, []occi.EntityInput{{}})
	require.NoError(t, err)
	link, err := r.occi.Create(ctx, occi.KindStorageLink, []occi.EntityInput{{Source: vm[0].Location, Target: "/storage/" + c.ObjectID}})
	require.NoError(t, err)
	_, err = r.occi.Act(ctx, vm[0].Location, occi.Invocation{Term: "start"})
	require.NoError(t, err)
	volSize := func() int64 {
		n, err := r.l.cfg.Volumes.VolumeSize(ctx, c.ObjectID)
		require.NoError(t, err)
		return n
	}

	_, _, err = r.cdmi.PutContainer(ctx, admin, "/vm/", cdmi.ContainerChange{Metadata: map[string]any{"cdmi_assignedsize": "2097152"}})
	require.NoError(t, err)
	assert.EqualValues(t, 2097152, volSize())
	assert.Equal(t, []string{fmt.Sprint(vm[0].ID, " ", link[0].ID, " ", 2097152)}, told, "the running compute was told")

	_, _, err = r.cdmi.PutContainer(ctx, admin, "/vm/", cdmi.ContainerChange{Metadata: map[string]any{"cdmi_assignedsize": "1048576"}})
	assert.Equal(t, kind.Conflict, kind.Of(err), "no shrink under a running guest: %v", err)

	fail = true
	_, err = r.occi.Update(ctx, "/storage/"+c.ObjectID, occi.EntityInput{Attrs: map[string]any{"occi.storage.size": 4194304.0 / (1 << 30)}})
	assert.Equal(t, kind.Unavailable, kind.Of(err), "%v", err)
	assert.EqualValues(t, 2097152, volSize(), "the volume got its old size back")
}
