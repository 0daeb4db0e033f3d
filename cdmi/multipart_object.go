package cdmi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// multipartValue is what a multi-part MIME write of a data object carries
// to the service: the parts of its value, read in order.
type multipartValue struct {
	env      *envelope
	first    *valuePart // opened before the write starts: its headers decide the form
	ranged   bool       // the parts are byte ranges (Content-Range) written into the value
	encoding string     // valuetransferencoding the JSON part gave, "" for none
	charset  bool       // every part so far has charset=utf-8
	cur      *valuePart
	end      int64 // ranged: where a part without Content-Range goes
	strict   *utf8Check
}

// nextPart is the next value part (io.EOF after the closing boundary).
func (m *multipartValue) nextPart() (*valuePart, error) {
	var p *valuePart
	if m.first != nil {
		p, m.first = m.first, nil
	} else {
		var err error
		if p, err = m.env.next(); err != nil {
			return nil, err
		}
	}
	m.charset = m.charset && p.charset
	return p, nil
}

// Read is the whole value of the non-ranged form: the parts' contents one
// after the other (§8.4.3: a part without Content-Range follows the one
// before it, the first at offset zero). It reports io.EOF only once the
// closing boundary has been read.
func (m *multipartValue) Read(b []byte) (int, error) {
	for {
		if m.cur == nil {
			p, err := m.nextPart()
			if errors.Is(err, io.EOF) {
				return 0, m.finish()
			}
			if err != nil {
				return 0, err
			}
			if p.rng != nil {
				return 0, multipartErrorf("part %d has a Content-Range, but part 2 has none: the value is being replaced whole; give every value part a Content-Range to write byte ranges (§8.4.3)", m.env.part)
			}
			m.cur = p
		}
		n, err := m.cur.r.Read(b)
		if m.strict != nil {
			_, _ = m.strict.Write(b[:n])
		}
		if errors.Is(err, io.EOF) {
			m.cur = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

// finish is the end of the value: a value declared UTF-8 in the JSON part
// must be UTF-8 (§8.2.5 Table 20, valuetransferencoding).
func (m *multipartValue) finish() error {
	if m.strict != nil && !m.strict.valid() {
		return invalidf("valuetransferencoding \"utf-8\" was given, but the value's bytes are not UTF-8 (§8.2.5)")
	}
	return io.EOF
}

// storedEncoding is the valuetransferencoding of a value written whole
// (§8.2.5, §8.4.4): the one the JSON part named, else "utf-8" when every
// part declared charset=utf-8 and the bytes are UTF-8, else "base64".
func (m *multipartValue) storedEncoding(utf8 bool) string {
	switch {
	case m.encoding != "":
		return m.encoding
	case m.charset && utf8:
		return "utf-8"
	}
	return "base64"
}

// putMultipart creates or updates a data object from a multi-part MIME
// body (§8.2.4 / §8.2.9 Examples 3-4 by PUT, §9.6.4 / §9.6.9 Example 3 by
// POST, §8.4.3 / §8.4.8 Examples 9-10 an update, whole or by ranges).
func (s *Server) putMultipart(c *call, t *target) error {
	if t.obj != nil && t.obj.Type != typeDataObject || t.obj == nil && t.slash && !t.byID {
		return invalidf("multi-part MIME writes data objects (§8.2.4); %s is not one", t.path)
	}
	if isDiskRow(t.obj) {
		return invalidf("%s is the disk of an exported container: write it with Content-Range PUTs, not multi-part MIME", t.path)
	}
	if sel, ok := c.q.get("value"); ok && sel.HasArg {
		return multipartErrorf("?value:%s: with multi-part MIME each part's Content-Range gives its range (§8.4.3)", sel.Arg)
	}
	env, b, err := s.openEnvelope(c, ctObject)
	if err != nil {
		return err
	}
	defer b.Close()
	d, err := s.dataWriteFromBody(c, b, t.obj)
	if err != nil {
		return err
	}
	m := &multipartValue{env: env, charset: true}
	if b.has("valuetransferencoding") {
		if d.encoding == "json" {
			return multipartErrorf("valuetransferencoding \"json\" is not offered with multi-part MIME; send a JSON value in the JSON body")
		}
		m.encoding = d.encoding
		if m.encoding == "utf-8" {
			m.strict = &utf8Check{}
		}
	}
	if m.first, err = env.next(); errors.Is(err, io.EOF) {
		return multipartErrorf("only the JSON part: the value (or its ranges) must follow in a second part (§8.2.4)")
	} else if err != nil {
		return err
	}
	if d.mimetype == nil {
		mt := m.first.mimetype // §8.2.5: the Content-Type of the second part
		d.mimetype = &mt
	}
	m.ranged = m.first.rng != nil
	if m.ranged {
		if err := s.svc.require(typeDataObject, "cdmi_modify_value_range"); err != nil {
			return err
		}
	} else {
		d.value = m
	}
	d.multipart, d.valueSize, d.encoding = m, -1, ""
	o, created, err := s.svc.writeDataObject(c.ctx, c.who, t.parent, t.name, t.obj, d)
	if err != nil {
		return err
	}
	return s.answerWrite(c, o, created)
}

// writeParts writes the byte ranges of a ranged multi-part MIME write
// (§8.4.3, §8.4.8 Example 10) into a staged copy of the current value under
// a fresh key (an empty value for a create), part by part, so that the
// object keeps its old value until the row pointing at the new key
// commits: a body cut short or a bad part leaves it unchanged (§8.1.2).
func (s *Service) writeParts(ctx context.Context, objectID string, existing *object, m *multipartValue, alg string) (w written, err error) {
	key := s.newValueKey(objectID)
	if existing != nil && existing.ValueKey != "" {
		err = s.objs.Copy(ctx, key, existing.ValueKey)
	} else {
		err = s.objs.Put(ctx, key, strings.NewReader(""), 0)
	}
	if err != nil {
		return written{}, err
	}
	defer func() {
		if err != nil {
			s.deleteKeys(ctx, []string{key})
		}
	}()
	pieces := &utf8Check{}
	for {
		p, err := m.nextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return written{}, err
		}
		if err := s.writePart(ctx, key, m, p, pieces); err != nil {
			return written{}, err
		}
	}
	size, err := s.objs.Size(ctx, key)
	if err != nil {
		return written{}, err
	}
	w = written{Size: size, Key: key, UTF8: pieces.valid()}
	if alg != "" {
		if w.Hash, err = s.rehash(ctx, key, alg); err != nil {
			return written{}, err
		}
	}
	return w, nil
}

// writePart writes one range part at its Content-Range, or right after the
// part before it when it has none (§8.4.3), and reads it to its end so its
// declared lengths are checked.
func (s *Service) writePart(ctx context.Context, key string, m *multipartValue, p *valuePart, pieces *utf8Check) error {
	off, n := m.end, int64(-1)
	if p.rng != nil {
		off, n = p.rng.First, p.rng.Len()
	}
	var cnt countWriter
	src := &sourceReader{r: io.TeeReader(p.r, io.MultiWriter(&cnt, pieces))}
	if err := s.objs.WriteAt(ctx, key, off, src, n); err != nil {
		if src.err != nil {
			return src.err
		}
		return err
	}
	if _, err := io.Copy(io.Discard, src); err != nil {
		return err
	}
	m.end = off + cnt.n
	return nil
}

// valueRanges are the byte ranges a multi-part read asks for: every
// ?value:<range> (§8.3.9 Example 7: "?metadata;value:0-10;value:21-24"),
// or the whole value; nil ranged when no range was given.
func (s *Server) valueRanges(c *call, o *object) (rngs []Range, ranged bool, err error) {
	for _, sel := range c.q {
		if sel.Field != "value" || !sel.HasArg {
			continue
		}
		// valueRange reads the first ?value: of a selection: give it each.
		r, err := s.valueRange(&call{r: c.r, q: selection{sel}}, o)
		if err != nil {
			return nil, false, err
		}
		rngs = append(rngs, r)
	}
	if len(rngs) == 0 {
		return []Range{{0, o.Size - 1}}, false, nil
	}
	return rngs, true, nil
}

// writeMultipartRead answers a data object read with Accept:
// multipart/mixed (§8.3.5 Table 26): the JSON fields in head, without
// "value" (§8.3.6 Table 27), then one part per range asked for, streamed
// from the backend (or the disk) with the object's mimetype, in binary.
func (s *Server) writeMultipartRead(c *call, o *object, head []byte) error {
	rngs, ranged, err := s.valueRanges(c, o)
	if err != nil {
		return err
	}
	if o.ValueKey != "" && o.Size > 0 && c.disk == nil {
		// Reach the backend before the status goes out (writeWithValue).
		if _, err := s.svc.valueSize(c.ctx, o.ValueKey); err != nil {
			return err
		}
	}
	mw := startMultipart(c, ctObject, head)
	if mw == nil {
		return nil
	}
	for _, rng := range rngs {
		h := partHeader(o.Mimetype, max(rng.Len(), 0))
		if ranged {
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", rng.First, rng.Last, o.Size))
		}
		p, err := mw.CreatePart(h)
		if err == nil && rng.Len() > 0 {
			err = s.copyRange(c, o, p, rng)
		}
		if err != nil {
			s.logStreamFailure(c, o, err)
			panic(http.ErrAbortHandler) // a truncated body, not a valid-looking one
		}
	}
	_ = mw.Close()
	return nil
}

// copyRange streams the bytes rng of o's value to w.
func (s *Server) copyRange(c *call, o *object, w io.Writer, rng Range) error {
	var r io.Reader
	if c.disk != nil {
		r = &diskReader{ctx: c.ctx, d: c.disk, off: rng.First, end: rng.Last + 1}
	} else {
		if o.ValueKey == "" {
			return nil
		}
		rc, err := s.svc.openRange(c.ctx, o.ValueKey, rng)
		if err != nil {
			return err
		}
		defer rc.Close()
		r = rc
	}
	n, err := io.Copy(w, r)
	if err == nil && n != rng.Len() {
		err = fmt.Errorf("the value ended after %d of %d bytes", n, rng.Len())
	}
	return err
}
