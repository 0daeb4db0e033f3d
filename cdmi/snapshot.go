package cdmi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"net/http"
	"net/url"

	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/internal/database"
	"github.com/occicdmi/occicdmi/internal/kind"
)

// Snapshots of containers exported to OCCI (CDMI 1.1.1 clause 14, and the
// container update's "snapshot" field, §9.6 Table 53). A snapshot is a
// point-in-time copy of the container and its contents; here the contents
// are the container's disk (the volume, see disk.go), so snapshots are
// offered only where a volume is behind the container: its
// capabilitiesURI is /cdmi_capabilities/container/occi/, which grants
// cdmi_snapshot, and the system capabilities say cdmi_snapshots.
//
//   - PUT {"snapshot": "<name>"} on such a container freezes the volume and
//     answers only when the snapshot is in place; the snapshot is the
//     container <container>/cdmi_snapshots/<name>/ (the first snapshot
//     makes cdmi_snapshots/), holding the data object DiskName whose value
//     is the volume's bytes at that time: read it like the disk (ranges
//     welcome); it cannot be written (409). A snapshot with the same name
//     is replaced. The update carries the snapshot field alone (400
//     otherwise: nothing else is changed half way).
//   - the container's other contents (data objects, queues with their
//     values, subcontainers, all below; clause 14: "a container and all
//     of its contents") are copied into the snapshot container as they
//     are at that time, with their metadata (ACLs included) and owners,
//     values duplicated in the backend; those copies are ordinary
//     objects. A subcontainer with an OCCI export of its own is copied
//     without its disk and snapshots, as a container copy is (§9.2.5:
//     exports are not copied).
//   - deleting a snapshot's container deletes the frozen copy; deleting
//     the source container deletes its snapshots with it (§9.7).
//   - the container's read shows the snapshots' URIs ("snapshots").

// SnapshotsName is the child container that holds a container's snapshots.
const SnapshotsName = "cdmi_snapshots"

// occiCapabilities is the name of the capability object (below the
// container capabilities) of containers exported to OCCI.
const occiCapabilities = "occi"

// Snapshots freezes volumes behind containers exported to OCCI; the
// linkage layer implements it. A snapshot is named by the objectID its
// CDMI container gets; Disks.Disk answers for that objectID with the
// frozen copy (read-only: its WriteAt fails with kind.Conflict).
type Snapshots interface {
	// TakeSnapshot freezes the volume behind the container containerID
	// as the snapshot snapshotID, before the transaction that records
	// it; the Undo removes it when that transaction fails.
	TakeSnapshot(ctx context.Context, containerID, snapshotID string) (Undo, error)
	// ForgetSnapshots removes the frozen copies of those of ids that are
	// snapshots, after their containers were deleted.
	ForgetSnapshots(ctx context.Context, ids []string) error
}

// Snapshot takes the snapshot name of the container at path (clause 14).
func (s *Service) Snapshot(ctx context.Context, who Principal, path, name string) error {
	if err := checkSnapshotName(name); err != nil {
		return err
	}
	t, err := s.existing(ctx, path, typeContainer)
	if err != nil {
		return err
	}
	c := t.obj
	if s.cfg.Snapshots == nil || s.cfg.Disks == nil || !hasOCCIExport(c) {
		return invalidf("snapshot: %s has no snapshot capability: cdmi_snapshot is granted to containers exported to OCCI only (capabilitiesURI %s/cdmi_capabilities/container/%s/)",
			path, s.root, occiCapabilities)
	}
	if err := s.allowed(who, c, maskAppend); err != nil {
		return err
	}
	id, err := newObjectID(s.cfg.EnterpriseNumber)
	if err != nil {
		return err
	}
	undo, err := s.cfg.Snapshots.TakeSnapshot(ctx, c.ObjectID, id)
	if err != nil {
		return fmt.Errorf("snapshot %s of %s: %w", name, path, err)
	}
	var replaced []string
	batch := newBatchID()
	contents, err := s.copyContents(ctx, who, c, id)
	if err == nil {
		var size int64
		if size, err = s.snapshotSize(ctx, id); err == nil {
			err = s.inTx(ctx, func(tx *gorm.DB) error {
				var err error
				replaced, err = s.recordSnapshot(ctx, tx, c, id, name, size, contents, batch)
				return err
			})
		}
	}
	if err != nil {
		if contents != nil {
			s.deleteKeys(ctx, contents.newKeys)
		}
		if undo != nil {
			if uerr := undo(context.WithoutCancel(ctx)); uerr != nil {
				s.log.Warn("cdmi: undo a snapshot", "snapshot", id, "err", uerr)
			}
		}
		return err
	}
	s.deleteJournaled(context.WithoutCancel(ctx), batch)
	s.forgetSnapshots(ctx, replaced)
	return nil
}

