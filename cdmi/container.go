package cdmi

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/internal/kind"
)

// containerWrite gathers what a request changes on a container.
type containerWrite struct {
	meta      map[string]any             // metadata given; nil when absent
	metaNames []string                   // ?metadata:<name> limits the change to these
	exports   json.RawMessage            // "exports" as given; nil when absent
	copyURI   string                     // "copy": the container to copy here (§9.2.5)
	moveURI   string                     // "move": the container that moves here
	extra     map[string]json.RawMessage // fields the standard does not define (§9.1)
	domain    *string                    // "domainURI": the domain's objectID (domains.go); nil when absent
}

// putContainer creates or updates a container: a copy of another one, or
// a write of its metadata and exports (a move included).
func (s *Service) putContainer(ctx context.Context, who Principal, t *target, cw containerWrite) (*object, bool, error) {
	if cw.copyURI != "" {
		o, err := s.copyContainer(ctx, who, t, cw.copyURI, cw.meta)
		return o, err == nil, err
	}
	return s.writeContainer(ctx, who, t, cw)
}

// containerWriteOp is one create, update or move of a container on its
// way through the steps of writeContainer.
type containerWriteOp struct {
	s   *Service
	who Principal
	t   *target
	cw  containerWrite

	moveFrom *object
	id, name string
	exports  exportChange // the container's OCCI exports that come and go
	path     string       // where the container is found, when exports change
	created  bool
}

// writeContainer creates, updates or moves a container. OCCI exports are
// prepared through the export hook before the transaction and committed
// inside it; when the row does not commit, what was prepared is undone.
func (s *Service) writeContainer(ctx context.Context, who Principal, t *target, cw containerWrite) (*object, bool, error) {
	w := &containerWriteOp{s: s, who: who, t: t, cw: cw, created: t.obj == nil}
	if err := w.resolveMove(ctx); err != nil {
		return nil, false, err
	}
	if err := w.authorize(ctx); err != nil {
		return nil, false, err
	}
	if err := w.chooseID(); err != nil {
		return nil, false, err
	}
	if err := w.parseExports(); err != nil {
		return nil, false, err
	}
	if err := w.prepareExports(ctx); err != nil {
		return nil, false, err
	}
	if err := s.commitWrite(ctx, s.inTx, w.commit); err != nil {
		w.exports.undo(ctx, s.log)
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return nil, false, kind.Errorf(kind.Conflict, "%q was created by another request at the same time; retry", w.name)
		}
		return nil, false, err
	}
	o, err := s.byID(ctx, s.db, w.id)
	if err != nil {
		return nil, false, err
	}
	return o, w.created, nil
}

// resolveMove finds the container "move" names: it must exist,
// be movable, and the destination must be free.
func (w *containerWriteOp) resolveMove(ctx context.Context) error {
	if w.cw.moveURI == "" {
		return nil
	}
	if err := w.s.require(typeContainer, "cdmi_move_container"); err != nil {
		return err
	}
	src, err := w.s.resolveURI(ctx, w.cw.moveURI)
	if err != nil {
		return err
	}
	if src.obj.Type != typeContainer || src.obj.System {
		return invalidf("move: %q is not a container that can move", w.cw.moveURI)
	}
	if w.t.obj != nil {
		return kind.Errorf(kind.Conflict, "move: the destination %s exists", w.t.path)
	}
	w.moveFrom = src.obj
	return nil
}

// authorize checks the capabilities and the ACL (of the parent for a
// create, of the container for an update) and that a move does not put a
// container below itself.
func (w *containerWriteOp) authorize(ctx context.Context) error {
	s, t := w.s, w.t
	if w.created {
		if t.parent == nil || t.parent.Type != typeContainer {
			return invalidf("containers can be created only in containers")
		}
		if err := s.require(typeContainer, "cdmi_create_container"); err != nil {
			return err
		}
		if err := s.allowed(w.who, t.parent, maskAppend); err != nil {
			return err
		}
	} else {
		if w.cw.meta != nil {
			if err := s.require(typeContainer, "cdmi_modify_metadata"); err != nil {
				return err
			}
		}
		if err := s.allowed(w.who, t.obj, writeMask(false, w.cw.meta)); err != nil {
			return err
		}
	}
	if w.moveFrom == nil {
		return nil
	}
	// A move deletes the source from where it was (§9.2.5), as a data
	// object's does (sourceDataObject).
	if err := s.allowed(w.who, w.moveFrom, maskDelete); err != nil {
		return err
	}
	in, err := s.insideOf(ctx, t.parent, w.moveFrom)
	if err != nil {
		return err
	}
	if in {
		return invalidf("move: a container cannot move inside itself")
	}
	return nil
}

