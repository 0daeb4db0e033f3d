package cdmi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/occicdmi/occicdmi/internal/kind"
	"github.com/occicdmi/occicdmi/internal/web"
)

// call is one request on its way through a handler.
type call struct {
	w       http.ResponseWriter
	r       *http.Request
	ctx     context.Context
	version string // negotiated; "" for a CDMI 2.x client (no header)
	q       selection
	who     Principal
	disk    *openedDisk // the data object read is the disk of an exported container (disk.go)
}

// isCDMI tells whether the client speaks CDMI on this request (rather than
// plain HTTP on a value): it sent the version header or a CDMI media type.
func (c *call) isCDMI() bool {
	if c.version != "" {
		return true
	}
	for _, h := range []string{c.r.Header.Get("Accept"), c.r.Header.Get("Content-Type")} {
		if strings.Contains(h, "application/cdmi-") || strings.Contains(h, "application/vnd.org.snia.cdmi.") {
			return true
		}
	}
	return false
}

// versionHeader is the response header naming the CDMI version, spelled
// as the spec spells it (§5.13.1): some harnesses compare header names
// case-sensitively, and Go's canonical form would be X-Cdmi-....
const versionHeader = "X-CDMI-Specification-Version"

// setVersionHeader sets the version header under its spec spelling (the
// map key is written to the wire as it is).
func setVersionHeader(h http.Header, v string) {
	h.Del(versionHeader)
	h[versionHeader] = []string{v}
}

// requestPrincipal is who a request acts for when the server is given no
// Config.Principal: the server's owner and administrator.
func requestPrincipal(*http.Request) Principal {
	return Administrator()
}

// serve wraps a handler function: version negotiation (§5.13), the query's
// field selection, the principal, and errors turned into responses.
func (s *Server) serve(fn func(*call) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, ok := negotiate(r.Header)
		if !ok {
			setVersionHeader(w.Header(), strings.Join(versions, ", "))
			s.fail(w, r, invalidf("none of the CDMI versions %q is served; this server speaks %s (and CDMI 2.x without the header)",
				r.Header.Values("X-CDMI-Specification-Version"), strings.Join(versions, ", ")))
			return
		}
		who := s.principalOf(r)
		c := &call{w: w, r: r, ctx: withViewer(withWalkCache(r.Context()), who), version: v, who: who}
		if c.isCDMI() {
			hv := v
			if hv == "" {
				hv = versions[len(versions)-1]
			}
			setVersionHeader(w.Header(), hv)
		}
		q, err := parseSelection(r.URL.RawQuery)
		if err != nil {
			s.fail(w, r, invalidf("%v", err))
			return
		}
		c.q = q
		if err := fn(c); err != nil {
			s.fail(w, r, err)
		}
	})
}

// ---- GET / HEAD ----

func (s *Server) handleGet(c *call) error {
	t, err := s.svc.locate(c.ctx, c.r.URL.EscapedPath(), c.r.Method == http.MethodGet || c.r.Method == http.MethodHead)
	if err != nil {
		return err
	}
	o := t.obj
	if o == nil {
		return kind.Errorf(kind.NotFound, "%s does not exist", t.path)
	}
	if o.isContainerLike() && !t.slash {
		return s.toSlash(c, t)
	}
	if !o.isContainerLike() && t.slash && !t.byID {
		return kind.Errorf(kind.NotFound, "%s is not a container (drop the trailing '/')", t.path)
	}
	if err := s.svc.allowed(c.who, o, maskRead); err != nil {
		return err
	}
	if err := acceptable(c.r, contentTypeOf(o.Type)); err != nil && o.Reference == "" {
		return err
	}
	if o.Type != typeDataObject || c.isCDMI() {
		// A non-CDMI read of a value ignores the query (a cache-buster).
		if err := checkFieldNames(c.q, o); err != nil {
			return err
		}
	}
	switch o.Type {
	case typeDataObject:
		if c.disk, err = s.svc.openDisk(c.ctx, t.parent, o); err != nil {
			return err
		}
		return s.readDataObject(c, o)
	case typeQueue:
		if wantsMultipart(c.r, ctQueue) {
			return s.readQueueMultipart(c, o)
		}
		return s.readQueue(c, o)
	default:
		return s.readContainer(c, o)
	}
}

