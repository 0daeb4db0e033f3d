package cdmi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/internal/kind"
)

// dataWrite gathers what a request changes on a data object.
type dataWrite struct {
	mimetype  *string
	encoding  string         // valuetransferencoding to store; "" derives it from the bytes
	meta      map[string]any // metadata given; nil when absent
	metaNames []string       // ?metadata:<name> limits the change to these
	value     io.Reader      // a whole new value
	valueSize int64          // its size, -1 when unknown
	rng       *Range         // a range write of value
	copyURI   string         // "copy": the data object whose value and metadata to take
	moveURI   string         // "move": the data object that moves here
	reference string         // "reference": the URI this object refers to
	partial   bool
	charset   bool                       // a raw value declared charset=utf-8 (§6.2.3 Table 6)
	extra     map[string]json.RawMessage // fields the standard does not define (§8.1)
	multipart *multipartValue            // a multi-part MIME write (multipart_object.go)
	domain    *string                    // "domainURI": the domain's objectID (domains.go); nil when absent
}

// dataObjectWrite is one create or update of a data object on its way
// through the steps of writeDataObject.
type dataObjectWrite struct {
	s        *Service
	who      Principal
	parent   *object // the container it goes into; nil by ID
	name     string
	existing *object // nil for a create
	d        dataWrite

	copyFrom, moveFrom *object // resolved sources
	reference          string  // resolved reference target
	id                 string
	alg                string   // cdmi_value_hash algorithm, "" for none
	algInherited       bool     // alg is the container tree's (§16.4)
	value              *written // the value to point at; nil when unchanged
	newKey             string   // a key this write created: deleted unless the row commits
	oldKeys            []string // keys the committed row no longer refers to
	created            bool
	row                *object // the row as the commit wrote it
}

// writeDataObject creates or updates a data object. Values go to the
// backend first under a fresh key; the row pointing at them commits after;
// the old value is removed last. A failure at any step leaves the object as
// it was.
func (s *Service) writeDataObject(ctx context.Context, who Principal, parent *object, name string, existing *object, d dataWrite) (*object, bool, error) {
	if existing != nil {
		dk, err := s.openDisk(ctx, parent, existing)
		if err != nil {
			return nil, false, err
		}
		if dk != nil {
			o, err := s.writeDisk(ctx, who, existing, dk, d)
			return o, false, err
		}
	}
	if err := s.checkWrite(&d); err != nil {
		return nil, false, err
	}
	w := &dataObjectWrite{s: s, who: who, parent: parent, name: name, existing: existing, d: d}
	if err := w.resolveSources(ctx); err != nil {
		return nil, false, err
	}
	if err := w.authorize(); err != nil {
		return nil, false, err
	}
	if err := w.chooseID(); err != nil {
		return nil, false, err
	}
	if err := w.chooseHash(ctx); err != nil {
		return nil, false, err
	}
	if err := w.writeValue(ctx); err != nil {
		return nil, false, err
	}
	if err := s.commitWrite(ctx, s.inGroupTx, w.commit); err != nil {
		s.deleteKeys(ctx, []string{w.newKey})
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return nil, false, kind.Errorf(kind.Conflict, "%q was created by another request at the same time; retry", w.name)
		}
		return nil, false, err
	}
	s.deleteKeys(ctx, w.oldKeys)
	// The row as committed (its times at the database's precision, see
	// apply): no need to read it back.
	return w.row, w.created, nil
}

// resolveSources finds the objects "copy", "move" and "reference" name,
// once their capabilities are granted and the ACL allows the access (read
// to copy, delete to move).
func (w *dataObjectWrite) resolveSources(ctx context.Context) error {
	var err error
	if w.copyFrom, err = w.s.sourceDataObject(ctx, w.who, w.d.copyURI, "copy", "cdmi_copy_dataobject", maskRead); err != nil {
		return err
	}
	if w.moveFrom, err = w.s.sourceDataObject(ctx, w.who, w.d.moveURI, "move", "cdmi_move_dataobject", maskDelete); err != nil {
		return err
	}
	for field, src := range map[string]*object{"copy": w.copyFrom, "move": w.moveFrom} {
		if err := w.s.refuseDiskSource(ctx, src, field); err != nil {
			return err
		}
	}
	if w.d.reference == "" {
		return nil
	}
	if err := w.s.require(typeContainer, "cdmi_create_reference"); err != nil {
		return err
	}
	src, err := w.s.resolveURI(ctx, w.d.reference)
	if err != nil {
		return err
	}
	w.reference, err = w.s.uriOf(ctx, w.s.db, src.obj)
	return err
}

