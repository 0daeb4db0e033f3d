package occi

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// payload is what a request carries, whatever its rendering: entity
// renderings, an action invocation, category definitions and locations.
type payload struct {
	Entities    []entityDoc
	Action      string // type identifier, "" when none
	ActionAttrs map[string]any
	Categories  []*Category // every Category rendering, in order
	Locations   []string
	// Attrs are the text rendering's X-OCCI-Attribute values, kept apart
	// for collection filters.
	Attrs map[string]any
	// links are the text rendering's Link values, kept to assemble the
	// entity again once the classes of its categories are settled.
	links []linkDoc
}

// entityDoc is one entity rendering as received.
type entityDoc struct {
	ID         string
	Kind       string
	Mixins     []string
	Attrs      map[string]any
	Links      []linkDoc
	Source     string // links
	Target     string
	TargetKind string
	Location   string // where a collection rendering names the entity
}

// linkDoc is a link given inside a resource rendering.
type linkDoc struct {
	Target     string
	TargetKind string // rel
	Self       string
	Kind       string
	Mixins     []string
	Attrs      map[string]any
}

// textLimits bound what one rendering may hold, so that a hostile request
// cannot make the parser allocate without end (the body is capped too).
const maxTextLines = 10000

// parseTextHeaders reads the OCCI fields of a request's headers (the
// text/occi rendering, GFD.229 §7, and the filters of GFD.223 §6).
func parseTextHeaders(h http.Header) (*payload, error) {
	var lines []textLine
	for _, name := range []string{"Category", "Link", "X-Occi-Attribute", "X-Occi-Location"} {
		for _, v := range h.Values(name) {
			if err := checkText(name+" header", []byte(v)); err != nil {
				return nil, err
			}
			lines = append(lines, textLine{name: name, value: v})
		}
	}
	return buildPayload(lines)
}

// parseTextBody reads the text/plain rendering (GFD.229 §6): one
// "Name: value" per line. Lines starting with white space continue the
// previous one, as folded header lines do; a value may hold several
// comma-separated items like a header.
func parseTextBody(body []byte) (*payload, error) {
	var lines []textLine
	sc := bufio.NewScanner(bytes.NewReader(body))
	// A line may be as long as the body; start small so that short
	// renderings do not pay for a large buffer.
	sc.Buffer(make([]byte, 0, min(len(body)+1, 4096)), len(body)+1)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		// A line starting with white space continues the previous one, and
		// so does the line after a trailing backslash (the specification's
		// examples are folded that way).
		if last := len(lines) - 1; last >= 0 && (line[0] == ' ' || line[0] == '\t' || strings.HasSuffix(lines[last].value, "\\")) {
			lines[last].value = strings.TrimSuffix(lines[last].value, "\\") + " " + strings.TrimSpace(line)
			continue
		}
		i := strings.IndexByte(line, ':')
		if i <= 0 {
			return nil, fmt.Errorf("line %d: expected \"Name: value\", got %q", n, clip(line))
		}
		name := http.CanonicalHeaderKey(strings.TrimSpace(line[:i]))
		lines = append(lines, textLine{name: name, value: strings.TrimSpace(line[i+1:]), line: n})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	for i := range lines {
		lines[i].value = strings.TrimSuffix(lines[i].value, "\\")
	}
	return buildPayload(lines)
}

type textLine struct {
	name, value string
	line        int
}