func (s *Server) readContainer(c *call, o *object) error {
	fs, err := s.commonFields(c.ctx, o)
	if err != nil {
		return err
	}
	switch o.Type {
	case typeCapability:
		fs = append(fs, field{"capabilities", s.svc.capabilityObject(o)})
	default:
		if o.Type == typeContainer {
			if err := s.svc.require(typeContainer, "cdmi_read_metadata"); err != nil {
				return err
			}
		}
		// Metadata (cdmi_size sums the whole subtree) and children are
		// computed only when the selection asks for them.
		if wanted(c.q, "metadata") {
			md, err := s.svc.metadataOf(c.ctx, o, c.q.args("metadata"))
			if err != nil {
				return err
			}
			if o.Type == typeDomain && o.System {
				md[mdDomainEnabled] = "true" // the server's own domains (user domains carry theirs)
			}
			fs = append(fs, field{"metadata", md})
		}
		if ex := s.exportsOf(c, o); len(ex) > 0 {
			fs = append(fs, field{"exports", ex})
		}
		if o.Type == typeContainer && wanted(c.q, "snapshots") {
			snaps, err := s.svc.snapshotURIs(c.ctx, o)
			if err != nil {
				return err
			}
			if len(snaps) > 0 {
				fs = append(fs, field{"snapshots", snaps})
			}
		}
	}
	crange, shown := "", any([]string{})
	if wanted(c.q, "children") || wanted(c.q, "childrenrange") {
		total, err := s.svc.countChildren(c.ctx, o)
		if err != nil {
			return err
		}
		first, last := int64(0), total-1
		if sel, ok := c.q.get("children"); ok && sel.HasArg {
			if o.Type == typeContainer {
				if err := s.svc.require(typeContainer, "cdmi_list_children_range"); err != nil {
					return err
				}
			}
			rng, err := parseRange(sel.Arg)
			if err != nil {
				return invalidf("children: %v", err)
			}
			first, last = min(rng.First, total), min(rng.Last, total-1)
		}
		if first <= last {
			// The range is the children counted; the listing is read as
			// it is sent (stream.go), and may come out shorter when some
			// are deleted meanwhile.
			l := &childList{s: s.svc, parent: o, first: first, count: last - first + 1}
			if wanted(c.q, "children") {
				if err := l.prefetch(c.ctx); err != nil {
					return err
				}
			}
			crange, shown = fmt.Sprintf("%d-%d", first, last), l
		}
	}
	fs = append(fs, field{"childrenrange", crange}, field{"children", shown})
	fs = withExtra(fs, o)
	s.svc.touch(c.ctx, o)
	s.writeStreamed(c, contentTypeOf(o.Type), o, fs.pick(c.q))
	return nil
}

func (s *Server) readDataObject(c *call, o *object) error {
	if o.Reference != "" {
		// §8.4 (references): a GET of a reference redirects to its target.
		loc := o.Reference
		if strings.HasPrefix(loc, "/") {
			loc = web.BaseURL(c.r, s.cfg.BaseURL) + loc
		}
		c.w.Header().Set("Location", loc)
		c.w.WriteHeader(http.StatusFound)
		return nil
	}
	if !c.isCDMI() {
		if err := s.svc.require(typeDataObject, "cdmi_read_value"); err != nil {
			return err
		}
		return s.serveRaw(c, o)
	}
	fs, err := s.commonFields(c.ctx, o)
	if err != nil {
		return err
	}
	if err := s.svc.require(typeDataObject, "cdmi_read_metadata"); err != nil {
		return err
	}
	md, err := s.svc.metadataOf(c.ctx, o, c.q.args("metadata"))
	if err != nil {
		return err
	}
	fs = append(fs, field{"mimetype", o.Mimetype}, field{"metadata", md})
	complete := o.Completion == "" || o.Completion == "Complete"
	wantValue := complete && (len(c.q) == 0 || c.q.has("value"))
	rng, err := s.valueRange(c, o)
	if err != nil {
		return err
	}
	if wantValue {
		if err := s.svc.require(typeDataObject, "cdmi_read_value"); err != nil {
			return err
		}
	}
	enc := o.Encoding
	if enc == "" {
		enc = "base64"
	}
	if enc == "json" && (rng.First != 0 || rng.Last != o.Size-1) {
		enc = "utf-8" // a slice of JSON text is no JSON value
	}
	vr := ""
	if rng.Len() > 0 {
		vr = rng.String()
	}
	if complete {
		fs = append(fs, field{"valuerange", vr})
	}
	fs = append(fs, field{"valuetransferencoding", enc})
	fs = withExtra(fs, o)
	head, err := fs.pick(c.q).MarshalJSON() // compact already: no json.Marshal pass over it
	if err != nil {
		return err
	}
	s.svc.touch(c.ctx, o)
	c.w.Header().Set("Content-Type", ctObject)
	if wantValue && wantsMultipart(c.r, ctObject) {
		return s.writeMultipartRead(c, o, head)
	}
	if !wantValue {
		c.w.Header().Set("Content-Length", fmt.Sprint(len(head)))
		c.w.WriteHeader(http.StatusOK)
		_, _ = c.w.Write(head)
		return nil
	}
	return s.writeWithValue(c, o, head, rng, enc)
}

