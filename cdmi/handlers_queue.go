package cdmi

import (
	"bytes"
	"encoding/json"
	"fmt"
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
	fs, err := s.commonFields(c.ctx, o)
	if err != nil {
		return err
	}
	md, err := s.svc.metadataOf(c.ctx, o, c.q.args("metadata"))
	if err != nil {
		return err
	}
	qr, err := s.svc.queueRange(c.ctx, o.ObjectID)
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
	vals, err := s.svc.oldestValues(c.ctx, o.ObjectID, n)
	if err != nil {
		return err
	}
	// ?value:<range> is a byte range of each value returned (§11.3.1).
	var rng *Range
	if sel, ok := c.q.get("value"); ok && sel.HasArg {
		r, err := parseRange(sel.Arg)
		if err != nil {
			return invalidf("value: %v", err)
		}
		rng = &r
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

// queueValueFields are a queue read's per-value fields (§11.4.6): the
// values' mimetypes, ranges and encodings, and the values themselves,
// which stream (stream.go).
func (s *Server) queueValueFields(c *call, vals []queueValue, rng *Range) (fields, error) {
	mts, ranges, encs := []string{}, []string{}, []string{}
	values := &queueValues{s: s}
	for _, v := range vals {
		first, end := int64(0), v.Size
		if rng != nil {
			first, end = min(rng.First, v.Size), min(rng.Last+1, v.Size)
		}
		enc, err := s.svc.queueValueEncoding(c.ctx, v, first, end, rng != nil)
		if err != nil {
			return nil, err
		}
		mts, encs = append(mts, v.Mimetype), append(encs, enc)
		if end > first {
			ranges = append(ranges, fmt.Sprintf("%d-%d", first, end-1))
		} else {
			ranges = append(ranges, "")
		}
		values.items = append(values.items, queuedValue{key: v.ValueKey, rng: Range{first, end - 1}, enc: enc})
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
