package cdmi

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/occicdmi/occicdmi/internal/kind"
	"github.com/occicdmi/occicdmi/internal/web"
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

// serverFields are response fields the server alone sets. A client that
// PUTs back what it read sends them; like the storage system metadata of
// §16.3 (Table 118, "shall be ignored") they are dropped from the request,
// so a read-modify-write of any object succeeds. capabilitiesURI is among
// them: a QoS extension sends it in updates (§9.4.5, §8.4.4 define no such
// request field).
var serverFields = []string{"objectType", "objectID", "objectName", "parentURI", "parentID", "capabilitiesURI",
	"completionStatus", "percentComplete", "childrenrange", "children", "valuerange", "queueValues"}

// The request fields the standard defines, by object (§8.2.5, §8.4.4,
// §9.2.5, §9.4.5, §11.2.5, §11.4.4); the values' fields a queue read
// returns are ignored in an update. Any other field is kept with the object
// (§8.1, §9.1, §11.1) and read back (extraFields).
var (
	dataObjectRequestFields = fieldSet("mimetype", "metadata", "domainURI", "deserialize", "serialize",
		"copy", "move", "reference", "deserializevalue", "value", "valuetransferencoding")
	containerRequestFields = fieldSet("metadata", "domainURI", "exports", "deserialize", "copy", "move",
		"reference", "snapshot", "serialize", "deserializevalue")
	queueRequestFields = fieldSet("metadata", "domainURI", "deserialize", "serialize", "copy", "move",
		"reference", "deserializevalue", "value", "mimetype", "valuetransferencoding")
)

func fieldSet(names ...string) map[string]bool {
	m := map[string]bool{}
	for _, n := range append(names, serverFields...) {
		m[n] = true
	}
	return m
}

// extraFields are the body's fields outside known.
func (b *cdmiBody) extraFields(known map[string]bool) map[string]json.RawMessage {
	var out map[string]json.RawMessage
	for k, v := range b.Fields {
		if known[k] {
			continue
		}
		if out == nil {
			out = map[string]json.RawMessage{}
		}
		out[k] = v
	}
	return out
}

func dropServerFields(b *cdmiBody) {
	for _, f := range serverFields {
		delete(b.Fields, f)
	}
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
	dropServerFields(b)
	return b, nil
}

// refuseMultipart answers 415 to a CDMI request whose body is multipart
// MIME of another kind than multipart/mixed, the one CDMI defines (§8.2.4,
// §8.4.3, §11.6.3; multipart.go serves that one). A non-CDMI PUT (no
// version header, no CDMI media type in Accept) of a multipart value
// stays a value.
func refuseMultipart(c *call) error {
	mt := mediaType(c.r)
	if !cdmiMultipart(c) || !strings.HasPrefix(mt, "multipart/") || mt == ctMultipartMixed {
		return nil
	}
	return web.Errorf(http.StatusUnsupportedMediaType,
		"%s bodies are not CDMI: multi-part MIME (§8.2.4) is %s, with the CDMI JSON in the first part and the value in the next",
		mt, ctMultipartMixed)
}

