package occi

import (
	"fmt"
	"math"
	"regexp"
	"strings"
)

// Class tells the three sorts of Category apart (GFD.221 §4.4).
type Class string

// The Category classes as rendered in text ("class=...").
const (
	ClassKind   Class = "kind"
	ClassMixin  Class = "mixin"
	ClassAction Class = "action"
)

// Attribute types as named by the JSON rendering's attribute description
// (GFD.226 table "Attribute Description"). Integers and enumerations are
// numbers and strings narrowed by a pattern.
const (
	TypeString  = "string"
	TypeNumber  = "number"
	TypeBoolean = "boolean"
	TypeArray   = "array"
	TypeObject  = "object"
)

// Attribute describes one attribute a Kind, Mixin or Action defines.
type Attribute struct {
	Name        string
	Type        string   // one of the Type* constants
	Integer     bool     // a number that must be integral
	Enum        []string // allowed values of a string
	Min, Max    *float64 // bounds of a number
	Mutable     bool     // clients may change it after creation
	Required    bool     // clients must give it at creation
	Default     any      // used when the client gives none
	Description string
	// Server marks attributes only the server sets (state, state.message):
	// a client's value for them is ignored at creation and must not differ
	// from the current value afterwards.
	Server bool
}

// Check verifies that v suits the attribute and returns it normalised.
func (a *Attribute) Check(v any) (any, error) {
	switch a.Type {
	case TypeString:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("attribute %s must be a string, got %s", a.Name, typeName(v))
		}
		if len(a.Enum) > 0 {
			found := false
			for _, e := range a.Enum {
				if e == s {
					found = true
				}
			}
			if !found {
				return nil, fmt.Errorf("attribute %s must be one of %s, got %q", a.Name, strings.Join(a.Enum, ", "), s)
			}
		}
		return s, nil
	case TypeNumber:
		f, ok := v.(float64)
		if !ok {
			return nil, fmt.Errorf("attribute %s must be a number, got %s", a.Name, typeName(v))
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("attribute %s must be a finite number", a.Name)
		}
		if a.Integer && f != math.Trunc(f) {
			return nil, fmt.Errorf("attribute %s must be an integer, got %v", a.Name, f)
		}
		if a.Min != nil && f < *a.Min {
			return nil, fmt.Errorf("attribute %s must be at least %v, got %v", a.Name, *a.Min, f)
		}
		if a.Max != nil && f > *a.Max {
			return nil, fmt.Errorf("attribute %s must be at most %v, got %v", a.Name, *a.Max, f)
		}
		return f, nil
	case TypeBoolean:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("attribute %s must be a boolean, got %s", a.Name, typeName(v))
		}
		return b, nil
	case TypeArray:
		if _, ok := v.([]any); !ok {
			return nil, fmt.Errorf("attribute %s must be an array, got %s", a.Name, typeName(v))
		}
		return v, nil
	case TypeObject:
		if _, ok := v.(map[string]any); !ok {
			return nil, fmt.Errorf("attribute %s must be an object, got %s", a.Name, typeName(v))
		}
		return v, nil
	}
	return v, nil
}

func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// Category is a Kind, Mixin or Action (GFD.221 §4.4). One struct serves
// all three; the fields a class does not use stay empty.
type Category struct {
	Scheme     string
	Term       string
	Title      string
	Class      Class
	Attributes []Attribute
	Actions    []string // type identifiers of the actions (kinds, mixins)
	Parent     string   // kinds: the parent kind's type identifier
	Depends    []string // mixins
	Applies    []string // mixins
	Location   string   // path of the collection, ending in "/" ("" for none)
	User       bool     // a user-defined mixin, kept in the database
	Image      string   // os_tpl: where the backend finds the image
	Template   *ResourceTemplate
	project    string // a user mixin: the project it belongs to (see Caller)
}

// ID is the category's type identifier: scheme followed by term.
func (c *Category) ID() string { return c.Scheme + c.Term }

// Attr finds an attribute the category itself defines.
func (c *Category) Attr(name string) *Attribute {
	for i := range c.Attributes {
		if c.Attributes[i].Name == name {
			return &c.Attributes[i]
		}
	}
	return nil
}

// ResourceTemplate carries the sizes a resource_tpl sets on a compute.
type ResourceTemplate struct {
	Cores  int
	Memory float64 // GiB
	Disk   float64 // GiB of the root disk, 0 for the image's size
}

// Entity is a Resource or Link instance. Locations are paths (as sent,
// percent-encoded); renderings make them absolute.
type Entity struct {
	ID       string
	Location string
	Kind     string
	Mixins   []string
	// Attrs holds every attribute value except occi.core.id,
	// occi.core.source and occi.core.target, which have fields.
	Attrs map[string]any
	// Links only: the source resource's path and the target's path (or
	// absolute URI when outside this server) and kind.
	Source, Target, TargetKind, SourceKind string
	// Resources only: the links whose source this is, filled when rendering.
	Links []*Entity
	// Actions lists the type identifiers of the actions the entity's
	// current state allows, filled when rendering.
	Actions []string
	// Project is the project the entity belongs to (see Caller).
	Project string
}

var uuidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// renderID gives occi.core.id as the URI GFD.221 table 7 asks for: a
// UUID (what the server chooses) as urn:uuid:..., an id a client chose as
// it was given.
func renderID(id string) string {
	if uuidRe.MatchString(id) {
		return "urn:uuid:" + id
	}
	return id
}

// normID reads an id as a client sent it: urn:uuid:<uuid> is the UUID.
func normID(id string) string {
	id = strings.TrimSpace(id)
	if rest, ok := strings.CutPrefix(id, "urn:uuid:"); ok && uuidRe.MatchString(rest) {
		return rest
	}
	return id
}

// IsLink tells whether the entity is a link (it has a source).
func (e *Entity) IsLink() bool { return e.Source != "" }

// Core attribute names (GFD.229 table "Entity attribute naming convention").
const (
	AttrID         = "occi.core.id"
	AttrTitle      = "occi.core.title"
	AttrSummary    = "occi.core.summary"
	AttrSource     = "occi.core.source"
	AttrTarget     = "occi.core.target"
	AttrTargetKind = "occi.core.target.kind"
	AttrSourceKind = "occi.core.source.kind"
)