// chooseID picks the container's identity: kept on update and on move,
// fresh otherwise; a container created by POST is named by its ID.
func (w *containerWriteOp) chooseID() error {
	switch {
	case w.t.obj != nil:
		w.id = w.t.obj.ObjectID
	case w.moveFrom != nil:
		w.id = w.moveFrom.ObjectID
	default:
		var err error
		if w.id, err = newObjectID(w.s.cfg.EnterpriseNumber); err != nil {
			return err
		}
	}
	w.name = w.t.name
	if w.name == "" {
		w.name = w.id
	}
	return nil
}

// parseExports validates the exports given and finds the OCCI ones that
// are added or removed. Without an export hook, OCCI exports are refused.
func (w *containerWriteOp) parseExports() error {
	if w.cw.exports == nil {
		w.restateOCCIExports()
		return nil
	}
	given, occi, err := parseExports(w.cw.exports, w.id, w.s.occiProtocols())
	if err != nil {
		return err
	}
	if len(occi) > 0 && w.s.cfg.ExportHook == nil {
		return invalidf("exports: OCCI exports (§13.6) are not available on this server yet (no OCCI linkage); the container was not changed")
	}
	w.exports = exportChange{given: given, add: occi, refused: kind.Invalid}
	var current map[string]any
	switch {
	case w.t.obj != nil:
		current = w.t.obj.exports()
	case w.moveFrom != nil:
		current = w.moveFrom.exports()
	}
	w.exports.remove = removedOCCIExports(current, given, w.id)
	return nil
}

// restateOCCIExports passes a container's OCCI exports to the hook again
// when its cdmi_assignedsize changes: the size of what is exported (the
// volume behind an OCCI storage, §13.6) follows it.
func (w *containerWriteOp) restateOCCIExports() {
	if w.s.cfg.ExportHook == nil || w.t.obj == nil || w.cw.meta == nil {
		return
	}
	if _, ok := w.cw.meta["cdmi_assignedsize"]; !ok {
		return
	}
	if current := occiExports(w.t.obj.exports(), w.t.obj.ObjectID); len(current) > 0 {
		w.exports = exportChange{given: map[string]any{}, add: current, refused: kind.Invalid}
	}
}

// prepareExports runs the hook's prepare phase, outside the transaction,
// for the container as it will be.
func (w *containerWriteOp) prepareExports(ctx context.Context) error {
	if !w.exports.any() || w.s.cfg.ExportHook == nil {
		return nil
	}
	var err error
	if w.path, err = w.s.futurePath(ctx, w.t, w.name); err != nil {
		return err
	}
	c, err := w.future(ctx)
	if err != nil {
		return err
	}
	return w.exports.prepare(ctx, w.s.cfg.ExportHook, c, w.s.log)
}

// future is the container as this write will leave it, for the hook's
// prepare phase: its metadata merged, its path where it will be found.
func (w *containerWriteOp) future(ctx context.Context) (Container, error) {
	var base object
	switch {
	case w.t.obj != nil:
		base = *w.t.obj
	case w.moveFrom != nil:
		base = *w.moveFrom
	default:
		base = object{ObjectID: w.id, Type: typeContainer, Owner: w.who.Name}
		base.setMetadata(map[string]any{"cdmi_acl": w.s.inheritedACL(ctx, w.s.db, w.t.parent, true)})
	}
	if w.t.parent != nil {
		base.ParentID, base.Name = w.t.parent.ObjectID, w.name
	}
	if w.cw.meta != nil {
		base.setMetadata(mergeMetadata(base.metadata(), w.cw.meta, w.cw.metaNames))
	}
	return containerOf(&base, w.path), nil
}

