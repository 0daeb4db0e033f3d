package cdmi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/occicdmi/occicdmi/internal/kind"
	"github.com/occicdmi/occicdmi/internal/web"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// mediaType is the request's Content-Type without parameters.
func mediaType(r *http.Request) string {
	return normalizeMediaType(r.Header.Get("Content-Type"))
}

// normalizeMediaType drops parameters and folds the forms CDMI media types
// come in onto the short one: the "+json" suffix (§5.13.2, RFC 6839) and
// the older "application/vnd.org.snia.cdmi.<type>+json" of some examples.
func normalizeMediaType(ct string) string {
	if ct == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(strings.Split(ct, ";")[0]))
	}
	if rest, ok := strings.CutPrefix(mt, "application/vnd.org.snia.cdmi."); ok {
		mt = "application/cdmi-" + rest
	}
	if strings.HasPrefix(mt, "application/cdmi-") {
		mt = strings.TrimSuffix(mt, "+json")
	}
	return mt
}

// checkRequestType refuses CDMI media types no request body can have.
func checkRequestType(mt string) error {
	if !strings.HasPrefix(mt, "application/cdmi-") {
		return nil
	}
	switch mt {
	case ctObject, ctContainer, ctQueue:
		return nil
	case ctDomain, ctCapability:
		return invalidf("%s objects cannot be created or changed here", mt)
	}
	return invalidf("unknown CDMI media type %q (§5.13.2): want %s, %s or %s", mt, ctObject, ctContainer, ctQueue)
}

// serverFields are response fields the server alone sets; a request body
// that carries them is refused rather than silently half-applied.
var serverFields = []string{"objectType", "objectID", "objectName", "parentURI", "parentID", "capabilitiesURI",
	"completionStatus", "percentComplete", "childrenrange", "children", "valuerange", "queueValues"}

func checkServerFields(b *cdmiBody) error {
	for _, f := range serverFields {
		if _, ok := b.Fields[f]; ok {
			return invalidf("%q is set by the server and cannot be given in a request", f)
		}
	}
	return nil
}

// acceptable applies §5.13.2: a client restricting the response to CDMI
// media types other than the object's gets 406.
func acceptable(r *http.Request, ct string) error {
	var cdmiOnly = true
	var listed []string
	for _, h := range r.Header.Values("Accept") {
		for _, item := range strings.Split(h, ",") {
			mt := normalizeMediaType(strings.TrimSpace(item))
			if mt == "" {
				continue
			}
			if mt == ct {
				return nil
			}
			if !strings.HasPrefix(mt, "application/cdmi-") {
				cdmiOnly = false
			}
			listed = append(listed, mt)
		}
	}
	if len(listed) == 0 || !cdmiOnly {
		return nil
	}
	return web.Errorf(http.StatusNotAcceptable, "the object is %s; Accept lists only %v", ct, listed)
}

