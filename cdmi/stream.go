package cdmi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/occicdmi/occicdmi/internal/database"
)

// Answers whose size the client chooses (a container's children, a queue's
// values) are written as they are read, never built whole in memory
// (issue 12 item 1): one page of children, or one value's buffer, at a time.

// streamer is a field value written straight to the response as JSON.
type streamer interface {
	streamJSON(ctx context.Context, w io.Writer) error
}

// writeFields writes fs as a JSON object, streaming the streamers.
func writeFields(ctx context.Context, w io.Writer, fs fields) error {
	if _, err := io.WriteString(w, "{"); err != nil {
		return err
	}
	var b []byte
	for i, f := range fs {
		b = b[:0]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(appendJSONString(b, f.Key), ':')
		if st, ok := f.Value.(streamer); ok {
			if _, err := w.Write(b); err != nil {
				return err
			}
			if err := st.streamJSON(ctx, w); err != nil {
				return err
			}
			continue
		}
		var err error
		if b, err = appendJSON(b, f.Value); err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, "}")
	return err
}

// writeStreamed answers 200 with fs, streaming the fields that stream.
// What can be refused must have been checked before: once the status is
// out, a failure cuts the connection, so the client sees a truncated body
// instead of a valid-looking one.
func (s *Server) writeStreamed(c *call, ct string, o *object, fs fields) {
	c.w.Header().Set("Content-Type", ct)
	if c.r.Method == http.MethodHead {
		c.w.WriteHeader(http.StatusOK)
		return // the body would be discarded: read nothing
	}
	aw := newAnswerWriter(c.w)
	defer aw.release()
	err := writeFields(c.ctx, aw, fs)
	if err == nil {
		err = aw.finish()
	}
	if err != nil {
		s.logStreamFailure(c, o, err)
		panic(http.ErrAbortHandler)
	}
}

// answerBufferSize is how much of a 200 answer's body is held before
// anything is sent.
const answerBufferSize = 32 << 10

var answerBuffers = sync.Pool{New: func() any { b := make([]byte, 0, answerBufferSize); return &b }}

// answerWriter sends a 200 answer whose length is not known in advance
// (a value escaped on the way, a listing): the body is held until
// answerBufferSize bytes, so a small answer goes out in one write with its
// Content-Length (no chunked framing, one system call), and a larger one
// streams from there with the status sent at the first overflow. Memory
// stays one buffer per answer whatever its size.
type answerWriter struct {
	w       http.ResponseWriter
	bp      *[]byte
	started bool
}

func newAnswerWriter(w http.ResponseWriter) *answerWriter {
	bp := answerBuffers.Get().(*[]byte)
	*bp = (*bp)[:0]
	return &answerWriter{w: w, bp: bp}
}

func (a *answerWriter) Write(p []byte) (int, error) {
	if a.started {
		return a.w.Write(p)
	}
	if b := *a.bp; len(b)+len(p) <= cap(b) {
		*a.bp = append(b, p...)
		return len(p), nil
	}
	a.started = true
	a.w.WriteHeader(http.StatusOK)
	if _, err := a.w.Write(*a.bp); err != nil {
		return 0, err
	}
	*a.bp = (*a.bp)[:0]
	return a.w.Write(p)
}

// finish sends what is held: the whole answer with its length when
// nothing went out yet.
func (a *answerWriter) finish() error {
	if a.started {
		return nil
	}
	a.started = true
	a.w.Header().Set("Content-Length", strconv.Itoa(len(*a.bp)))
	a.w.WriteHeader(http.StatusOK)
	_, err := a.w.Write(*a.bp)
	return err
}

// release returns the buffer; the writer must not be used after it.
func (a *answerWriter) release() {
	if a.bp != nil {
		answerBuffers.Put(a.bp)
		a.bp = nil
	}
}

// childPage is how many children one query reads.
var childPage int64 = 500 // a variable so tests can make seams

// childList streams the names of count children of parent from the first
// (in name order), a page at a time. Pages after the first continue from
// the last name seen (keyset), so a long listing costs one index scan. The
// first page is read before the answer starts (prefetch), so a database
// that is down is still answered 503.
type childList struct {
	s            *Service
	parent       *object
	first, count int64
	page         []object // read, not yet sent
}

func (l *childList) prefetch(ctx context.Context) error {
	var err error
	l.page, err = l.s.childPage(ctx, l.parent, l.first, nil, min(childPage, l.count))
	return err
}

