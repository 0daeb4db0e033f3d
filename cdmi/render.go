package cdmi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Content types of CDMI objects (§5.13 and each object's clause).
const (
	ctObject     = "application/cdmi-object"
	ctContainer  = "application/cdmi-container"
	ctCapability = "application/cdmi-capability"
	ctDomain     = "application/cdmi-domain"
	ctQueue      = "application/cdmi-queue"
)

func contentTypeOf(typ string) string {
	switch typ {
	case typeContainer:
		return ctContainer
	case typeDataObject:
		return ctObject
	case typeQueue:
		return ctQueue
	case typeDomain:
		return ctDomain
	case typeCapability:
		return ctCapability
	}
	return "application/json"
}

// field is one member of a JSON response, in the order the spec's tables
// list them.
type field struct {
	Key   string
	Value any
}

// fields is an ordered JSON object.
type fields []field

func (fs fields) MarshalJSON() ([]byte, error) {
	return fs.appendJSON(make([]byte, 0, 512))
}

func (fs fields) appendJSON(b []byte) ([]byte, error) {
	b = append(b, '{')
	for i, f := range fs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, f.Key)
		b = append(b, ':')
		var err error
		if b, err = appendJSON(b, f.Value); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendJSON appends v as encoding/json writes it (json.Marshal's bytes,
// HTML characters escaped and all), without its reflection for the types
// answers are made of: strings, string lists, metadata maps, fields.
// Anything else goes through json.Marshal.
func appendJSON(b []byte, v any) ([]byte, error) {
	var err error
	switch x := v.(type) {
	case string:
		return appendJSONString(b, x), nil
	case fields:
		return x.appendJSON(b)
	case []string:
		if x == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, s := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, s)
		}
		return append(b, ']'), nil
	case []any:
		if x == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendJSON(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		if x == nil {
			return append(b, "null"...), nil
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys) // encoding/json's order: byte-wise
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			if b, err = appendJSON(b, x[k]); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	}
	m, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, m...), nil
}

// appendJSONString appends s quoted as encoding/json quotes it: at once
// when every byte stands for itself there (printable ASCII but '"', '\\'
// and the HTML characters json.Marshal escapes), else by json.Marshal.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !plainJSON[c] || c == '<' || c == '>' || c == '&' {
			m, _ := json.Marshal(s)
			return append(b, m...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// pick keeps the fields a selection asks for (all when none).
func (fs fields) pick(q selection) fields {
	if len(q) == 0 {
		return fs
	}
	var out fields
	for _, f := range fs {
		if q.has(f.Key) {
			out = append(out, f)
		}
	}
	return out
}

func cdmiTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

// commonFields are those every object has (objectType .. completionStatus).
func (s *Server) commonFields(ctx context.Context, o *object) (fields, error) {
	fs := fields{{"objectType", contentTypeOf(o.Type)}, {"objectID", o.ObjectID}}
	if o.ObjectID == s.svc.rootID {
		// §5.13.5: at "/" the root has parentURI "" and no parentID; below
		// it the parent path is not a CDMI container (OCCI is served
		// there): parentURI is its URI, no parentID, and parentURI +
		// objectName is the root's URI.
		parent, name := "", "/"
		if s.root != "" {
			i := strings.LastIndexByte(s.root, '/')
			parent, name = s.root[:i+1], s.root[i+1:]+"/"
		}
		fs = append(fs, field{"objectName", name}, field{"parentURI", parent})
	} else if o.ParentID != "" {
		parent, err := s.svc.parentOf(ctx, o)
		if err != nil {
			return nil, err
		}
		name := o.Name
		if o.isContainerLike() {
			name += "/"
		}
		puri, err := s.svc.pathOf(ctx, parent)
		if err != nil {
			return nil, err
		}
		fs = append(fs, field{"objectName", name}, field{"parentURI", puri}, field{"parentID", parent.ObjectID})
	}
	if o.Type == typeCapability {
		return fs, nil
	}
	domain, err := s.svc.domainURIOf(ctx, o)
	if err != nil {
		return nil, err
	}
	fs = append(fs, field{"domainURI", domain}, field{"capabilitiesURI", s.root + "/cdmi_capabilities/" + s.svc.capabilitiesName(o) + "/"})
	status := o.Completion
	if status == "" {
		status = "Complete"
	}
	fs = append(fs, field{"completionStatus", status})
	if status == "Processing" {
		fs = append(fs, field{"percentComplete", "0"})
	}
	return fs, nil
}

// withExtra adds the non-standard fields stored with o (§8.1, §9.1, §11.1),
// in name order, after the standard ones.
func withExtra(fs fields, o *object) fields {
	x := o.extraFields()
	names := make([]string, 0, len(x))
	for k := range x {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fs = append(fs, field{k, x[k]})
	}
	return fs
}

// writeJSON sends a CDMI response body.
func (s *Server) writeJSON(w http.ResponseWriter, status int, ct string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// jsonStringWriter writes bytes as the inside of a JSON string, escaping
// as it goes; UTF-8 sequences split across writes are carried over, and
// invalid bytes become U+FFFD.
type jsonStringWriter struct {
	w     io.Writer
	carry []byte
	buf   []byte
}

func (j *jsonStringWriter) Write(p []byte) (int, error) {
	n := len(p)
	if len(j.carry) > 0 {
		p = append(j.carry, p...)
		j.carry = nil
	}
	if want := len(p) + len(p)/8 + 16; cap(j.buf) < want {
		j.buf = make([]byte, 0, want) // most bytes need no escape: one allocation
	}
	j.buf = j.buf[:0]
	for len(p) > 0 {
		// The run of bytes that need no escape, copied at once.
		run := 0
		for run < len(p) && plainJSON[p[run]] {
			run++
		}
		j.buf = append(j.buf, p[:run]...)
		if p = p[run:]; len(p) == 0 {
			break
		}
		c := p[0]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				j.buf = append(j.buf, '\\', c)
			case c < 0x20:
				j.buf = fmt.Appendf(j.buf, `\u%04x`, c)
			default:
				j.buf = append(j.buf, c)
			}
			p = p[1:]
			continue
		}
		if !utf8.FullRune(p) {
			j.carry = append([]byte(nil), p...)
			break
		}
		r, size := utf8.DecodeRune(p)
		if r == utf8.RuneError && size == 1 {
			j.buf = append(j.buf, `\ufffd`...)
		} else {
			j.buf = append(j.buf, p[:size]...)
		}
		p = p[size:]
	}
	if _, err := j.w.Write(j.buf); err != nil {
		return 0, err
	}
	return n, nil
}