// readBody parses a CDMI JSON body; containers and queues take no large
// value, so their bodies are bounded by the field limit alone.
func (s *Server) readBody(c *call, maxValue int64) (*cdmiBody, error) {
	b, err := parseBody(c.r.Body, maxValue, s.cfg.TempDir)
	if err != nil {
		return nil, err
	}
	if err := checkServerFields(b); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// partialFlag reads X-CDMI-Partial (§8.2.3): true leaves the object
// "Processing" until a later write without it completes it.
func partialFlag(r *http.Request) (bool, error) {
	v := r.Header.Get("X-CDMI-Partial")
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "":
		return false, nil
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, invalidf("X-CDMI-Partial %q: want true or false", v)
}

// ---- PUT and PATCH ----

func (s *Server) handlePut(c *call) error { return s.put(c, false) }

// handlePatch is CDMI 2.0's update: a PUT that never creates.
func (s *Server) handlePatch(c *call) error { return s.put(c, true) }

func (s *Server) put(c *call, mustExist bool) error {
	t, err := s.locate(c.ctx, c.r)
	if err != nil {
		return err
	}
	if t.obj == nil && (mustExist || t.byID && t.parent == nil) {
		return kind.Errorf(kind.NotFound, "%s does not exist", t.path)
	}
	if t.obj != nil && t.obj.isContainerLike() && !t.slash && !t.byID {
		return s.toSlash(c, t)
	}
	if t.obj != nil && t.obj.System && t.obj.ObjectID != s.rootID {
		return invalidf("%s is maintained by the server and cannot be changed", t.path)
	}
	mt := mediaType(c.r)
	if err := checkRequestType(mt); err != nil {
		return err
	}
	typ := ""
	switch {
	case mt == ctContainer:
		typ = typeContainer
	case mt == ctQueue:
		typ = typeQueue
	case mt == ctObject:
		typ = typeDataObject
	case t.obj != nil && t.obj.Type == typeContainer && (mt == "" || mt == "application/json"):
		typ = typeContainer
	case t.obj == nil && t.slash:
		typ = typeContainer
	}
	if typ == typeContainer && !t.slash && !t.byID {
		return invalidf("a container's URI ends in '/' (§9.2); PUT %s/", t.path)
	}
	if t.slash && typ != typeContainer && !(t.byID && t.obj != nil) {
		return invalidf("a path ending in '/' names a container; use Content-Type %s", ctContainer)
	}
	if t.obj != nil && typ != "" && t.obj.Type != typ {
		// §5.13.2: a Content-Type that does not match the resource is 400.
		return invalidf("%s is a %s (%s), not a %s", t.path, t.obj.Type, contentTypeOf(t.obj.Type), typ)
	}
	if t.obj != nil && typ == "" && t.obj.Type != typeDataObject {
		return kind.Errorf(kind.Conflict, "%s is a %s; send a CDMI body with Content-Type %s", t.path, t.obj.Type, contentTypeOf(t.obj.Type))
	}
	switch typ {
	case typeContainer:
		if !strings.HasPrefix(mt, "application/cdmi-") && mt != "application/json" && c.r.ContentLength <= 0 {
			// A plain HTTP PUT of an empty body creates a container.
			return s.putContainer(c, t, &cdmiBody{Fields: map[string]json.RawMessage{}}, false)
		}
		b, err := s.readBody(c, 0)
		if err != nil {
			return err
		}
		defer b.Close()
		return s.putContainer(c, t, b, true)
	case typeQueue:
		b, err := s.readBody(c, 0)
		if err != nil {
			return err
		}
		defer b.Close()
		return s.putQueue(c, t, b)
	case typeDataObject:
		b, err := s.readBody(c, s.cfg.MaxBodyValue)
		if err != nil {
			return err
		}
		defer b.Close()
		return s.putDataObjectCDMI(c, t, b)
	}
	return s.putDataObjectRaw(c, t)
}

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

func (s *Server) putDataObjectCDMI(c *call, t *target, b *cdmiBody) error {
	d, err := s.dataWriteFromBody(c, b, t.obj)
	if err != nil {
		return err
	}
	o, created, err := s.writeDataObject(c, t.parent, t.name, t.obj, d)
	if err != nil {
		return err
	}
	return s.answerWrite(c, o, created)
}

// dataWriteFromBody reads a CDMI data object body (§8.2 create, §8.5 update).
func (s *Server) dataWriteFromBody(c *call, b *cdmiBody, existing *object) (dataWrite, error) {
	d := dataWrite{valueSize: -1}
	var err error
	if d.partial, err = partialFlag(c.r); err != nil {
		return d, err
	}
	for _, f := range []string{"deserialize", "serialize", "deserializevalue"} {
		if b.has(f) {
			return d, s.unsupported(typeDataObject, "cdmi_"+f+"_dataobject")
		}
	}
	var mimetype string
	if ok, err := b.field("mimetype", &mimetype); err != nil {
		return d, err
	} else if ok {
		d.mimetype = &mimetype
	}
	if ok, err := b.field("metadata", &d.meta); err != nil {
		return d, err
	} else if ok && d.meta == nil {
		d.meta = map[string]any{}
	}
	if _, err := b.field("domainURI", &d.domain); err != nil {
		return d, err
	}
	if d.domain != "" && d.domain != s.root+"/cdmi_domains/default/" && d.domain != "/cdmi_domains/default/" {
		return d, invalidf("domainURI %q: the only domain is %s/cdmi_domains/default/", d.domain, s.root)
	}
	if _, err := b.field("valuetransferencoding", &d.encoding); err != nil {
		return d, err
	}
	if d.encoding == "" {
		// §8.4.8 (after example 3), CDMI 2.0 update: a value sent without
		// valuetransferencoding is in the object's current encoding.
		d.encoding = "utf-8"
		if existing != nil && existing.Encoding != "" && existing.Reference == "" {
			d.encoding = existing.Encoding
		}
	}
	if err := checkEncoding(d.encoding); err != nil {
		return d, err
	}
	d.metaNames = c.q.args("metadata")
	sources := 0
	for _, f := range []string{"value", "copy", "move", "reference"} {
		if b.has(f) {
			sources++
		}
	}
	if sources > 1 {
		return d, invalidf("give at most one of value, copy, move and reference")
	}
	if b.Value != nil {
		if d.value, err = decodedValue(b, d.encoding); err != nil {
			return d, err
		}
		if sel, ok := c.q.get("value"); ok && sel.HasArg {
			if err := s.require(typeDataObject, "cdmi_modify_value_range"); err != nil {
				return d, err
			}
			rng, err := parseRange(sel.Arg)
			if err != nil {
				return d, invalidf("value: %v", err)
			}
			n, err := decodedLen(b, d.encoding)
			if err != nil {
				return d, err
			}
			if n != rng.Len() {
				return d, invalidf("value range %s is %d bytes but the value holds %d", rng, rng.Len(), n)
			}
			if d.value, err = decodedValue(b, d.encoding); err != nil {
				return d, err
			}
			d.rng = &rng
		}
	}
	if d.copyFrom, err = s.sourceDataObject(c, b, "copy", "cdmi_copy_dataobject", maskRead); err != nil {
		return d, err
	}
	if d.moveFrom, err = s.sourceDataObject(c, b, "move", "cdmi_move_dataobject", maskDelete); err != nil {
		return d, err
	}
	var uri string
	if ok, err := b.field("reference", &uri); err != nil {
		return d, err
	} else if ok {
		if err := s.require(typeContainer, "cdmi_create_reference"); err != nil {
			return d, err
		}
		src, err := s.resolveURI(c.ctx, uri)
		if err != nil {
			return d, err
		}
		if d.reference, err = s.uriOf(c.ctx, s.db, src.obj); err != nil {
			return d, err
		}
	}
	return d, nil
}

// putDataObjectRaw is the non-CDMI PUT (§6 and §8 "using HTTP"): the body
// is the value, Content-Type its mimetype, Content-Range a range write.
func (s *Server) putDataObjectRaw(c *call, t *target) error {
	d := dataWrite{valueSize: c.r.ContentLength}
	var err error
	if d.partial, err = partialFlag(c.r); err != nil {
		return err
	}
	mt := strings.ToLower(c.r.Header.Get("Content-Type"))
	if mt == "" {
		if t.obj == nil {
			mt = "application/octet-stream"
		} else {
			mt = t.obj.Mimetype
		}
	}
	d.mimetype = &mt
	d.charset = hasUTF8Charset(mt)
	if cr := c.r.Header.Get("Content-Range"); cr != "" {
		rng, err := parseContentRange(cr)
		if err != nil {
			return err
		}
		if c.r.ContentLength >= 0 && c.r.ContentLength != rng.Len() {
			return invalidf("Content-Range %q is %d bytes but the body holds %d", cr, rng.Len(), c.r.ContentLength)
		}
		if err := s.require(typeDataObject, "cdmi_modify_value_range"); err != nil {
			return err
		}
		d.rng = &rng
	}
	d.value = c.r.Body
	o, created, err := s.writeDataObject(c, t.parent, t.name, t.obj, d)
	if err != nil {
		return err
	}
	if created {
		c.w.Header().Set("Location", web.BaseURL(c.r, s.cfg.BaseURL)+t.path)
		c.w.WriteHeader(http.StatusCreated)
		return nil
	}
	_ = o
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// parseContentRange reads "bytes first-last/total" (total may be "*").
func parseContentRange(v string) (byteRange, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !ok {
		return byteRange{}, invalidf("Content-Range %q: want bytes first-last/total", v)
	}
	r, _, _ := strings.Cut(rest, "/")
	rng, err := parseRange(strings.TrimSpace(r))
	if err != nil {
		return byteRange{}, invalidf("Content-Range %q: %v", v, err)
	}
	return rng, nil
}

// checkMetadata validates metadata a client sends (§16): user items may not
// use the cdmi_ prefix, except the data system metadata this server acts on
// (cdmi_acl, cdmi_value_hash).
func checkMetadata(m map[string]any) error {
	if len(m) > maxMetadataItems {
		return invalidf("metadata: %d items, at most %d", len(m), maxMetadataItems)
	}
	for k, v := range m {
		if k == "" {
			return invalidf("metadata: empty name")
		}
		b, _ := json.Marshal(v)
		if len(k)+len(b) > maxMetadataSize {
			return invalidf("metadata %q: larger than %d bytes", k, maxMetadataSize)
		}
		if !strings.HasPrefix(k, "cdmi_") {
			continue
		}
		switch k {
		case "cdmi_acl":
			if _, err := parseACL(v); err != nil {
				return invalidf("metadata: %v", err)
			}
		case "cdmi_value_hash":
			alg, ok := v.(string)
			if !ok {
				return invalidf("metadata: cdmi_value_hash must be a string naming an algorithm")
			}
			if _, err := newHash(alg); err != nil {
				return err
			}
		default:
			return invalidf("metadata %q: names starting with cdmi_ are reserved for the storage system", k)
		}
	}
	return nil
}

// mergeMetadata applies given metadata to existing: with names (from
// ?metadata:<name>) only those items change (absent ones are removed);
// otherwise the user items are replaced, keeping data system items not given.
func mergeMetadata(old, given map[string]any, names []string) map[string]any {
	out := map[string]any{}
	if len(names) > 0 {
		for k, v := range old {
			out[k] = v
		}
		for _, n := range names {
			if v, ok := given[n]; ok {
				out[n] = v
			} else {
				delete(out, n)
			}
		}
		return out
	}
	for k, v := range old {
		if strings.HasPrefix(k, "cdmi_") {
			out[k] = v
		}
	}
	for k, v := range given {
		out[k] = v
	}
	return out
}

// inheritedACL is the ACL a new object gets from its parent (§16.1.4).
// db is the transaction in progress: with SQLite's one connection, a
// query outside it would wait for it forever.
func (s *Server) inheritedACL(ctx context.Context, db *gorm.DB, parent *object, isContainer bool) []any {
	if parent == nil {
		var err error
		if parent, err = s.byID(ctx, db, s.rootID); err != nil {
			return nil
		}
	}
	pacl, err := parseACL(parent.metadata()["cdmi_acl"])
	if err != nil {
		return defaultRootACL()
	}
	if acl := inheritACL(pacl, isContainer); len(acl) > 0 {
		return renderACL(acl)
	}
	// Nothing inheritable above: rather than an object no one may use
	// (§16.1.6 denies all on an empty ACL), start from the default ACL.
	return defaultRootACL()
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

// answerWrite replies to a CDMI create (201 with the new object, §8.2.7)
// or update (204, §8.5.7).
func (s *Server) answerWrite(c *call, o *object, created bool) error {
	if !created {
		c.w.WriteHeader(http.StatusNoContent)
		return nil
	}
	uri, err := s.uriOf(c.ctx, s.db, o)
	if err != nil {
		return err
	}
	c.w.Header().Set("Location", web.BaseURL(c.r, s.cfg.BaseURL)+uri)
	fs, err := s.commonFields(c.ctx, s.db, o)
	if err != nil {
		return err
	}
	md, err := s.renderMetadata(c.ctx, s.db, o, nil)
	if err != nil {
		return err
	}
	switch o.Type {
	case typeDataObject:
		fs = append(fs, field{"mimetype", o.Mimetype}, field{"metadata", md})
	case typeContainer:
		fs = append(fs, field{"metadata", md})
		if o.Exports != "" {
			var ex map[string]any
			if json.Unmarshal([]byte(o.Exports), &ex) == nil && len(ex) > 0 {
				fs = append(fs, field{"exports", ex})
			}
		}
		fs = append(fs, field{"childrenrange", ""}, field{"children", []string{}})
	case typeQueue:
		fs = append(fs, field{"metadata", md}, field{"queueValues", ""})
	}
	s.writeJSON(c.w, http.StatusCreated, contentTypeOf(o.Type), fs)
	return nil
}

// ---- containers ----

func (s *Server) putContainer(c *call, t *target, b *cdmiBody, isCDMI bool) error {
	for _, f := range []string{"value", "reference"} {
		if b.has(f) {
			return invalidf("a container takes no %q", f)
		}
	}
	for _, f := range []string{"deserialize", "serialize", "snapshot"} {
		if b.has(f) {
			return s.unsupported(typeContainer, "cdmi_"+f+"_container")
		}
	}
	meta, merr := bodyMetadata(b)
	if merr != nil {
		return merr
	}
	var domain string
	if _, err := b.field("domainURI", &domain); err != nil {
		return err
	}
	if domain != "" && domain != s.root+"/cdmi_domains/default/" && domain != "/cdmi_domains/default/" {
		return invalidf("domainURI %q: the only domain is %s/cdmi_domains/default/", domain, s.root)
	}
	var moveFrom *object
	var uri string
	if ok, err := b.field("move", &uri); err != nil {
		return err
	} else if ok {
		if err := s.require(typeContainer, "cdmi_move_container"); err != nil {
			return err
		}
		src, err := s.resolveURI(c.ctx, uri)
		if err != nil {
			return err
		}
		if src.obj.Type != typeContainer || src.obj.System {
			return invalidf("move: %q is not a container that can move", uri)
		}
		if t.obj != nil {
			return kind.Errorf(kind.Conflict, "move: the destination %s exists", t.path)
		}
		moveFrom = src.obj
	}
	var o *object
	var created bool
	if ok, err := b.field("copy", &uri); err != nil {
		return err
	} else if ok {
		if moveFrom != nil {
			return invalidf("give either copy or move, not both")
		}
		if o, err = s.copyContainer(c, t, uri, meta); err != nil {
			return err
		}
		created = true
	} else if o, created, err = s.writeContainer(c, t, meta, b.Fields["exports"], moveFrom); err != nil {
		return err
	}
	if !isCDMI {
		if created {
			c.w.Header().Set("Location", web.BaseURL(c.r, s.cfg.BaseURL)+t.path)
			c.w.WriteHeader(http.StatusCreated)
		} else {
			c.w.WriteHeader(http.StatusNoContent)
		}
		return nil
	}
	return s.answerWrite(c, o, created)
}

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

// ---- POST ----

// handlePost creates an object named by its new ID in a container
// (§9.6 data objects, §11.? queues, CDMI 2.0 containers), enqueues into a
// queue (§11.6), or creates an object reachable only by ID when the
// target is /cdmi_objectid/ (§9.6.1).
func (s *Server) handlePost(c *call) error {
	var t *target
	if c.r.URL.EscapedPath() == s.root+"/cdmi_objectid/" {
		t = &target{path: c.r.URL.EscapedPath(), slash: true, byID: true}
		if err := s.require(typeContainer, "cdmi_post_dataobject"); err != nil {
			return err
		}
	} else {
		var err error
		if t, err = s.locate(c.ctx, c.r); err != nil {
			return err
		}
		if t.obj == nil {
			return kind.Errorf(kind.NotFound, "%s does not exist", t.path)
		}
		if t.obj.Type == typeQueue {
			return s.enqueue(c, t.obj)
		}
		if t.obj.Type != typeContainer {
			return invalidf("POST goes to a container or a queue; %s is a %s", t.path, t.obj.Type)
		}
		if err := s.require(typeContainer, "cdmi_post_dataobject"); err != nil {
			return err
		}
	}
	// The new object goes into t.obj (nil: by ID only), under its ID.
	nt := &target{parent: t.obj, path: t.path, byID: t.obj == nil}
	if err := checkRequestType(mediaType(c.r)); err != nil {
		return err
	}
	switch mediaType(c.r) {
	case ctContainer:
		if nt.parent == nil {
			return invalidf("a container must have a parent; POST it to a container")
		}
		b, err := s.readBody(c, 0)
		if err != nil {
			return err
		}
		defer b.Close()
		return s.putContainer(c, nt, b, true)
	case ctQueue:
		if err := s.require(typeContainer, "cdmi_post_queue"); err != nil {
			return err
		}
		b, err := s.readBody(c, 0)
		if err != nil {
			return err
		}
		defer b.Close()
		return s.putQueue(c, nt, b)
	case ctObject:
		b, err := s.readBody(c, s.cfg.MaxBodyValue)
		if err != nil {
			return err
		}
		defer b.Close()
		return s.putDataObjectCDMI(c, nt, b)
	}
	d := dataWrite{valueSize: c.r.ContentLength, value: c.r.Body}
	mt := strings.ToLower(c.r.Header.Get("Content-Type"))
	if mt == "" {
		mt = "application/octet-stream"
	}
	d.mimetype = &mt
	d.charset = hasUTF8Charset(mt)
	o, _, err := s.writeDataObject(c, nt.parent, "", nil, d)
	if err != nil {
		return err
	}
	uri, err := s.uriOf(c.ctx, s.db, o)
	if err != nil {
		return err
	}
	c.w.Header().Set("Location", web.BaseURL(c.r, s.cfg.BaseURL)+uri)
	c.w.WriteHeader(http.StatusCreated)
	return nil
}

// ---- DELETE ----

func (s *Server) handleDelete(c *call) error {
	t, err := s.locate(c.ctx, c.r)
	if err != nil {
		return err
	}
	o := t.obj
	if o == nil {
		return kind.Errorf(kind.NotFound, "%s does not exist", t.path)
	}
	if o.isContainerLike() && !t.slash && !t.byID {
		return s.toSlash(c, t)
	}
	if o.System {
		return invalidf("%s is maintained by the server and cannot be deleted", t.path)
	}
	if err := s.allowed(c, o, maskDelete); err != nil {
		return err
	}
	switch o.Type {
	case typeQueue:
		if sel, ok := c.q.get("values"); ok {
			return s.dequeue(c, o, sel)
		}
		if err := s.require(typeQueue, "cdmi_delete_queue"); err != nil {
			return err
		}
	case typeContainer:
		if err := s.require(typeContainer, "cdmi_delete_container"); err != nil {
			return err
		}
	default:
		if err := s.require(typeDataObject, "cdmi_delete_dataobject"); err != nil {
			return err
		}
	}
	// Rows go in one transaction (a container with everything below it,
	// §9.5: deleting a container deletes its children); values after.
	var keys []string
	err = s.inTx(c.ctx, func(tx *gorm.DB) error {
		keys = nil
		all, err := s.lockSubtree(c.ctx, tx, o.ObjectID)
		if err != nil {
			return err
		}
		ids := make([]string, 0, len(all))
		for _, x := range all {
			if err := s.unexportAll(c.ctx, tx, &x); err != nil {
				return err
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
				return err
			}
			keys = append(keys, qkeys...)
			if err := tx.Where("queue_id IN ?", batch).Delete(&queueValue{}).Error; err != nil {
				return err
			}
			if err := tx.Where("object_id IN ?", batch).Delete(&object{}).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := s.objs.Delete(context.WithoutCancel(c.ctx), k); err != nil {
			s.log.Warn("cdmi: delete value (the start-up sweep will retry)", "key", k, "err", err)
		}
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func parseCount(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a count", v)
	}
	return n, nil
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

// inheritedValueHash finds cdmi_value_hash on the nearest container above.
func (s *Server) inheritedValueHash(ctx context.Context, p *object) (string, error) {
	for depth := 0; p != nil && depth < 4096; depth++ {
		if alg, ok := p.metadata()["cdmi_value_hash"].(string); ok && alg != "" {
			return alg, nil
		}
		if p.ParentID == "" {
			return "", nil
		}
		np, err := s.byID(ctx, s.db, p.ParentID)
		if err != nil {
			return "", err
		}
		p = np
	}
	return "", nil
}

// unexportAll tells the export hook that a container's OCCI exports go
// away with it (the container is being deleted in tx).
func (s *Server) unexportAll(ctx context.Context, tx *gorm.DB, o *object) error {
	if o.Exports == "" || s.cfg.ExportHook == nil {
		return nil
	}
	var ex map[string]any
	if json.Unmarshal([]byte(o.Exports), &ex) != nil {
		return nil
	}
	for k := range ex {
		if proto, ok := strings.CutPrefix(k, "OCCI/"); ok {
			if err := s.cfg.ExportHook.Unexport(ctx, tx, o.ObjectID, proto); err != nil {
				return kind.Errorf(kind.Conflict, "container %s: its %s export cannot be removed: %v", o.ObjectID, k, err)
			}
		}
	}
	return nil
}

// lockParent makes sure the container a row goes into still exists when
// the row commits: a concurrent delete of the container would otherwise
// leave the new row unreachable. On PostgreSQL the parent's row is locked
// FOR SHARE, which a DELETE waits for; SQLite runs one writer at a time.
func (s *Server) lockParent(ctx context.Context, tx *gorm.DB, parent *object) error {
	if parent == nil {
		return nil
	}
	q := tx.WithContext(ctx)
	if tx.Dialector.Name() == "postgres" {
		q = q.Clauses(clause.Locking{Strength: "SHARE"})
	}
	var ids []string
	if err := q.Model(&object{}).Where("object_id = ?", parent.ObjectID).Pluck("object_id", &ids).Error; err != nil {
		return err
	}
	if len(ids) == 0 {
		return kind.Errorf(kind.NotFound, "the container was deleted meanwhile")
	}
	return nil
}

// lockSubtree returns the subtree below id for deletion. On PostgreSQL it
// first locks every container in it FOR UPDATE, so creates in flight
// (which hold their parent FOR SHARE, see lockParent) commit first and are
// seen, and later ones find their parent gone; it reads again until no new
// container appears. SQLite runs one writer at a time and needs none of it.
func (s *Server) lockSubtree(ctx context.Context, tx *gorm.DB, id string) ([]object, error) {
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

// writeMask is the ACL permission an update needs (§16.1.5): the value
// needs WRITE_OBJECT, metadata WRITE_METADATA, the ACL itself WRITE_ACL.
func writeMask(value bool, meta map[string]any) uint32 {
	var m uint32
	if value {
		m |= maskWrite
	}
	if meta != nil {
		m |= maskWriteMeta
		if _, ok := meta["cdmi_acl"]; ok {
			m |= maskWriteACL
		}
	}
	if m == 0 {
		m = maskWriteAttrs
	}
	return m
}

// hasUTF8Charset tells whether a Content-Type carries charset=utf-8.
func hasUTF8Charset(ct string) bool {
	_, params, err := mime.ParseMediaType(ct)
	return err == nil && strings.EqualFold(params["charset"], "utf-8")
}

// sourceDataObject reads a "copy" or "move" field: the data object it names,
// once the capability is granted and the ACL allows the access (read to
// copy, delete to move). It returns nil when the body has no such field.
func (s *Server) sourceDataObject(c *call, b *cdmiBody, field, capability string, mask uint32) (*object, error) {
	var uri string
	if ok, err := b.field(field, &uri); err != nil || !ok {
		return nil, err
	}
	src, err := s.resolveURI(c.ctx, uri)
	if err != nil {
		return nil, err
	}
	if src.obj.Type != typeDataObject {
		return nil, invalidf("%s: %q is a %s, not a data object", field, uri, src.obj.Type)
	}
	if err := s.require(typeContainer, capability); err != nil {
		return nil, err
	}
	if err := s.allowed(c, src.obj, mask); err != nil {
		return nil, err
	}
	return src.obj, nil
}

// bodyMetadata reads and checks a body's "metadata" field. It returns nil
// when the field is absent and an empty map when it is given as null or {},
// which callers treat as "replace with nothing".
func bodyMetadata(b *cdmiBody) (map[string]any, error) {
	var meta map[string]any
	ok, err := b.field("metadata", &meta)
	if err != nil || !ok {
		return nil, err
	}
	if meta == nil {
		meta = map[string]any{}
	}
	return meta, checkMetadata(meta)
}