func (l textLine) where() string {
	if l.line > 0 {
		return fmt.Sprintf("line %d (%s)", l.line, l.name)
	}
	return l.name + " header"
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// buildPayload reads the values of the lines, then assembles the entity
// and action views of them.
func buildPayload(lines []textLine) (*payload, error) {
	p := &payload{Attrs: map[string]any{}}
	var links []linkDoc
	count := 0
	for _, l := range lines {
		items, err := splitOutside(l.value, ',')
		if err != nil {
			return nil, fmt.Errorf("%s: %w", l.where(), err)
		}
		for _, it := range items {
			it = strings.TrimSpace(it)
			if it == "" {
				continue
			}
			if count++; count > maxTextLines {
				return nil, fmt.Errorf("too many values (more than %d)", maxTextLines)
			}
			if err := p.addTextValue(l.name, it, &links); err != nil {
				return nil, fmt.Errorf("%s: %w", l.where(), err)
			}
		}
	}
	p.links = links
	if err := p.assembleEntity(links); err != nil {
		return nil, err
	}
	return p, nil
}

// settle gives each Category rendered without class (GFD.185-era tools
// never send it) the class of the registered category with its scheme
// and term, and assembles the entity again. A category the model does
// not know takes class unknown; with unknown "" it is refused.
func (p *payload) settle(m *model, unknown Class) error {
	changed := false
	for _, c := range p.Categories {
		if c.Class != "" {
			continue
		}
		switch known := m.get(c.ID()); {
		case known != nil:
			c.Class = known.Class
		case unknown != "":
			c.Class = unknown
		default:
			return fmt.Errorf("category %s has no class and is not one this server knows; add class=\"kind\", \"mixin\" or \"action\"", c.ID())
		}
		changed = true
	}
	if !changed {
		return nil
	}
	p.Action, p.Entities = "", nil
	return p.assembleEntity(p.links)
}

// addTextValue adds one value of a Category, Link, X-OCCI-Attribute or
// X-OCCI-Location field.
func (p *payload) addTextValue(field, it string, links *[]linkDoc) error {
	switch field {
	case "Category":
		c, err := parseCategory(it)
		if err != nil {
			return err
		}
		p.Categories = append(p.Categories, c)
	case "Link":
		ld, err := parseLink(it)
		if err != nil {
			return err
		}
		// An ActionLink (GFD.229 §4.2) names an action the entity
		// offers; it is no link to create.
		if ld.Kind == "" && ld.Self == "" && strings.Contains(ld.Target, "?action=") {
			return nil
		}
		*links = append(*links, ld)
	case "X-Occi-Attribute":
		name, v, err := parseAttribute(it)
		if err != nil {
			return err
		}
		if _, dup := p.Attrs[name]; dup {
			return fmt.Errorf("attribute %s given twice", name)
		}
		p.Attrs[name] = v
	case "X-Occi-Location":
		p.Locations = append(p.Locations, strings.Trim(it, "<>"))
	default:
		return fmt.Errorf("unknown field %q (expected Category, Link, X-OCCI-Attribute or X-OCCI-Location)", field)
	}
	return nil
}

// assembleEntity makes the entity and action views of the values read:
// the first kind, the mixins, the first action, and the attributes split
// into the entity's own fields and the rest.
func (p *payload) assembleEntity(links []linkDoc) error {
	// Assemble the entity and action views of the same lines.
	e := entityDoc{Attrs: map[string]any{}, Links: links}
	for _, c := range p.Categories {
		switch c.Class {
		case ClassKind:
			if e.Kind == "" {
				e.Kind = c.ID()
			}
		case ClassMixin:
			e.Mixins = append(e.Mixins, c.ID())
		case ClassAction:
			if p.Action == "" {
				p.Action = c.ID()
			}
		}
	}
	p.ActionAttrs = map[string]any{}
	for k, v := range p.Attrs {
		p.ActionAttrs[k] = v
		switch k {
		case AttrID:
			s, ok := v.(string)
			if !ok {
				return fmt.Errorf("attribute %s must be a string", k)
			}
			e.ID = normID(s)
		case AttrSource, AttrTarget:
			s, ok := v.(string)
			if !ok {
				return fmt.Errorf("attribute %s must be a string", k)
			}
			if k == AttrSource {
				e.Source = s
			} else {
				e.Target = s
			}
		case AttrTargetKind:
			s, _ := v.(string)
			e.TargetKind = s
		case AttrSourceKind:
			// Implied by the source; nothing to keep.
		default:
			e.Attrs[k] = v
		}
	}
	if e.Kind != "" || len(e.Mixins) > 0 || len(e.Attrs) > 0 || len(links) > 0 || e.ID != "" || e.Source != "" || e.Target != "" {
		p.Entities = []entityDoc{e}
	}
	return nil
}

// splitOutside splits s at sep where sep is neither inside a quoted string
// nor inside <...>.
func splitOutside(s string, sep byte) ([]string, error) {
	var out []string
	start, inQuote, inAngle := 0, false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == '<':
			inAngle = true
		case !inQuote && c == '>':
			inAngle = false
		case !inQuote && !inAngle && c == sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if inQuote {
		return nil, fmt.Errorf("unterminated quoted string in %q", clip(s))
	}
	return append(out, s[start:]), nil
}

// unquote reads an RFC 7230 quoted-string ("..." with \-escapes).
func unquote(s string) (string, error) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return "", fmt.Errorf("expected a quoted string, got %q", clip(s))
	}
	s = s[1 : len(s)-1]
	if i := ctl(s); i >= 0 {
		return "", fmt.Errorf("control character %q in quoted string", s[i])
	}
	if !strings.ContainsAny(s, `\"`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 >= len(s) {
				return "", fmt.Errorf("dangling backslash in quoted string")
			}
			i++
			b.WriteByte(s[i])
		case '"':
			return "", fmt.Errorf("unescaped quote inside quoted string")
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), nil
}

