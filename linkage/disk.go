package linkage

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/occicdmi/occicdmi/cdmi"
	"github.com/occicdmi/occicdmi/internal/kind"
	"github.com/occicdmi/occicdmi/storagebackends"
)

// The cdmi.Disks side: the volume of a container exported to OCCI is the
// data object cdmi.DiskName inside it, read and written in place.

// Disk is the volume behind the container with objectID containerID; ok
// is false when the container is not exported to OCCI.
func (l *Linkage) Disk(ctx context.Context, containerID string) (cdmi.Disk, bool, error) {
	row, err := l.byContainer(ctx, nil, containerID)
	if kind.Of(err) == kind.NotFound {
		return l.snapshotDisk(ctx, containerID)
	}
	if err != nil {
		return nil, false, err
	}
	return volumeDisk{vols: l.cfg.Volumes, name: row.Volume}, true, nil
}

// volumeDisk is one volume of the backend, as a cdmi.Disk. Errors keep
// the backend's kinds (an unreachable backend answers 503).
type volumeDisk struct {
	vols storagebackends.Volumes
	name string
}

func (d volumeDisk) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	n, err := d.vols.ReadAt(ctx, d.name, p, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return n, fmt.Errorf("read the volume %s: %w", d.name, err)
	}
	return n, err // io.EOF as io.ReaderAt's
}

func (d volumeDisk) WriteAt(ctx context.Context, p []byte, off int64) (int, error) {
	n, err := d.vols.WriteAt(ctx, d.name, p, off)
	if err != nil {
		return n, fmt.Errorf("write the volume %s: %w", d.name, err)
	}
	return n, nil
}

func (d volumeDisk) Size(ctx context.Context) (int64, error) {
	n, err := d.vols.VolumeSize(ctx, d.name)
	if err != nil {
		return 0, fmt.Errorf("the size of the volume %s: %w", d.name, err)
	}
	return n, nil
}