// readContainerBody is readBody for a container: CDMI 1.0.x clients create
// containers with no body at all (Content-Length: 0), which is taken as {}.
// A body that is there must still be a JSON object.
func (s *Server) readContainerBody(c *call) (*cdmiBody, error) {
	if c.r.ContentLength == 0 {
		return &cdmiBody{Fields: map[string]json.RawMessage{}}, nil
	}
	return s.readBody(c, 0)
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

func (s *Server) handlePut(c *call) error { return s.put(c, false) }

// handlePatch is CDMI 2.0's update: a PUT that never creates.
func (s *Server) handlePatch(c *call) error { return s.put(c, true) }

func (s *Server) put(c *call, mustExist bool) error {
	if err := refuseMultipart(c); err != nil {
		return err
	}
	t, err := s.svc.locate(c.ctx, c.r.URL.EscapedPath(), c.r.Method == http.MethodGet || c.r.Method == http.MethodHead)
	if err != nil {
		return err
	}
	if t.obj == nil && (mustExist || t.byID && t.parent == nil) {
		return kind.Errorf(kind.NotFound, "%s does not exist", t.path)
	}
	if t.obj != nil && t.obj.isContainerLike() && !t.slash && !t.byID {
		return s.toSlash(c, t)
	}
	if t.obj != nil && t.obj.System && t.obj.ObjectID != s.svc.rootID {
		return invalidf("%s is maintained by the server and cannot be changed", t.path)
	}
	if isMultipartMixed(c) {
		return s.putMultipart(c, t)
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
		b, err := s.readContainerBody(c)
		if err != nil {
			return err
		}
		defer b.Close()
		return s.putContainer(c, t, b, true)
	case typeQueue:
		// An update may carry the values a read returned (read-modify-
		// write); putQueue ignores them. A create takes none.
		limit := int64(0)
		if t.obj != nil {
			limit = maxQueueBody
		}
		b, err := s.readBody(c, limit)
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

func (s *Server) putDataObjectCDMI(c *call, t *target, b *cdmiBody) error {
	d, err := s.dataWriteFromBody(c, b, t.obj)
	if err != nil {
		return err
	}
	if isDiskRow(t.obj) && d.value != nil && d.rng == nil {
		// A whole value goes to a disk only when it is the disk's size
		// (disk.go): know its length before writing any of it.
		if d.valueSize, err = decodedLen(b, d.encoding); err != nil {
			return err
		}
	}
	o, created, err := s.svc.writeDataObject(c.ctx, c.who, t.parent, t.name, t.obj, d)
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
			return d, s.svc.unsupported(typeDataObject, "cdmi_"+f+"_dataobject")
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
	if d.domain, err = s.bodyDomain(c, b); err != nil {
		return d, err
	}
	if _, err := b.field("valuetransferencoding", &d.encoding); err != nil {
		return d, err
	}
	encodingGiven := d.encoding != ""
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
	d.extra = b.extraFields(dataObjectRequestFields)
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
			if err := s.svc.require(typeDataObject, "cdmi_modify_value_range"); err != nil {
				return d, err
			}
			rng, err := parseRange(sel.Arg)
			if err != nil {
				return d, invalidf("value: %v", err)
			}
			if !encodingGiven && b.ValueIsString && d.encoding != "base64" {
				d.encoding = rangeValueEncoding(b, rng)
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
	if d.copyURI, err = uriField(b, "copy"); err != nil {
		return d, err
	}
	if d.moveURI, err = uriField(b, "move"); err != nil {
		return d, err
	}
	if d.reference, err = uriField(b, "reference"); err != nil {
		return d, err
	}
	return d, nil
}

// rangeValueEncoding is how the value of a range update that names no
// valuetransferencoding is read. §8.1 says a range's bytes travel base64
// (§8.4.8 Example 3 updates a utf-8 object's ?value:21-24 with "dGhhdA==",
// four bytes, and gets 204); the bullet after that example has a base64
// string sent to a utf-8 object stored literally. Both hold: base64 when
// the value decodes to exactly the range's length, else the literal text.
func rangeValueEncoding(b *cdmiBody, rng Range) string {
	if n, err := decodedLen(b, "base64"); err == nil && n == rng.Len() {
		return "base64"
	}
	return "utf-8"
}

// putDataObjectRaw is the non-CDMI PUT (§6 and §8 "using HTTP"): the body
// is the value, Content-Type its mimetype, Content-Range a range write.
func (s *Server) putDataObjectRaw(c *call, t *target) error {
	d := dataWrite{valueSize: c.r.ContentLength}
	var err error
	if d.partial, err = partialFlag(c.r); err != nil {
		return err
	}
	mt := strings.TrimSpace(c.r.Header.Get("Content-Type")) // stored as sent (§6.2.3 Table 6)
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
		if err := s.svc.require(typeDataObject, "cdmi_modify_value_range"); err != nil {
			return err
		}
		d.rng = &rng
	}
	d.value = c.r.Body
	_, created, err := s.svc.writeDataObject(c.ctx, c.who, t.parent, t.name, t.obj, d)
	if err != nil {
		return err
	}
	if created {
		c.w.Header().Set("Location", web.BaseURL(c.r, s.cfg.BaseURL)+t.path)
		c.w.WriteHeader(http.StatusCreated)
		return nil
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// parseContentRange reads "bytes first-last/total" (total may be "*").
func parseContentRange(v string) (Range, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !ok {
		return Range{}, invalidf("Content-Range %q: want bytes first-last/total", v)
	}
	r, _, _ := strings.Cut(rest, "/")
	rng, err := parseRange(strings.TrimSpace(r))
	if err != nil {
		return Range{}, invalidf("Content-Range %q: %v", v, err)
	}
	return rng, nil
}

// answerWrite replies to a CDMI create (201 with the new object, §8.2.7,
// §9.2.7, §10.2.6, §11.2.7) or update (204, §8.5.7).
func (s *Server) answerWrite(c *call, o *object, created bool) error {
	if !created {
		c.w.WriteHeader(http.StatusNoContent)
		return nil
	}
	uri, err := s.svc.pathOf(c.ctx, o)
	if err != nil {
		return err
	}
	c.w.Header().Set("Location", web.BaseURL(c.r, s.cfg.BaseURL)+uri)
	fs, err := s.commonFields(c.ctx, o)
	if err != nil {
		return err
	}
	md, err := s.svc.metadataOf(c.ctx, o, nil)
	if err != nil {
		return err
	}
	switch o.Type {
	case typeDataObject:
		fs = append(fs, field{"mimetype", o.Mimetype}, field{"metadata", md})
	case typeContainer:
		fs = append(fs, field{"metadata", md})
		if ex := s.exportsOf(c, o); len(ex) > 0 {
			fs = append(fs, field{"exports", ex})
		}
		fs = append(fs, field{"childrenrange", ""}, field{"children", []string{}})
	case typeQueue:
		fs = append(fs, field{"metadata", md}, field{"queueValues", ""})
	case typeDomain:
		// §10.2.6: a new domain lists its membership container.
		fs = append(fs, field{"metadata", md}, field{"childrenrange", "0-0"}, field{"children", []string{membersName + "/"}})
	}
	fs = withExtra(fs, o)
	s.writeJSON(c.w, http.StatusCreated, contentTypeOf(o.Type), fs)
	return nil
}

func (s *Server) putContainer(c *call, t *target, b *cdmiBody, isCDMI bool) error {
	for _, f := range []string{"value", "reference"} {
		if b.has(f) {
			return invalidf("a container takes no %q", f)
		}
	}
	if b.has("snapshot") && t.obj != nil {
		return s.putSnapshot(c, t, b)
	}
	for _, f := range []string{"deserialize", "serialize", "snapshot"} {
		if b.has(f) {
			return s.svc.unsupported(typeContainer, "cdmi_"+f+"_container")
		}
	}
	meta, merr := bodyMetadata(b)
	if merr != nil {
		return merr
	}
	domain, err := s.bodyDomain(c, b)
	if err != nil {
		return err
	}
	cw := containerWrite{meta: meta, metaNames: c.q.args("metadata"), exports: b.Fields["exports"],
		extra: b.extraFields(containerRequestFields), domain: domain}
	if cw.moveURI, err = uriField(b, "move"); err != nil {
		return err
	}
	if cw.copyURI, err = uriField(b, "copy"); err != nil {
		return err
	}
	if cw.moveURI != "" && cw.copyURI != "" {
		return invalidf("give either copy or move, not both")
	}
	o, created, err := s.svc.putContainer(c.ctx, c.who, t, cw)
	if err != nil {
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

// handlePost creates an object named by its new ID in a container
// (§9.6 data objects, §11.? queues, CDMI 2.0 containers), enqueues into a
// queue (§11.6), or creates an object reachable only by ID when the
// target is /cdmi_objectid/ (§9.6.1).
func (s *Server) handlePost(c *call) error {
	if err := refuseMultipart(c); err != nil {
		return err
	}
	var t *target
	if c.r.URL.EscapedPath() == s.root+"/cdmi_objectid/" {
		t = &target{path: c.r.URL.EscapedPath(), slash: true, byID: true}
		if err := s.svc.require(typeContainer, "cdmi_post_dataobject"); err != nil {
			return err
		}
	} else {
		var err error
		if t, err = s.svc.locate(c.ctx, c.r.URL.EscapedPath(), c.r.Method == http.MethodGet || c.r.Method == http.MethodHead); err != nil {
			return err
		}
		if t.obj == nil {
			return kind.Errorf(kind.NotFound, "%s does not exist", t.path)
		}
		if t.obj.Type == typeQueue && mediaType(c.r) == ctMultipartMixed {
			// An enqueue's body is CDMI with or without the version header.
			return s.enqueueMultipart(c, t.obj)
		}
		if t.obj.Type == typeQueue {
			return s.enqueue(c, t.obj)
		}
		if t.obj.Type != typeContainer {
			return invalidf("POST goes to a container or a queue; %s is a %s", t.path, t.obj.Type)
		}
		if err := s.svc.require(typeContainer, "cdmi_post_dataobject"); err != nil {
			return err
		}
	}
	// The new object goes into t.obj (nil: by ID only), under its ID.
	nt := &target{parent: t.obj, path: t.path, byID: t.obj == nil}
	if isMultipartMixed(c) {
		return s.putMultipart(c, nt)
	}
	if err := checkRequestType(mediaType(c.r)); err != nil {
		return err
	}
	switch mediaType(c.r) {
	case ctContainer:
		if nt.parent == nil {
			return invalidf("a container must have a parent; POST it to a container")
		}
		b, err := s.readContainerBody(c)
		if err != nil {
			return err
		}
		defer b.Close()
		return s.putContainer(c, nt, b, true)
	case ctQueue:
		if err := s.svc.require(typeContainer, "cdmi_post_queue"); err != nil {
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
	mt := strings.TrimSpace(c.r.Header.Get("Content-Type")) // stored as sent (§6.2.3 Table 6)
	if mt == "" {
		mt = "application/octet-stream"
	}
	d.mimetype = &mt
	d.charset = hasUTF8Charset(mt)
	o, _, err := s.svc.writeDataObject(c.ctx, c.who, nt.parent, "", nil, d)
	if err != nil {
		return err
	}
	uri, err := s.svc.pathOf(c.ctx, o)
	if err != nil {
		return err
	}
	c.w.Header().Set("Location", web.BaseURL(c.r, s.cfg.BaseURL)+uri)
	c.w.WriteHeader(http.StatusCreated)
	return nil
}

func (s *Server) handleDelete(c *call) error {
	t, err := s.svc.locate(c.ctx, c.r.URL.EscapedPath(), false)
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
	if sel, ok := c.q.get("values"); ok && o.Type == typeQueue {
		return s.dequeue(c, o, sel, t.path)
	}
	if err := s.svc.deleteObject(c.ctx, c.who, o, t.path); err != nil {
		return err
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

// hasUTF8Charset tells whether a Content-Type carries charset=utf-8.
func hasUTF8Charset(ct string) bool {
	_, params, err := mime.ParseMediaType(ct)
	return err == nil && strings.EqualFold(params["charset"], "utf-8")
}

// bodyMetadata reads and checks a body's "metadata" field. It returns nil
// when the field is absent and an empty map when it is given as null or {},
// which callers treat as "replace with nothing".
func bodyMetadata(b *cdmiBody) (map[string]any, error) {
	meta, err := givenMetadata(b)
	if meta == nil || err != nil {
		return nil, err
	}
	return meta, checkMetadata(meta)
}

// givenMetadata is a body's "metadata" field without the items a client
// cannot set (withoutIgnored), unchecked: nil when absent, an empty map
// when given as null or {}.
func givenMetadata(b *cdmiBody) (map[string]any, error) {
	var meta map[string]any
	ok, err := b.field("metadata", &meta)
	if err != nil || !ok {
		return nil, err
	}
	if meta == nil {
		meta = map[string]any{}
	}
	return withoutIgnored(meta), nil
}

// uriField reads a field that names an object by URI ("copy", "move",
// "reference"); "" when absent.
func uriField(b *cdmiBody, name string) (string, error) {
	var uri string
	ok, err := b.field(name, &uri)
	if err != nil || !ok {
		return "", err
	}
	if uri == "" {
		return "", invalidf("%s: %q is not a URI", name, uri)
	}
	return uri, nil
}
