package cdmi

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/occicdmi/occicdmi/internal/kind"
	"gorm.io/gorm"
)

func (s *Server) writeContainer(c *call, t *target, meta map[string]any, exports json.RawMessage, moveFrom *object) (*object, bool, error) {
	ctx := c.ctx
	created := t.obj == nil
	if created {
		if t.parent == nil || t.parent.Type != typeContainer {
			return nil, false, invalidf("containers can be created only in containers")
		}
		if err := s.require(typeContainer, "cdmi_create_container"); err != nil {
			return nil, false, err
		}
		if err := s.allowed(c, t.parent, maskAppend); err != nil {
			return nil, false, err
		}
	} else {
		if meta != nil {
			if err := s.require(typeContainer, "cdmi_modify_metadata"); err != nil {
				return nil, false, err
			}
		}
		if err := s.allowed(c, t.obj, writeMask(false, meta)); err != nil {
			return nil, false, err
		}
	}
	if moveFrom != nil {
		// A container cannot move below itself.
		for p := t.parent; p != nil; {
			if p.ObjectID == moveFrom.ObjectID {
				return nil, false, invalidf("move: a container cannot move inside itself")
			}
			if p.ParentID == "" {
				break
			}
			np, err := s.byID(ctx, s.db, p.ParentID)
			if err != nil {
				return nil, false, err
			}
			p = np
		}
	}
	var id string
	switch {
	case t.obj != nil:
		id = t.obj.ObjectID
	case moveFrom != nil:
		id = moveFrom.ObjectID
	default:
		var err error
		if id, err = newObjectID(s.cfg.EnterpriseNumber); err != nil {
			return nil, false, err
		}
	}
	name := t.name
	if name == "" {
		name = id
	}
	var newExports map[string]any
	var occi []OCCIExport
	if exports != nil {
		var err error
		if newExports, occi, err = parseExports(exports, id); err != nil {
			return nil, false, err
		}
		if len(occi) > 0 && s.cfg.ExportHook == nil {
			return nil, false, invalidf("exports: OCCI exports (§13.6) are not available on this server yet (no OCCI linkage); the container was not changed")
		}
	}
	now := time.Now().UTC()
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		var o object
		var cur *object
		if err := s.lockParent(ctx, tx, t.parent); err != nil {
			return err
		}
		var err error
		if t.obj != nil {
			cur, err = s.byID(ctx, tx, t.obj.ObjectID) // also the root, which has no parent
		} else {
			cur, err = s.child(ctx, tx, t.parent.ObjectID, name)
		}
		if err != nil && !errors.Is(err, errNotFound) {
			return err
		}
		switch {
		case moveFrom != nil:
			if cur != nil {
				return kind.Errorf(kind.Conflict, "move: the destination exists")
			}
			src, err := s.byID(ctx, tx, moveFrom.ObjectID)
			if err != nil {
				return kind.Errorf(kind.NotFound, "move: the source is gone")
			}
			o = *src
			o.ParentID, o.Name = t.parent.ObjectID, name
		case cur != nil:
			if cur.Type != typeContainer {
				return kind.Errorf(kind.Conflict, "%q is a %s", name, cur.Type)
			}
			o = *cur
			created = false
		default:
			o = object{ObjectID: id, ParentID: t.parent.ObjectID, Name: name, Type: typeContainer,
				Owner: c.who.Name, CTime: now, Completion: "Complete"}
			md := map[string]any{"cdmi_acl": s.inheritedACL(ctx, tx, t.parent, true)}
			o.setMetadata(md)
		}
		if meta != nil {
			o.setMetadata(mergeMetadata(o.metadata(), meta, c.q.args("metadata")))
		}
		if newExports != nil {
			ex := map[string]any{}
			if o.Exports != "" {
				_ = json.Unmarshal([]byte(o.Exports), &ex)
			}
			// §9.5 (update): exports not named are preserved; null removes.
			for k, v := range newExports {
				if v == nil {
					if proto, ok := strings.CutPrefix(k, "OCCI/"); ok && ex[k] != nil && s.cfg.ExportHook != nil {
						if err := s.cfg.ExportHook.Unexport(ctx, tx, o.ObjectID, proto); err != nil {
							return invalidf("exports: removing %s: %v", k, err)
						}
					}
					delete(ex, k)
				} else {
					ex[k] = v
				}
			}
			b, _ := json.Marshal(ex)
			o.Exports = string(b)
			for _, e := range occi {
				if err := s.cfg.ExportHook.Export(ctx, tx, o.ObjectID, e); err != nil {
					return invalidf("exports: OCCI/%s: %v", e.Protocol, err)
				}
			}
		}
		o.MTime, o.ATime = now, now
		if !created {
			o.MCount++
		}
		if created && moveFrom == nil {
			return tx.Create(&o).Error
		}
		return tx.Save(&o).Error
	})
	if err != nil {
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return nil, false, kind.Errorf(kind.Conflict, "%q was created by another request at the same time; retry", name)
		}
		return nil, false, err
	}
	o, err := s.byID(ctx, s.db, id)
	if err != nil {
		return nil, false, err
	}
	return o, created, nil
}

