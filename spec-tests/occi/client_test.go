// Package occi_test is the black-box OCCI 1.2 conformance suite. It talks
// HTTP only, to the in-process server or to OCCICDMI_URL (see
// spec-tests/harness), and checks the server against the OGF texts:
//
//	GFD.221 OCCI Core, GFD.224 OCCI Infrastructure, GFD.223 OCCI HTTP Protocol,
//	GFD.229 OCCI Text Rendering, GFD.226 OCCI JSON Rendering,
//	GFD.183-185 (OCCI 1.1) where 1.1 clients must keep working.
//
// Section numbers follow the 1.2 documents' own numbering (GFD.223 §10.3.2 is
// "Trigger Action" on an entity, GFD.229 §7 is the text/occi header
// rendering, GFD.224 §3.1 is Compute, ...).
//
// The suite never assumes an empty server: every test creates what it needs,
// finds locations through the query interface, and cleans up after itself.
package occi_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/occicdmi/occicdmi/spec-tests/harness"
)

// Type identifiers from GFD.221 and GFD.224 (scheme + term).
const (
	coreScheme  = "http://schemas.ogf.org/occi/core#"
	infraScheme = "http://schemas.ogf.org/occi/infrastructure#"

	kindEntity           = coreScheme + "entity"
	kindResource         = coreScheme + "resource"
	kindLink             = coreScheme + "link"
	kindCompute          = infraScheme + "compute"
	kindNetwork          = infraScheme + "network"
	kindStorage          = infraScheme + "storage"
	kindNetworkInterface = infraScheme + "networkinterface"
	kindStorageLink      = infraScheme + "storagelink"

	mixinIPNetwork          = "http://schemas.ogf.org/occi/infrastructure/network#ipnetwork"
	mixinIPNetworkInterface = "http://schemas.ogf.org/occi/infrastructure/networkinterface#ipnetworkinterface"
	mixinOSTpl              = infraScheme + "os_tpl"
	mixinResourceTpl        = infraScheme + "resource_tpl"
	mixinSSHKey             = "http://schemas.ogf.org/occi/infrastructure/credentials#ssh_key"
	mixinUserData           = "http://schemas.ogf.org/occi/infrastructure/compute#user_data"

	computeAction = "http://schemas.ogf.org/occi/infrastructure/compute/action#"
	networkAction = "http://schemas.ogf.org/occi/infrastructure/network/action#"
	storageAction = "http://schemas.ogf.org/occi/infrastructure/storage/action#"
)

// splitID splits a type identifier into scheme (with its '#') and term.
func splitID(id string) (scheme, term string) {
	i := strings.LastIndex(id, "#")
	if i < 0 {
		return id, ""
	}
	return id[:i+1], id[i+1:]
}

// ---------------------------------------------------------------- renderings

// rendering is one of the ways GFD.229 and GFD.226 put OCCI on the wire.
type rendering struct {
	name      string
	mediaType string
	headers   bool // text/occi: the rendering travels in HTTP headers, body "OK" (GFD.229 §7)
	joined    bool // text/occi with one comma-joined header per name (RFC 7230 §3.2.2)
	json      bool
}

var (
	textPlain     = rendering{name: "text/plain", mediaType: "text/plain"}
	textOCCIPlain = rendering{name: "text/occi+plain", mediaType: "text/occi+plain"}
	textOCCIJoin  = rendering{name: "text/occi(comma-joined)", mediaType: "text/occi", headers: true, joined: true}
	textOCCIRep   = rendering{name: "text/occi(repeated)", mediaType: "text/occi", headers: true}
	occiJSON      = rendering{name: "application/occi+json", mediaType: "application/occi+json", json: true}
	plainJSON     = rendering{name: "application/json", mediaType: "application/json", json: true}
)

// renderings is every rendering a client may use for requests and answers.
var renderings = []rendering{textPlain, textOCCIPlain, textOCCIJoin, textOCCIRep, occiJSON, plainJSON}

// textRenderings are the renderings in which entity collections are lists of
// locations (GFD.229 §5.3), the only ones where mixin membership can be
// written as X-OCCI-Location lines.
var textRenderings = []rendering{textPlain, textOCCIPlain, textOCCIJoin, textOCCIRep}