// ctl finds a control character other than tab (RFC 7230 §3.2.6 allows
// none in a quoted string or token); -1 for none.
// It is the one rule for what a text value may hold, in both directions:
// the parser refuses these characters and quote renders each as a space.
func ctl(s string) int {
	for i := 0; i < len(s); i++ {
		if isCtl(s[i]) {
			return i
		}
	}
	return -1
}

func isCtl(c byte) bool { return (c < 0x20 && c != '\t') || c == 0x7f }

// params splits `first; k="v"; k2=v2` into first and the parameters.
func params(s string) (string, []kv, error) {
	parts, err := splitOutside(s, ';')
	if err != nil {
		return "", nil, err
	}
	var out []kv
	for _, p := range parts[1:] {
		p = strings.TrimSpace(p)
		if p == "" {
			// A trailing ";" is tolerated on input (GFD.229 has none, but
			// 1.1 examples do).
			continue
		}
		i := strings.IndexByte(p, '=')
		if i <= 0 {
			return "", nil, fmt.Errorf("parameter %q is not key=value", clip(p))
		}
		key := strings.TrimSpace(p[:i])
		raw := strings.TrimSpace(p[i+1:])
		val := raw
		quoted := strings.HasPrefix(raw, `"`)
		if quoted {
			if val, err = unquote(raw); err != nil {
				return "", nil, fmt.Errorf("parameter %s: %w", key, err)
			}
		} else if i := ctl(raw); i >= 0 {
			// The same rule as for quoted strings: a value holds no
			// control character, quoted or not, so what is accepted can
			// be rendered and read back.
			return "", nil, fmt.Errorf("parameter %s: control character %q in value", key, raw[i])
		}
		out = append(out, kv{key: key, val: val, raw: raw, quoted: quoted})
	}
	return strings.TrimSpace(parts[0]), out, nil
}

type kv struct {
	key, val, raw string
	quoted        bool
}

// parseCategory reads one Category value (GFD.229 §4.1).
func parseCategory(s string) (*Category, error) {
	term, ps, err := params(s)
	if err != nil {
		return nil, err
	}
	if !validTerm(term) {
		return nil, fmt.Errorf("category term %q is not a valid term", clip(term))
	}
	c := &Category{Term: term}
	for _, p := range ps {
		switch strings.ToLower(p.key) {
		case "scheme":
			if !p.quoted {
				return nil, fmt.Errorf("category %s: scheme must be quoted", term)
			}
			c.Scheme = p.val
		case "class":
			c.Class = Class(p.val)
		case "title":
			c.Title = p.val
		case "rel":
			// Kinds: the parent; mixins: the first dependency (GFD.229 §5.5.2).
			c.Parent = p.val
			if p.val != "" {
				c.Depends = strings.Fields(p.val)
			}
		case "location":
			c.Location = p.val
		case "attributes":
			attrs, err := parseAttributeList(p.val)
			if err != nil {
				return nil, err
			}
			c.Attributes = attrs
		case "actions":
			c.Actions = strings.Fields(p.val)
		default:
			return nil, fmt.Errorf("category %s: unknown parameter %q", term, p.key)
		}
	}
	if c.Scheme == "" {
		return nil, fmt.Errorf("category %s has no scheme", term)
	}
	if !validScheme(c.Scheme) {
		return nil, fmt.Errorf("category %s: scheme %q must be an absolute URI ending in #", term, clip(c.Scheme))
	}
	switch c.Class {
	case ClassKind, ClassMixin, ClassAction:
	case "":
		// Older clients never send class: the request's model settles
		// it (see payload.settle).
	default:
		return nil, fmt.Errorf("category %s: class %q is not kind, mixin or action", term, c.Class)
	}
	return c, nil
}

