package cdmi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/occicdmi/occicdmi/internal/kind"
	"gorm.io/gorm"
)

// maxQueueBody bounds an enqueue body; queue values are messages, not bulk
// data, and are read back into a JSON response.
const maxQueueBody = 16 << 20

func (s *Server) putQueue(c *call, t *target, b *cdmiBody) error {
	if b.has("value") {
		return invalidf("a queue is created without a value; POST values to enqueue them (§11.6)")
	}
	for _, f := range []string{"copy", "move", "reference", "deserialize", "serialize"} {
		if b.has(f) {
			return s.unsupported(typeContainer, "cdmi_"+f+"_queue")
		}
	}
	meta, merr := bodyMetadata(b)
	if merr != nil {
		return merr
	}
	created := t.obj == nil
	if created {
		if t.parent != nil && t.parent.Type != typeContainer {
			return invalidf("queues can be created only in containers")
		}
		if err := s.require(typeContainer, "cdmi_create_queue"); err != nil {
			return err
		}
		if t.parent != nil {
			if err := s.allowed(c, t.parent, maskWrite); err != nil {
				return err
			}
		}
	} else {
		if err := s.require(typeQueue, "cdmi_modify_metadata"); err != nil {
			return err
		}
		if err := s.allowed(c, t.obj, writeMask(false, meta)); err != nil {
			return err
		}
	}
	var id string
	if t.obj != nil {
		id = t.obj.ObjectID
	} else {
		var err error
		if id, err = newObjectID(s.cfg.EnterpriseNumber); err != nil {
			return err
		}
	}
	name := t.name
	if name == "" {
		name = id
	}
	now := time.Now().UTC()
	err := s.inTx(c.ctx, func(tx *gorm.DB) error {
		var o object
		if err := s.lockParent(c.ctx, tx, t.parent); err != nil {
			return err
		}
		if t.obj != nil {
			cur, err := s.byID(c.ctx, tx, id)
			if err != nil {
				return err
			}
			o = *cur
			o.MCount++
		} else {
			o = object{ObjectID: id, Name: name, Type: typeQueue, Owner: c.who.Name, CTime: now, Completion: "Complete", Mimetype: ctQueue}
			if t.parent != nil {
				o.ParentID = t.parent.ObjectID
			}
			o.setMetadata(map[string]any{"cdmi_acl": s.inheritedACL(c.ctx, tx, t.parent, false)})
		}
		if meta != nil {
			o.setMetadata(mergeMetadata(o.metadata(), meta, c.q.args("metadata")))
		}
		o.MTime, o.ATime = now, now
		if t.obj == nil {
			return tx.Create(&o).Error
		}
		return tx.Save(&o).Error
	})
	if err != nil {
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return kind.Errorf(kind.Conflict, "%q exists already", name)
		}
		return err
	}
	o, err := s.byID(c.ctx, s.db, id)
	if err != nil {
		return err
	}
	return s.answerWrite(c, o, created)
}

