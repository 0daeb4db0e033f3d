package occi

import (
	"encoding/json"
	"strings"
)

// entityJSON renders a resource or link per GFD.226 §3.1. Title and
// summary are object members of their own; occi.core.id is "id"; the other
// attributes go in "attributes".
func (r *renderer) entityJSON(e *Entity) *jsonEntity {
	out := &jsonEntity{Kind: e.Kind, Mixins: e.Mixins, ID: renderID(e.ID), Actions: e.Actions}
	if len(out.Mixins) == 0 {
		out.Mixins = nil
	}
	attrs := make(map[string]any, len(e.Attrs))
	for k, v := range e.Attrs {
		switch k {
		case AttrTitle:
			if s, ok := v.(string); ok {
				out.Title = &s
				continue
			}
		case AttrSummary:
			if s, ok := v.(string); ok {
				out.Summary = &s
				continue
			}
		}
		attrs[k] = v
	}
	if len(attrs) > 0 {
		out.Attributes = attrs
	}
	if e.IsLink() {
		out.Source = &jsonKindedURI{Location: r.abs(e.Source), Kind: e.SourceKind}
		out.Target = &jsonKindedURI{Location: r.abs(e.Target), Kind: e.TargetKind}
	}
	for _, l := range e.Links {
		out.Links = append(out.Links, *r.entityJSON(l))
	}
	return out
}

// collectionJSON renders entities as {"resources": [...]} and/or
// {"links": [...]} (GFD.226 §3.3). wantResources/wantLinks keep the
// member present, as an empty array, when the collection is empty.
func (r *renderer) collectionJSON(es []*Entity, wantResources, wantLinks bool) map[string][]*jsonEntity {
	out := map[string][]*jsonEntity{}
	for _, e := range es {
		key := "resources"
		if e.IsLink() {
			key = "links"
		}
		out[key] = append(out[key], r.entityJSON(e))
	}
	if wantResources && out["resources"] == nil {
		out["resources"] = []*jsonEntity{}
	}
	if wantLinks && out["links"] == nil {
		out["links"] = []*jsonEntity{}
	}
	return out
}

const jsonSchemaDraft = "http://json-schema.org/draft-04/schema#"

func attrDescJSON(a Attribute) jsonAttrDesc {
	d := jsonAttrDesc{Mutable: a.Mutable, Required: a.Required, Type: a.Type, Default: a.Default, Description: a.Description}
	// Integers, bounds and enumerations are JSON Schema patterns
	// (GFD.226 table "Attribute Description").
	if a.Integer || a.Min != nil || a.Max != nil || len(a.Enum) > 0 {
		p := map[string]any{"$schema": jsonSchemaDraft, "type": a.Type}
		if a.Integer {
			p["type"] = "integer"
		}
		if a.Min != nil {
			p["minimum"] = *a.Min
		}
		if a.Max != nil {
			p["maximum"] = *a.Max
		}
		if len(a.Enum) > 0 {
			p["enum"] = a.Enum
		}
		d.Pattern = p
	}
	return d
}

// categoryJSON renders a kind, mixin or action (GFD.226 §3.2).
func (r *renderer) categoryJSON(c *Category) *jsonCategory {
	out := &jsonCategory{Term: c.Term, Scheme: c.Scheme, Title: c.Title, Actions: c.Actions}
	if len(c.Attributes) > 0 {
		out.Attributes = make(map[string]jsonAttrDesc, len(c.Attributes))
		for _, a := range c.Attributes {
			out.Attributes[a.Name] = attrDescJSON(a)
		}
	}
	if c.Location != "" {
		out.Location = r.abs(c.Location)
	}
	switch c.Class {
	case ClassKind:
		out.Parent = c.Parent
	case ClassMixin:
		out.Depends, out.Applies = c.Depends, c.Applies
	}
	return out
}

// categoriesJSON renders the query interface: kinds, mixins and actions in
// their own arrays (GFD.226 §3.4).
func (r *renderer) categoriesJSON(cs []*Category) map[string][]*jsonCategory {
	out := map[string][]*jsonCategory{"kinds": {}, "mixins": {}, "actions": {}}
	for _, c := range cs {
		key := string(c.Class) + "s"
		out[key] = append(out[key], r.categoryJSON(c))
	}
	return out
}

// marshal encodes without HTML escaping (URIs carry & and <).
func marshal(v any) []byte {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return []byte(b.String())
}
