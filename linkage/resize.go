package linkage

import (
	"context"
	"fmt"

	"github.com/occicdmi/occicdmi/internal/kind"
)

// Resizing a volume a compute links. A stopped compute sees the new size
// at its next start. A running one sees it only where the transport can
// carry it:
//   - RBD, growing: the volume is resized, then the compute backend tells
//     QEMU (cb.DiskResizer; libvirt's virDomainBlockResize), and the guest
//     gets a capacity change;
//   - NBD: the size is part of the NBD handshake (proto.md, NBD_OPT_GO's
//     NBD_INFO_EXPORT), and QEMU's NBD client cannot learn a new one
//     without reconnecting (block/nbd.c: "Cannot grow NBD nodes");
//   - shrinking under a running guest would cut its file systems short.
//
// Where it cannot, the resize (occi.storage.size, OCCI's resize action,
// the container's cdmi_assignedsize) is refused with 409 naming the
// storagelink and changes nothing; suspended or failed computes, which
// QEMU may still hold, are refused the same.

// liveDisk is a running compute's attachment of the volume being resized.
type liveDisk struct{ machine, link string }

// liveDisks are the running computes a resize of the export's volume to
// size must tell; a Conflict when one cannot follow. A size the volume
// has already is no resize.
func (l *Linkage) liveDisks(ctx context.Context, row *export, size int64) ([]liveDisk, error) {
	was, err := l.cfg.Volumes.VolumeSize(ctx, row.Volume)
	if err != nil {
		return nil, fmt.Errorf("read the size of %s's volume: %w", row.Path, err)
	}
	if was == size {
		return nil, nil
	}
	links, err := l.linksTo(ctx, row.StorageID)
	if err != nil {
		return nil, err
	}
	var out []liveDisk
	for _, link := range links {
		vm, err := l.occi.Get(asAdmin(ctx), link.Source)
		if kind.Of(err) == kind.NotFound {
			continue
		} else if err != nil {
			return nil, err
		}
		st, _ := vm.Attrs["occi.compute.state"].(string)
		if st == "inactive" {
			continue
		}
		if why := l.cannotFollow(row, st, was, size); why != "" {
			return nil, kind.Errorf(kind.Conflict, "%s is in use by the compute %s (%s; storagelink %s): %s; stop the compute (it sees the new size at its next start) or delete the storagelink before resizing the storage",
				storageLocation(row.StorageID), link.Source, st, link.Location, why)
		}
		out = append(out, liveDisk{machine: vm.ID, link: link.ID})
	}
	return out, nil
}

// cannotFollow says why a compute in state st cannot be given the new
// size while it runs ("" when it can).
func (l *Linkage) cannotFollow(row *export, st string, was, size int64) string {
	switch {
	case st != "active":
		return "a compute that is not running or stopped may still hold the disk"
	case size < was:
		return "a disk is not shrunk under a running guest"
	case row.Protocol == "NBD":
		return "over OCCI/NBD a running guest cannot see a new size (QEMU's NBD client learns it at connect)"
	case row.Protocol != "RBD" || l.cfg.DiskResizer == nil:
		return "this compute backend cannot give a running guest a new disk size"
	}
	return ""
}

// resizeVolume gives the export's volume size bytes and tells the running
// computes that link it; if one cannot be told, the volume gets its old
// size back.
func (l *Linkage) resizeVolume(ctx context.Context, row *export, size int64) error {
	live, err := l.liveDisks(ctx, row, size)
	if err != nil {
		return err
	}
	was, err := l.cfg.Volumes.VolumeSize(ctx, row.Volume)
	if err != nil {
		return fmt.Errorf("read the size of %s's volume: %w", row.Path, err)
	}
	if err := l.cfg.Volumes.ResizeVolume(ctx, row.Volume, size); err != nil {
		return fmt.Errorf("resize the volume of %s: %w", row.Path, err)
	}
	for _, d := range live {
		err := l.cfg.DiskResizer.ResizeDisk(ctx, d.machine, d.link, size)
		if err != nil {
			if berr := l.cfg.Volumes.ResizeVolume(context.WithoutCancel(ctx), row.Volume, was); berr != nil {
				l.log.Warn("linkage: give a volume its size back", "volume", row.Volume, "err", berr)
			}
			return fmt.Errorf("give the compute %s the new size of %s's volume: %w", d.machine, row.Path, err)
		}
	}
	return nil
}