// parseAttributeList reads `name name{required immutable}` (GFD.229 §4.1).
func parseAttributeList(s string) ([]Attribute, error) {
	var out []Attribute
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		end := strings.IndexAny(s, " {")
		name := s
		if end >= 0 {
			name = s[:end]
		}
		a := Attribute{Name: name, Type: TypeString, Mutable: true}
		s = s[len(name):]
		if strings.HasPrefix(s, "{") {
			close := strings.IndexByte(s, '}')
			if close < 0 {
				return nil, fmt.Errorf("attribute %s: unclosed {", name)
			}
			for _, prop := range strings.Fields(s[1:close]) {
				switch prop {
				case "immutable":
					a.Mutable = false
				case "required":
					a.Required = true
				default:
					return nil, fmt.Errorf("attribute %s: unknown property %q (only immutable, required)", name, prop)
				}
			}
			s = s[close+1:]
		}
		if !validAttrName(name) {
			return nil, fmt.Errorf("attribute name %q is invalid", clip(name))
		}
		out = append(out, a)
	}
	return out, nil
}

// parseLink reads one Link value (GFD.229 §4.2): a target in <>, rel,
// self, category and the link's attributes as parameters.
func parseLink(s string) (linkDoc, error) {
	first, ps, err := params(s)
	if err != nil {
		return linkDoc{}, err
	}
	if len(first) < 2 || first[0] != '<' || first[len(first)-1] != '>' {
		return linkDoc{}, fmt.Errorf("link target must be <URI>, got %q", clip(first))
	}
	l := linkDoc{Target: strings.TrimSpace(first[1 : len(first)-1]), Attrs: map[string]any{}}
	if l.Target == "" {
		return linkDoc{}, fmt.Errorf("link has an empty target")
	}
	for _, p := range ps {
		switch p.key {
		case "rel":
			l.TargetKind = strings.TrimSpace(p.val)
		case "self":
			l.Self = p.val
		case "category":
			ids := strings.Fields(p.val)
			if len(ids) > 0 {
				l.Kind, l.Mixins = ids[0], ids[1:]
			}
		default:
			if !validAttrName(p.key) {
				return linkDoc{}, fmt.Errorf("link parameter %q is not an attribute name", clip(p.key))
			}
			v, err := attrValue(p.key, p.raw)
			if err != nil {
				return linkDoc{}, err
			}
			l.Attrs[p.key] = v
		}
	}
	return l, nil
}

// parseAttribute reads `name=value` (GFD.229 §4.3).
func parseAttribute(s string) (string, any, error) {
	i := strings.IndexByte(s, '=')
	if i <= 0 {
		return "", nil, fmt.Errorf("attribute %q is not name=value", clip(s))
	}
	name := strings.TrimSpace(s[:i])
	if !validAttrName(name) {
		return "", nil, fmt.Errorf("attribute name %q is invalid", clip(name))
	}
	v, err := attrValue(name, strings.TrimSpace(s[i+1:]))
	return name, v, err
}

// attrValue types a text attribute value: a quoted string, true/false, a
// number; a bare token is taken as a string (enum values are sent bare by
// some clients).
func attrValue(name, raw string) (any, error) {
	if raw == "" {
		return nil, fmt.Errorf("attribute %s has no value", name)
	}
	if raw[0] == '"' {
		s, err := unquote(raw)
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", name, err)
		}
		return s, nil
	}
	switch raw {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	if c := raw[0]; c == '-' || c == '.' || (c >= '0' && c <= '9') {
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %q is not a number", name, clip(raw))
		}
		return f, nil
	}
	if strings.ContainsAny(raw, " \t\";,") || ctl(raw) >= 0 {
		return nil, fmt.Errorf("attribute %s: value %q must be quoted", name, clip(raw))
	}
	return raw, nil
}