// checkSnapshotName refuses a name that is no single path segment
// (Table 53: "the final component of the absolute URL").
func checkSnapshotName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/?#") || !utf8.ValidString(name) || len(name) > 255 {
		return invalidf("snapshot: %q is no snapshot name: give the last path segment of the snapshot's URI (at most 255 bytes, no '/', '?' or '#')", name)
	}
	return nil
}

// copyContents copies what c holds besides its disk and snapshots (what
// who may read of it) for the snapshot container snapID: the rows, made
// with fresh objectIDs below snapID (not written yet), and the values,
// duplicated in the backend (deleted unless the rows commit). The rows
// keep their owners: a snapshot is the container as it was.
func (s *Service) copyContents(ctx context.Context, who Principal, c *object, snapID string) (*containerCopy, error) {
	all, err := s.subtree(ctx, s.db, c.ObjectID)
	if err != nil {
		return nil, err
	}
	all = s.readableSubtree(who, all, c.ObjectID)
	cp := &containerCopy{s: s, who: who, src: c, t: &target{parent: c, name: SnapshotsName}}
	if err := cp.chooseIDs(all); err != nil {
		return nil, err
	}
	cp.ids[c.ObjectID] = snapID // c's copy is the snapshot container (recordSnapshot)
	err = cp.copyObjects(ctx, all)
	if err == nil {
		err = cp.copyQueueValues(ctx, all)
	}
	if err != nil {
		s.deleteKeys(ctx, cp.newKeys)
		return nil, err
	}
	owner := make(map[string]string, len(all))
	for i := range all {
		owner[cp.ids[all[i].ObjectID]] = all[i].Owner
	}
	rows := cp.rows[:0]
	for _, r := range cp.rows {
		if r.ObjectID != snapID {
			r.Owner = owner[r.ObjectID]
			rows = append(rows, r)
		}
	}
	cp.rows = rows
	return cp, nil
}

// recordSnapshot writes the rows of snapshot id of c in tx: cdmi_snapshots/
// (made on the first snapshot), the snapshot's container (with c's
// metadata), its disk and the copies of c's other contents. A snapshot of
// that name is deleted; the ids of its subtree and the value keys its
// rows held are journaled under batch (to remove once tx commits,
// deleteJournaled).
func (s *Service) recordSnapshot(ctx context.Context, tx *gorm.DB, c *object, id, name string, size int64, contents *containerCopy, batch string) (replaced []string, err error) {
	if err := s.lockParent(ctx, tx, c); err != nil {
		return nil, err
	}
	dir, err := s.snapshotsDir(ctx, tx, c)
	if err != nil {
		return nil, err
	}
	if old, err := s.child(ctx, tx, dir.ObjectID, name); err == nil {
		all, err := s.subtree(ctx, tx, old.ObjectID)
		if err != nil {
			return nil, err
		}
		if err := s.deleteRows(ctx, tx, old, nil, batch); err != nil {
			return nil, err
		}
		for i := range all {
			replaced = append(replaced, all[i].ObjectID)
		}
	} else if !errors.Is(err, errNotFound) {
		return nil, err
	}
	if err := s.createSnapshotRows(ctx, tx, c, dir, id, name, size); err != nil {
		return nil, err
	}
	if len(contents.rows) > 0 {
		if err := tx.CreateInBatches(contents.rows, 100).Error; err != nil {
			return nil, err
		}
	}
	if len(contents.qvals) > 0 {
		if err := tx.Create(&contents.qvals).Error; err != nil {
			return nil, err
		}
	}
	return replaced, nil
}

