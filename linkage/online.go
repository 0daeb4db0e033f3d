package linkage

import (
	"context"

	"github.com/occicdmi/occicdmi/internal/database"
	"github.com/occicdmi/occicdmi/internal/kind"
	"github.com/occicdmi/occicdmi/occi"
)

// The occi.Availability side: OCCI's online and offline actions (OCCI 1.2
// Infrastructure 3.3, Table 8, and its state diagram: offline <-> online)
// on a storage that is a CDMI container.
//
// What a user can expect:
//   - a storage starts online: its volume exists and can be attached at
//     once (so clients that never send "online" keep working);
//   - offline takes the volume out of use by computes: it is refused (409)
//     while a compute that is not stopped (running, suspended, in error)
//     has the volume attached (pulling a disk from
//     under a running guest loses its writes: stop the compute or delete
//     the storagelink first); otherwise the NBD export stops being served,
//     and starting a compute that links the storage, or hot-plugging it,
//     is refused (409) until the storage is online again. A storagelink
//     may still be created to a stopped compute (as CDMI 13.1 lets a link
//     come before its permission); it attaches when the storage is online
//     and the compute starts;
//   - the CDMI side stays usable while offline: the container's disk data
//     object reads and writes the volume (offline is when a CDMI client
//     can safely fill or copy a disk no guest is using);
//   - online makes the volume attachable again, and serves its NBD export
//     again when a storagelink to it exists.

// SetOnline brings the storage's volume online or takes it offline.
func (l *Linkage) SetOnline(ctx context.Context, storage string, online bool) error {
	row, err := l.byStorage(ctx, nil, storage)
	if err != nil {
		return err
	}
	links, err := l.linksTo(ctx, row.StorageID)
	if err != nil {
		return err
	}
	if !online {
		if err := l.refuseInUse(ctx, storage, links, "stop the compute or delete the storagelink before taking the storage offline"); err != nil {
			return err
		}
	}
	if err := database.Classify(l.db(ctx, nil).Model(row).Update("offline", !online).Error); err != nil {
		return err
	}
	row.Offline = !online
	if !online {
		l.unexportNBD(row.ContainerID)
		return nil
	}
	if row.Protocol == "NBD" && len(links) > 0 {
		_, err := l.exportNBD(row)
		return err
	}
	return nil
}

// refuseInUse refuses a change (taking the volume offline, resizing it)
// while a compute that is not stopped (running, suspended, or in error,
// where QEMU may still hold the disk) links it; advice says what to do.
func (l *Linkage) refuseInUse(ctx context.Context, storage string, links []*occi.Entity, advice string) error {
	for _, link := range links {
		vm, err := l.occi.Get(asAdmin(ctx), link.Source)
		if kind.Of(err) == kind.NotFound {
			continue
		} else if err != nil {
			return err
		}
		if st, _ := vm.Attrs["occi.compute.state"].(string); st != "inactive" {
			return kind.Errorf(kind.Conflict, "%s is in use by the compute %s (%s; storagelink %s): %s",
				storageLocation(storage), link.Source, st, link.Location, advice)
		}
	}
	return nil
}

// refuseOffline is the answer to an attach of an offline storage's volume.
func refuseOffline(row *export, link occi.StorageLink) error {
	if !row.Offline {
		return nil
	}
	return kind.Errorf(kind.Conflict, "%s (the CDMI container %s) is offline: invoke its online action before attaching it to %s",
		storageLocation(row.StorageID), row.Path, link.Compute)
}
