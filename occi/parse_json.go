package occi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// JSON shapes of GFD.226. Unknown members are ignored so that clients
// following the examples' errata are still understood; wrong types are not.
type jsonKindedURI struct {
	Location string `json:"location"`
	Kind     string `json:"kind,omitempty"`
}

type jsonEntity struct {
	Kind       string         `json:"kind"`
	Mixins     []string       `json:"mixins,omitempty"`
	Attributes map[string]any `json:"attributes,omitempty"`
	Actions    []string       `json:"actions,omitempty"`
	ID         string         `json:"id"`
	Links      []jsonEntity   `json:"links,omitempty"`
	Summary    *string        `json:"summary,omitempty"`
	Title      *string        `json:"title,omitempty"`
	Source     *jsonKindedURI `json:"source,omitempty"`
	Target     *jsonKindedURI `json:"target,omitempty"`
	// Location is not in GFD.226; accepted on input so that a collection
	// rendering may name members by URI, and emitted nowhere.
	Location string `json:"location,omitempty"`
}

type jsonAttrDesc struct {
	Mutable     bool           `json:"mutable"`
	Required    bool           `json:"required"`
	Type        string         `json:"type,omitempty"`
	Pattern     map[string]any `json:"pattern,omitempty"`
	Default     any            `json:"default,omitempty"`
	Description string         `json:"description,omitempty"`
}

type jsonCategory struct {
	Term       string                  `json:"term"`
	Scheme     string                  `json:"scheme"`
	Title      string                  `json:"title,omitempty"`
	Attributes map[string]jsonAttrDesc `json:"attributes,omitempty"`
	Actions    []string                `json:"actions,omitempty"`
	Parent     string                  `json:"parent,omitempty"`
	Depends    []string                `json:"depends,omitempty"`
	Applies    []string                `json:"applies,omitempty"`
	Location   string                  `json:"location,omitempty"`
}

// parseJSON reads any GFD.226 document a client may send: an entity, an
// entity collection, an action invocation, a category or category
// collection.
func parseJSON(body []byte) (*payload, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return &payload{}, nil
	}
	var top map[string]json.RawMessage
	if err := strictUnmarshal(body, &top); err != nil {
		return nil, fmt.Errorf("body is not a JSON object: %w", err)
	}
	has := func(key string) bool { _, ok := top[key]; return ok }
	switch {
	case has("action"):
		return jsonInvocation(body)
	case has("kind"):
		var e jsonEntity
		if err := strictUnmarshal(body, &e); err != nil {
			return nil, fmt.Errorf("entity: %w", err)
		}
		d, err := e.doc("entity")
		if err != nil {
			return nil, err
		}
		return &payload{Entities: []entityDoc{d}}, nil
	case has("term"):
		var c jsonCategory
		if err := strictUnmarshal(body, &c); err != nil {
			return nil, fmt.Errorf("category: %w", err)
		}
		cat, err := c.category(ClassMixin)
		if err != nil {
			return nil, err
		}
		return &payload{Categories: []*Category{cat}}, nil
	}
	return jsonCollections(top)
}

// jsonInvocation reads an action invocation.
func jsonInvocation(body []byte) (*payload, error) {
	var inv struct {
		Action     string         `json:"action"`
		Attributes map[string]any `json:"attributes"`
	}
	if err := strictUnmarshal(body, &inv); err != nil {
		return nil, fmt.Errorf("action invocation: %w", err)
	}
	if inv.Action == "" {
		return nil, errors.New("action invocation: \"action\" is empty")
	}
	p := &payload{Action: inv.Action, ActionAttrs: inv.Attributes}
	if p.ActionAttrs == nil {
		p.ActionAttrs = map[string]any{}
	}
	return p, nil
}

// jsonCollections reads entity and category collections, and the
// locations of a mixin collection.
func jsonCollections(top map[string]json.RawMessage) (*payload, error) {
	p := &payload{}
	for _, key := range []string{"resources", "links"} {
		raw, ok := top[key]
		if !ok {
			continue
		}
		var es []jsonEntity
		if err := strictUnmarshal(raw, &es); err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		for i, e := range es {
			d, err := e.doc(fmt.Sprintf("%s[%d]", key, i))
			if err != nil {
				return nil, err
			}
			p.Entities = append(p.Entities, d)
		}
	}
	for key, class := range map[string]Class{"kinds": ClassKind, "mixins": ClassMixin, "actions": ClassAction} {
		raw, ok := top[key]
		if !ok {
			continue
		}
		var cs []jsonCategory
		if err := strictUnmarshal(raw, &cs); err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		for _, c := range cs {
			cat, err := c.category(class)
			if err != nil {
				return nil, err
			}
			p.Categories = append(p.Categories, cat)
		}
	}
	if raw, ok := top["locations"]; ok {
		// An extension for mixin collections: a plain list of URIs.
		if err := strictUnmarshal(raw, &p.Locations); err != nil {
			return nil, fmt.Errorf("locations: %w", err)
		}
	}
	if len(p.Entities) == 0 && len(p.Categories) == 0 && p.Locations == nil {
		known := []string{}
		for k := range top {
			known = append(known, k)
		}
		if len(known) > 0 {
			return nil, fmt.Errorf("JSON object has none of kind, action, term, resources, links, kinds, mixins, actions (got %s)", strings.Join(known, ", "))
		}
	}
	return p, nil
}