// insideOf tells whether container p is o or lies below it.
func (s *Server) insideOf(ctx context.Context, p *object, o *object) (bool, error) {
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

// copyContainer copies a container and everything below it (§9.2.5): new
// object IDs, values duplicated in the backend first, then every row in one
// transaction. Exports are not copied (§9.2.5).
func (s *Server) copyContainer(c *call, t *target, uri string, meta map[string]any) (*object, error) {
	ctx := c.ctx
	if err := s.require(typeContainer, "cdmi_copy_container"); err != nil {
		return nil, err
	}
	src, err := s.resolveURI(ctx, uri)
	if err != nil {
		return nil, invalidf("copy: %v", err)
	}
	if src.obj.Type != typeContainer || src.obj.System && src.obj.ObjectID != s.rootID {
		return nil, invalidf("copy: %q is not a container", uri)
	}
	if t.obj != nil {
		return nil, kind.Errorf(kind.Conflict, "copy: the destination %s exists", t.path)
	}
	if t.parent == nil || t.parent.Type != typeContainer {
		return nil, invalidf("containers can be created only in containers")
	}
	if in, err := s.insideOf(ctx, t.parent, src.obj); err != nil {
		return nil, err
	} else if in {
		return nil, invalidf("copy: a container cannot be copied inside itself")
	}
	if err := s.allowed(c, src.obj, maskRead); err != nil {
		return nil, err
	}
	if err := s.allowed(c, t.parent, maskAppend); err != nil {
		return nil, err
	}
	all, err := s.subtree(ctx, s.db, src.obj.ObjectID)
	if err != nil {
		return nil, err
	}
	ids := make(map[string]string, len(all))
	var queues []string
	for _, o := range all {
		if ids[o.ObjectID], err = newObjectID(s.cfg.EnterpriseNumber); err != nil {
			return nil, err
		}
		if o.Type == typeQueue {
			queues = append(queues, o.ObjectID)
		}
	}
	var newKeys []string
	fail := func(err error) (*object, error) {
		s.deleteKeys(ctx, newKeys)
		return nil, err
	}
	now := time.Now().UTC()
	rows := make([]object, 0, len(all))
	for _, o := range all {
		n := o
		n.ObjectID = ids[o.ObjectID]
		if o.ObjectID == src.obj.ObjectID {
			n.ParentID, n.Name = t.parent.ObjectID, t.name
			if meta != nil {
				n.setMetadata(mergeMetadata(o.metadata(), meta, nil))
			}
		} else {
			n.ParentID = ids[o.ParentID]
			if o.Name == o.ObjectID {
				n.Name = n.ObjectID // named by its ID (POST): keep it so
			}
		}
		if o.ValueKey != "" {
			n.ValueKey = newValueKey(n.ObjectID)
			if err := s.objs.Copy(ctx, n.ValueKey, o.ValueKey); err != nil {
				return fail(err)
			}
			newKeys = append(newKeys, n.ValueKey)
		}
		n.Exports, n.System = "", false
		n.Owner, n.CTime, n.MTime, n.ATime, n.ACount, n.MCount = c.who.Name, now, now, now, 0, 0
		rows = append(rows, n)
	}
	var qvals []queueValue
	if len(queues) > 0 {
		if err := s.db.WithContext(ctx).Where("queue_id IN ?", queues).Order("seq").Find(&qvals).Error; err != nil {
			return fail(err)
		}
		for i := range qvals {
			k := newValueKey(ids[qvals[i].QueueID])
			if err := s.objs.Copy(ctx, k, qvals[i].ValueKey); err != nil {
				return fail(err)
			}
			newKeys = append(newKeys, k)
			qvals[i].Seq, qvals[i].QueueID, qvals[i].ValueKey = 0, ids[qvals[i].QueueID], k
		}
	}
	err = s.inTx(ctx, func(tx *gorm.DB) error {
		if err := s.lockParent(ctx, tx, t.parent); err != nil {
			return err
		}
		if err := tx.CreateInBatches(rows, 100).Error; err != nil {
			return err
		}
		if len(qvals) > 0 {
			return tx.Create(&qvals).Error
		}
		return nil
	})
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return fail(kind.Errorf(kind.Conflict, "copy: %s was created by another request at the same time", t.path))
	}
	if err != nil {
		return fail(err)
	}
	return s.byID(ctx, s.db, ids[src.obj.ObjectID])
}