func (l *childList) streamJSON(ctx context.Context, w io.Writer) error {
	if _, err := io.WriteString(w, "["); err != nil {
		return err
	}
	for sent := int64(0); ; {
		want := min(childPage, l.count-sent)
		for i := range l.page {
			n, _ := json.Marshal(childName(&l.page[i]))
			if sent > 0 {
				n = append([]byte(","), n...)
			}
			if _, err := w.Write(n); err != nil {
				return err
			}
			sent++
		}
		if int64(len(l.page)) < want || sent >= l.count {
			break // all sent, or fewer children than counted: some went meanwhile
		}
		last := l.page[len(l.page)-1]
		var err error
		if l.page, err = l.s.childPage(ctx, l.parent, 0, &last, min(childPage, l.count-sent)); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, "]")
	return err
}

// childName is how a container lists a child: containers with a trailing
// '/', references with a trailing '?' (§9.4.6).
func childName(k *object) string {
	switch {
	case k.isContainerLike():
		return k.Name + "/"
	case k.Reference != "":
		return k.Name + "?"
	}
	return k.Name
}

// childPage reads up to limit children of parent in name order that the
// context's principal can see (Service.hidden): from the offset-th visible
// one when after is nil, else those following after.
func (s *Service) childPage(ctx context.Context, parent *object, offset int64, after *object, limit int64) ([]object, error) {
	who, ok := ctx.Value(viewerKey{}).(Principal)
	if !ok || who.System || who.Admin {
		return s.rawChildPage(ctx, parent, offset, after, limit)
	}
	if limit <= 0 {
		return nil, nil
	}
	var out []object
	err := s.eachVisibleChild(ctx, who, parent, after, func(o object) bool {
		if offset > 0 {
			offset--
			return true
		}
		out = append(out, o)
		return int64(len(out)) < limit
	})
	return out, err
}

// rawChildPage reads up to limit children of parent in name order,
// whoever can see them: from offset when after is nil, else those
// following after.
func (s *Service) rawChildPage(ctx context.Context, parent *object, offset int64, after *object, limit int64) ([]object, error) {
	if after == nil {
		return s.children(ctx, s.db, parent, offset, limit)
	}
	var out []object
	// metadata and owner: what a filtered listing evaluates the ACL on.
	err := s.childQuery(ctx, s.db, parent).Select("object_id", "name", "type", "system", "reference", "metadata", "owner").
		Where("name > ? OR (name = ? AND object_id > ?)", after.Name, after.Name, after.ObjectID).
		Order("name").Order("object_id").Limit(int(limit)).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list children: %w", database.Classify(err))
	}
	return out, nil
}

// queuedValue is one value of a queue read: the bytes rng of the value
// under key, in encoding enc.
type queuedValue struct {
	key string
	rng Range
	enc string
}

// queueValues streams a queue read's "value" list (§11.4.6), each value
// read from the backend as it is sent, so the answer's memory does not
// grow with the values' sizes.
type queueValues struct {
	s     *Server
	items []queuedValue
}

func (q *queueValues) streamJSON(ctx context.Context, w io.Writer) error {
	if _, err := io.WriteString(w, "["); err != nil {
		return err
	}
	for i, it := range q.items {
		if i > 0 {
			if _, err := io.WriteString(w, ","); err != nil {
				return err
			}
		}
		if err := q.s.streamValue(ctx, w, it.key, it.rng, it.enc); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, "]")
	return err
}

// queueValueEncoding is the valuetransferencoding a queue value's bytes
// [first, end) are sent in: the one it was enqueued with while the bytes
// fit it. Enqueue stores utf-8 and json only for values whose bytes are
// UTF-8 (queue.go). A slice of JSON text is no JSON value (utf-8 then),
// and a slice of UTF-8 is UTF-8 unless a cut falls inside a sequence
// (base64 then), which the two bytes at the cuts tell.
func (s *Service) queueValueEncoding(ctx context.Context, v queueValue, first, end int64, sliced bool) (string, error) {
	enc := v.Encoding
	if enc == "" {
		enc = "base64"
	}
	if !sliced || enc == "base64" {
		return enc, nil
	}
	if end <= first {
		return "utf-8", nil
	}
	for _, at := range []int64{first, end} {
		ok, err := s.sequenceStartsAt(ctx, v.ValueKey, at, v.Size)
		if err != nil || !ok {
			return "base64", err
		}
	}
	return "utf-8", nil
}

// sequenceStartsAt tells whether offset at of a UTF-8 value of size bytes
// is between two sequences: its end, or a byte that is no continuation.
func (s *Service) sequenceStartsAt(ctx context.Context, key string, at, size int64) (bool, error) {
	if at >= size {
		return true, nil
	}
	rc, err := s.openRange(ctx, key, Range{at, at})
	if err != nil {
		return false, err
	}
	defer rc.Close()
	var b [1]byte
	if _, err := io.ReadFull(rc, b[:]); err != nil {
		return false, err
	}
	return b[0] < 0x80 || b[0] >= 0xC0, nil
}
