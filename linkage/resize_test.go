package linkage

import (
	"context"
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
