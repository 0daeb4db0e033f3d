package occi

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
)

// recordJSON renders entity records as JSON (GFD.226 §3.1) byte for byte
// as entityJSON does through encoding/json, without building an Entity:
// values are spliced from their stored JSON text where it is already
// what the encoder writes, and encoded again only where it is not (HTML
// characters the store's encoder escaped, other escapes, numbers). The
// test TestRecordJSONMatchesEntityJSON holds the two together.
type recordJSON struct {
	rd  *renderer
	tmp bytes.Buffer
	enc *json.Encoder
	// the actions member of the last kind, mixins and state seen:
	// listings are mostly alike
	lastKey []byte
	lastAct []byte
}

func newRecordJSON(rd *renderer) *recordJSON {
	w := &recordJSON{rd: rd}
	w.enc = json.NewEncoder(&w.tmp)
	w.enc.SetEscapeHTML(false)
	return w
}

// entity appends r's rendering to b.
func (w *recordJSON) entity(b []byte, r *record) []byte {
	b = append(b, `{"kind":`...)
	b = w.str(b, r.kind)
	if len(r.mixins) > 0 {
		b = append(b, `,"mixins":[`...)
		for i, m := range r.mixins {
			if i > 0 {
				b = append(b, ',')
			}
			b = w.str(b, m)
		}
		b = append(b, ']')
	}
	var title, summary []byte
	n := 0
	for _, a := range r.attrs {
		switch string(a.name) {
		case AttrTitle, AttrSummary:
			if storedString(a.value) {
				if string(a.name) == AttrTitle {
					title = a.value
				} else {
					summary = a.value
				}
				continue
			}
		}
		if n == 0 {
			b = append(b, `,"attributes":{`...)
		} else {
			b = append(b, ',')
		}
		n++
		b = w.str(b, a.name)
		b = append(b, ':')
		b = w.value(b, a.value)
	}
	if n > 0 {
		b = append(b, '}')
	}
	b = append(b, w.actions(r)...)
	b = append(b, `,"id":`...)
	if isUUID(r.id) {
		b = append(b, `"urn:uuid:`...)
		b = append(b, r.id...)
		b = append(b, '"')
	} else {
		b = w.str(b, r.id)
	}
	if len(r.links) > 0 {
		b = append(b, `,"links":[`...)
		for i, l := range r.links {
			if i > 0 {
				b = append(b, ',')
			}
			b = w.entity(b, l)
		}
		b = append(b, ']')
	}
	if summary != nil {
		b = append(b, `,"summary":`...)
		b = w.value(b, summary)
	}
	if title != nil {
		b = append(b, `,"title":`...)
		b = w.value(b, title)
	}
	if r.isLink() {
		b = w.end(append(b, `,"source":`...), r.source, r.sourceKind)
		b = w.end(append(b, `,"target":`...), r.target, r.targetKind)
	}
	return append(b, '}')
}

// end appends a link's source or target: {"location": ..., "kind": ...}.
func (w *recordJSON) end(b, loc, kind []byte) []byte {
	b = append(b, `{"location":`...)
	if len(loc) > 0 && loc[0] == '/' && jsonSafe(loc) && jsonSafe([]byte(w.rd.base)) {
		b = append(b, '"')
		b = append(b, w.rd.base...)
		b = append(b, loc...)
		b = append(b, '"')
	} else {
		b = w.any(b, w.rd.abs(string(loc)))
	}
	if len(kind) > 0 {
		b = append(b, `,"kind":`...)
		b = w.str(b, kind)
	}
	return append(b, '}')
}

// actions answers the actions member of r (GFD.229 §5.1.1: those its
// state allows).
func (w *recordJSON) actions(r *record) []byte {
	st := r.state()
	key := append(append(append(w.lastKey[:0], r.kind...), 0), st...)
	for _, m := range r.mixins {
		key = append(append(key, 0), m...)
	}
	if w.lastAct != nil && bytes.Equal(key, w.lastKey) {
		return w.lastAct
	}
	w.lastKey = key
	mixins := make([]string, len(r.mixins))
	for i, m := range r.mixins {
		mixins[i] = string(m)
	}
	acts := w.rd.m.actions(string(r.kind), mixins, string(st))
	out := []byte{}
	if len(acts) > 0 {
		out = append(out, `,"actions":[`...)
		for i, a := range acts {
			if i > 0 {
				out = append(out, ',')
			}
			out = w.any(out, a)
		}
		out = append(out, ']')
	}
	w.lastAct = out
	return out
}

// str appends s as a JSON string.
func (w *recordJSON) str(b, s []byte) []byte {
	if jsonSafe(s) {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	return w.any(b, string(s))
}

// value appends an attribute value given as stored (see encodeValue) as
// the encoder writes the value decodeValue reads from it.
func (w *recordJSON) value(b, v []byte) []byte {
	if isJSONString(v) && bytes.IndexByte(v, '\\') < 0 || smallInteger(v) {
		// Nothing in it was escaped, or an integer the encoder writes
		// in digits: it is what the encoder writes.
		return append(b, v...)
	}
	if len(v) > 0 && v[0] != '"' && v[0] != '+' {
		// decodeValue's number, without its boxing
		if f, err := strconv.ParseFloat(string(v), 64); err == nil {
			return appendJSONFloat(b, f)
		}
	}
	switch x := decodeValue(string(v)).(type) {
	case float64:
		return appendJSONFloat(b, x)
	case bool:
		return strconv.AppendBool(b, x)
	case nil:
		return append(b, "null"...)
	default:
		return w.any(b, x)
	}
}

// smallInteger tells whether v is the digits of an integer a float64
// holds exactly, without a leading zero.
func smallInteger(v []byte) bool {
	if len(v) == 0 || len(v) > 15 || (v[0] == '0' && len(v) > 1) {
		return false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// any appends v as encoding/json writes it without HTML escaping.
func (w *recordJSON) any(b []byte, v any) []byte {
	w.tmp.Reset()
	_ = w.enc.Encode(v)
	return append(b, bytes.TrimSuffix(w.tmp.Bytes(), []byte("\n"))...)
}

// storedString tells whether decodeValue reads a string from v.
func storedString(v []byte) bool {
	if len(v) > 0 && v[0] == '"' {
		return true // a JSON string, or not JSON at all: the text itself
	}
	_, ok := decodeValue(string(v)).(string)
	return ok
}

// isJSONString tells whether a stored value is a JSON string, the way
// decodeValue's fast path reads one: quoted, no quote inside.
func isJSONString(v []byte) bool {
	return len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' && bytes.IndexByte(v[1:len(v)-1], '"') < 0
}

// jsonSafe tells whether s is printable ASCII with nothing a JSON string
// escapes: written between quotes, it is its own encoding.
func jsonSafe(s []byte) bool {
	for _, c := range s {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// appendJSONFloat writes f as encoding/json writes a float64.
func appendJSONFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 becomes e-9, as encoding/json writes it
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// isUUID is uuidRe without the regular expression.
func isUUID(s []byte) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