// sourceDataObject resolves the URI of a "copy" or "move": the data object
// it names, once the capability is granted and the ACL allows mask. It
// returns nil for an empty URI.
func (s *Service) sourceDataObject(ctx context.Context, who Principal, uri, field, capability string, mask uint32) (*object, error) {
	if uri == "" {
		return nil, nil
	}
	src, err := s.resolveURI(ctx, uri)
	if err != nil {
		return nil, err
	}
	if src.obj.Type != typeDataObject {
		return nil, invalidf("%s: %q is a %s, not a data object", field, uri, src.obj.Type)
	}
	if err := s.require(typeContainer, capability); err != nil {
		return nil, err
	}
	if err := s.allowed(who, src.obj, mask); err != nil {
		return nil, err
	}
	return src.obj, nil
}

// authorize checks the metadata given, the capabilities the write needs
// and the ACL: of the parent for a create, of the object for an update.
func (w *dataObjectWrite) authorize() error {
	s, d := w.s, &w.d
	if d.meta != nil {
		d.meta = withoutIgnored(d.meta)
		if err := checkMetadata(d.meta); err != nil {
			return err
		}
		if err := s.require(typeDataObject, "cdmi_modify_metadata"); err != nil && w.existing != nil {
			return err
		}
	}
	if w.existing == nil && w.parent != nil {
		if !w.parent.isContainerLike() || w.parent.Type != typeContainer {
			return invalidf("objects can be created only in containers")
		}
		if err := s.require(typeContainer, "cdmi_create_dataobject"); err != nil {
			return err
		}
		if err := s.allowed(w.who, w.parent, maskWrite); err != nil {
			return err
		}
	}
	if w.existing == nil {
		return nil
	}
	if w.existing.Type != typeDataObject {
		return kind.Errorf(kind.Conflict, "%q is a %s", w.name, w.existing.Type)
	}
	if w.newValue() {
		if err := s.require(typeDataObject, "cdmi_modify_value"); err != nil {
			return err
		}
	}
	return s.allowed(w.who, w.existing, w.updateMask())
}

// newValue tells whether the write gives the object a new value.
func (w *dataObjectWrite) newValue() bool {
	return w.d.value != nil || w.copyFrom != nil || w.moveFrom != nil
}

// updateMask is what the ACL of an existing object must grant the write
// (§16.1.5).
func (w *dataObjectWrite) updateMask() uint32 {
	return writeMask(w.newValue() || w.reference != "", w.d.meta)
}

// mayReplace checks, inside the transaction, that a write which found no
// object at authorize time may change the one there now (made meanwhile,
// or one who cannot see).
func (w *dataObjectWrite) mayReplace(cur *object) error {
	if w.existing != nil || cur == nil {
		return nil
	}
	return w.s.allowed(w.who, cur, w.updateMask())
}

// chooseID picks the object's identity: kept on update and on move
// (§8.2.8: a move keeps the objectID), fresh otherwise. An object created
// by ID or by POST is named by its ID.
func (w *dataObjectWrite) chooseID() error {
	switch {
	case w.existing != nil:
		w.id = w.existing.ObjectID
	case w.moveFrom != nil:
		w.id = w.moveFrom.ObjectID
	default:
		var err error
		if w.id, err = newObjectID(w.s.cfg.EnterpriseNumber); err != nil {
			return err
		}
	}
	if w.name == "" {
		w.name = w.id
	}
	return nil
}

// chooseHash finds the hash algorithm: the object's own cdmi_value_hash,
// else its source's, else the nearest container's (§16.4: data system
// metadata is inherited).
func (w *dataObjectWrite) chooseHash(ctx context.Context) error {
	w.alg, _ = w.d.meta["cdmi_value_hash"].(string)
	if w.alg == "" && w.existing != nil {
		w.alg, _ = w.existing.metadata()["cdmi_value_hash"].(string)
	}
	if w.alg == "" && w.copyFrom != nil {
		w.alg, _ = w.copyFrom.metadata()["cdmi_value_hash"].(string)
	}
	if w.alg != "" {
		return nil
	}
	var err error
	w.alg, err = w.s.inheritedValueHash(ctx, w.parent)
	w.algInherited = true
	return err
}

// algFor is the hash algorithm chooseHash would have found had cur been
// the object written; "?" when it cannot tell without reading the
// container tree (which adopt, inside the transaction, must not).
func (w *dataObjectWrite) algFor(cur *object) string {
	for _, md := range []map[string]any{w.d.meta, cur.metadata()} {
		if alg, _ := md["cdmi_value_hash"].(string); alg != "" {
			return alg
		}
	}
	if w.copyFrom != nil {
		if alg, _ := w.copyFrom.metadata()["cdmi_value_hash"].(string); alg != "" {
			return alg
		}
	}
	if w.algInherited {
		return w.alg
	}
	return "?"
}

