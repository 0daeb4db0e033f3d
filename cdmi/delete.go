package cdmi

import (
	"context"
	"fmt"

	"github.com/occicdmi/occicdmi/internal/kind"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// deleteObject deletes o (§8.8, §9.7, §11.7) and, for a container,
// everything below it (§9.7: deleting a container deletes its children):
// rows in one transaction, values after. The OCCI exports of containers in
// it go away through the export hook: prepared before the transaction,
// committed inside it, undone when it fails.
func (s *Service) deleteObject(ctx context.Context, who Principal, o *object, path string) error {
	if o.System {
		return invalidf("%s is maintained by the server and cannot be deleted", path)
	}
	if err := s.allowed(who, o, maskDelete); err != nil {
		return err
	}
	if p, err := s.diskParent(ctx, s.db, o, nil); err != nil {
		return err
	} else if p != nil {
		return kind.Errorf(kind.Conflict, "%s is the disk of the container %s (its OCCI volume) and goes only with it: delete the container, or remove its OCCI export", path, p.ObjectID)
	}
	if err := s.require(deleteCapability(o.Type)); err != nil {
		return err
	}
	dd, err := s.prepareDomainDelete(ctx, o)
	if err != nil {
		return err
	}
	snaps, err := s.subtreeContainers(ctx, o)
	if err != nil {
		return err
	}
	x, err := s.prepareUnexports(ctx, o)
	if err != nil {
		return err
	}
	var keys []string
	err = s.inTx(ctx, func(tx *gorm.DB) error {
		var err error
		if keys, err = s.deleteRows(ctx, tx, o, x); err != nil {
			return err
		}
		return dd.apply(tx)
	})
	if err != nil {
		for _, c := range x {
			c.undo(ctx, s.log)
		}
		return err
	}
	s.forgetSnapshots(ctx, snaps)
	for _, k := range keys {
		if err := s.objs.Delete(context.WithoutCancel(ctx), k); err != nil {
			s.log.Warn("cdmi: delete value (the start-up sweep will retry)", "key", k, "err", err)
		}
	}
	return nil
}

// deleteCapability is the capability a delete of an object of type typ
// needs.
func deleteCapability(typ string) (string, string) {
	switch typ {
	case typeQueue:
		return typeQueue, "cdmi_delete_queue"
	case typeContainer:
		return typeContainer, "cdmi_delete_container"
	case typeDomain:
		return typeDomain, "cdmi_delete_domain"
	}
	return typeDataObject, "cdmi_delete_dataobject"
}

// unexport is the removal of one container's OCCI exports by a delete.
type unexport struct {
	exportChange
	container Container
}

// prepareUnexports runs the hook's prepare phase for every container with
// OCCI exports in o's subtree, outside the transaction. They are keyed by
// objectID.
func (s *Service) prepareUnexports(ctx context.Context, o *object) (map[string]*unexport, error) {
	if s.cfg.ExportHook == nil || !o.isContainerLike() && o.Exports == "" {
		return nil, nil
	}
	all, err := s.subtree(ctx, s.db, o.ObjectID)
	if err != nil {
		return nil, err
	}
	out := map[string]*unexport{}
	fail := func(err error) (map[string]*unexport, error) {
		for _, u := range out {
			u.undo(ctx, s.log)
		}
		return nil, err
	}
	for i := range all {
		x := &all[i]
		occi := occiExports(x.exports(), x.ObjectID)
		if len(occi) == 0 {
			continue
		}
		path, err := s.uriOf(ctx, s.db, x)
		if err != nil {
			return fail(err)
		}
		u := &unexport{exportChange: exportChange{remove: occi, refused: kind.Conflict}, container: containerOf(x, path)}
		if err := u.prepare(ctx, s.cfg.ExportHook, u.container, s.log); err != nil {
			return fail(deleteHookError(x, err))
		}
		out[x.ObjectID] = u
	}
	return out, nil
}

// deleteHookError names the container whose export the hook refused to
// remove.
func deleteHookError(o *object, err error) error {
	return fmt.Errorf("container %s: %w", o.ObjectID, err)
}

// deleteRows deletes o's subtree in tx, queue values included, and commits
// the removal of its OCCI exports. It returns the value keys to delete
// once tx commits.
func (s *Service) deleteRows(ctx context.Context, tx *gorm.DB, o *object, unexports map[string]*unexport) ([]string, error) {
	all, err := s.lockSubtree(ctx, tx, o.ObjectID)
	if err != nil {
		return nil, err
	}
	var keys []string
	ids := make([]string, 0, len(all))
	for i := range all {
		x := &all[i]
		if err := s.commitUnexport(ctx, tx, x, unexports[x.ObjectID]); err != nil {
			return nil, err
		}
		ids = append(ids, x.ObjectID)
		if x.ValueKey != "" {
			keys = append(keys, x.ValueKey)
		}
	}
	for start := 0; start < len(ids); start += 500 {
		batch := ids[start:min(start+500, len(ids))]
		var qkeys []string
		if err := tx.Model(&queueValue{}).Where("queue_id IN ?", batch).Pluck("value_key", &qkeys).Error; err != nil {
			return nil, err
		}
		keys = append(keys, qkeys...)
		if err := tx.Where("queue_id IN ?", batch).Delete(&queueValue{}).Error; err != nil {
			return nil, err
		}
		if err := tx.Where("object_id IN ?", batch).Delete(&object{}).Error; err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// commitUnexport runs the hook's commit phase for a container being
// deleted in tx. An OCCI export that appeared after the prepare phase is a
// Conflict: the delete is retried.
func (s *Service) commitUnexport(ctx context.Context, tx *gorm.DB, o *object, u *unexport) error {
	if s.cfg.ExportHook == nil {
		return nil
	}
	occi := occiExports(o.exports(), o.ObjectID)
	if len(occi) == 0 {
		return nil
	}
	if u == nil || len(u.remove) != len(occi) {
		return kind.Errorf(kind.Conflict, "container %s: its exports changed during the delete; retry", o.ObjectID)
	}
	if err := u.commit(ctx, tx, s.cfg.ExportHook, u.container); err != nil {
		return deleteHookError(o, err)
	}
	return nil
}

// lockParent makes sure the container a row goes into still exists when
// the row commits: a concurrent delete of the container would otherwise
// leave the new row unreachable. On PostgreSQL the parent's row is locked
// FOR SHARE, which a DELETE waits for; SQLite runs one writer at a time.
func (s *Service) lockParent(ctx context.Context, tx *gorm.DB, parent *object) error {
	if parent == nil {
		return nil
	}
	found, err := exists(ctx, tx, parent.ObjectID, "SHARE")
	if err != nil {
		return err
	}
	if !found {
		return kind.Errorf(kind.NotFound, "the container was deleted meanwhile")
	}
	return nil
}

// lockSubtree returns the subtree below id for deletion. On PostgreSQL it
// first locks every container in it FOR UPDATE, so creates in flight
// (which hold their parent FOR SHARE, see lockParent) commit first and are
// seen, and later ones find their parent gone; it reads again until no new
// container appears. SQLite runs one writer at a time and needs none of it.
func (s *Service) lockSubtree(ctx context.Context, tx *gorm.DB, id string) ([]object, error) {
	if tx.Dialector.Name() != "postgres" {
		return s.subtree(ctx, tx, id)
	}
	locked := map[string]bool{}
	for {
		all, err := s.subtree(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		var fresh []string
		for _, o := range all {
			if o.isContainerLike() || o.Type == typeQueue {
				if !locked[o.ObjectID] {
					fresh = append(fresh, o.ObjectID)
				}
			}
		}
		if len(fresh) == 0 {
			return all, nil
		}
		var got []string
		err = tx.WithContext(ctx).Clauses(clause.Locking{Strength: "UPDATE"}).Model(&object{}).
			Where("object_id IN ?", fresh).Pluck("object_id", &got).Error
		if err != nil {
			return nil, err
		}
		for _, f := range fresh {
			locked[f] = true
		}
	}
}
