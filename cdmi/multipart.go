package cdmi

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
)

// CDMI multi-part MIME (CDMI 1.1.1 §8.1, §8.2.4, §8.3.5, §8.4.3, §9.6.4,
// §11.1, §11.3.5, §11.6.3; capability cdmi_multipart_mime, §12.1.1
// Table 100): a multipart/mixed body whose first part is the CDMI JSON and
// whose following parts are the value (or byte ranges of it, or queue
// values), each with its own Content-Type, optional Content-Length,
// Content-Transfer-Encoding (RFC 2045) and, for ranges, Content-Range
// (RFC 2616 §14.16).
//
// Nothing is held whole in memory: the JSON part is bounded by
// maxJSONPart, each value part is streamed from mime/multipart's Reader
// straight to the storage backend, decoded on the way when it is base64 or
// quoted-printable. Each part is checked as it is read (its declared
// lengths, its encoding) and the closing boundary must arrive before any
// row commits, so a malformed or truncated body leaves nothing behind.

const (
	ctMultipartMixed = "multipart/mixed"
	// maxJSONPart bounds the first part: the CDMI fields, never the value.
	maxJSONPart = maxFieldBytes
)

// multipartErrorf is a fault of the envelope itself: it answers 400.
func multipartErrorf(format string, a ...any) error {
	return invalidf("multi-part MIME body (CDMI 1.1.1 §8.2.4, RFC 2046 §5.1): "+format, a...)
}

// isMultipartMixed tells whether a request carries a CDMI multi-part MIME
// body rather than a multipart value to store as sent: it is a CDMI
// request (version header, CDMI type in Accept), or a PATCH (CDMI 2.0's
// update, whose examples send no header), or its first part is CDMI JSON
// (§7.6.2: a non-CDMI POST may create by ID with multi-part MIME).
func isMultipartMixed(c *call) bool {
	return mediaType(c.r) == ctMultipartMixed && (cdmiMultipart(c) || firstPartIsCDMI(c.r))
}

// cdmiMultipart tells whether a multipart body of c is CDMI's whatever its
// parts.
func cdmiMultipart(c *call) bool {
	return c.isCDMI() || c.r.Method == http.MethodPatch
}

// sniffLimit bounds how much of a body is looked at for its first part's
// headers.
const sniffLimit = 8 << 10

// sniffedBody is a request body whose start has been looked at.
type sniffedBody struct {
	*bufio.Reader
	io.Closer
	cdmi bool
}

// firstPartIsCDMI tells whether the body's first part has Content-Type
// application/cdmi-object, from at most sniffLimit bytes kept buffered for
// the handler; the answer is remembered with the body.
func firstPartIsCDMI(r *http.Request) bool {
	if sb, ok := r.Body.(*sniffedBody); ok {
		return sb.cdmi
	}
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || params["boundary"] == "" || r.Body == nil {
		return false
	}
	sb := &sniffedBody{Reader: bufio.NewReaderSize(r.Body, sniffLimit), Closer: r.Body}
	r.Body = sb
	head, _ := sb.Peek(sniffLimit)
	p, err := multipart.NewReader(bytes.NewReader(head), params["boundary"]).NextRawPart()
	sb.cdmi = err == nil && normalizeMediaType(p.Header.Get("Content-Type")) == ctObject
	return sb.cdmi
}

// envelope reads a multi-part MIME request body part by part.
type envelope struct {
	mr   *multipart.Reader
	part int // parts opened, the JSON part included
}