// acceptable tells whether a response Content-Type is right for a request
// that asked for r. text/occi+plain and text/plain are aliases (GFD.229 §6),
// and application/json asks for the OCCI JSON rendering.
func (r rendering) acceptable(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch r.mediaType {
	case "text/plain", "text/occi+plain":
		return mt == "text/plain" || mt == "text/occi+plain"
	case "application/json", "application/occi+json":
		return mt == "application/json" || mt == "application/occi+json"
	}
	return mt == r.mediaType
}

// message is a request to render: an entity, an action invocation, a
// category (query interface) or a list of locations.
type message struct {
	Kind      string
	Mixins    []string
	Attrs     []attr
	Links     []linkSpec
	Action    string            // action invocation (GFD.229 §5.1.1.1, GFD.226 §3.1.1.1)
	Category  *category         // query interface POST/DELETE
	Locations []string          // entity collection rendering (GFD.229 §5.3)
	Resources []json.RawMessage // entity collection in JSON (GFD.226 §3.3.1)
}

type attr struct {
	Name  string
	Value any // string, int, float64 or bool
}

// linkSpec is an inline link on creation (GFD.229 §4.2, GFD.226 §3.1.2).
type linkSpec struct {
	Target     string
	TargetKind string
	Kind       string
	Mixins     []string
	Attrs      []attr
}

