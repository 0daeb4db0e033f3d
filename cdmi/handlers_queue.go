package cdmi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// maxQueueBody bounds an enqueue body; queue values are messages, not bulk
// data, and are read back into a JSON response.
const maxQueueBody = 16 << 20

// handlePutQueue creates or updates a queue from a CDMI body (§11.2, §11.5).
func (s *Server) putQueue(c *call, t *target, b *cdmiBody) error {
	if b.has("value") && t.obj == nil {
		return invalidf("a queue is created without a value; POST values to enqueue them (§11.6)")
	}
	// An update ignores the enqueued values' fields a read returned: they
	// change only by enqueue and dequeue (§11.4, §11.6, §11.7).
	for _, f := range []string{"copy", "move", "reference", "deserialize", "serialize"} {
		if b.has(f) {
			return s.svc.unsupported(typeContainer, "cdmi_"+f+"_queue")
		}
	}
	meta, err := bodyMetadata(b)
	if err != nil {
		return err
	}
	domain, err := s.bodyDomain(c, b)
	if err != nil {
		return err
	}
	o, created, err := s.svc.writeQueue(c.ctx, c.who, t, meta, c.q.args("metadata"), b.extraFields(queueRequestFields), domain)
	if err != nil {
		return err
	}
	return s.answerWrite(c, o, created)
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
	fs, err := s.queueFields(c, o)
	if err != nil {
		return err
	}
	vals, rng, err := s.queueReadWindow(c, o)
	if err != nil {
		return err
	}
	if len(c.q) == 0 || c.q.has("values") || c.q.has("value") {
		vfs, err := s.queueValueFields(c, vals, rng)
		if err != nil {
			return err
		}
		fs = append(fs, vfs...)
	}
	sel := c.q
	if sel.has("values") {
		// ?values:<n> asks for the values themselves: keep the value fields.
		sel = append(selection{{Field: "queueValues"}, {Field: "mimetype"}, {Field: "valuerange"}, {Field: "valuetransferencoding"}, {Field: "value"}}, sel...)
	}
	fs = withExtra(fs, o)
	s.svc.touch(c.ctx, o)
	s.writeStreamed(c, ctQueue, o, fs.pick(sel))
	return nil
}

// queueFields are a queue read's fields before the values (§11.4.6): the
// common ones, the metadata and queueValues; both renderings (JSON and
// multipart) start with them.
func (s *Server) queueFields(c *call, o *object) (fields, error) {
	fs, err := s.commonFields(c.ctx, o)
	if err != nil {
		return nil, err
	}
	md, err := s.svc.metadataOf(c.ctx, o, c.q.args("metadata"))
	if err != nil {
		return nil, err
	}
	qr, err := s.svc.queueRange(c.ctx, o.ObjectID)
	if err != nil {
		return nil, err
	}
	return append(fs, field{"metadata", md}, field{"queueValues", qr}), nil
}

// queueReadWindow is what a queue read returns (§11.4.6): the oldest
// values, as many as ?values:<n> asks (1 by default, 1000 at most), and
// the byte range of each that ?value:<range> asks (§11.3.1), nil for
// whole values.
func (s *Server) queueReadWindow(c *call, o *object) ([]queueValue, *Range, error) {
	n := 1
	if sel, ok := c.q.get("values"); ok && sel.HasArg {
		var err error
		if n, err = parseCount(sel.Arg); err != nil {
			return nil, nil, invalidf("values: %v", err)
		}
	}
	vals, err := s.svc.oldestValues(c.ctx, o.ObjectID, min(n, 1000))
	if err != nil {
		return nil, nil, err
	}
	sel, ok := c.q.get("value")
	if !ok || !sel.HasArg {
		return vals, nil, nil
	}
	r, err := parseRange(sel.Arg)
	if err != nil {
		return nil, nil, invalidf("value: %v", err)
	}
	return vals, &r, nil
}

// queuePiece is the bytes of v a queue read returns: the whole value, or
// the ?value:<range> asked cut to the value's size (empty when it starts
// past the end).
func queuePiece(v queueValue, rng *Range) Range {
	if rng == nil {
		return Range{0, v.Size - 1}
	}
	return Range{min(rng.First, v.Size), min(rng.Last, v.Size-1)}
}

// pieceRange is a piece's valuerange entry: "" for no bytes.
func pieceRange(r Range) string {
	if r.Len() > 0 {
		return r.String()
	}
	return ""
}

// queueValueFields are a queue read's per-value fields (§11.4.6): the
// values' mimetypes, ranges and encodings, and the values themselves,
// which stream (stream.go).
func (s *Server) queueValueFields(c *call, vals []queueValue, rng *Range) (fields, error) {
	mts, ranges, encs := []string{}, []string{}, []string{}
	values := &queueValues{s: s}
	for _, v := range vals {
		piece := queuePiece(v, rng)
		enc, err := s.svc.queueValueEncoding(c.ctx, v, piece.First, piece.Last+1, rng != nil)
		if err != nil {
			return nil, err
		}
		mts, encs = append(mts, v.Mimetype), append(encs, enc)
		ranges = append(ranges, pieceRange(piece))
		values.items = append(values.items, queuedValue{key: v.ValueKey, rng: piece, enc: enc})
	}
	return fields{{"mimetype", mts}, {"valuerange", ranges}, {"valuetransferencoding", encs}, {"value", values}}, nil
}

// dequeue removes the n oldest values (§11.7, DELETE ?values:<n>).
func (s *Server) dequeue(c *call, o *object, sel selector, path string) error {
	n := 1
	if sel.HasArg {
		var err error
		if n, err = parseCount(sel.Arg); err != nil {
			return invalidf("values: %v", err)
		}
	}
	if err := s.svc.dequeue(c.ctx, c.who, o, n, path); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// enqueue adds values to a queue (§11.6): "value" is a string or a list of
// strings, with "mimetype" and "valuetransferencoding" alike (one for all
// or one each); or "copy" names a data object whose value is enqueued.
func (s *Server) enqueue(c *call, q *object) error {
	if err := s.svc.mayEnqueue(c.who, q); err != nil {
		return err
	}
	b, err := parseBody(c.r.Body, maxQueueBody, s.cfg.TempDir)
	if err != nil {
		return err
	}
	defer b.Close()
	dropServerFields(b)
	var items []queueItem
	var uri string
	if ok, err := b.field("copy", &uri); err != nil {
		return err
	} else if ok {
		it, rc, err := s.svc.sourceValue(c.ctx, uri)
		if err != nil {
			return err
		}
		defer rc.Close()
		items = append(items, it)
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
			if encs[i] == "json" && !json.Valid([]byte(v)) {
				encs[i] = "utf-8" // read back as the text it is
			}
			var r io.Reader = strings.NewReader(v)
			if encs[i] == "base64" {
				r = badValueReader{"base64", base64Decoder(r)}
			}
			items = append(items, queueItem{r, mts[i], encs[i]})
		}
	}
	if err := s.svc.enqueue(c.ctx, q, items); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}
