package app

import (
	"context"

	"github.com/occicdmi/occicdmi/computebackends"
	"github.com/occicdmi/occicdmi/occi"
	"github.com/occicdmi/occicdmi/storagebackends"
)

// storageVolumes gives OCCI storage volumes of its own on a storage
// backend: the volume of storage <id> is "occi-storage-<id>". Errors pass
// through with their kinds (a backend that is down answers 503).
type storageVolumes struct {
	v storagebackends.Volumes
}

// occiVolumes is the occi.Volumes over v; nil when no volume backend is
// configured (OCCI storage then has no volume behind it).
func occiVolumes(v storagebackends.Volumes) occi.Volumes {
	if v == nil {
		return nil
	}
	return storageVolumes{v}
}

func volumeName(storage string) string { return "occi-storage-" + storage }

func (s storageVolumes) Create(ctx context.Context, storage string, size int64) (map[string]any, error) {
	return nil, s.v.CreateVolume(ctx, volumeName(storage), size)
}

// Authorize lets every compute attach OCCI's own volumes (ownership
// decides; there is one owner until authentication exists).
func (s storageVolumes) Authorize(context.Context, occi.StorageLink) error { return nil }

// Detached has nothing to release: a hypervisor opens the volume itself.
func (s storageVolumes) Detached(context.Context, occi.StorageLink) error { return nil }

func (s storageVolumes) Resize(ctx context.Context, storage string, size int64) error {
	return s.v.ResizeVolume(ctx, volumeName(storage), size)
}

func (s storageVolumes) Snapshot(ctx context.Context, storage, snapshot string) error {
	return s.v.Snapshot(ctx, volumeName(storage), snapshot)
}

func (s storageVolumes) Delete(ctx context.Context, storage string) error {
	return s.v.DeleteVolume(ctx, volumeName(storage))
}

// Attachment describes the volume for the hypervisor; OCCI's own volumes
// do not depend on the storagelink's deviceID.
func (s storageVolumes) Attachment(ctx context.Context, l occi.StorageLink) (computebackends.VolumeSource, error) {
	acc, err := s.v.Access(ctx, volumeName(l.Storage))
	if err != nil {
		return computebackends.VolumeSource{}, err
	}
	return computebackends.VolumeSource{Type: acc.Type, Path: acc.Path, Format: acc.Format, Pool: acc.Pool,
		Image: acc.Image, Monitors: acc.Monitors, User: acc.User, ConfigFile: acc.ConfigFile}, nil
}
