package app

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/internal/kind"
	"github.com/occicdmi/occicdmi/occi"
	"github.com/occicdmi/occicdmi/storagebackends"
)

// fakeVolumes records the names it is asked for.
type fakeVolumes struct {
	storagebackends.Volumes
	created []string
	err     error
}

func (f *fakeVolumes) CreateVolume(_ context.Context, name string, _ int64) error {
	f.created = append(f.created, name)
	return f.err
}

func (f *fakeVolumes) Access(_ context.Context, name string) (storagebackends.VolumeAccess, error) {
	return storagebackends.VolumeAccess{Type: "rbd", Pool: "occi", Image: name, Monitors: []string{"mon:6789"}, User: "admin"}, f.err
}

// OCCI's own volumes are named occi-storage-<id>; the access description
// becomes the compute backend's volume source; kinds pass through.
func TestOCCIVolumesAdapter(t *testing.T) {
	assert.Nil(t, occiVolumes(nil))
	f := &fakeVolumes{}
	v := occiVolumes(f)
	ctx := context.Background()
	_, err := v.Create(ctx, "abc", 1<<30)
	require.NoError(t, err)
	assert.Equal(t, []string{"occi-storage-abc"}, f.created)
	src, err := v.Attachment(ctx, occi.StorageLink{Storage: "abc", DeviceID: "abc"})
	require.NoError(t, err)
	assert.Equal(t, "rbd", src.Type)
	assert.Equal(t, "occi-storage-abc", src.Image)
	assert.Equal(t, []string{"mon:6789"}, src.Monitors)

	f.err = fmt.Errorf("rbd: %w", storagebackends.ErrUnavailable)
	_, err = v.Create(ctx, "def", 1)
	assert.Equal(t, kind.Unavailable, kind.Of(err))
	_, err = v.Attachment(ctx, occi.StorageLink{Storage: "def"})
	assert.Equal(t, kind.Unavailable, kind.Of(err))
}
