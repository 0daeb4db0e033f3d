package cdmi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"syscall"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/occicdmi/occicdmi/internal/kind"
	"github.com/occicdmi/occicdmi/internal/textcheck"
	"github.com/occicdmi/occicdmi/internal/web"
)

// CDMI request bodies are JSON objects whose "value" may be as large as the
// data object itself. The parser below reads the body once, as a stream:
// every field but "value" is kept (bounded by maxFieldBytes in total), and
// the value is decoded on the fly into a spool that stays in memory while
// small and moves to a temporary file beyond spoolMemory. Memory use is
// therefore flat whatever the value's size; the value's size is bounded by
// Config.MaxBodyValue (413 past it).

var (
	errBadBody = kind.New(kind.Invalid, "malformed CDMI body")
)

const (
	maxFieldBytes = 1 << 20 // all fields except "value", together
	maxKeyBytes   = 4 << 10
	spoolMemory   = 1 << 20
)

// cdmiBody is a parsed CDMI request body.
type cdmiBody struct {
	Fields        map[string]json.RawMessage
	Value         *spool // nil when the body has no "value"
	ValueIsString bool   // the value was a JSON string (decoded into Value); else raw JSON
}

func (b *cdmiBody) Close() error {
	if b != nil && b.Value != nil {
		return b.Value.Close()
	}
	return nil
}

// field decodes one field into v; absent fields leave v alone.
func (b *cdmiBody) field(name string, v any) (bool, error) {
	raw, ok := b.Fields[name]
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("%w: field %q: %v", errBadBody, name, err)
	}
	return true, nil
}

func (b *cdmiBody) has(name string) bool {
	_, ok := b.Fields[name]
	return ok || (name == "value" && b.Value != nil)
}

// parseBody reads a whole CDMI JSON body. maxValue bounds the decoded value.
func parseBody(r io.Reader, maxValue int64, tmpDir string) (*cdmiBody, error) {
	br := bodyReaders.Get().(*bufio.Reader)
	br.Reset(r)
	defer func() {
		br.Reset(nil) // holds nothing of this request's
		bodyReaders.Put(br)
	}()
	p := &parser{r: br, budget: maxFieldBytes}
	b := &cdmiBody{Fields: map[string]json.RawMessage{}}
	if err := p.object(b, maxValue, tmpDir); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// bodyReaders are the read buffers of parseBody, which is done with its
// buffer when it returns (the value is spooled): one 64 KiB allocation
// per request otherwise, sixteen times a small value.
var bodyReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 64<<10) }}

type parser struct {
	r      *bufio.Reader
	budget int // bytes left for non-value fields
	off    int64
}

func (p *parser) errf(format string, a ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", errBadBody, p.off, fmt.Sprintf(format, a...))
}

func (p *parser) readByte() (byte, error) {
	c, err := p.r.ReadByte()
	if err == io.EOF {
		return 0, p.errf("unexpected end of body")
	}
	if err != nil {
		return 0, err
	}
	p.off++
	return c, nil
}

func (p *parser) skipWS() (byte, error) {
	for {
		c, err := p.readByte()
		if err != nil {
			return 0, err
		}
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return c, nil
		}
	}
}

func (p *parser) object(b *cdmiBody, maxValue int64, tmpDir string) error {
	c, err := p.skipWS()
	if err != nil {
		if errors.Is(err, errBadBody) {
			return fmt.Errorf("%w: the body must be a JSON object ({} at least)", errBadBody)
		}
		return err
	}
	if c != '{' {
		return p.errf("the body must be a JSON object, found %q", c)
	}
	c, err = p.skipWS()
	if err != nil {
		return err
	}
	if c != '}' {
		for {
			if c != '"' {
				return p.errf("expected a field name, found %q", c)
			}
			var kb limitedBuffer
			kb.limit = maxKeyBytes
			if err := p.stringBody(&kb); err != nil {
				return err
			}
			key := kb.String()
			if _, dup := b.Fields[key]; dup || (key == "value" && b.Value != nil) {
				return p.errf("field %q given twice", key)
			}
			if c, err = p.skipWS(); err != nil {
				return err
			}
			if c != ':' {
				return p.errf("expected ':' after %q", key)
			}
			if c, err = p.skipWS(); err != nil {
				return err
			}
			if key == "value" {
				b.Value = newSpool(maxValue, tmpDir)
				if c == '"' {
					b.ValueIsString = true
					err = p.stringBody(b.Value)
				} else {
					err = p.raw(c, b.Value)
				}
				if err != nil {
					return err
				}
			} else {
				fb := limitedBuffer{limit: p.budget}
				if err := p.raw(c, &fb); err != nil {
					return err
				}
				p.budget -= fb.Len()
				if !json.Valid(fb.Bytes()) {
					return p.errf("field %q is not valid JSON", key)
				}
				if err := fieldText(fb.Bytes()); err != nil {
					return p.errf("field %q: %v", key, err)
				}
				b.Fields[key] = json.RawMessage(bytes.Clone(fb.Bytes()))
			}
			if c, err = p.skipWS(); err != nil {
				return err
			}
			if c == '}' {
				break
			}
			if c != ',' {
				return p.errf("expected ',' or '}', found %q", c)
			}
			if c, err = p.skipWS(); err != nil {
				return err
			}
		}
	}
	// Only white space may follow the object.
	for {
		c, err := p.r.ReadByte()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		p.off++
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return p.errf("data after the JSON object")
		}
	}
	if b.Value != nil && !b.ValueIsString {
		if err := b.Value.validJSON(); err != nil {
			return p.errf("field \"value\" is not valid JSON: %v", err)
		}
	}
	return nil
}