// plainJSON tells the bytes that stand for themselves inside a JSON
// string: ASCII but control characters, '"' and '\\'.
var plainJSON = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// Close flushes an incomplete trailing sequence as U+FFFD.
func (j *jsonStringWriter) Close() error {
	if len(j.carry) > 0 {
		j.carry = nil
		_, err := j.w.Write([]byte(`\ufffd`))
		return err
	}
	return nil
}

// streamValue writes a value as a JSON member value in the given
// encoding, streaming from the backend.
func (s *Server) streamValue(ctx context.Context, w io.Writer, key string, rng Range, enc string) error {
	if rng.Len() <= 0 {
		if enc == "json" {
			_, err := io.WriteString(w, `""`)
			return err
		}
		_, err := io.WriteString(w, `""`)
		return err
	}
	rc, err := s.svc.openRange(ctx, key, rng)
	if err != nil {
		return err
	}
	defer rc.Close()
	return streamFrom(w, rc, rng, enc)
}

// streamFrom writes the bytes rng read from rc as a JSON member value in
// encoding enc.
func streamFrom(w io.Writer, rc io.Reader, rng Range, enc string) error {
	if rng.Len() <= 0 {
		_, err := io.WriteString(w, `""`)
		return err
	}
	var err error
	switch enc {
	case "json":
		_, err = pooledCopy(w, rc)
		return err
	case "base64":
		if _, err := io.WriteString(w, `"`); err != nil {
			return err
		}
		e := base64.NewEncoder(base64.StdEncoding, w)
		if _, err := pooledCopy(e, rc); err != nil {
			return err
		}
		if err := e.Close(); err != nil {
			return err
		}
		_, err = io.WriteString(w, `"`)
		return err
	default:
		if _, err := io.WriteString(w, `"`); err != nil {
			return err
		}
		j := &jsonStringWriter{w: w}
		if _, err := pooledCopy(j, rc); err != nil {
			return err
		}
		if err := j.Close(); err != nil {
			return err
		}
		_, err = io.WriteString(w, `"`)
		return err
	}
}

// copyBufs are the buffers values stream through: one per request
// otherwise (io.Copy's 32 KiB), more than a small value itself.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func pooledCopy(w io.Writer, r io.Reader) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	return io.CopyBuffer(w, r, *bp)
}
