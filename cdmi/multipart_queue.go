package cdmi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/internal/web"
)

// Queues with multi-part MIME (CDMI 1.1.1 §11.1, §11.3.5 Table 86, §11.6.3
// Table 95, §11.6.8 Examples 6-7): an enqueue's first part is the CDMI
// JSON (application/cdmi-queue), each following part one value; a read
// with Accept: multipart/mixed answers the JSON without "value", then one
// part per value returned.

// queuePartFields are the per-value fields of a multi-part enqueue's JSON
// part: one string for all values or a list with one per part (§11.6.4
// Table 96), checked against the number of parts once they are all read.
type queuePartFields struct {
	one  map[string]string
	list map[string][]string
}

func readQueuePartFields(b *cdmiBody) (queuePartFields, error) {
	f := queuePartFields{one: map[string]string{}, list: map[string][]string{}}
	for _, name := range []string{"mimetype", "valuetransferencoding"} {
		raw, ok := b.Fields[name]
		if !ok {
			continue
		}
		var one string
		if json.Unmarshal(raw, &one) == nil {
			f.one[name] = one
			continue
		}
		var list []string
		if err := json.Unmarshal(raw, &list); err != nil {
			return f, invalidf("%q must be a string or a list of strings, one per value part (§11.6.4 Table 96)", name)
		}
		f.list[name] = list
	}
	return f, nil
}

// at is the field's value for the i-th value part, "" when not given.
func (f queuePartFields) at(name string, i int) string {
	if v, ok := f.one[name]; ok {
		return v
	}
	if l := f.list[name]; i < len(l) {
		return l[i]
	}
	return ""
}

// check refuses lists whose length is not the number of value parts.
func (f queuePartFields) check(parts int) error {
	for name, l := range f.list {
		if len(l) != parts {
			return multipartErrorf("%q lists %d entries for %d value parts; §11.6.4 Table 96 wants one per value", name, len(l), parts)
		}
	}
	return nil
}