// valueRange is the part of the value a read asks for (?value:<range>,
// §8.4.2), the whole value by default.
func (s *Server) valueRange(c *call, o *object) (Range, error) {
	sel, ok := c.q.get("value")
	if !ok || !sel.HasArg {
		return Range{0, o.Size - 1}, nil
	}
	if err := s.svc.require(typeDataObject, "cdmi_read_value_range"); err != nil {
		return Range{}, err
	}
	r, err := parseRange(sel.Arg)
	if err != nil {
		return Range{}, invalidf("value: %v", err)
	}
	if r.First >= o.Size && o.Size > 0 {
		return Range{}, web.Errorf(http.StatusRequestedRangeNotSatisfiable, "value range %s starts past the end of the %d-byte value", r, o.Size)
	}
	return Range{r.First, min(r.Last, o.Size-1)}, nil
}

// writeWithValue answers a CDMI read with the fields in head and the value's
// range rng streamed into "value" in encoding enc.
func (s *Server) writeWithValue(c *call, o *object, head []byte, rng Range, enc string) error {
	// Open the value before the status goes out, so a backend failure can
	// still be answered properly (a disk's was opened already).
	var value io.Reader
	switch {
	case c.disk != nil:
		value = &diskReader{ctx: c.ctx, d: c.disk, off: rng.First, end: rng.Last + 1}
	case o.ValueKey != "" && rng.Len() > 0:
		rc, err := s.svc.openRange(c.ctx, o.ValueKey, rng)
		if err != nil {
			return err
		}
		defer rc.Close()
		value = rc
	}
	if c.r.Method == http.MethodHead {
		c.w.WriteHeader(http.StatusOK)
		return nil // the body would be discarded: do not read the value
	}
	aw := newAnswerWriter(c.w)
	defer aw.release()
	if len(head) > 2 {
		_, _ = aw.Write(head[:len(head)-1])
		_, _ = io.WriteString(aw, `,"value":`)
	} else {
		_, _ = io.WriteString(aw, `{"value":`)
	}
	var err error
	if value == nil {
		_, err = io.WriteString(aw, `""`)
	} else {
		err = streamFrom(aw, value, rng, enc)
	}
	if err == nil {
		_, err = io.WriteString(aw, "}")
	}
	if err == nil {
		err = aw.finish()
	}
	if err != nil {
		// The status is gone, or goes now; cut the connection so the
		// client sees a truncated body instead of a valid-looking one.
		s.logStreamFailure(c, o, err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

// logStreamFailure logs a value that could not be sent: an error when the
// backend failed, information when the client went away mid-response.
func (s *Server) logStreamFailure(c *call, o *object, err error) {
	if clientGone(c.r) {
		s.log.InfoContext(c.ctx, "cdmi: client went away during the value", "request_id", web.RequestID(c.ctx), "object", o.ObjectID, "err", err)
		return
	}
	s.log.ErrorContext(c.ctx, "cdmi: value stream failed", "request_id", web.RequestID(c.ctx), "object", o.ObjectID, "err", err)
}

// serveRaw answers a non-CDMI GET with the value itself, honouring Range
// (206, multipart/byteranges for several ranges, 416 when unsatisfiable).
func (s *Server) serveRaw(c *call, o *object) error {
	if o.Completion == "Processing" {
		return kind.Errorf(kind.NotFound, "the value of %s is still being uploaded (X-CDMI-Partial)", o.ObjectID)
	}
	mt := o.Mimetype
	if mt == "" {
		mt = "application/octet-stream"
	}
	c.w.Header().Set("Content-Type", mt)
	if c.disk == nil && o.ValueKey == "" {
		c.w.Header().Set("Content-Length", "0")
		c.w.WriteHeader(http.StatusOK)
		return nil
	}
	var rs interface {
		io.ReadSeeker
		failure() error
	}
	modified := o.MTime
	if c.disk != nil {
		// No Last-Modified for a disk: its volume changes under NBD writes
		// too, so a conditional request would be answered from a stale time.
		rs, modified = &diskSeeker{ctx: c.ctx, d: c.disk, size: c.disk.size}, time.Time{}
	} else {
		v, err := s.svc.seekableValue(c.ctx, o)
		if err != nil {
			return err
		}
		defer v.Close()
		rs = v
	}
	s.svc.touch(c.ctx, o)
	if v := c.r.Header.Get("Range"); v != "" && !wellFormedRange(v) {
		// RFC 2616 §14.35.1 (which §5.13.1 adopts): a syntactically
		// invalid Range header is ignored and the whole value served.
		// A well-formed but unsatisfiable one still gets 416.
		c.r.Header.Del("Range")
	}
	http.ServeContent(c.w, c.r, "", modified, rs)
	if err := rs.failure(); err != nil {
		s.logStreamFailure(c, o, err)
	}
	return nil
}

// readableFields are the fields a read may select, by object type (§8.3.6
// Table 27, §9.4.6, §10, §11.4.6, §12.1); "values" is a queue's count.
var readableFields = func() map[string]map[string]bool {
	common := []string{"objectType", "objectID", "objectName", "parentURI", "parentID",
		"domainURI", "capabilitiesURI", "completionStatus", "percentComplete", "metadata"}
	set := func(more ...string) map[string]bool {
		m := map[string]bool{}
		for _, f := range append(append([]string{}, common...), more...) {
			m[f] = true
		}
		return m
	}
	return map[string]map[string]bool{
		typeDataObject: set("mimetype", "valuerange", "valuetransferencoding", "value"),
		typeContainer:  set("exports", "snapshots", "childrenrange", "children"),
		typeQueue:      set("queueValues", "mimetype", "valuerange", "valuetransferencoding", "value", "values"),
		typeDomain:     set("childrenrange", "children"),
		typeCapability: set("capabilities", "childrenrange", "children"),
	}
}()

// checkFieldNames refuses a read selecting a field the object cannot have:
// §8.3.7 Table 28 (and §9.3.7, §11.3.7) answer 400 for an invalid field
// name, rather than 200 with an empty body. Fields a client stored on the
// object (§8.1, §9.1: non-standard fields are kept) are valid names.
func checkFieldNames(q selection, o *object) error {
	valid := readableFields[o.Type]
	var extra map[string]json.RawMessage
	for _, sel := range q {
		if valid[sel.Field] {
			continue
		}
		if extra == nil {
			extra = o.extraFields()
		}
		if _, ok := extra[sel.Field]; ok {
			continue
		}
		return invalidf("?%s: a %s has no field %q (§8.3.7 Table 28)", sel.Field, contentTypeOf(o.Type), sel.Field)
	}
	return nil
}

// wellFormedRange tells whether a Range header is a byte-ranges-specifier
// of RFC 2616 §14.35.1: "bytes=" and a list of first-[last] (last >= first)
// or -suffix specs.
func wellFormedRange(v string) bool {
	set, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes=")
	if !ok {
		return false
	}
	n := 0
	for _, spec := range strings.Split(set, ",") {
		spec = strings.TrimSpace(spec)
		if spec == "" {
			continue // RFC 7233 §2.1: empty list elements are allowed
		}
		first, last, ok := strings.Cut(spec, "-")
		if !ok || (first == "" && last == "") || !digits(first) || !digits(last) {
			return false
		}
		if first != "" && last != "" {
			f, err1 := strconv.ParseUint(first, 10, 63)
			l, err2 := strconv.ParseUint(last, 10, 63)
			if err1 != nil || err2 != nil || l < f {
				return false
			}
		}
		n++
	}
	return n > 0
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// wanted tells whether a field is in the response: all are when the query
// selects none.
func wanted(q selection, field string) bool { return len(q) == 0 || q.has(field) }

// toSlash answers a read, update or delete of a container named without
// its trailing slash (§7.1): 301 to the URI with the slash, nothing done.
func (s *Server) toSlash(c *call, t *target) error {
	loc := t.path + "/"
	if c.r.URL.RawQuery != "" {
		loc += "?" + c.r.URL.RawQuery
	}
	c.w.Header().Set("Location", web.BaseURL(c.r, s.cfg.BaseURL)+loc)
	c.w.WriteHeader(http.StatusMovedPermanently)
	return nil
}