// commit writes the row in tx, and the exports' commit phase with it.
func (w *containerWriteOp) commit(tx *gorm.DB) error {
	ctx := tx.Statement.Context
	if err := w.s.lockParent(ctx, tx, w.t.parent); err != nil {
		return err
	}
	cur, err := w.currentRow(ctx, tx)
	if err != nil {
		return err
	}
	o, err := w.baseRow(ctx, tx, cur)
	if err != nil {
		return err
	}
	if w.cw.meta != nil {
		o.setMetadata(mergeMetadata(o.metadata(), w.cw.meta, w.cw.metaNames))
	}
	o.setExtraFields(w.cw.extra)
	if w.cw.domain != nil {
		o.DomainID = *w.cw.domain
	}
	if w.exports.given != nil {
		o.Exports = mergeExports(o.exports(), w.exports.given)
		if err := w.commitExports(ctx, tx, o); err != nil {
			return err
		}
	}
	now := time.Now().UTC()
	o.MTime, o.ATime = now, now
	if !w.created {
		o.MCount++
		o.ACount++ // a write is an access (§16.3 Table 118, cdmi_acount)
	}
	if w.created && w.moveFrom == nil {
		err = tx.Create(o).Error
	} else {
		err = tx.Save(o).Error
	}
	if err != nil || !w.exports.any() {
		return err
	}
	return w.s.syncDiskRow(ctx, tx, o, w.path)
}

// commitExports runs the hook's commit phase for the container row o
// (no query outside tx here: SQLite has one connection, which tx holds).
func (w *containerWriteOp) commitExports(ctx context.Context, tx *gorm.DB, o *object) error {
	if !w.exports.any() || w.s.cfg.ExportHook == nil {
		return nil
	}
	return w.exports.commit(ctx, tx, w.s.cfg.ExportHook, containerOf(o, w.path))
}

// currentRow reads what is at the destination now, inside the transaction.
func (w *containerWriteOp) currentRow(ctx context.Context, tx *gorm.DB) (*object, error) {
	var cur *object
	var err error
	if w.t.obj != nil {
		cur, err = w.s.byID(ctx, tx, w.t.obj.ObjectID) // also the root, which has no parent
	} else {
		cur, err = w.s.child(ctx, tx, w.t.parent.ObjectID, w.name)
	}
	if errors.Is(err, errNotFound) {
		return nil, nil
	}
	return cur, err
}

// baseRow is the row the change applies to: the moved container in its
// new place, the current one, or a new container with the ACL inherited
// from its parent.
func (w *containerWriteOp) baseRow(ctx context.Context, tx *gorm.DB, cur *object) (*object, error) {
	switch {
	case w.moveFrom != nil:
		if cur != nil {
			return nil, kind.Errorf(kind.Conflict, "move: the destination exists")
		}
		src, err := w.s.byID(ctx, tx, w.moveFrom.ObjectID)
		if err != nil {
			return nil, kind.Errorf(kind.NotFound, "move: the source is gone")
		}
		o := *src
		o.ParentID, o.Name = w.t.parent.ObjectID, w.name
		return &o, nil
	case cur != nil:
		if cur.Type != typeContainer {
			return nil, kind.Errorf(kind.Conflict, "%q is a %s", w.name, cur.Type)
		}
		if err := w.adopt(cur); err != nil {
			return nil, err
		}
		o := *cur
		w.created = false
		return &o, nil
	}
	o := object{ObjectID: w.id, ParentID: w.t.parent.ObjectID, Name: w.name, Type: typeContainer,
		Owner: w.who.Name, CTime: time.Now().UTC(), Completion: "Complete", DomainID: w.t.parent.DomainID}
	o.setMetadata(map[string]any{"cdmi_acl": w.s.inheritedACL(ctx, tx, w.t.parent, true)})
	return &o, nil
}

// adopt makes a create that finds its name taken at commit (another
// request created the container since this one looked) an update of that
// container, answered 204 (issue 12 item 2), when it would have been a
// valid update of it from the start; otherwise it is a 409. Exports were
// prepared for the container this request meant to create (its volume is
// named by that objectID), so a create with exports never adopts.
func (w *containerWriteOp) adopt(cur *object) error {
	if cur.ObjectID == w.id {
		return nil
	}
	if w.exports.any() {
		return kind.Errorf(kind.Conflict, "%q was created by another request at the same time; retry", w.name)
	}
	if w.cw.meta != nil {
		if err := w.s.require(typeContainer, "cdmi_modify_metadata"); err != nil {
			return err
		}
	}
	if err := w.s.allowed(w.who, cur, writeMask(false, w.cw.meta)); err != nil {
		return err
	}
	w.id = cur.ObjectID
	return nil
}

// futurePath is the path at which the container of a write is found: the
// one it has, or its parent's followed by its name.
func (s *Service) futurePath(ctx context.Context, t *target, name string) (string, error) {
	if t.obj != nil && t.parent == nil {
		return s.uriOf(ctx, s.db, t.obj)
	}
	puri, err := s.uriOf(ctx, s.db, t.parent)
	if err != nil {
		return "", err
	}
	return puri + escapeSegment(name) + "/", nil
}
