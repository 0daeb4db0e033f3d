package linkage

import (
	"context"
	"fmt"
)

// A volume attached to a compute that is not stopped keeps its size.
// What the guest would see of a new size depends on the transport, and
// neither gets it there today:
//   - NBD: the size is part of the NBD handshake (proto.md, NBD_OPT_GO's
//     NBD_INFO_EXPORT), and QEMU's NBD client has no way to learn a new
//     one without reconnecting (block/nbd.c: "Cannot grow NBD nodes");
//   - RBD: QEMU would need a block resize (libvirt's
//     virDomainBlockResize), which the compute contract does not offer.
//
// So a resize (occi.storage.size, OCCI's resize action, the container's
// cdmi_assignedsize) of a volume a running, suspended or failed compute
// links is refused with 409 naming the storagelink; stopped computes see
// the new size at their next start.
const resizeAdvice = "stop the compute (it sees the new size at its next start) or delete the storagelink before resizing the storage"

// refuseLiveResize refuses to change the size of the export's volume
// while a compute that is not stopped links it. A size it has already is
// no change.
func (l *Linkage) refuseLiveResize(ctx context.Context, row *export, size int64) error {
	was, err := l.cfg.Volumes.VolumeSize(ctx, row.Volume)
	if err != nil {
		return fmt.Errorf("read the size of %s's volume: %w", row.Path, err)
	}
	if was == size {
		return nil
	}
	links, err := l.linksTo(ctx, row.StorageID)
	if err != nil {
		return err
	}
	return l.refuseInUse(ctx, row.StorageID, links, resizeAdvice)
}
