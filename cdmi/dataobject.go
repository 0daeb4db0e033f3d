package cdmi

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/occicdmi/occicdmi/internal/kind"
	"gorm.io/gorm"
)

// dataWrite gathers what a request changes on a data object.
type dataWrite struct {
	mimetype  *string
	encoding  string
	meta      map[string]any // metadata given; nil when absent
	metaNames []string       // ?metadata:<name> limits the change to these
	value     io.Reader      // a whole new value
	valueSize int64          // its size, -1 when unknown
	rng       *byteRange     // a range write of value
	copyFrom  *object
	moveFrom  *object
	reference string
	partial   bool
	domain    string
	charset   bool // a raw value declared charset=utf-8 (§6.2.3 Table 6)
}

// writeDataObject creates or updates a data object. Values go to the
// backend first under a fresh key; the row pointing at them commits after;
// the old value is removed last. A failure at any step leaves the object as
// it was.
func (s *Server) writeDataObject(c *call, parent *object, name string, existing *object, d dataWrite) (*object, bool, error) {
	ctx := c.ctx
	if d.meta != nil {
		if err := checkMetadata(d.meta); err != nil {
			return nil, false, err
		}
		if err := s.require(typeDataObject, "cdmi_modify_metadata"); err != nil && existing != nil {
			return nil, false, err
		}
	}
	if existing == nil && parent != nil {
		if !parent.isContainerLike() || parent.Type != typeContainer {
			return nil, false, invalidf("objects can be created only in containers")
		}
		if err := s.require(typeContainer, "cdmi_create_dataobject"); err != nil {
			return nil, false, err
		}
		if err := s.allowed(c, parent, maskWrite); err != nil {
			return nil, false, err
		}
	}
	if existing != nil {
		if existing.Type != typeDataObject {
			return nil, false, kind.Errorf(kind.Conflict, "%q is a %s", name, existing.Type)
		}
		if d.value != nil || d.copyFrom != nil || d.moveFrom != nil {
			if err := s.require(typeDataObject, "cdmi_modify_value"); err != nil {
				return nil, false, err
			}
		}
		if err := s.allowed(c, existing, writeMask(d.value != nil || d.copyFrom != nil || d.moveFrom != nil || d.reference != "", d.meta)); err != nil {
			return nil, false, err
		}
	}
	// The object's identity: kept on update and on move (§8.2.8: a move
	// keeps the objectID), fresh otherwise.
	var id string
	switch {
	case existing != nil:
		id = existing.ObjectID
	case d.moveFrom != nil:
		id = d.moveFrom.ObjectID
	default:
		var err error
		if id, err = newObjectID(s.cfg.EnterpriseNumber); err != nil {
			return nil, false, err
		}
	}
	if name == "" {
		name = id // created by ID or by POST: the name is the ID
	}
	// The hash algorithm: the object's own cdmi_value_hash, else the
	// nearest container's (§16.4: data system metadata is inherited).
	alg, _ := d.meta["cdmi_value_hash"].(string)
	if alg == "" && existing != nil {
		alg, _ = existing.metadata()["cdmi_value_hash"].(string)
	}
	if alg == "" && d.copyFrom != nil {
		alg, _ = d.copyFrom.metadata()["cdmi_value_hash"].(string)
	}
	if alg == "" {
		var err error
		if alg, err = s.inheritedValueHash(ctx, parent); err != nil {
			return nil, false, err
		}
	}

	// 1. The value, outside any transaction.
	var newKey string
	var w written
	haveValue := false
	switch {
	case d.rng != nil:
		key := ""
		if existing != nil {
			key = existing.ValueKey
		}
		if key == "" {
			// A range write to an object without a value: start from an
			// empty value under a fresh key.
			ww, err := s.putValue(ctx, id, strings.NewReader(""), 0, "")
			if err != nil {
				return nil, false, err
			}
			newKey, key = ww.Key, ww.Key
		}
		piece := &utf8Check{}
		src := &sourceReader{r: io.TeeReader(d.value, piece)}
		if err := s.objs.WriteAt(ctx, key, d.rng.First, src, d.rng.Len()); err != nil {
			if newKey != "" {
				_ = s.objs.Delete(ctx, newKey)
			}
			if src.err != nil {
				return nil, false, src.err
			}
			return nil, false, err
		}
		size, err := s.objs.Size(ctx, key)
		if err != nil {
			return nil, false, err
		}
		w = written{Size: size, Key: key, UTF8: piece.valid()}
		if alg != "" {
			if w.Hash, err = s.rehash(ctx, key, alg); err != nil {
				return nil, false, err
			}
		}
		haveValue = true
	case d.value != nil:
		var err error
		if w, err = s.putValue(ctx, id, d.value, d.valueSize, alg); err != nil {
			return nil, false, err
		}
		newKey = w.Key
		haveValue = true
	case d.copyFrom != nil:
		if d.copyFrom.ValueKey != "" {
			newKey = newValueKey(id)
			if err := s.objs.Copy(ctx, newKey, d.copyFrom.ValueKey); err != nil {
				return nil, false, err
			}
		}
		w = written{Size: d.copyFrom.Size, Key: newKey}
		if alg != "" {
			w.Hash = d.copyFrom.Hash
		}
		if alg != "" && newKey != "" && !strings.HasPrefix(d.copyFrom.Hash, strings.ToUpper(alg)+":") {
			var err error
			if w.Hash, err = s.rehash(ctx, newKey, alg); err != nil {
				_ = s.objs.Delete(ctx, newKey)
				return nil, false, err
			}
		}
		haveValue = true
	case existing == nil && d.moveFrom == nil && d.reference == "":
		// A create with no value holds an empty one.
		var err error
		if w, err = s.putValue(ctx, id, strings.NewReader(""), 0, alg); err != nil {
			return nil, false, err
		}
		newKey = w.Key
		haveValue = true
	}

	// 2. The row.
	var oldKeys []string
	created := existing == nil
	now := time.Now().UTC()
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		oldKeys = nil
		if err := s.lockParent(ctx, tx, parent); err != nil {
			return err
		}
		var o object
		var cur *object
		var err error
		if parent != nil {
			cur, err = s.child(ctx, tx, parent.ObjectID, name)
		} else {
			cur, err = s.byID(ctx, tx, id)
		}
		if err != nil && !errors.Is(err, errNotFound) {
			return err
		}
		if cur != nil && cur.Type != typeDataObject {
			return kind.Errorf(kind.Conflict, "%q is a %s", name, cur.Type)
		}
		if d.moveFrom != nil {
			src, err := s.byID(ctx, tx, d.moveFrom.ObjectID)
			if err != nil {
				return kind.Errorf(kind.NotFound, "move: the source is gone")
			}
			if cur != nil && cur.ObjectID != src.ObjectID {
				// The destination is replaced by the moved object.
				if err := tx.Delete(&object{}, "object_id = ?", cur.ObjectID).Error; err != nil {
					return err
				}
				if cur.ValueKey != "" {
					oldKeys = append(oldKeys, cur.ValueKey)
				}
			}
			o = *src
			o.ParentID, o.Name = "", o.ObjectID
			if parent != nil {
				o.ParentID, o.Name = parent.ObjectID, name
			}
			created = cur == nil
		} else if cur != nil {
			o = *cur
			created = false
		} else {
			o = object{ObjectID: id, Name: name, Type: typeDataObject, Owner: c.who.Name, CTime: now}
			if parent != nil {
				o.ParentID = parent.ObjectID
			}
			if d.copyFrom != nil {
				o.Mimetype, o.Metadata, o.Encoding = d.copyFrom.Mimetype, d.copyFrom.Metadata, d.copyFrom.Encoding
			}
			md := o.metadata()
			if _, ok := md["cdmi_acl"]; !ok {
				md["cdmi_acl"] = s.inheritedACL(ctx, tx, parent, false)
			}
			o.setMetadata(md)
			created = true
		}
		if d.mimetype != nil {
			o.Mimetype = *d.mimetype
		}
		if o.Mimetype == "" {
			o.Mimetype = "text/plain" // §8.2.5: the default mimetype
		}
		if d.meta != nil {
			o.setMetadata(mergeMetadata(o.metadata(), d.meta, d.metaNames))
		}
		if haveValue {
			if w.Key != o.ValueKey && o.ValueKey != "" {
				oldKeys = append(oldKeys, o.ValueKey)
			}
			o.ValueKey, o.Size, o.Hash = w.Key, w.Size, w.Hash
			switch {
			case d.copyFrom != nil:
				o.Encoding = d.copyFrom.Encoding
			case d.rng != nil:
				// A range write keeps the encoding while the bytes still fit it.
				if o.Encoding == "" || (o.Encoding == "utf-8" || o.Encoding == "json") && !w.UTF8 {
					o.Encoding = "base64"
				} else if o.Encoding == "json" {
					o.Encoding = "utf-8"
				}
			case d.encoding != "":
				o.Encoding = d.encoding
			case d.charset && w.UTF8:
				// §6.2.3 Table 6: a raw value sent with charset=utf-8 is
				// utf-8 (if its bytes really are), any other is base64.
				o.Encoding = "utf-8"
			default:
				o.Encoding = "base64"
			}
			o.Reference = ""
		}
		if d.reference != "" {
			if o.ValueKey != "" {
				oldKeys = append(oldKeys, o.ValueKey)
			}
			o.Reference, o.ValueKey, o.Size, o.Hash = d.reference, "", 0, ""
		}
		o.Completion = "Complete"
		if d.partial {
			o.Completion = "Processing"
		}
		o.MTime, o.ATime = now, now
		if !created {
			o.MCount++
		}
		if created && cur == nil && d.moveFrom == nil {
			return tx.Create(&o).Error
		}
		// An update, or the moved source row taking its new place.
		return tx.Save(&o).Error
	})
	if err != nil {
		if newKey != "" {
			_ = s.objs.Delete(context.WithoutCancel(ctx), newKey)
		}
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return nil, false, kind.Errorf(kind.Conflict, "%q was created by another request at the same time; retry", name)
		}
		return nil, false, err
	}
	for _, k := range oldKeys {
		_ = s.objs.Delete(context.WithoutCancel(ctx), k)
	}
	o, err := s.byID(ctx, s.db, id)
	if err != nil {
		return nil, false, err
	}
	return o, created, nil
}
