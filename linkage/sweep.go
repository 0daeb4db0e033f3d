package linkage

import (
	"context"
	"fmt"
	"time"

	"github.com/occicdmi/occicdmi/cdmi"
	"github.com/occicdmi/occicdmi/internal/database"
	"github.com/occicdmi/occicdmi/internal/kind"
)

// sweepBatch is how many volume names one database query checks.
const sweepBatch = 500

// sweepVolumes removes the volumes a crash left without a row: made by a
// PrepareExport whose container never committed, or by a TakeSnapshot
// whose snapshot row never did (and so no linkage_exports or
// linkage_snapshots row names them). Only volumes older than sweepAge go,
// so a create still under way in another server on the same database
// keeps its volume; only names that are CDMI object IDs (the names the
// linkage gives) are considered, so another program's volumes on a shared
// pool or bucket are left alone.
func (l *Linkage) sweepVolumes(ctx context.Context) error {
	cutoff := time.Now().Add(-sweepAge)
	var batch []string
	err := l.cfg.Volumes.ListVolumes(ctx, func(name string, made time.Time) error {
		if !made.Before(cutoff) || !cdmi.IsObjectID(name) {
			return nil
		}
		batch = append(batch, name)
		if len(batch) < sweepBatch {
			return nil
		}
		err := l.removeUnnamed(ctx, batch)
		batch = batch[:0]
		return err
	})
	if err == nil && len(batch) > 0 {
		err = l.removeUnnamed(ctx, batch)
	}
	if err != nil {
		return fmt.Errorf("linkage: sweep the volumes: %w", err)
	}
	return nil
}

// removeUnnamed deletes the volumes among names that no export or
// snapshot row names.
func (l *Linkage) removeUnnamed(ctx context.Context, names []string) error {
	named := map[string]bool{}
	for _, table := range []string{"linkage_exports", "linkage_snapshots"} {
		var got []string
		if err := l.cfg.DB.WithContext(ctx).Table(table).Where("volume IN ?", names).Pluck("volume", &got).Error; err != nil {
			return database.Classify(err)
		}
		for _, n := range got {
			named[n] = true
		}
	}
	for _, n := range names {
		if named[n] {
			continue
		}
		l.log.Warn("removing a volume no container or snapshot names (left by a crash)", "volume", n)
		if err := l.cfg.Volumes.DeleteVolume(ctx, n); err != nil && kind.Of(err) != kind.NotFound {
			return fmt.Errorf("delete the volume %s: %w", n, err)
		}
	}
	return nil
}