// enqueue adds values to a queue (§11.6): "value" is a string or a list of
// strings, with "mimetype" and "valuetransferencoding" alike (one for all
// or one each); or "copy" names a data object whose value is enqueued.
func (s *Server) enqueue(c *call, q *object) error {
	if err := s.require(typeQueue, "cdmi_modify_value"); err != nil {
		return err
	}
	if err := s.allowed(c, q, maskWrite); err != nil {
		return err
	}
	b, err := parseBody(io.LimitReader(c.r.Body, maxQueueBody+1), maxQueueBody, s.cfg.TempDir)
	if err != nil {
		return err
	}
	defer b.Close()
	if err := checkServerFields(b); err != nil {
		return err
	}
	type item struct {
		r        io.Reader
		mimetype string
		enc      string
	}
	var items []item
	var uri string
	if ok, err := b.field("copy", &uri); err != nil {
		return err
	} else if ok {
		src, err := s.resolveURI(c.ctx, uri)
		if err != nil {
			return err
		}
		if src.obj.Type != typeDataObject || src.obj.ValueKey == "" {
			return invalidf("copy: %q is not a data object with a value", uri)
		}
		rc, err := s.objs.Open(c.ctx, src.obj.ValueKey, 0, -1)
		if err != nil {
			return err
		}
		defer rc.Close()
		items = append(items, item{rc, src.obj.Mimetype, src.obj.Encoding})
	} else {
		if b.Value == nil {
			return invalidf("enqueue: the body needs a \"value\" (a string or a list of strings) or a \"copy\"")
		}
		var values []string
		if b.ValueIsString {
			var buf bytes.Buffer
			if _, err := io.Copy(&buf, b.Value.Reader()); err != nil {
				return err
			}
			values = []string{buf.String()}
		} else if err := json.NewDecoder(b.Value.Reader()).Decode(&values); err != nil {
			return invalidf("enqueue: \"value\" must be a string or a list of strings")
		}
		mts, err := stringsField(b, "mimetype", len(values), "text/plain")
		if err != nil {
			return err
		}
		encs, err := stringsField(b, "valuetransferencoding", len(values), "utf-8")
		if err != nil {
			return err
		}
		for i, v := range values {
			if err := checkEncoding(encs[i]); err != nil {
				return err
			}
			var r io.Reader = strings.NewReader(v)
			if encs[i] == "base64" {
				r = badValueReader{base64Decoder(r)}
			}
			items = append(items, item{r, mts[i], encs[i]})
		}
	}
	// Values first, rows after (one transaction for all of them).
	var rows []queueValue
	var keys []string
	for _, it := range items {
		w, err := s.putValue(c.ctx, q.ObjectID, it.r, -1, "")
		if err != nil {
			s.deleteKeys(c.ctx, keys)
			return err
		}
		keys = append(keys, w.Key)
		rows = append(rows, queueValue{QueueID: q.ObjectID, ValueKey: w.Key, Mimetype: it.mimetype, Encoding: it.enc, Size: w.Size})
	}
	err = s.inTx(c.ctx, func(tx *gorm.DB) error {
		// Take len(rows) designators: the update locks the queue's row, so
		// concurrent enqueues get distinct, increasing ones.
		res := tx.Model(&object{}).Where("object_id = ?", q.ObjectID).
			Update("queue_next", gorm.Expr("queue_next + ?", len(rows)))
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return kind.Errorf(kind.NotFound, "the queue is gone")
		}
		cur, err := s.byID(c.ctx, tx, q.ObjectID)
		if err != nil {
			return err
		}
		for i := range rows {
			rows[i].Designator = cur.QueueNext - int64(len(rows)) + int64(i)
		}
		for i := range rows {
			if err := tx.Create(&rows[i]).Error; err != nil {
				return err
			}
		}
		return tx.Model(&object{}).Where("object_id = ?", q.ObjectID).
			Updates(map[string]any{"m_time": time.Now().UTC(), "m_count": gorm.Expr("m_count + 1")}).Error
	})
	if err != nil {
		s.deleteKeys(c.ctx, keys)
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// stringsField reads a field that is one string for all values or a list
// with one string per value.
func stringsField(b *cdmiBody, name string, n int, def string) ([]string, error) {
	out := make([]string, n)
	for i := range out {
		out[i] = def
	}
	raw, ok := b.Fields[name]
	if !ok {
		return out, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		for i := range out {
			out[i] = one
		}
		return out, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil || len(list) != n {
		return nil, invalidf("%q must be a string or a list of %d strings", name, n)
	}
	return list, nil
}

func (s *Server) readQueue(c *call, o *object) error {
	fs, err := s.commonFields(c.ctx, s.db, o)
	if err != nil {
		return err
	}
	md, err := s.renderMetadata(c.ctx, s.db, o, c.q.args("metadata"))
	if err != nil {
		return err
	}
	qr, err := s.queueRange(c.ctx, o.ObjectID)
	if err != nil {
		return err
	}
	fs = append(fs, field{"metadata", md}, field{"queueValues", qr})
	n := 1
	if sel, ok := c.q.get("values"); ok && sel.HasArg {
		if n, err = parseCount(sel.Arg); err != nil {
			return invalidf("values: %v", err)
		}
	}
	if n > 1000 {
		n = 1000
	}
	vals, err := s.queueWindow(c.ctx, s.db, o.ObjectID, n)
	if err != nil {
		return err
	}
	// ?value:<range> is a byte range of each value returned (§11.3.1).
	var rng *byteRange
	if sel, ok := c.q.get("value"); ok && sel.HasArg {
		r, err := parseRange(sel.Arg)
		if err != nil {
			return invalidf("value: %v", err)
		}
		rng = &r
	}
	mts, ranges, encs, values := []string{}, []string{}, []any{}, []any{}
	for _, v := range vals {
		raw, err := s.readSmall(c.ctx, v.ValueKey, maxQueueBody)
		if err != nil {
			return err
		}
		mts = append(mts, v.Mimetype)
		first := int64(0)
		if rng != nil {
			first = min(rng.First, int64(len(raw)))
			raw = raw[first:min(rng.Last+1, int64(len(raw)))]
		}
		if len(raw) > 0 {
			ranges = append(ranges, fmt.Sprintf("%d-%d", first, first+int64(len(raw))-1))
		} else {
			ranges = append(ranges, "")
		}
		enc := v.Encoding
		if enc == "json" && (rng != nil || !json.Valid(raw)) {
			enc = "utf-8" // a slice of JSON text is no JSON value
		}
		if enc == "utf-8" && !validUTF8(raw) {
			enc = "base64"
		}
		encs = append(encs, enc)
		switch enc {
		case "base64":
			values = append(values, base64Encode(raw))
		case "json":
			values = append(values, json.RawMessage(raw))
		default:
			values = append(values, string(raw))
		}
	}
	if len(c.q) == 0 || c.q.has("values") || c.q.has("value") {
		fs = append(fs, field{"mimetype", mts}, field{"valuerange", ranges}, field{"valuetransferencoding", encs}, field{"value", values})
	}
	sel := c.q
	if sel.has("values") {
		// ?values:<n> asks for the values themselves: keep the value fields.
		sel = append(selection{{Field: "queueValues"}, {Field: "mimetype"}, {Field: "valuerange"}, {Field: "valuetransferencoding"}, {Field: "value"}}, sel...)
	}
	s.touch(c.ctx, o)
	s.writeJSON(c.w, http.StatusOK, ctQueue, fs.pick(sel))
	return nil
}

// dequeue removes the n oldest values (§11.7, DELETE ?values:<n>).
func (s *Server) dequeue(c *call, o *object, sel selector) error {
	if err := s.require(typeQueue, "cdmi_modify_value"); err != nil {
		return err
	}
	n := 1
	if sel.HasArg {
		var err error
		if n, err = parseCount(sel.Arg); err != nil {
			return invalidf("values: %v", err)
		}
	}
	var keys []string
	err := s.inTx(c.ctx, func(tx *gorm.DB) error {
		vals, err := s.queueWindow(c.ctx, tx, o.ObjectID, n)
		if err != nil {
			return err
		}
		keys = keys[:0]
		seqs := make([]int64, 0, len(vals))
		for _, v := range vals {
			seqs = append(seqs, v.Seq)
			keys = append(keys, v.ValueKey)
		}
		if len(seqs) == 0 {
			return nil
		}
		return tx.Where("seq IN ?", seqs).Delete(&queueValue{}).Error
	})
	if err != nil {
		return err
	}
	s.deleteKeys(c.ctx, keys)
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}
