package linkage

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/cdmi"
	"github.com/occicdmi/occicdmi/internal/database"
	"github.com/occicdmi/occicdmi/internal/kind"
)

// pendingVolume is a row of linkage_pending_volumes: a volume the linkage
// is making. It is committed before the volume is made and deleted in the
// transaction that records the export or snapshot naming the volume (or
// by the undo when that fails), so a row older than sweepAge is a crash's
// leftover.
type pendingVolume struct {
	Volume    string `gorm:"primaryKey"`
	CreatedAt time.Time
}

func (pendingVolume) TableName() string { return "linkage_pending_volumes" }

// makeVolume journals the volume name, then runs build (which makes it);
// when build fails the journal row goes again.
func (l *Linkage) makeVolume(ctx context.Context, name string, build func() error) error {
	if err := l.cfg.DB.WithContext(ctx).Create(&pendingVolume{Volume: name}).Error; err != nil {
		return database.Classify(err)
	}
	if err := build(); err != nil {
		l.forgetPending(context.WithoutCancel(ctx), nil, name)
		return err
	}
	return nil
}

// forgetPending deletes the journal row of a volume: in tx when given (the
// volume is now named by a row committed with it), else at once.
func (l *Linkage) forgetPending(ctx context.Context, tx *gorm.DB, name string) error {
	return database.Classify(l.db(ctx, tx).Delete(&pendingVolume{Volume: name}).Error)
}

// sweepBatch is how many volume names one database query checks.
const sweepBatch = 500

// sweepVolumes removes the volumes a crash left half made: journaled
// (makeVolume) more than sweepAge ago (younger ones may be another
// server's create under way on the same database) and named by no export
// or snapshot. Then it reports, without removing them, the volumes of the
// backend named like the linkage's (CDMI object IDs) that nothing here
// knows: another deployment's on a shared pool or bucket, or left by a
// version without the journal.
func (l *Linkage) sweepVolumes(ctx context.Context) error {
	var pending []string
	err := l.cfg.DB.WithContext(ctx).Model(&pendingVolume{}).Where("created_at < ?", time.Now().Add(-sweepAge)).
		Pluck("volume", &pending).Error
	if err != nil {
		return fmt.Errorf("linkage: sweep the volumes: %w", database.Classify(err))
	}
	for start := 0; start < len(pending); start += sweepBatch {
		if err := l.removeUnnamed(ctx, pending[start:min(start+sweepBatch, len(pending))]); err != nil {
			return fmt.Errorf("linkage: sweep the volumes: %w", err)
		}
	}
	return l.reportUnknown(ctx)
}

// named are those of names that an export or snapshot row names (and, with
// journal, that a pending row does).
func (l *Linkage) named(ctx context.Context, names []string, journal bool) (map[string]bool, error) {
	tables := []string{"linkage_exports", "linkage_snapshots"}
	if journal {
		tables = append(tables, "linkage_pending_volumes")
	}
	out := map[string]bool{}
	for _, table := range tables {
		var got []string
		if err := l.cfg.DB.WithContext(ctx).Table(table).Where("volume IN ?", names).Pluck("volume", &got).Error; err != nil {
			return nil, database.Classify(err)
		}
		for _, n := range got {
			out[n] = true
		}
	}
	return out, nil
}

// removeUnnamed deletes the journaled volumes among names that no export
// or snapshot row names, and their journal rows.
func (l *Linkage) removeUnnamed(ctx context.Context, names []string) error {
	named, err := l.named(ctx, names, false)
	if err != nil {
		return err
	}
	for _, n := range names {
		if !named[n] {
			l.log.Warn("removing a volume whose export or snapshot never committed (a crash)", "volume", n)
			if err := l.cfg.Volumes.DeleteVolume(ctx, n); err != nil && kind.Of(err) != kind.NotFound {
				return fmt.Errorf("delete the volume %s: %w", n, err)
			}
		}
		if err := l.forgetPending(ctx, nil, n); err != nil {
			return err
		}
	}
	return nil
}

// reportUnknown logs the volumes older than sweepAge, named by object IDs,
// that no row here names.
func (l *Linkage) reportUnknown(ctx context.Context) error {
	cutoff := time.Now().Add(-sweepAge)
	var batch []string
	check := func() error {
		named, err := l.named(ctx, batch, true)
		for _, n := range batch {
			if err == nil && !named[n] {
				l.log.Warn("a volume named like this server's is unknown to its database; not removed (another deployment's on a shared pool or bucket?)", "volume", n)
			}
		}
		batch = batch[:0]
		return err
	}
	err := l.cfg.Volumes.ListVolumes(ctx, func(name string, made time.Time) error {
		if !made.Before(cutoff) || !cdmi.IsObjectID(name) {
			return nil
		}
		if batch = append(batch, name); len(batch) < sweepBatch {
			return nil
		}
		return check()
	})
	if err == nil && len(batch) > 0 {
		err = check()
	}
	if err != nil {
		return fmt.Errorf("linkage: list the volumes: %w", err)
	}
	return nil
}