// stringBody decodes a JSON string whose opening quote was read, writing
// the decoded UTF-8 bytes to w.
func (p *parser) stringBody(w io.Writer) error {
	var buf [4096]byte
	n := 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		_, err := w.Write(buf[:n])
		n = 0
		return err
	}
	put := func(bs ...byte) error {
		if n+len(bs) > len(buf) {
			if err := flush(); err != nil {
				return err
			}
		}
		n += copy(buf[n:], bs)
		return nil
	}
	var pending rune = -1 // a high surrogate waiting for its pair
	emit := func(r rune) error {
		var e [utf8.UTFMax]byte
		return put(e[:utf8.EncodeRune(e[:], r)]...)
	}
	for {
		c, err := p.readByte()
		if err != nil {
			return err
		}
		if pending >= 0 && c != '\\' {
			return p.loneSurrogate(pending)
		}
		switch {
		case c == '"':
			return flush()
		case c < 0x20:
			return p.errf("control character 0x%02x inside a string", c)
		case c == '\\':
			e, err := p.readByte()
			if err != nil {
				return err
			}
			if e != 'u' && pending >= 0 {
				return p.loneSurrogate(pending)
			}
			var out byte
			switch e {
			case '"', '\\', '/':
				out = e
			case 'b':
				out = '\b'
			case 'f':
				out = '\f'
			case 'n':
				out = '\n'
			case 'r':
				out = '\r'
			case 't':
				out = '\t'
			case 'u':
				var h [4]byte
				for i := range h {
					if h[i], err = p.readByte(); err != nil {
						return err
					}
				}
				r, ok := hex4(h)
				if !ok {
					return p.errf("bad \\u escape %q", h[:])
				}
				switch {
				case pending >= 0 && r >= 0xDC00 && r < 0xE000:
					r = utf16.DecodeRune(pending, r)
					pending = -1
				case pending >= 0:
					return p.loneSurrogate(pending)
				case r >= 0xD800 && r < 0xDC00:
					pending = r
					continue
				case r >= 0xDC00 && r < 0xE000:
					return p.loneSurrogate(r)
				}
				if err := emit(r); err != nil {
					return err
				}
				continue
			default:
				return p.errf("bad escape \\%c", e)
			}
			if err := put(out); err != nil {
				return err
			}
		case c >= utf8.RuneSelf:
			// Invalid UTF-8 is refused, not made U+FFFD as encoding/json
			// would: a CDMI body is JSON, which is UTF-8 (RFC 8259 §8.1),
			// and names, metadata and utf-8 values are kept as sent.
			seq := []byte{c}
			if more, _ := p.r.Peek(utf8.UTFMax - 1); len(more) > 0 {
				seq = append(seq, more...)
			}
			r, size := utf8.DecodeRune(seq)
			if r == utf8.RuneError && size == 1 {
				return p.errf("byte 0x%02X inside a string is not UTF-8 (a CDMI body is UTF-8 JSON, RFC 8259 §8.1)", c)
			}
			if err := put(seq[:size]...); err != nil {
				return err
			}
			_, _ = p.r.Discard(size - 1)
			p.off += int64(size - 1)
		default:
			if err := put(c); err != nil {
				return err
			}
		}
	}
}

// fieldText refuses what a field other than "value" may not decode to:
// invalid UTF-8 (which encoding/json would make U+FFFD), a lone surrogate,
// or NUL (metadata, mimetypes and URIs are text; PostgreSQL keeps no NUL).
func fieldText(b []byte) error {
	if err := textcheck.Text(b); err != nil {
		return err
	}
	return textcheck.JSONEscapes(b)
}

// loneSurrogate refuses a UTF-16 surrogate escape that is not half of a
// pair (RFC 8259 §8.2): it stands for no character.
func (p *parser) loneSurrogate(r rune) error {
	return p.errf("\\u%04x is a lone UTF-16 surrogate, not a character (RFC 8259 §8.2)", r)
}