// openEnvelope checks the request's multipart/mixed Content-Type, reads
// the first part (the CDMI JSON, of Content-Type jsonType or
// application/json) and returns it parsed, with the envelope positioned at
// the first value part.
func (s *Server) openEnvelope(c *call, jsonType string) (*envelope, *cdmiBody, error) {
	_, params, err := mime.ParseMediaType(c.r.Header.Get("Content-Type"))
	if err != nil {
		return nil, nil, multipartErrorf("Content-Type %q: %v", c.r.Header.Get("Content-Type"), err)
	}
	boundary := params["boundary"]
	if boundary == "" {
		return nil, nil, multipartErrorf("Content-Type %q has no boundary parameter", c.r.Header.Get("Content-Type"))
	}
	if len(boundary) > 70 {
		return nil, nil, multipartErrorf("the boundary is %d characters; RFC 2046 §5.1.1 allows at most 70", len(boundary))
	}
	e := &envelope{mr: multipart.NewReader(c.r.Body, boundary)}
	p, err := e.nextRaw()
	if errors.Is(err, io.EOF) {
		return nil, nil, multipartErrorf("no parts: the first part must be the CDMI JSON (%s)", jsonType)
	}
	if err != nil {
		return nil, nil, err
	}
	mt := normalizeMediaType(p.Header.Get("Content-Type"))
	if mt != jsonType && mt != "application/json" {
		return nil, nil, multipartErrorf("part 1 has Content-Type %q; the first part must be %s", p.Header.Get("Content-Type"), jsonType)
	}
	body, err := e.decoded(p)
	if err != nil {
		return nil, nil, err
	}
	jsonPart := &capReader{r: body, left: maxJSONPart, tooBig: multipartErrorf("part 1 (the CDMI JSON) exceeds %d bytes", maxJSONPart)}
	b, err := parseBody(jsonPart, maxJSONPart, s.cfg.TempDir)
	if err != nil {
		return nil, nil, err
	}
	dropServerFields(b)
	for _, f := range []string{"value", "copy", "move", "reference", "deserializevalue"} {
		if b.has(f) {
			b.Close()
			return nil, nil, multipartErrorf("the JSON part has %q; with multi-part MIME the value travels in the parts after the JSON (§8.2.5: \"value\" is not included)", f)
		}
	}
	return e, b, nil
}

// nextRaw opens the next part (io.EOF after the closing boundary). The raw
// form keeps Content-Transfer-Encoding for decoded to apply: Go's NextPart
// would decode quoted-printable itself but pass base64 through.
func (e *envelope) nextRaw() (*multipart.Part, error) {
	p, err := e.mr.NextRawPart()
	if errors.Is(err, io.EOF) {
		return nil, io.EOF
	}
	if err != nil {
		return nil, multipartErrorf("after part %d: %v (a missing or misspelt boundary, or a body cut short)", e.part, err)
	}
	e.part++
	return p, nil
}

// decoded is the part's content: its declared Content-Length checked
// against the bytes on the wire, its Content-Transfer-Encoding undone.
func (e *envelope) decoded(p *multipart.Part) (io.Reader, error) {
	n := e.part
	var r io.Reader = &partReader{p: p, n: n}
	if v := p.Header.Get("Content-Length"); v != "" {
		cl, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || cl < 0 {
			return nil, multipartErrorf("part %d: Content-Length %q is not a length", n, v)
		}
		r = &exactReader{r: r, left: cl, what: fmt.Sprintf("part %d: its Content-Length %d", n, cl)}
	}
	switch cte := strings.ToLower(strings.TrimSpace(p.Header.Get("Content-Transfer-Encoding"))); cte {
	case "", "binary", "8bit", "7bit":
		return r, nil
	case "base64":
		return badValueReader{"base64", base64Decoder(r)}, nil
	case "quoted-printable":
		return badValueReader{"quoted-printable", quotedprintable.NewReader(r)}, nil
	default:
		return nil, multipartErrorf("part %d: Content-Transfer-Encoding %q: want binary, 8bit, 7bit, base64 or quoted-printable (RFC 2045 §6)", n, cte)
	}
}

// valuePart is one value part, opened: its decoded bytes and what its
// headers say about them.
type valuePart struct {
	r        io.Reader
	mimetype string // Content-Type as sent; RFC 2045 §5.2's default when absent
	charset  bool   // Content-Type has charset=utf-8 (§8.2.5 valuetransferencoding)
	rng      *Range // Content-Range, when given
}

// next opens the next value part; io.EOF after the closing boundary.
func (e *envelope) next() (*valuePart, error) {
	p, err := e.nextRaw()
	if err != nil {
		return nil, err
	}
	r, err := e.decoded(p)
	if err != nil {
		return nil, err
	}
	vp := &valuePart{r: r, mimetype: strings.TrimSpace(p.Header.Get("Content-Type"))}
	if vp.mimetype == "" {
		vp.mimetype = "text/plain; charset=us-ascii" // RFC 2045 §5.2
	}
	vp.charset = hasUTF8Charset(vp.mimetype)
	if cr := p.Header.Get("Content-Range"); cr != "" {
		rng, err := parseContentRange(cr)
		if err != nil {
			return nil, multipartErrorf("part %d: %v", e.part, err)
		}
		vp.rng = &rng
		vp.r = &exactReader{r: vp.r, left: rng.Len(), what: fmt.Sprintf("part %d: its Content-Range %q", e.part, cr)}
	}
	return vp, nil
}

