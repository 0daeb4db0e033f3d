package cdmi

import (
	"context"
	"errors"
	"time"

	"github.com/occicdmi/occicdmi/internal/database"
	"github.com/occicdmi/occicdmi/internal/kind"
	"gorm.io/gorm"
)

// insideOf tells whether container p is o or lies below it.
func (s *Service) insideOf(ctx context.Context, p *object, o *object) (bool, error) {
	for depth := 0; p != nil && depth < 4096; depth++ {
		if p.ObjectID == o.ObjectID {
			return true, nil
		}
		if p.ParentID == "" {
			return false, nil
		}
		np, err := s.byID(ctx, s.db, p.ParentID)
		if err != nil {
			return false, err
		}
		p = np
	}
	return false, nil
}

// containerCopy is one copy of a container's subtree on its way through
// the steps of copyContainer.
type containerCopy struct {
	s    *Service
	who  Principal
	t    *target
	src  *object
	name string
	meta map[string]any

	ids     map[string]string // new objectID by old
	rows    []object          // the new rows
	qvals   []queueValue      // the new queues' values
	newKeys []string          // values copied: deleted unless the rows commit
}

// copyContainer copies a container and everything below it (§9.2.5): new
// object IDs, values duplicated in the backend first, then every row in one
// transaction. Exports are not copied (§9.2.5).
func (s *Service) copyContainer(ctx context.Context, who Principal, t *target, uri string, meta map[string]any) (*object, error) {
	cp := &containerCopy{s: s, who: who, t: t, meta: meta}
	if err := cp.authorize(ctx, uri); err != nil {
		return nil, err
	}
	all, err := s.subtree(ctx, s.db, cp.src.ObjectID)
	if err != nil {
		return nil, err
	}
	all = s.readableSubtree(who, all, cp.src.ObjectID)
	if err := cp.chooseIDs(all); err != nil {
		return nil, err
	}
	err = cp.copyObjects(ctx, all)
	if err == nil {
		err = cp.copyQueueValues(ctx, all)
	}
	if err == nil {
		err = s.inTx(ctx, cp.commit)
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			err = kind.Errorf(kind.Conflict, "copy: %s was created by another request at the same time", t.path)
		}
	}
	if err != nil {
		s.deleteKeys(ctx, cp.newKeys)
		return nil, err
	}
	return s.byID(ctx, s.db, cp.ids[cp.src.ObjectID])
}

// authorize resolves the source and checks the copy may happen: the
// capability, a free destination in a container outside the source, and
// the ACLs (read the source, add to the destination's parent).
func (cp *containerCopy) authorize(ctx context.Context, uri string) error {
	s, t := cp.s, cp.t
	if err := s.require(typeContainer, "cdmi_copy_container"); err != nil {
		return err
	}
	src, err := s.resolveURI(ctx, uri)
	if err != nil {
		return invalidf("copy: %v", err)
	}
	if src.obj.Type != typeContainer || src.obj.System && src.obj.ObjectID != s.rootID {
		return invalidf("copy: %q is not a container", uri)
	}
	if t.obj != nil {
		return kind.Errorf(kind.Conflict, "copy: the destination %s exists", t.path)
	}
	if t.parent == nil || t.parent.Type != typeContainer {
		return invalidf("containers can be created only in containers")
	}
	if in, err := s.insideOf(ctx, t.parent, src.obj); err != nil {
		return err
	} else if in {
		return invalidf("copy: a container cannot be copied inside itself")
	}
	if err := s.allowed(cp.who, src.obj, maskRead); err != nil {
		return err
	}
	if err := s.allowed(cp.who, t.parent, maskAppend); err != nil {
		return err
	}
	cp.src = src.obj
	return nil
}

// chooseIDs gives every object of the subtree a fresh objectID; the copy
// is named as asked, or by its new ID.
func (cp *containerCopy) chooseIDs(all []object) error {
	cp.ids = make(map[string]string, len(all))
	for _, o := range all {
		var err error
		if cp.ids[o.ObjectID], err = newObjectID(cp.s.cfg.EnterpriseNumber); err != nil {
			return err
		}
	}
	cp.name = cp.t.name
	if cp.name == "" {
		cp.name = cp.ids[cp.src.ObjectID]
	}
	return nil
}

// copyObjects makes the new rows and copies their values in the backend.
func (cp *containerCopy) copyObjects(ctx context.Context, all []object) error {
	now := time.Now().UTC()
	cp.rows = make([]object, 0, len(all))
	exported := map[string]bool{}
	for i := range all {
		exported[all[i].ObjectID] = cp.s.cfg.Disks != nil && hasOCCIExport(&all[i])
	}
	snaps := snapshotRows(all, exported)
	for _, o := range all {
		if isDiskRow(&o) && exported[o.ParentID] || snaps[o.ObjectID] {
			continue // the copy is not exported: no volume, no disk, no snapshots (disk.go, snapshot.go)
		}
		n := o
		n.ObjectID = cp.ids[o.ObjectID]
		if o.ObjectID == cp.src.ObjectID {
			n.ParentID, n.Name = cp.t.parent.ObjectID, cp.name
			if cp.meta != nil {
				n.setMetadata(mergeMetadata(o.metadata(), cp.meta, nil))
			}
		} else {
			n.ParentID = cp.ids[o.ParentID]
			if o.Name == o.ObjectID {
				n.Name = n.ObjectID // named by its ID (POST): keep it so
			}
		}
		if o.ValueKey != "" {
			n.ValueKey = cp.s.newValueKey(n.ObjectID)
			if err := cp.s.objs.Copy(ctx, n.ValueKey, o.ValueKey); err != nil {
				return err
			}
			cp.newKeys = append(cp.newKeys, n.ValueKey)
		}
		n.Exports, n.System = "", false
		n.Owner, n.CTime, n.MTime, n.ATime, n.ACount, n.MCount = cp.who.Name, now, now, now, 0, 0
		cp.rows = append(cp.rows, n)
	}
	return nil
}

// copyQueueValues copies the values of the queues in the subtree.
func (cp *containerCopy) copyQueueValues(ctx context.Context, all []object) error {
	var queues []string
	for _, o := range all {
		if o.Type == typeQueue {
			queues = append(queues, o.ObjectID)
		}
	}
	if len(queues) == 0 {
		return nil
	}
	if err := cp.s.db.WithContext(ctx).Where("queue_id IN ?", queues).Order("seq").Find(&cp.qvals).Error; err != nil {
		return database.Classify(err)
	}
	for i := range cp.qvals {
		q := &cp.qvals[i]
		k := cp.s.newValueKey(cp.ids[q.QueueID])
		if err := cp.s.objs.Copy(ctx, k, q.ValueKey); err != nil {
			return err
		}
		cp.newKeys = append(cp.newKeys, k)
		q.Seq, q.QueueID, q.ValueKey = 0, cp.ids[q.QueueID], k
	}
	return nil
}

// commit inserts every new row in tx, once the destination's parent is
// known to still exist.
func (cp *containerCopy) commit(tx *gorm.DB) error {
	if err := cp.s.lockParent(tx.Statement.Context, tx, cp.t.parent); err != nil {
		return err
	}
	if err := tx.CreateInBatches(cp.rows, 100).Error; err != nil {
		return err
	}
	if len(cp.qvals) > 0 {
		return tx.Create(&cp.qvals).Error
	}
	return nil
}
