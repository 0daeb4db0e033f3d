package linkage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/cdmi"
	"github.com/occicdmi/occicdmi/internal/database"
	"github.com/occicdmi/occicdmi/internal/kind"
)

// The cdmi.Snapshots side: a snapshot of a container exported to OCCI
// (CDMI 1.1.1 clause 14) is a frozen copy of its volume. The volume
// backend snapshots the volume, then clones that snapshot into a volume of
// its own, named by the snapshot container's objectID: the contract has no
// read of a snapshot, and a clone outlives its source (a backup that goes
// with the volume it backs up would be none). On Ceph the clone shares the
// unchanged blocks; on fs and S3 it is a copy. OCCI's snapshot and backup
// actions take the same snapshots (see Snapshot in volumes.go).

// snapshot is one row of linkage_snapshots.
type snapshot struct {
	ContainerID string `gorm:"primaryKey"` // the snapshot's CDMI container
	SourceID    string // the exported container it was taken of
	Name        string
	Volume      string
	CreatedAt   time.Time
}

func (snapshot) TableName() string { return "linkage_snapshots" }

// TakeSnapshot freezes the volume of the container containerID as the
// volume of the snapshot snapshotID.
func (l *Linkage) TakeSnapshot(ctx context.Context, containerID, snapshotID string) (cdmi.Undo, error) {
	row, err := l.byContainer(ctx, nil, containerID)
	if err != nil {
		return nil, err
	}
	err = l.makeVolume(ctx, snapshotID, func() error {
		if err := l.cfg.Volumes.Snapshot(ctx, row.Volume, snapshotID); err != nil {
			return fmt.Errorf("snapshot the volume of %s: %w", row.Path, err)
		}
		if err := l.cfg.Volumes.Clone(ctx, row.Volume, snapshotID, snapshotID); err != nil {
			return fmt.Errorf("copy the snapshot of %s's volume: %w", row.Path, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	snap := &snapshot{ContainerID: snapshotID, SourceID: containerID, Volume: snapshotID}
	err = l.cfg.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(snap).Error; err != nil {
			return err
		}
		return l.forgetPending(ctx, tx, snapshotID)
	})
	if err != nil {
		_ = l.cfg.Volumes.DeleteVolume(context.WithoutCancel(ctx), snapshotID)
		_ = l.forgetPending(context.WithoutCancel(ctx), nil, snapshotID)
		return nil, database.Classify(err)
	}
	return func(ctx context.Context) error { return l.ForgetSnapshots(ctx, []string{snapshotID}) }, nil
}

// ForgetSnapshots deletes the frozen volumes of the snapshots among ids.
func (l *Linkage) ForgetSnapshots(ctx context.Context, ids []string) error {
	var errs []error
	for start := 0; start < len(ids); start += 500 {
		var rows []snapshot
		err := l.cfg.DB.WithContext(ctx).Where("container_id IN ?", ids[start:min(start+500, len(ids))]).Find(&rows).Error
		if err != nil {
			return database.Classify(err)
		}
		for _, r := range rows {
			if err := l.cfg.Volumes.DeleteVolume(ctx, r.Volume); err != nil && kind.Of(err) != kind.NotFound {
				errs = append(errs, fmt.Errorf("delete the snapshot volume %s: %w", r.Volume, err))
				continue
			}
			if err := l.cfg.DB.WithContext(ctx).Delete(&r).Error; err != nil {
				errs = append(errs, database.Classify(err))
			}
		}
	}
	return errors.Join(errs...)
}

// snapshotDisk is the frozen volume of the snapshot container id as a
// read-only cdmi.Disk; ok is false when id is no snapshot.
func (l *Linkage) snapshotDisk(ctx context.Context, id string) (cdmi.Disk, bool, error) {
	var s snapshot
	err := l.cfg.DB.WithContext(ctx).Where("container_id = ?", id).Take(&s).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, false, nil
	} else if err != nil {
		return nil, false, database.Classify(err)
	}
	return readOnlyDisk{volumeDisk{vols: l.cfg.Volumes, name: s.Volume}}, true, nil
}

// readOnlyDisk refuses writes: a snapshot is the volume as it was.
type readOnlyDisk struct{ volumeDisk }

func (readOnlyDisk) WriteAt(context.Context, []byte, int64) (int, error) {
	return 0, kind.New(kind.Conflict, "this disk is a snapshot (CDMI 1.1.1 clause 14), the volume as it was: it cannot be written; write the container's own disk")
}
