package occi

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// renderer turns model values into renderings. base is the absolute URL
// prefix (scheme and authority) that paths are joined to.
type renderer struct {
	base string
	m    *model
}

// abs makes a path absolute (GFD.223 asks for absolute locations; clients
// trip over relative ones). Values that already are URIs stay.
func (r *renderer) abs(path string) string {
	if strings.HasPrefix(path, "/") {
		return r.base + path
	}
	return path
}

// field is one "Name: value" of a text rendering.
type field struct{ name, value string }

type fields []field

func (f *fields) add(name, value string) { *f = append(*f, field{name, value}) }

// writePlain writes the fields as the text/plain body (GFD.229 §6).
func (f fields) writePlain(b *strings.Builder) {
	for _, x := range f {
		b.WriteString(x.name)
		b.WriteString(": ")
		b.WriteString(x.value)
		b.WriteByte('\n')
	}
}

// setHeaders puts the fields in response headers (text/occi, GFD.229 §7)
// as one comma-separated header per name, the form GFD.229 §7 recommends
// for interoperability.
func (f fields) setHeaders(h http.Header) {
	joined := map[string]*strings.Builder{}
	var order []string
	for _, x := range f {
		b := joined[x.name]
		if b == nil {
			b = &strings.Builder{}
			joined[x.name] = b
			order = append(order, x.name)
		} else {
			b.WriteString(", ")
		}
		b.WriteString(x.value)
	}
	for _, name := range order {
		h.Set(name, joined[name].String())
	}
}

// quote renders an RFC 7230 quoted-string.
func quote(s string) string {
	if !strings.ContainsAny(s, `"\`) && ctl(s) < 0 {
		return `"` + s + `"`
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			if isCtl(c) {
				// Control characters (line breaks among them) cannot
				// travel in a header or a text line, and the parser
				// refuses them (ctl).
				c = ' '
			}
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// textValue renders an attribute value: strings quoted, numbers and
// booleans bare, arrays and objects as quoted JSON.
func textValue(v any) string {
	switch x := v.(type) {
	case string:
		return quote(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return `""`
	default:
		raw, _ := json.Marshal(x)
		return quote(string(raw))
	}
}

// categoryRef renders a Category value as an entity's rendering shows it.
func (r *renderer) categoryRef(c *Category) string {
	var b strings.Builder
	b.WriteString(c.Term)
	b.WriteString("; scheme=")
	b.WriteString(quote(c.Scheme))
	b.WriteString("; class=")
	b.WriteString(quote(string(c.Class)))
	if c.Title != "" {
		b.WriteString("; title=")
		b.WriteString(quote(c.Title))
	}
	return b.String()
}

// categoryFull renders a Category for the query interface (GFD.229 §4.1).
func (r *renderer) categoryFull(c *Category) string {
	var b strings.Builder
	b.WriteString(r.categoryRef(c))
	rel := c.Parent
	if c.Class == ClassMixin && len(c.Depends) > 0 {
		// Only the first dependency is rendered (GFD.229 §5.5.2).
		rel = c.Depends[0]
	}
	if rel != "" {
		b.WriteString("; rel=")
		b.WriteString(quote(rel))
	}
	if c.Location != "" {
		b.WriteString("; location=")
		b.WriteString(quote(r.abs(c.Location)))
	}
	if len(c.Attributes) > 0 {
		// Attribute names are terms: nothing to escape.
		b.WriteString(`; attributes="`)
		for i, a := range c.Attributes {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(a.Name)
			switch {
			case a.Required && !a.Mutable:
				b.WriteString("{required immutable}")
			case a.Required:
				b.WriteString("{required}")
			case !a.Mutable:
				b.WriteString("{immutable}")
			}
		}
		b.WriteByte('"')
	}
	if len(c.Actions) > 0 {
		b.WriteString("; actions=")
		b.WriteString(quote(strings.Join(c.Actions, " ")))
	}
	return b.String()
}

func (r *renderer) categoriesText(cs []*Category) fields {
	f := make(fields, 0, len(cs))
	for _, c := range cs {
		f.add("Category", r.categoryFull(c))
	}
	return f
}

// entityText renders a resource or link (GFD.229 §5.1).
func (r *renderer) entityText(e *Entity) fields {
	var f fields
	if k := r.m.get(e.Kind); k != nil {
		f.add("Category", r.categoryRef(k))
	}
	for _, id := range e.Mixins {
		if c := r.m.get(id); c != nil {
			f.add("Category", r.categoryRef(c))
		}
	}
	for _, l := range e.Links {
		f.add("Link", r.linkValue(l))
	}
	for _, a := range e.Actions {
		f.add("Link", "<"+r.abs(e.Location)+"?action="+actionTerm(a)+">; rel="+quote(a))
	}
	f.add("X-OCCI-Attribute", AttrID+"="+quote(renderID(e.ID)))
	if e.IsLink() {
		f.add("X-OCCI-Attribute", AttrSource+"="+quote(r.abs(e.Source)))
		if e.SourceKind != "" {
			f.add("X-OCCI-Attribute", AttrSourceKind+"="+quote(e.SourceKind))
		}
		f.add("X-OCCI-Attribute", AttrTarget+"="+quote(r.abs(e.Target)))
		if e.TargetKind != "" {
			f.add("X-OCCI-Attribute", AttrTargetKind+"="+quote(e.TargetKind))
		}
	}
	for _, k := range sortedKeys(e.Attrs) {
		f.add("X-OCCI-Attribute", k+"="+textValue(e.Attrs[k]))
	}
	return f
}

// linkValue renders a link inside its source's rendering (GFD.229 §4.2).
func (r *renderer) linkValue(l *Entity) string {
	var b strings.Builder
	b.WriteByte('<')
	b.WriteString(r.abs(l.Target))
	b.WriteString(">; rel=")
	b.WriteString(quote(l.TargetKind))
	b.WriteString("; self=")
	b.WriteString(quote(r.abs(l.Location)))
	b.WriteString("; category=")
	b.WriteString(quote(strings.Join(append([]string{l.Kind}, l.Mixins...), " ")))
	b.WriteString("; " + AttrID + "=" + quote(renderID(l.ID)))
	for _, k := range sortedKeys(l.Attrs) {
		b.WriteString("; ")
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(textValue(l.Attrs[k]))
	}
	return b.String()
}

// actionTerm is the term of an action type identifier.
func actionTerm(id string) string {
	if i := strings.LastIndexByte(id, '#'); i >= 0 {
		return id[i+1:]
	}
	return id
}

// locationsText renders an entity collection (GFD.229 §5.3).
func (r *renderer) locationsText(locs []string) fields {
	f := make(fields, 0, len(locs))
	for _, l := range locs {
		f.add("X-OCCI-Location", r.abs(l))
	}
	return f
}

// uriList renders a collection as text/uri-list (RFC 2483).
func (r *renderer) uriList(locs []string) string {
	var b strings.Builder
	for _, l := range locs {
		b.WriteString(r.abs(l))
		b.WriteString("\r\n")
	}
	return b.String()
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	// Core attributes first, then the rest in name order, so renderings are
	// stable and read well.
	sort.Slice(keys, func(i, j int) bool {
		ci, cj := strings.HasPrefix(keys[i], "occi.core."), strings.HasPrefix(keys[j], "occi.core.")
		if ci != cj {
			return ci
		}
		return keys[i] < keys[j]
	})
	return keys
}