// createSnapshotRows inserts the snapshot container id (in dir) and its
// disk, the frozen volume of size bytes.
func (s *Service) createSnapshotRows(ctx context.Context, tx *gorm.DB, c, dir *object, id, name string, size int64) error {
	now := time.Now().UTC()
	snap := object{ObjectID: id, ParentID: dir.ObjectID, Name: name, Type: typeContainer, Owner: c.Owner,
		Completion: "Complete", CTime: now, ATime: now, MTime: now, Metadata: c.Metadata}
	if err := tx.Create(&snap).Error; err != nil {
		return err
	}
	diskID, err := newObjectID(s.cfg.EnterpriseNumber)
	if err != nil {
		return err
	}
	disk := object{ObjectID: diskID, ParentID: id, Name: DiskName, Type: typeDataObject, Mimetype: diskMimetype,
		Encoding: "base64", Size: size, Owner: c.Owner, Completion: "Complete", CTime: now, ATime: now, MTime: now}
	disk.setMetadata(map[string]any{"cdmi_acl": s.inheritedACL(ctx, tx, &snap, false)})
	return tx.Create(&disk).Error
}

// snapshotsDir is c's cdmi_snapshots container, made when missing.
func (s *Service) snapshotsDir(ctx context.Context, tx *gorm.DB, c *object) (*object, error) {
	dir, err := s.child(ctx, tx, c.ObjectID, SnapshotsName)
	if err == nil {
		if dir.Type != typeContainer {
			return nil, kind.Errorf(kind.Conflict, "snapshot: the container holds a %s named %s, the name of its snapshots' container", dir.Type, SnapshotsName)
		}
		return dir, nil
	}
	if !errors.Is(err, errNotFound) {
		return nil, err
	}
	id, err := newObjectID(s.cfg.EnterpriseNumber)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	d := object{ObjectID: id, ParentID: c.ObjectID, Name: SnapshotsName, Type: typeContainer, Owner: c.Owner,
		Completion: "Complete", CTime: now, ATime: now, MTime: now}
	d.setMetadata(map[string]any{"cdmi_acl": s.inheritedACL(ctx, tx, c, true)})
	return &d, tx.Create(&d).Error
}

// snapshotSize is the size of a snapshot's frozen volume.
func (s *Service) snapshotSize(ctx context.Context, id string) (int64, error) {
	d, ok, err := s.cfg.Disks.Disk(ctx, id)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, kind.Errorf(kind.Unavailable, "snapshot %s: its frozen volume is not there", id)
	}
	return d.Size(ctx)
}