// writeValue stores the new value, outside any transaction: a range
// written into the current value, a whole value under a fresh key, a copy
// of the source's, or an empty one for a create without any.
func (w *dataObjectWrite) writeValue(ctx context.Context) error {
	s, d := w.s, &w.d
	var err error
	var v written
	switch {
	case d.multipart != nil && d.multipart.ranged:
		v, err = s.writeParts(ctx, w.id, w.existing, d.multipart, w.alg)
		w.newKey = v.Key
	case d.rng != nil:
		key := ""
		if w.existing != nil {
			key = w.existing.ValueKey
		}
		v, err = s.writeRange(ctx, w.id, key, *d.rng, d.value, w.alg)
		w.newKey = v.Key
	case d.value != nil:
		v, err = s.putValue(ctx, w.id, d.value, d.valueSize, w.alg)
		w.newKey = v.Key
	case w.copyFrom != nil:
		v, err = s.copyValue(ctx, w.id, w.copyFrom, w.alg)
		w.newKey = v.Key
	case w.existing == nil && w.moveFrom == nil && w.reference == "":
		v, err = s.putValue(ctx, w.id, strings.NewReader(""), 0, w.alg)
		w.newKey = v.Key
	default:
		return nil // the value stays as it is
	}
	if err != nil {
		return err
	}
	w.value = &v
	return nil
}

// commit writes the row in tx: the object as it is now (or the moved
// source, or a new row), with the change applied.
func (w *dataObjectWrite) commit(tx *gorm.DB) error {
	ctx := tx.Statement.Context
	w.oldKeys = nil
	if err := w.s.lockParent(ctx, tx, w.parent); err != nil {
		return err
	}
	cur, err := w.currentRow(ctx, tx)
	if err != nil {
		return err
	}
	if err := w.adopt(cur); err != nil {
		return err
	}
	o, err := w.baseRow(ctx, tx, cur)
	if err != nil {
		return err
	}
	w.apply(o)
	w.row = o
	if w.created && cur == nil && w.moveFrom == nil {
		return insertObject(ctx, tx, o)
	}
	// An update, or the moved source row taking its new place.
	return tx.Save(o).Error
}