// strictUnmarshal decodes one JSON value and rejects trailing data.
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return plainJSONError(err)
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// plainJSONError says what a type mismatch got wrong in the client's terms
// (the field and the JSON types), not in the Go types it was decoded into.
func plainJSONError(err error) error {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return err
	}
	want := "of another type"
	switch k := te.Type.Kind(); {
	case k == reflect.String:
		want = "a string"
	case k == reflect.Map || k == reflect.Struct:
		want = "an object"
	case k == reflect.Slice || k == reflect.Array:
		want = "an array"
	case k == reflect.Bool:
		want = "true or false"
	case k >= reflect.Int && k <= reflect.Float64:
		want = "a number"
	}
	if te.Field == "" {
		return fmt.Errorf("the JSON value must be %s, got %s", want, jsonTypeName(te.Value))
	}
	return fmt.Errorf("field %q must be %s, got %s", te.Field, want, jsonTypeName(te.Value))
}

// jsonTypeName turns encoding/json's name of a JSON value's type
// ("object", "array", "string", "bool", "number" or "number 1e+20") into
// words with an article.
func jsonTypeName(v string) string {
	switch {
	case v == "object" || v == "array":
		return "an " + v
	case v == "bool":
		return "true or false"
	case strings.HasPrefix(v, "number"):
		return "a number"
	}
	return "a " + v
}

func (e *jsonEntity) doc(where string) (entityDoc, error) {
	d := entityDoc{ID: normID(e.ID), Kind: e.Kind, Mixins: e.Mixins, Attrs: map[string]any{}, Location: e.Location}
	for k, v := range e.Attributes {
		if !validAttrName(k) {
			return d, fmt.Errorf("%s: attribute name %q is invalid", where, clip(k))
		}
		switch k {
		case AttrID:
			if s, ok := v.(string); ok && d.ID == "" {
				d.ID = normID(s)
			}
			continue
		case AttrSource, AttrTarget, AttrSourceKind, AttrTargetKind:
			s, ok := v.(string)
			if !ok {
				return d, fmt.Errorf("%s: attribute %s must be a string", where, k)
			}
			switch k {
			case AttrSource:
				d.Source = s
			case AttrTarget:
				d.Target = s
			case AttrTargetKind:
				d.TargetKind = s
			}
			continue
		}
		if v == nil {
			return d, fmt.Errorf("%s: attribute %s is null", where, k)
		}
		d.Attrs[k] = v
	}
	if e.Title != nil {
		d.Attrs[AttrTitle] = *e.Title
	}
	if e.Summary != nil {
		d.Attrs[AttrSummary] = *e.Summary
	}
	if e.Source != nil {
		d.Source = e.Source.Location
	}
	if e.Target != nil {
		d.Target = e.Target.Location
		if e.Target.Kind != "" {
			d.TargetKind = e.Target.Kind
		}
	}
	for i, l := range e.Links {
		ld, err := l.doc(fmt.Sprintf("%s.links[%d]", where, i))
		if err != nil {
			return d, err
		}
		if ld.Target == "" {
			return d, fmt.Errorf("%s.links[%d]: link has no target", where, i)
		}
		// A link's "id" is its occi.core.id (GFD.226 §3.1), not a
		// location: the link is made at its kind's location under that id.
		if ld.ID != "" {
			ld.Attrs[AttrID] = ld.ID
		}
		d.Links = append(d.Links, linkDoc{Target: ld.Target, TargetKind: ld.TargetKind,
			Kind: ld.Kind, Mixins: ld.Mixins, Attrs: ld.Attrs})
	}
	return d, nil
}

func (c *jsonCategory) category(class Class) (*Category, error) {
	if !validTerm(c.Term) {
		return nil, fmt.Errorf("category term %q is not a valid term", clip(c.Term))
	}
	if !validScheme(c.Scheme) {
		return nil, fmt.Errorf("category %s: scheme %q must be an absolute URI ending in #", c.Term, clip(c.Scheme))
	}
	cat := &Category{Term: c.Term, Scheme: c.Scheme, Title: c.Title, Class: class, Actions: c.Actions,
		Parent: c.Parent, Depends: c.Depends, Applies: c.Applies, Location: c.Location}
	for name, d := range c.Attributes {
		if !validAttrName(name) {
			return nil, fmt.Errorf("category %s: attribute name %q is invalid", c.Term, clip(name))
		}
		a := Attribute{Name: name, Type: d.Type, Mutable: d.Mutable, Required: d.Required, Description: d.Description, Default: d.Default}
		switch a.Type {
		case "":
			a.Type = TypeString
		case TypeString, TypeNumber, TypeBoolean, TypeArray, TypeObject:
		default:
			return nil, fmt.Errorf("category %s: attribute %s has unknown type %q", c.Term, name, d.Type)
		}
		if a.Default != nil {
			if _, err := a.Check(a.Default); err != nil {
				return nil, fmt.Errorf("category %s: default: %w", c.Term, err)
			}
		}
		cat.Attributes = append(cat.Attributes, a)
	}
	return cat, nil
}
