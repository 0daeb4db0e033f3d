package linkage

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/cdmi"
	"github.com/occicdmi/occicdmi/internal/database"
	"github.com/occicdmi/occicdmi/internal/kind"
	"github.com/occicdmi/occicdmi/occi"
)

// The cdmi.ExportHook side: a container gains or loses an OCCI export.

// maxExportPath is the size of linkage_exports.path.
const maxExportPath = 4096

// PrepareExport makes the container's volume, outside the transaction: the
// size is cdmi_assignedsize (DefaultSize without it), or the OCCI storage's
// when OCCI asked. Restating an export the container has changes nothing
// here (its permissions change at commit).
func (l *Linkage) PrepareExport(ctx context.Context, c cdmi.Container, e cdmi.OCCIExport) (cdmi.Undo, error) {
	if row, err := l.byContainer(ctx, nil, c.ObjectID); err == nil {
		return l.resizeForContainer(ctx, row, c)
	} else if kind.Of(err) != kind.NotFound {
		return nil, err
	}
	if len(c.Path) > maxExportPath {
		// linkage_exports.path keeps 4096 (migrations/0004_linkage.go):
		// refused here, the same on SQLite and PostgreSQL.
		return nil, kind.Errorf(kind.Invalid, "a container exported to OCCI needs a path of at most %d bytes; this one has %d", maxExportPath, len(c.Path))
	}
	size := c.AssignedSize
	if f, ok := originOCCI(ctx); ok {
		size = f.size
	}
	if size <= 0 {
		size = DefaultSize
	}
	err := l.makeVolume(ctx, c.ObjectID, func() error { return l.cfg.Volumes.CreateVolume(ctx, c.ObjectID, size) })
	if err != nil {
		return nil, fmt.Errorf("create the volume of %s: %w", c.Path, err)
	}
	return func(ctx context.Context) error {
		if err := l.cfg.Volumes.DeleteVolume(ctx, c.ObjectID); err != nil {
			return err
		}
		return l.forgetPending(ctx, nil, c.ObjectID)
	}, nil
}

// CommitExport records the export and, for a container made in CDMI, its
// OCCI storage (whose id is the container's objectID), in the container's
// transaction.
func (l *Linkage) CommitExport(ctx context.Context, tx *gorm.DB, c cdmi.Container, e cdmi.OCCIExport) error {
	if old, err := l.byContainer(ctx, tx, c.ObjectID); err == nil {
		old.Permissions = encodePermissions(e.Permissions)
		if err := database.Classify(l.db(ctx, tx).Model(old).Update("permissions", old.Permissions).Error); err != nil {
			return err
		}
		return l.resizeStorage(ctx, tx, old, c)
	}
	row := &export{ContainerID: c.ObjectID, StorageID: c.ObjectID, Path: c.Path, Protocol: e.Protocol,
		Volume: c.ObjectID, Permissions: encodePermissions(e.Permissions), Origin: originOfCDMI}
	f, fromOCCISide := originOCCI(ctx)
	if fromOCCISide {
		row.StorageID, row.Origin = f.storage, originOfOCCI
	}
	if err := l.db(ctx, tx).Create(row).Error; err != nil {
		return database.Classify(err)
	}
	if err := l.forgetPending(ctx, tx, row.Volume); err != nil {
		return err
	}
	if fromOCCISide {
		return nil
	}
	return l.createStorage(ctx, tx, c)
}

// createStorage makes the OCCI storage of a container exported in CDMI.
func (l *Linkage) createStorage(ctx context.Context, tx *gorm.DB, c cdmi.Container) error {
	size := c.AssignedSize
	if size <= 0 {
		size = DefaultSize
	}
	octx := occi.WithTx(withFromCDMI(asAdmin(ctx), fromCDMI{objectID: c.ObjectID, path: c.Path}), tx)
	_, err := l.occi.Create(octx, occi.KindStorage, []occi.EntityInput{{
		ID:     c.ObjectID,
		Mixins: []string{MixinCDMI},
		Attrs: map[string]any{
			occi.AttrTitle:      c.Name,
			"occi.storage.size": float64(size) / (1 << 30),
		},
	}})
	if err != nil {
		occi.Undo(octx)
		return fmt.Errorf("create the OCCI storage of %s: %w", c.Path, err)
	}
	return nil
}