// isSnapshot tells whether the container row c has a snapshot's place
// (inside a cdmi_snapshots container), reading db (the transaction in
// progress, if any: the hook is not asked, it reads outside it). Whether a
// frozen volume is really behind it is the hook's answer when the disk is
// opened (openDisk).
func (s *Service) isSnapshot(ctx context.Context, db *gorm.DB, c *object) (bool, error) {
	if s.cfg.Snapshots == nil || s.cfg.Disks == nil || c.Type != typeContainer || c.Exports != "" || c.ParentID == "" {
		return false, nil
	}
	p, err := s.byID(ctx, db, c.ParentID)
	if errors.Is(err, errNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return p.Name == SnapshotsName && p.Type == typeContainer, nil
}

// subtreeContainers are the objectIDs of the snapshot containers in o's
// subtree (those inside a cdmi_snapshots container), for forgetSnapshots
// after a delete: read by one query, without the subtree's other rows.
func (s *Service) subtreeContainers(ctx context.Context, o *object) ([]string, error) {
	if s.cfg.Snapshots == nil || o.Type != typeContainer {
		return nil, nil
	}
	var ids []string
	err := s.db.WithContext(ctx).Raw("SELECT c.object_id FROM cdmi_objects c JOIN cdmi_objects p ON p.object_id = c.parent_id "+
		"WHERE c.object_id IN ("+subtreeIDs+") AND c.type = ? AND p.type = ? AND p.name = ?",
		o.ObjectID, typeContainer, typeContainer, SnapshotsName).Scan(&ids).Error
	if err != nil {
		return nil, fmt.Errorf("list the snapshots: %w", database.Classify(err))
	}
	return ids, nil
}

// forgetSnapshots tells the hook which snapshot containers are gone; a
// failure leaves a frozen volume behind, which is logged.
func (s *Service) forgetSnapshots(ctx context.Context, ids []string) {
	if s.cfg.Snapshots == nil || len(ids) == 0 {
		return
	}
	if err := s.cfg.Snapshots.ForgetSnapshots(context.WithoutCancel(ctx), ids); err != nil {
		s.log.Warn("cdmi: remove the frozen volumes of deleted snapshots", "err", err)
	}
}

// snapshotURIs are the URIs of c's snapshots (the read's "snapshots").
func (s *Service) snapshotURIs(ctx context.Context, c *object) ([]string, error) {
	if s.cfg.Snapshots == nil || !hasOCCIExport(c) {
		return nil, nil
	}
	base, err := s.pathOf(ctx, c)
	if err != nil {
		return nil, err
	}
	dir, err := s.child(ctx, s.db, c.ObjectID, SnapshotsName)
	if errors.Is(err, errNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var names []string
	if err := s.db.WithContext(ctx).Model(&object{}).Where("parent_id = ? AND type = ?", dir.ObjectID, typeContainer).
		Order("name").Pluck("name", &names).Error; err != nil {
		return nil, err
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, base+SnapshotsName+"/"+url.PathEscape(n)+"/")
	}
	return out, nil
}

// snapshotField reads the update's "snapshot" field; it must come alone.
func snapshotField(b *cdmiBody) (string, error) {
	var name string
	if _, err := b.field("snapshot", &name); err != nil {
		return "", invalidf("snapshot: give the snapshot's name as a JSON string")
	}
	for _, f := range []string{"metadata", "exports", "domainURI", "copy", "move", "deserialize", "serialize", "value", "reference"} {
		if b.has(f) {
			return "", invalidf("snapshot: an update taking a snapshot carries no %q: send it in an update of its own (nothing was changed)", f)
		}
	}
	return name, nil
}

// capabilitiesName is the capability object of an object row: containers
// exported to OCCI have their own (it adds cdmi_snapshot).
func (s *Service) capabilitiesName(o *object) string {
	if o.Type == typeContainer && s.cfg.Snapshots != nil && s.cfg.Disks != nil && hasOCCIExport(o) {
		return typeContainer + "/" + occiCapabilities
	}
	return o.Type
}

// occiContainerCapabilities is the capability object of containers
// exported to OCCI: a container's, and snapshots (clause 14).
func occiContainerCapabilities() map[string]any {
	c := containerCapabilities(true)
	c["cdmi_snapshot"] = "true"
	return c
}

// putSnapshot answers a container update with a "snapshot" field.
func (s *Server) putSnapshot(c *call, t *target, b *cdmiBody) error {
	name, err := snapshotField(b)
	if err != nil {
		return err
	}
	if err := s.svc.Snapshot(c.ctx, c.who, t.path, name); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// snapshotRows are the rows of a subtree that belong to the snapshots of
// its exported containers (their cdmi_snapshots and all below): a copy of
// the subtree leaves them out, as it leaves out the disks.
func snapshotRows(all []object, exported map[string]bool) map[string]bool {
	out := map[string]bool{}
	for i := range all {
		if all[i].Name == SnapshotsName && exported[all[i].ParentID] {
			out[all[i].ObjectID] = true
		}
	}
	for grew := len(out) > 0; grew; {
		grew = false
		for i := range all {
			if !out[all[i].ObjectID] && out[all[i].ParentID] {
				out[all[i].ObjectID], grew = true, true
			}
		}
	}
	return out
}