// enqueueMultipart enqueues one value per part after the JSON (§11.6.3).
func (s *Server) enqueueMultipart(c *call, q *object) error {
	if err := s.svc.mayEnqueue(c.who, q); err != nil {
		return err
	}
	env, b, err := s.openEnvelope(c, ctQueue)
	if err != nil {
		return err
	}
	defer b.Close()
	fields, err := readQueuePartFields(b)
	if err != nil {
		return err
	}
	n, err := s.svc.enqueueParts(c.ctx, q, func(i int) (queuePart, error) {
		p, err := env.next()
		if err != nil {
			return queuePart{}, err
		}
		if p.rng != nil {
			return queuePart{}, multipartErrorf("part %d has a Content-Range; each part after the JSON is one whole queue value (§11.6.3)", env.part)
		}
		tooBig := web.Errorf(http.StatusRequestEntityTooLarge, "the queue value in part %d exceeds %d bytes", env.part, maxQueueBody)
		qp := queuePart{queueItem: queueItem{r: &capReader{r: p.r, left: maxQueueBody, tooBig: tooBig},
			mimetype: fields.at("mimetype", i), enc: fields.at("valuetransferencoding", i)}}
		if qp.mimetype == "" {
			qp.mimetype = p.mimetype // §11.6.4: the part's Content-Type
		}
		if qp.enc == "" {
			// §11.6.4: utf-8 when the part declares charset=utf-8 (and its
			// bytes are UTF-8), base64 otherwise.
			qp.enc, qp.utf8IfValid = "base64", p.charset
		}
		return qp, checkEncoding(qp.enc)
	}, fields.check)
	if err != nil {
		return err
	}
	if n == 0 {
		return multipartErrorf("only the JSON part: each value to enqueue goes in a part after it (§11.6.3)")
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// queuePart is one value of a multi-part enqueue.
type queuePart struct {
	queueItem
	utf8IfValid bool // stored as utf-8 if its bytes are UTF-8
}

// enqueueParts enqueues the values next yields (io.EOF after the last),
// each streamed to the backend as it comes; the rows commit in one
// transaction once done(count) accepts the whole body, so a bad or
// truncated part enqueues nothing (§8.1.2 applied to queues).
func (s *Service) enqueueParts(ctx context.Context, q *object, next func(i int) (queuePart, error), done func(count int) error) (n int, err error) {
	var rows []queueValue
	var keys []string
	defer func() {
		if err != nil {
			s.deleteKeys(ctx, keys)
		}
	}()
	for i := 0; ; i++ {
		it, err := next(i)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, err
		}
		w, err := s.putValue(ctx, q.ObjectID, it.r, -1, "")
		if err != nil {
			return 0, err
		}
		keys = append(keys, w.Key)
		if err := settleQueueEncoding(&it, w.UTF8); err != nil {
			return 0, err
		}
		rows = append(rows, queueValue{QueueID: q.ObjectID, ValueKey: w.Key, Mimetype: it.mimetype, Encoding: it.enc, Size: w.Size})
	}
	if err := done(len(rows)); err != nil || len(rows) == 0 {
		return 0, err
	}
	return len(rows), s.inTx(ctx, func(tx *gorm.DB) error { return s.commitQueueValues(ctx, tx, q, rows) })
}

// settleQueueEncoding settles a value's encoding once its bytes are known:
// one declared utf-8 in the JSON part must be UTF-8 (§11.6.4 Table 96).
func settleQueueEncoding(it *queuePart, utf8 bool) error {
	switch {
	case it.utf8IfValid && utf8:
		it.enc = "utf-8"
	case it.enc == "utf-8" && !utf8:
		return invalidf("valuetransferencoding \"utf-8\" was given, but a value's bytes are not UTF-8 (§11.6.4)")
	}
	return nil
}

// readQueueMultipart answers a queue read with Accept: multipart/mixed
// (§11.3.5 Table 86, §11.3.8 Example 5): the JSON part without "value"
// (§11.3.6 Table 87), then one part per value returned, each streamed
// from the backend with its mimetype.
func (s *Server) readQueueMultipart(c *call, o *object) error {
	fs, err := s.queueFields(c, o)
	if err != nil {
		return err
	}
	vals, rng, err := s.queueReadWindow(c, o)
	if err != nil {
		return err
	}
	withValues := len(c.q) == 0 || c.q.has("values") || c.q.has("value")
	if !withValues {
		vals = nil
	}
	mts, ranges, encs := []string{}, []string{}, []string{}
	pieces := make([]Range, len(vals))
	for i, v := range vals {
		pieces[i] = queuePiece(v, rng)
		mts, encs = append(mts, v.Mimetype), append(encs, v.Encoding)
		ranges = append(ranges, pieceRange(pieces[i]))
	}
	if withValues {
		fs = append(fs, field{"mimetype", mts}, field{"valuerange", ranges}, field{"valuetransferencoding", encs})
	}
	sel := c.q
	if sel.has("values") {
		sel = append(selection{{Field: "queueValues"}, {Field: "mimetype"}, {Field: "valuerange"}, {Field: "valuetransferencoding"}}, sel...)
	}
	head, err := json.Marshal(withExtra(fs, o).pick(sel))
	if err != nil {
		return err
	}
	s.svc.touch(c.ctx, o)
	return s.writeQueueParts(c, o, head, vals, pieces)
}

// writeQueueParts sends the JSON part and one part per queue value.
func (s *Server) writeQueueParts(c *call, o *object, head []byte, vals []queueValue, pieces []Range) error {
	mw := startMultipart(c, ctQueue, head)
	if mw == nil {
		return nil
	}
	for i, v := range vals {
		h := partHeader(v.Mimetype, max(pieces[i].Len(), 0))
		if pieces[i] != (Range{0, v.Size - 1}) && pieces[i].Len() > 0 {
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", pieces[i].First, pieces[i].Last, v.Size))
		}
		p, err := mw.CreatePart(h)
		if err == nil && pieces[i].Len() > 0 {
			err = s.copyRange(c, &object{ObjectID: o.ObjectID, ValueKey: v.ValueKey}, p, pieces[i])
		}
		if err != nil {
			s.logStreamFailure(c, o, err)
			panic(http.ErrAbortHandler)
		}
	}
	_ = mw.Close()
	return nil
}