func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func textValue(v any) string {
	switch v := v.(type) {
	case string:
		return quote(v)
	case bool:
		return strconv.FormatBool(v)
	case int:
		return strconv.Itoa(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	panic(fmt.Sprintf("textValue: %T", v))
}

func categoryLine(id, class string) string {
	scheme, term := splitID(id)
	return fmt.Sprintf(`%s; scheme=%s; class=%s`, term, quote(scheme), quote(class))
}

// textFields renders m as (header name, value) pairs, in GFD.229 order.
func (m message) textFields() [][2]string {
	var f [][2]string
	if m.Kind != "" {
		f = append(f, [2]string{"Category", categoryLine(m.Kind, "kind")})
	}
	if m.Action != "" {
		f = append(f, [2]string{"Category", categoryLine(m.Action, "action")})
	}
	for _, mx := range m.Mixins {
		f = append(f, [2]string{"Category", categoryLine(mx, "mixin")})
	}
	if c := m.Category; c != nil {
		v := categoryLine(c.Scheme+c.Term, c.Class)
		if c.Title != "" {
			v += "; title=" + quote(c.Title)
		}
		if len(c.Rel) > 0 {
			v += "; rel=" + quote(c.Rel[0])
		}
		if c.Location != "" {
			v += "; location=" + quote(c.Location)
		}
		f = append(f, [2]string{"Category", v})
	}
	for _, l := range m.Links {
		v := fmt.Sprintf("<%s>; rel=%s; category=%s", l.Target, quote(l.TargetKind), quote(strings.Join(append([]string{l.Kind}, l.Mixins...), " ")))
		for _, a := range l.Attrs {
			v += "; " + a.Name + "=" + textValue(a.Value)
		}
		f = append(f, [2]string{"Link", v})
	}
	for _, a := range m.Attrs {
		f = append(f, [2]string{"X-OCCI-Attribute", a.Name + "=" + textValue(a.Value)})
	}
	for _, l := range m.Locations {
		f = append(f, [2]string{"X-OCCI-Location", l})
	}
	return f
}

func attrMap(as []attr) map[string]any {
	out := map[string]any{}
	for _, a := range as {
		out[a.Name] = a.Value
	}
	return out
}

func (m message) jsonBody() any {
	switch {
	case m.Action != "":
		o := map[string]any{"action": m.Action}
		if len(m.Attrs) > 0 {
			o["attributes"] = attrMap(m.Attrs)
		}
		return o
	case m.Category != nil:
		c := m.Category
		o := map[string]any{"term": c.Term, "scheme": c.Scheme}
		if c.Location != "" {
			o["location"] = c.Location
		}
		if c.Title != "" {
			o["title"] = c.Title
		}
		if len(c.Rel) > 0 {
			o["depends"] = c.Rel
		}
		return map[string]any{"mixins": []any{o}}
	case m.Resources != nil:
		return map[string]any{"resources": m.Resources}
	}
	o := map[string]any{"kind": m.Kind}
	if len(m.Mixins) > 0 {
		o["mixins"] = m.Mixins
	}
	if len(m.Attrs) > 0 {
		o["attributes"] = attrMap(m.Attrs)
	}
	var links []any
	for _, l := range m.Links {
		lo := map[string]any{
			"kind":   l.Kind,
			"target": map[string]any{"location": l.Target, "kind": l.TargetKind},
		}
		if len(l.Mixins) > 0 {
			lo["mixins"] = l.Mixins
		}
		if len(l.Attrs) > 0 {
			lo["attributes"] = attrMap(l.Attrs)
		}
		links = append(links, lo)
	}
	if links != nil {
		o["links"] = links
	}
	return o
}

// encode renders m for a request body and headers in rendering r.
func (r rendering) encode(m message) (http.Header, []byte) {
	h := http.Header{}
	h.Set("Content-Type", r.mediaType)
	if r.json {
		b, err := json.Marshal(m.jsonBody())
		if err != nil {
			panic(err)
		}
		return h, b
	}
	fields := m.textFields()
	if r.headers {
		if r.joined {
			var order []string
			vals := map[string][]string{}
			for _, f := range fields {
				if _, ok := vals[f[0]]; !ok {
					order = append(order, f[0])
				}
				vals[f[0]] = append(vals[f[0]], f[1])
			}
			for _, k := range order {
				h.Set(k, strings.Join(vals[k], ", "))
			}
		} else {
			for _, f := range fields {
				h.Add(f[0], f[1])
			}
		}
		return h, []byte("OK")
	}
	var b bytes.Buffer
	for _, f := range fields {
		b.WriteString(f[0] + ": " + f[1] + "\r\n")
	}
	return h, b.Bytes()
}

// --------------------------------------------------------------- text parsing

// splitTop splits s at sep where sep is outside double quotes, <...> and
// {...}, honouring backslash escapes inside quotes.
func splitTop(s string, sep byte) []string {
	var out []string
	inQ, esc, angle, brace := false, false, 0, 0
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case esc:
			esc = false
		case inQ && c == '\\':
			esc = true
		case c == '"':
			inQ = !inQ
		case inQ:
		case c == '<':
			angle++
		case c == '>' && angle > 0:
			angle--
		case c == '{':
			brace++
		case c == '}' && brace > 0:
			brace--
		case c == sep && angle == 0 && brace == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func unquote(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return s, false
	}
	var b strings.Builder
	for i := 1; i < len(s)-1; i++ {
		if s[i] == '\\' && i+1 < len(s)-1 {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String(), true
}

// parseValue reads a GFD.229 §4.3 attribute value.
func parseValue(s string) (any, error) {
	s = strings.TrimSpace(s)
	if v, ok := unquote(s); ok {
		return v, nil
	}
	switch s {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("attribute value %q is neither a quoted string, a number nor a boolean (GFD.229 §4.3)", s)
	}
	return f, nil
}

// params parses `first; k=v; k="v"` into first and the parameters.
func params(s string) (string, map[string]string, error) {
	parts := splitTop(s, ';')
	first := strings.TrimSpace(parts[0])
	p := map[string]string{}
	for _, part := range parts[1:] {
		part = strings.TrimSpace(part)
		if part == "" {
			return "", nil, fmt.Errorf("empty parameter (trailing ';'?) in %q", s)
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return "", nil, fmt.Errorf("parameter %q has no '=' in %q", part, s)
		}
		p[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return first, p, nil
}

// textFieldsOf collects the OCCI fields of a text response: body lines for
// text/plain, headers for text/occi. Values are split at top-level commas
// since GFD.229 §4 allows #rule lists in both.
func textFieldsOf(h http.Header, body []byte, inHeaders bool) ([][2]string, error) {
	var raw [][2]string
	if inHeaders {
		for _, name := range []string{"Category", "Link", "X-OCCI-Attribute", "X-OCCI-Location"} {
			for _, v := range h.Values(name) {
				raw = append(raw, [2]string{name, v})
			}
		}
	} else {
		for _, line := range strings.Split(string(body), "\n") {
			line = strings.TrimRight(line, "\r")
			if strings.TrimSpace(line) == "" {
				continue
			}
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				return nil, fmt.Errorf("body line %q is not `Name: value` (GFD.229 §6)", line)
			}
			raw = append(raw, [2]string{http.CanonicalHeaderKey(strings.TrimSpace(k)), strings.TrimSpace(v)})
		}
	}
	var out [][2]string
	for _, f := range raw {
		name := f[0]
		if name == "X-Occi-Attribute" {
			name = "X-OCCI-Attribute"
		}
		if name == "X-Occi-Location" {
			name = "X-OCCI-Location"
		}
		if name == "X-OCCI-Location" {
			// URIs may not contain bare commas only when joined; a
			// location list is split the same way.
			for _, v := range splitTop(f[1], ',') {
				if v = strings.TrimSpace(v); v != "" {
					out = append(out, [2]string{name, v})
				}
			}
			continue
		}
		for _, v := range splitTop(f[1], ',') {
			if v = strings.TrimSpace(v); v != "" {
				out = append(out, [2]string{name, v})
			}
		}
	}
	return out, nil
}

// ----------------------------------------------------------- parsed entities

// entity is a parsed entity rendering, whatever the rendering.
type entity struct {
	Kind       string
	Mixins     []string
	Attrs      map[string]any
	Links      []link
	Actions    []string          // action type identifiers applicable now
	ActionHref map[string]string // action type identifier -> URI (text renderings)
	Source     string            // links: occi.core.source / JSON source.location
	Target     string            // links: occi.core.target / JSON target.location
}

type link struct {
	Target     string
	TargetKind string
	Self       string
	Kind       string
	Mixins     []string
	Attrs      map[string]any
}

func (e entity) hasMixin(id string) bool {
	for _, m := range e.Mixins {
		if m == id {
			return true
		}
	}
	return false
}

func (e entity) hasAction(id string) bool {
	for _, a := range e.Actions {
		if a == id {
			return true
		}
	}
	return false
}

func (e entity) str(name string) string {
	s, _ := e.Attrs[name].(string)
	return s
}

func parseTextEntity(fields [][2]string) (entity, error) {
	e := entity{Attrs: map[string]any{}, ActionHref: map[string]string{}}
	for _, f := range fields {
		switch f[0] {
		case "Category":
			term, p, err := params(f[1])
			if err != nil {
				return e, err
			}
			scheme, ok := unquote(p["scheme"])
			if !ok {
				return e, fmt.Errorf("category %q: scheme must be quoted (GFD.229 §4.1)", f[1])
			}
			class, _ := unquote(p["class"])
			switch class {
			case "kind":
				e.Kind = scheme + term
			case "mixin":
				e.Mixins = append(e.Mixins, scheme+term)
			default:
				return e, fmt.Errorf("category %q: class %q in an entity rendering", f[1], class)
			}
		case "Link":
			first, p, err := params(f[1])
			if err != nil {
				return e, err
			}
			if !strings.HasPrefix(first, "<") || !strings.HasSuffix(first, ">") {
				return e, fmt.Errorf("link %q: target not in <...> (GFD.229 §4.2)", f[1])
			}
			uri := first[1 : len(first)-1]
			rel, ok := unquote(p["rel"])
			if !ok {
				return e, fmt.Errorf("link %q: rel missing or unquoted (GFD.229 §4.2)", f[1])
			}
			if strings.Contains(uri, "?action=") {
				e.Actions = append(e.Actions, rel)
				e.ActionHref[rel] = uri
				continue
			}
			l := link{Target: uri, TargetKind: strings.Fields(rel)[0], Attrs: map[string]any{}}
			if s, ok := p["self"]; ok {
				l.Self, _ = unquote(s)
			}
			if c, ok := p["category"]; ok {
				c, _ = unquote(c)
				ids := strings.Fields(c)
				if len(ids) > 0 {
					l.Kind, l.Mixins = ids[0], ids[1:]
				}
			}
			for k, v := range p {
				switch k {
				case "rel", "self", "category":
					continue
				}
				val, err := parseValue(v)
				if err != nil {
					return e, fmt.Errorf("link %q: %w", f[1], err)
				}
				l.Attrs[k] = val
			}
			e.Links = append(e.Links, l)
		case "X-OCCI-Attribute":
			k, v, ok := strings.Cut(f[1], "=")
			if !ok {
				return e, fmt.Errorf("attribute %q has no '=' (GFD.229 §4.3)", f[1])
			}
			val, err := parseValue(v)
			if err != nil {
				return e, err
			}
			e.Attrs[strings.TrimSpace(k)] = val
		}
	}
	e.Source, _ = e.Attrs["occi.core.source"].(string)
	e.Target, _ = e.Attrs["occi.core.target"].(string)
	return e, nil
}

func parseJSONEntity(o map[string]any) entity {
	e := entity{Attrs: map[string]any{}, ActionHref: map[string]string{}}
	e.Kind, _ = o["kind"].(string)
	e.Mixins = strings_(o["mixins"])
	e.Actions = strings_(o["actions"])
	if a, ok := o["attributes"].(map[string]any); ok {
		for k, v := range a {
			e.Attrs[k] = v
		}
	}
	// GFD.226 §3.1.1 carries id, title and summary as members; they are
	// OCCI Core's occi.core.* attributes (GFD.229 §5.5.1 naming).
	for member, name := range map[string]string{"id": "occi.core.id", "title": "occi.core.title", "summary": "occi.core.summary"} {
		if v, ok := o[member]; ok {
			if _, dup := e.Attrs[name]; !dup {
				e.Attrs[name] = v
			}
		}
	}
	if s, ok := o["source"].(map[string]any); ok {
		e.Source, _ = s["location"].(string)
	}
	if tg, ok := o["target"].(map[string]any); ok {
		e.Target, _ = tg["location"].(string)
	}
	if ls, ok := o["links"].([]any); ok {
		for _, li := range ls {
			lo, _ := li.(map[string]any)
			le := parseJSONEntity(lo)
			l := link{Kind: le.Kind, Mixins: le.Mixins, Attrs: le.Attrs, Target: le.Target}
			if tg, ok := lo["target"].(map[string]any); ok {
				l.TargetKind, _ = tg["kind"].(string)
			}
			if id, ok := lo["id"].(string); ok {
				l.Self = id
			}
			e.Links = append(e.Links, l)
		}
	}
	return e
}

func strings_(v any) []string {
	arr, _ := v.([]any)
	var out []string
	for _, x := range arr {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// decodeEntity parses an entity rendering received in rendering r.
func decodeEntity(r rendering, h http.Header, body []byte) (entity, error) {
	if r.json {
		var o map[string]any
		if err := json.Unmarshal(body, &o); err != nil {
			return entity{}, fmt.Errorf("entity rendering is not a JSON object (GFD.226 §3.1): %w: %.200s", err, body)
		}
		return parseJSONEntity(o), nil
	}
	fields, err := textFieldsOf(h, body, r.headers)
	if err != nil {
		return entity{}, err
	}
	return parseTextEntity(fields)
}

// -------------------------------------------------------- parsed categories

type attrDef struct {
	Mutable    bool
	Required   bool
	Type       string // JSON only
	Default    any
	HasDefault bool
	Pattern    map[string]any
}

type category struct {
	Term, Scheme, Class, Title, Location string
	Rel                                  []string // text rel; JSON parent or depends
	Applies                              []string // JSON only
	Attrs                                map[string]attrDef
	Actions                              []string
}

func (c category) ID() string { return c.Scheme + c.Term }

// parseTextCategory reads one GFD.229 §4.1 Category value.
func parseTextCategory(v string) (category, error) {
	term, p, err := params(v)
	if err != nil {
		return category{}, err
	}
	c := category{Term: term, Attrs: map[string]attrDef{}}
	var ok bool
	if c.Scheme, ok = unquote(p["scheme"]); !ok {
		return c, fmt.Errorf("category %q: scheme missing or unquoted (GFD.229 §4.1)", v)
	}
	if c.Class, ok = unquote(p["class"]); !ok {
		return c, fmt.Errorf("category %q: class must be quoted", v)
	}
	if t, ok := p["title"]; ok {
		if c.Title, ok = unquote(t); !ok {
			return c, fmt.Errorf("category %q: title must be a quoted-string (GFD.229 §4.1)", v)
		}
	}
	if r, ok := p["rel"]; ok {
		r, _ = unquote(r)
		c.Rel = strings.Fields(r)
	}
	if l, ok := p["location"]; ok {
		c.Location, _ = unquote(l)
	}
	if a, ok := p["attributes"]; ok {
		a, _ = unquote(a)
		for _, def := range splitTop(a, ' ') {
			if def == "" {
				continue
			}
			name, props, _ := strings.Cut(def, "{")
			d := attrDef{Mutable: true}
			for _, prop := range strings.Fields(strings.TrimSuffix(props, "}")) {
				switch prop {
				case "immutable":
					d.Mutable = false
				case "required":
					d.Required = true
				default:
					return c, fmt.Errorf("category %q: attribute property %q is neither immutable nor required (GFD.229 §4.1)", v, prop)
				}
			}
			c.Attrs[name] = d
		}
	}
	if a, ok := p["actions"]; ok {
		a, _ = unquote(a)
		c.Actions = strings.Fields(a)
	}
	return c, nil
}

func parseJSONCategory(o map[string]any, class string) category {
	c := category{Class: class, Attrs: map[string]attrDef{}}
	c.Term, _ = o["term"].(string)
	c.Scheme, _ = o["scheme"].(string)
	c.Title, _ = o["title"].(string)
	c.Location, _ = o["location"].(string)
	if p, ok := o["parent"].(string); ok {
		c.Rel = []string{p}
	}
	if d := strings_(o["depends"]); d != nil {
		c.Rel = d
	}
	c.Applies = strings_(o["applies"])
	c.Actions = strings_(o["actions"])
	if as, ok := o["attributes"].(map[string]any); ok {
		for name, v := range as {
			do, _ := v.(map[string]any)
			d := attrDef{Type: "string"} // GFD.226 Table 9 defaults
			if m, ok := do["mutable"].(bool); ok {
				d.Mutable = m
			}
			if r, ok := do["required"].(bool); ok {
				d.Required = r
			}
			if t, ok := do["type"].(string); ok {
				d.Type = t
			}
			if dv, ok := do["default"]; ok {
				d.Default, d.HasDefault = dv, true
			}
			d.Pattern, _ = do["pattern"].(map[string]any)
			c.Attrs[name] = d
		}
	}
	return c
}

// decodeCategories parses a category collection (GFD.229 §5.4, GFD.226 §3.4).
func decodeCategories(r rendering, h http.Header, body []byte) ([]category, error) {
	if r.json {
		var o map[string]json.RawMessage
		if err := json.Unmarshal(body, &o); err != nil {
			return nil, fmt.Errorf("category collection is not a JSON object (GFD.226 §3.4): %w", err)
		}
		var out []category
		for member, class := range map[string]string{"kinds": "kind", "mixins": "mixin", "actions": "action"} {
			var arr []map[string]any
			if raw, ok := o[member]; ok {
				if err := json.Unmarshal(raw, &arr); err != nil {
					return nil, fmt.Errorf("%q is not an array of objects: %w", member, err)
				}
			}
			for _, c := range arr {
				out = append(out, parseJSONCategory(c, class))
			}
		}
		return out, nil
	}
	fields, err := textFieldsOf(h, body, r.headers)
	if err != nil {
		return nil, err
	}
	var out []category
	for _, f := range fields {
		if f[0] != "Category" {
			return nil, fmt.Errorf("unexpected %s line in a category collection (GFD.229 §5.4)", f[0])
		}
		c, err := parseTextCategory(f[1])
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// decodeLocations parses an entity collection into absolute URIs: text/uri-list
// (GFD.229 §8), X-OCCI-Location lines (GFD.229 §5.3) or JSON resources/links
// (GFD.226 §3.3), whose entries are identified by their id.
func decodeLocations(mediaType string, h http.Header, body []byte) ([]string, error) {
	switch mediaType {
	case "text/uri-list":
		var out []string
		for _, line := range strings.Split(string(body), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			out = append(out, line)
		}
		return out, nil
	case "application/occi+json", "application/json":
		var o map[string][]map[string]any
		if err := json.Unmarshal(body, &o); err != nil {
			return nil, fmt.Errorf("collection is not {\"resources\": [...]} / {\"links\": [...]} (GFD.226 §3.3): %w: %.200s", err, body)
		}
		var out []string
		for _, member := range []string{"resources", "links"} {
			for _, e := range o[member] {
				id, _ := e["id"].(string)
				out = append(out, id)
			}
		}
		return out, nil
	}
	fields, err := textFieldsOf(h, body, mediaType == "text/occi")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range fields {
		if f[0] != "X-OCCI-Location" {
			return nil, fmt.Errorf("unexpected %s in an entity collection (GFD.229 §5.3)", f[0])
		}
		out = append(out, f[1])
	}
	return out, nil
}

// ------------------------------------------------------------------- HTTP

func base(t testing.TB) string { return harness.URL(t) }

// do sends a request; the header map is used as is.
func do(t testing.TB, method, u string, h http.Header, body []byte) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	resp, b := harness.Do(t, method, u, h, rd)
	checkServerHeader(t, method, u, resp)
	return resp, b
}

// checkServerHeader: GFD.223 §5.3 — every response carries OCCI/1.2 in Server.
func checkServerHeader(t testing.TB, method, u string, resp *http.Response) {
	t.Helper()
	if !strings.Contains(resp.Header.Get("Server"), "OCCI/1.2") {
		t.Errorf("GFD.223 §5.3: %s %s answered %d with Server %q, want it to contain OCCI/1.2", method, u, resp.StatusCode, resp.Header.Get("Server"))
	}
}

func accept(mt string) http.Header {
	h := http.Header{}
	if mt != "" {
		h.Set("Accept", mt)
	}
	return h
}

// send renders m in r, sends it and asks for the answer in r.
func send(t testing.TB, method, u string, r rendering, m message) (*http.Response, []byte) {
	t.Helper()
	h, b := r.encode(m)
	h.Set("Accept", r.mediaType)
	return do(t, method, u, h, b)
}

// abs resolves a location against the server's base URL.
func abs(t testing.TB, loc string) string {
	t.Helper()
	b, err := url.Parse(base(t) + "/")
	if err != nil {
		t.Fatal(err)
	}
	l, err := url.Parse(loc)
	if err != nil {
		t.Fatalf("location %q: %v", loc, err)
	}
	return b.ResolveReference(l).String()
}

// requireAbsolute: the README's interop note and GFD.223 §10.2/§11.3.1 (RFC
// 7231 Location) — locations handed to clients are absolute URIs.
func requireAbsolute(t testing.TB, what, loc string) {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil || !u.IsAbs() || u.Host == "" {
		t.Fatalf("%s %q is not an absolute URI (scheme and host)", what, loc)
	}
}

func samePath(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	if err1 != nil || err2 != nil {
		return a == b
	}
	return ua.Path == ub.Path
}

// clientError checks a refusal: a 4xx among want, with a message body naming
// the problem (project rule), never a 5xx.
func clientError(t testing.TB, what string, resp *http.Response, body []byte, want ...int) {
	t.Helper()
	ok := false
	for _, w := range want {
		ok = ok || resp.StatusCode == w
	}
	if !ok {
		t.Errorf("%s: status %d, want one of %v; body: %.300s", what, resp.StatusCode, want, body)
	}
	msg := strings.TrimSpace(string(body))
	if msg == "" || msg == "OK" {
		t.Errorf("%s: %d without a message saying what was wrong", what, resp.StatusCode)
	}
}

// ------------------------------------------------------- the query interface

var (
	qiMu    sync.Mutex
	qiCache map[string]category
)

// model returns the server's categories by type identifier, read from the
// query interface (GFD.223 §9) in text/plain, the safe default rendering.
func model(t testing.TB) map[string]category {
	t.Helper()
	qiMu.Lock()
	defer qiMu.Unlock()
	if qiCache != nil {
		return qiCache
	}
	resp, body := do(t, "GET", base(t)+"/-/", accept("text/plain"), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GFD.223 §9: GET /-/ answered %d, want 200: %.300s", resp.StatusCode, body)
	}
	cats, err := decodeCategories(textPlain, resp.Header, body)
	if err != nil {
		t.Fatalf("GFD.229 §5.4: query interface: %v", err)
	}
	m := map[string]category{}
	for _, c := range cats {
		m[c.ID()] = c
	}
	qiCache = m
	return m
}

// forgetModel drops the cached query interface after a test changed it.
func forgetModel() {
	qiMu.Lock()
	qiCache = nil
	qiMu.Unlock()
}

// location returns the absolute location of a kind or mixin collection.
func location(t testing.TB, id string) string {
	t.Helper()
	c, ok := model(t)[id]
	if !ok {
		t.Fatalf("GFD.223 §9: %s is not in the query interface", id)
	}
	if c.Location == "" {
		t.Fatalf("GFD.223 §4: %s has no location", id)
	}
	return abs(t, c.Location)
}

// templates lists the provider's templates that depend on tpl (os_tpl or
// resource_tpl), GFD.224 §3.5.
func templates(t testing.TB, tpl string) []category {
	t.Helper()
	var out []category
	for _, c := range model(t) {
		if c.Class != "mixin" || c.ID() == tpl {
			continue
		}
		for _, r := range c.Rel {
			if r == tpl {
				out = append(out, c)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID() < out[j].ID() })
	return out
}

// --------------------------------------------------------------- entities

// uniq returns a name no other test or run uses, usable as a hostname.
func uniq(prefix string) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// create POSTs m to the kind's location (GFD.223 §11.3.1) and checks the
// answer: 201 Created with an absolute Location. The entity is deleted when
// the test ends.
func create(t testing.TB, r rendering, m message) string {
	t.Helper()
	resp, body := send(t, "POST", location(t, m.Kind), r, m)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("GFD.223 §11.3.1: create %s in %s: status %d, want 201; body: %.400s", m.Kind, r.name, resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		t.Fatalf("GFD.223 §11.3.1: 201 Created without Location (%s)", r.name)
	}
	requireAbsolute(t, "GFD.223 §11.3.1 Location", loc)
	cleanup(t, loc)
	if r.headers && strings.TrimSpace(string(body)) != "OK" {
		t.Errorf("GFD.229 §7: a successful text/occi answer has the body OK, got %.100q", body)
	}
	return loc
}

func cleanup(t testing.TB, loc string) {
	t.Cleanup(func() {
		req, err := http.NewRequest("DELETE", loc, nil)
		if err != nil {
			return
		}
		if resp, err := harness.Client.Do(req); err == nil {
			_ = resp.Body.Close()
		}
	})
}

// read GETs an entity in r and parses it.
func read(t testing.TB, r rendering, loc string) entity {
	t.Helper()
	resp, body := do(t, "GET", loc, accept(r.mediaType), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GFD.223 §10.1: GET %s (%s): status %d, want 200: %.300s", loc, r.name, resp.StatusCode, body)
	}
	if !r.acceptable(resp.Header.Get("Content-Type")) {
		t.Errorf("GFD.223 §5.2: GET %s asked for %s, got Content-Type %q", loc, r.mediaType, resp.Header.Get("Content-Type"))
	}
	if r.headers && strings.TrimSpace(string(body)) != "OK" {
		t.Errorf("GFD.229 §7: text/occi body must be OK, got %.100q", body)
	}
	e, err := decodeEntity(r, resp.Header, body)
	if err != nil {
		t.Fatalf("GET %s (%s): %v", loc, r.name, err)
	}
	return e
}

func status(t testing.TB, loc string) int {
	t.Helper()
	resp, _ := do(t, "GET", loc, accept("text/plain"), nil)
	return resp.StatusCode
}

// list GETs a collection as text/uri-list and returns its entries.
func list(t testing.TB, u string) []string {
	t.Helper()
	resp, body := do(t, "GET", u, accept("text/uri-list"), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GFD.223 §11.1: GET %s (text/uri-list): %d: %.300s", u, resp.StatusCode, body)
	}
	locs, err := decodeLocations("text/uri-list", resp.Header, body)
	if err != nil {
		t.Fatal(err)
	}
	return locs
}

func contains(locs []string, loc string) bool {
	for _, l := range locs {
		if samePath(l, loc) {
			return true
		}
	}
	return false
}

// newSince returns the entries of the kind collection that were not there
// before and whose title is marker: what a refused request must not leave.
func newSince(t testing.TB, kind string, before []string, marker string) []string {
	t.Helper()
	var out []string
	for _, l := range list(t, location(t, kind)) {
		if contains(before, l) {
			continue
		}
		e := read(t, textPlain, abs(t, l))
		if e.str("occi.core.title") == marker {
			out = append(out, l)
		}
	}
	return out
}

// num reads a numeric attribute whatever its rendering.
func num(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	}
	return 0, false
}

// patience is how long the suite waits for a state the spec says a
// backend reaches: the simulated backend is quick, real VMs are not.
func patience() time.Duration {
	if os.Getenv("OCCICDMI_COMPUTE") == "libvirt" {
		return 3 * time.Minute
	}
	return 15 * time.Second
}

// waitAttr polls an entity until attribute name has value want.
func waitAttr(t testing.TB, loc, name, want string) entity {
	t.Helper()
	deadline := time.Now().Add(patience())
	for {
		e := read(t, textPlain, loc)
		if e.str(name) == want {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s stayed %q, want %q after %s", loc, name, e.str(name), want, patience())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func act(t testing.TB, r rendering, loc, actionID string, attrs ...attr) (*http.Response, []byte) {
	t.Helper()
	_, term := splitID(actionID)
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	return send(t, "POST", loc+sep+"action="+term, r, message{Action: actionID, Attrs: attrs})
}