// currentRow reads what is at the destination now, inside the transaction.
// On PostgreSQL the row is locked until the commit, so that what adopt
// checks (a range write's base value above all) is still so when the row
// is saved; SQLite's transactions run one at a time.
func (w *dataObjectWrite) currentRow(ctx context.Context, tx *gorm.DB) (*object, error) {
	var cur *object
	var err error
	if w.parent != nil {
		cur, err = w.s.lockedChild(ctx, tx, w.parent.ObjectID, w.name)
	} else {
		cur, err = w.s.lockedByID(ctx, tx, w.id)
	}
	if errors.Is(err, errNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := w.mayReplace(cur); err != nil {
		return nil, err // before anything about it is told
	}
	if cur.Type != typeDataObject {
		return nil, kind.Errorf(kind.Conflict, "%q is a %s", w.name, cur.Type)
	}
	return cur, nil
}

// adopt checks the object found at the destination at commit against the
// one this write was prepared for. When another request created (or
// replaced) it since this one looked, the write becomes an update of it
// (answered 204, issue 12 item 2) if it would have been a valid update of
// it from the start: the caller may write it, it is no disk, and the value
// prepared holds for it (the same hash algorithm; no range, which was
// staged from another value). A range write whose base value was replaced
// meanwhile would drop the other write's bytes. Either of those is a 409,
// and nothing changes.
func (w *dataObjectWrite) adopt(cur *object) error {
	if cur == nil || w.moveFrom != nil {
		return nil
	}
	conflict := kind.Errorf(kind.Conflict, "%q was written by another request at the same time; retry", w.name)
	if cur.ObjectID == w.id {
		if w.d.rng != nil && w.existing != nil && cur.ValueKey != w.existing.ValueKey {
			return conflict
		}
		return nil
	}
	if w.d.rng != nil || isDiskRow(cur) || w.algFor(cur) != w.alg {
		return conflict
	}
	newValue := w.d.value != nil || w.copyFrom != nil
	if newValue {
		if err := w.s.require(typeDataObject, "cdmi_modify_value"); err != nil {
			return err
		}
	}
	if w.d.meta != nil {
		if err := w.s.require(typeDataObject, "cdmi_modify_metadata"); err != nil {
			return err
		}
	}
	if err := w.s.allowed(w.who, cur, writeMask(newValue || w.reference != "", w.d.meta)); err != nil {
		return err
	}
	w.id = cur.ObjectID
	return nil
}

// baseRow is the row the change applies to: the moved source (replacing
// what was at the destination), the current object, or a new object with
// the ACL inherited from its container.
func (w *dataObjectWrite) baseRow(ctx context.Context, tx *gorm.DB, cur *object) (*object, error) {
	switch {
	case w.moveFrom != nil:
		src, err := w.s.byID(ctx, tx, w.moveFrom.ObjectID)
		if err != nil {
			return nil, kind.Errorf(kind.NotFound, "move: the source is gone")
		}
		if cur != nil && cur.ObjectID != src.ObjectID {
			if err := tx.Delete(&object{}, "object_id = ?", cur.ObjectID).Error; err != nil {
				return nil, err
			}
			if cur.ValueKey != "" {
				w.oldKeys = append(w.oldKeys, cur.ValueKey)
			}
		}
		o := *src
		o.ParentID, o.Name = "", o.ObjectID
		if w.parent != nil {
			o.ParentID, o.Name = w.parent.ObjectID, w.name
		}
		w.created = cur == nil
		return &o, nil
	case cur != nil:
		o := *cur
		w.created = false
		return &o, nil
	}
	o := object{ObjectID: w.id, Name: w.name, Type: typeDataObject, Owner: w.who.Name, CTime: dbNow()}
	if w.parent != nil {
		o.ParentID, o.DomainID = w.parent.ObjectID, w.parent.DomainID // §10: the parent's domain
	}
	if w.copyFrom != nil {
		o.Mimetype, o.Metadata, o.Encoding = w.copyFrom.Mimetype, w.copyFrom.Metadata, w.copyFrom.Encoding
	}
	md := o.metadata()
	if _, ok := md["cdmi_acl"]; !ok {
		md["cdmi_acl"] = w.s.inheritedACL(ctx, tx, w.parent, false)
	}
	o.setMetadata(md)
	w.created = true
	return &o, nil
}

// apply sets what the request changes on the row: mimetype, metadata, the
// value (and the encoding it is read back in), the reference, the
// completion status and the times.
func (w *dataObjectWrite) apply(o *object) {
	d := &w.d
	if d.mimetype != nil {
		o.Mimetype = *d.mimetype
	}
	if o.Mimetype == "" {
		o.Mimetype = "text/plain" // §8.2.5: the default mimetype
	}
	if d.meta != nil {
		o.setMetadata(mergeMetadata(o.metadata(), d.meta, d.metaNames))
	}
	o.setExtraFields(d.extra)
	if d.domain != nil {
		o.DomainID = *d.domain
	}
	if v := w.value; v != nil {
		if v.Key != o.ValueKey && o.ValueKey != "" {
			w.oldKeys = append(w.oldKeys, o.ValueKey)
		}
		o.ValueKey, o.Size, o.Hash = v.Key, v.Size, v.Hash
		o.Encoding = w.storedEncoding(o.Encoding, v.UTF8)
		o.Reference = ""
	}
	if w.reference != "" {
		if o.ValueKey != "" {
			w.oldKeys = append(w.oldKeys, o.ValueKey)
		}
		o.Reference, o.ValueKey, o.Size, o.Hash = w.reference, "", 0, ""
	}
	o.Completion = "Complete"
	if d.partial {
		o.Completion = "Processing"
	}
	now := dbNow()
	o.MTime, o.ATime = now, now
	if !w.created {
		o.MCount++
		o.ACount++ // a write is an access (§16.3 Table 118, cdmi_acount)
	}
}

// storedEncoding is the valuetransferencoding a new value is read back in.
func (w *dataObjectWrite) storedEncoding(old string, utf8 bool) string {
	d := &w.d
	switch {
	case w.copyFrom != nil:
		return w.copyFrom.Encoding
	case d.multipart != nil && !d.multipart.ranged:
		return d.multipart.storedEncoding(utf8)
	case d.rng != nil || d.multipart != nil:
		// A range write keeps the encoding while the bytes still fit it.
		if old == "" || (old == "utf-8" || old == "json") && !utf8 {
			return "base64"
		} else if old == "json" {
			return "utf-8"
		}
		return old
	case d.encoding != "":
		return d.encoding
	case d.charset && utf8:
		// §6.2.3 Table 6: a raw value sent with charset=utf-8 is utf-8 (if
		// its bytes really are), any other is base64.
		return "utf-8"
	}
	return "base64"
}

// commitWrite runs a write's commit in a transaction, and once more when
// it lost a race to create the same name: two creates that both found the
// name free both insert, and the later one's insert fails on the unique
// name (PostgreSQL runs them side by side). Run again, the commit finds the
// other's row and adopts it as an update (204) where it can, else answers
// 409 (issue 12 item 2).
func (s *Service) commitWrite(ctx context.Context, inTx func(context.Context, func(*gorm.DB) error) error, commit func(tx *gorm.DB) error) error {
	err := inTx(ctx, commit)
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		err = inTx(ctx, commit)
	}
	return err
}

// dbNow is the time now as the database keeps it (PostgreSQL to the
// microsecond), so that a row answered as written is what a later read
// finds.
func dbNow() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