// partReader tags the multipart reader's errors (a body cut short, a
// missing closing boundary) so that they answer 400 naming the part.
type partReader struct {
	p *multipart.Part
	n int
}

func (r *partReader) Read(b []byte) (int, error) {
	n, err := r.p.Read(b)
	if err != nil && err != io.EOF {
		err = multipartErrorf("part %d: %v (the body ended before the closing boundary?)", r.n, err)
	}
	return n, err
}

// exactReader passes exactly left bytes of r and then insists that r is at
// its end: fewer or more bytes than declared is an error, not a value.
type exactReader struct {
	r    io.Reader
	left int64
	what string
}

func (x *exactReader) Read(b []byte) (int, error) {
	if x.left == 0 {
		var one [1]byte
		n, err := io.ReadFull(x.r, one[:])
		if n > 0 {
			return 0, multipartErrorf("%s is exceeded: the part holds more bytes", x.what)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return 0, io.EOF
		}
		return 0, err
	}
	if int64(len(b)) > x.left {
		b = b[:x.left]
	}
	n, err := x.r.Read(b)
	x.left -= int64(n)
	if err == io.EOF && x.left > 0 {
		return n, multipartErrorf("%s is not reached: the part ends %d bytes short", x.what, x.left)
	}
	if err == io.EOF {
		err = nil
	}
	return n, err
}

// capReader passes at most left bytes of r and answers tooBig past them.
type capReader struct {
	r      io.Reader
	left   int64
	tooBig error
}

func (c *capReader) Read(b []byte) (int, error) {
	if c.left <= 0 {
		var one [1]byte
		if n, _ := c.r.Read(one[:]); n > 0 {
			return 0, c.tooBig
		}
		return c.r.Read(b)
	}
	if int64(len(b)) > c.left {
		b = b[:c.left]
	}
	n, err := c.r.Read(b)
	c.left -= int64(n)
	return n, err
}

// wantsMultipart tells whether a read's Accept asks for multipart/mixed
// (§8.3.3 Table 25, §11.3.4) at least as much as for the CDMI JSON type.
func wantsMultipart(r *http.Request, ct string) bool {
	qMultipart, qJSON := 0.0, 0.0
	for _, h := range r.Header.Values("Accept") {
		for _, item := range strings.Split(h, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(item))
			if err != nil {
				continue
			}
			q := 1.0
			if v, ok := params["q"]; ok {
				if q, err = strconv.ParseFloat(v, 64); err != nil {
					continue
				}
			}
			switch normalizeMediaType(mt) {
			case ctMultipartMixed:
				qMultipart = max(qMultipart, q)
			case ct:
				qJSON = max(qJSON, q)
			}
		}
	}
	return qMultipart > 0 && qMultipart >= qJSON
}

// partHeader is the header of a value part in a response.
func partHeader(mimetype string, length int64) textproto.MIMEHeader {
	if mimetype == "" {
		mimetype = "application/octet-stream"
	}
	return textproto.MIMEHeader{
		"Content-Type":              {mimetype},
		"Content-Transfer-Encoding": {"binary"},
		"Content-Length":            {strconv.FormatInt(length, 10)},
	}
}

// startMultipart sends the status, the multipart/mixed Content-Type and
// the JSON part; nil when the request is a HEAD (no body to write).
func startMultipart(c *call, jsonType string, head []byte) *multipart.Writer {
	mw := multipart.NewWriter(c.w)
	c.w.Header().Set("Content-Type", ctMultipartMixed+"; boundary="+mw.Boundary())
	c.w.Header().Del("Content-Length")
	c.w.WriteHeader(http.StatusOK)
	if c.r.Method == http.MethodHead {
		return nil
	}
	p, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":   {jsonType},
		"Content-Length": {strconv.Itoa(len(head))},
	})
	if err == nil {
		_, _ = io.Copy(p, bytes.NewReader(head))
	}
	return mw
}