// PrepareUnexport refuses to take away a volume a compute has attached
// (Conflict): the storagelink goes first.
func (l *Linkage) PrepareUnexport(ctx context.Context, c cdmi.Container, e cdmi.OCCIExport) (cdmi.Undo, error) {
	row, err := l.byContainer(ctx, nil, c.ObjectID)
	if kind.Of(err) == kind.NotFound {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if _, ok := originOCCI(ctx); ok {
		return nil, nil // OCCI checked its links itself
	}
	links, err := l.linksTo(ctx, row.StorageID)
	if err != nil {
		return nil, err
	}
	if len(links) > 0 {
		return nil, kind.Errorf(kind.Conflict, "%s is attached to %s by the storagelink %s: delete the storagelink first",
			c.Path, links[0].Source, links[0].Location)
	}
	return nil, nil
}

// CommitUnexport forgets the export, deletes the OCCI storage (unless OCCI
// is deleting it) and the volume. The volume's deletion cannot be undone:
// it comes last, after everything that can fail in the transaction.
func (l *Linkage) CommitUnexport(ctx context.Context, tx *gorm.DB, c cdmi.Container, e cdmi.OCCIExport) error {
	row, err := l.byContainer(ctx, tx, c.ObjectID)
	if kind.Of(err) == kind.NotFound {
		return nil
	} else if err != nil {
		return err
	}
	if err := database.Classify(l.db(ctx, tx).Delete(row).Error); err != nil {
		return err
	}
	if _, ok := originOCCI(ctx); !ok {
		octx := occi.WithTx(withFromCDMI(asAdmin(ctx), fromCDMI{objectID: c.ObjectID, path: c.Path}), tx)
		if err := l.occi.Delete(octx, storageLocation(row.StorageID)); err != nil && kind.Of(err) != kind.NotFound {
			return fmt.Errorf("delete the OCCI storage of %s: %w", c.Path, err)
		}
	}
	l.unexportNBD(row.ContainerID)
	if err := l.cfg.Volumes.DeleteVolume(ctx, row.Volume); err != nil && kind.Of(err) != kind.NotFound {
		return fmt.Errorf("delete the volume of %s: %w", c.Path, err)
	}
	return nil
}

// linksTo lists the storagelinks whose target is the storage.
func (l *Linkage) linksTo(ctx context.Context, storageID string) ([]*occi.Entity, error) {
	got, err := l.occi.List(asAdmin(ctx), occi.Query{Collection: occi.KindStorageLink,
		Attrs: map[string]any{"occi.core.target": storageLocation(storageID)}, Entities: true})
	if err != nil {
		return nil, err
	}
	return got.Entities, nil
}

func storageLocation(id string) string { return "/storage/" + id }

// OCCILocation is the OCCI storage a container's export is
// (cdmi.ExportLocator): "" when the container has no export row (yet).
func (l *Linkage) OCCILocation(ctx context.Context, containerID string) (string, error) {
	row, err := l.byContainer(ctx, nil, containerID)
	if kind.Of(err) == kind.NotFound {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return storageLocation(row.StorageID), nil
}

// OCCIAttached lists the computes a container's volume is linked to, for
// the export of an OCCI-first storage without a permissions list of its
// own (cdmi.ExportLocator): there, ownership decides who attaches, and the
// export shows who has (each compute once).
func (l *Linkage) OCCIAttached(ctx context.Context, containerID string) ([]string, bool, error) {
	row, err := l.byContainer(ctx, nil, containerID)
	if kind.Of(err) == kind.NotFound {
		return nil, false, nil
	}
	if err != nil || row.Origin != originOfOCCI || row.permissions() != nil {
		return nil, false, err
	}
	links, err := l.linksTo(ctx, row.StorageID)
	if err != nil {
		return nil, false, err
	}
	computes := make([]string, 0, len(links))
	for _, link := range links {
		if !slices.Contains(computes, link.Source) {
			computes = append(computes, link.Source)
		}
	}
	return computes, true, nil
}

func sizeString(n int64) string { return strconv.FormatInt(n, 10) }

// resizeForContainer gives the volume the container's new
// cdmi_assignedsize (prepare phase; the undo gives the old size back).
func (l *Linkage) resizeForContainer(ctx context.Context, row *export, c cdmi.Container) (cdmi.Undo, error) {
	if _, ok := originOCCI(ctx); ok || c.AssignedSize <= 0 {
		return nil, nil
	}
	was, err := l.cfg.Volumes.VolumeSize(ctx, row.Volume)
	if err != nil {
		return nil, fmt.Errorf("read the size of %s's volume: %w", c.Path, err)
	}
	if was == c.AssignedSize {
		return nil, nil
	}
	if err := l.resizeVolume(ctx, row, c.AssignedSize); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error { return l.cfg.Volumes.ResizeVolume(ctx, row.Volume, was) }, nil
}

// resizeStorage records the container's size on its OCCI storage
// (occi.storage.size, GiB), in the container's transaction.
func (l *Linkage) resizeStorage(ctx context.Context, tx *gorm.DB, row *export, c cdmi.Container) error {
	if _, ok := originOCCI(ctx); ok || c.AssignedSize <= 0 {
		return nil
	}
	octx := occi.WithTx(withFromCDMI(asAdmin(ctx), fromCDMI{objectID: c.ObjectID, path: c.Path}), tx)
	_, err := l.occi.Update(octx, storageLocation(row.StorageID), occi.EntityInput{
		Attrs: map[string]any{"occi.storage.size": float64(c.AssignedSize) / (1 << 30)}})
	if err != nil {
		return fmt.Errorf("resize the OCCI storage of %s: %w", c.Path, err)
	}
	return nil
}