func hex4(h [4]byte) (rune, bool) {
	var r rune
	for _, c := range h {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}

// raw copies one JSON value, whose first byte c was read, to w unchanged.
// Validation is left to the caller (json.Valid); raw only finds the end.
func (p *parser) raw(c byte, w io.Writer) error {
	bw := bufio.NewWriterSize(w, 4096)
	write := func(c byte) error { return bw.WriteByte(c) }
	depth := 0
	inString := false
	for {
		if err := write(c); err != nil {
			return err
		}
		switch {
		case inString:
			if c == '\\' {
				e, err := p.readByte()
				if err != nil {
					return err
				}
				if err := write(e); err != nil {
					return err
				}
			} else if c == '"' {
				inString = false
				if depth == 0 {
					return bw.Flush()
				}
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > 512 {
				return p.errf("JSON nested too deeply")
			}
		case c == '}' || c == ']':
			depth--
			if depth < 0 {
				return p.errf("unbalanced %q", c)
			}
			if depth == 0 {
				return bw.Flush()
			}
		}
		if depth == 0 && !inString {
			// A scalar (number, true, false, null): it ends before a
			// delimiter, which must be left for the caller.
			next, err := p.r.Peek(1)
			if err == io.EOF || (err == nil && isDelim(next[0])) {
				return bw.Flush()
			}
			if err != nil {
				return err
			}
		}
		var err error
		if c, err = p.readByte(); err != nil {
			return err
		}
	}
}

func isDelim(c byte) bool {
	return c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

// limitedBuffer is a bytes.Buffer that refuses to grow past limit.
type limitedBuffer struct {
	bytes.Buffer
	limit int
}

func (l *limitedBuffer) Write(b []byte) (int, error) {
	if l.Len()+len(b) > l.limit {
		return 0, web.Errorf(http.StatusRequestEntityTooLarge, "request body too large: JSON fields other than \"value\" exceed %d bytes", l.limit)
	}
	return l.Buffer.Write(b)
}

// spool holds a value: in memory up to spoolMemory bytes, then in a
// temporary file, bounded by max.
type spool struct {
	max    int64
	dir    string
	n      int64
	mem    bytes.Buffer
	f      *os.File
	closed bool
}

func newSpool(max int64, dir string) *spool { return &spool{max: max, dir: dir} }

// spoolErr says what failed while spooling a value: a full disk is 507
// (the request may succeed once there is room), anything else internal
// (logged with its detail; the answer names no folder).
func spoolErr(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return kind.New(kind.NoSpace, "no room left to spool the request's value")
	}
	return fmt.Errorf("spool the value: %w", err)
}

func (s *spool) Write(b []byte) (int, error) {
	if s.max == 0 && len(b) > 0 {
		return 0, fmt.Errorf("%w: this request takes no \"value\" (containers and queues hold none)", errBadBody)
	}
	if s.n+int64(len(b)) > s.max {
		return 0, web.Errorf(http.StatusRequestEntityTooLarge, "request body too large: the value exceeds %d bytes; send larger values with a non-CDMI PUT", s.max)
	}
	if s.f == nil && s.mem.Len()+len(b) > spoolMemory {
		f, err := os.CreateTemp(s.dir, "cdmi-body-*")
		if err != nil {
			return 0, spoolErr(err)
		}
		// The file is unlinked at once: it vanishes with the process.
		_ = os.Remove(f.Name())
		if _, err := f.Write(s.mem.Bytes()); err != nil {
			f.Close()
			return 0, spoolErr(err)
		}
		s.mem = bytes.Buffer{}
		s.f = f
	}
	var n int
	var err error
	if s.f != nil {
		if n, err = s.f.Write(b); err != nil {
			err = spoolErr(err)
		}
	} else {
		n, err = s.mem.Write(b)
	}
	s.n += int64(n)
	return n, err
}

// Len is the number of bytes spooled.
func (s *spool) Len() int64 { return s.n }

// Reader reads the spooled bytes from the start.
func (s *spool) Reader() io.Reader {
	if s.f != nil {
		return io.NewSectionReader(s.f, 0, s.n)
	}
	return bytes.NewReader(s.mem.Bytes())
}

// validJSON checks, streaming, that the spool holds exactly one JSON value.
func (s *spool) validJSON() error {
	d := json.NewDecoder(s.Reader())
	depth, values := 0, 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			if values == 0 {
				return errors.New("no JSON value")
			}
			return nil
		}
		if err != nil {
			return err
		}
		if values > 0 {
			return errors.New("more than one JSON value")
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			values++
		}
	}
}

func (s *spool) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if s.f != nil {
		return s.f.Close()
	}
	return nil
}
