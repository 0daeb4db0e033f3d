package occi

import "github.com/occicdmi/occicdmi/internal/kind"

// standardMixinFor finds the standard mixin that defines attr for kind,
// so that a client giving occi.network.address without the ipnetwork mixin
// still gets what it means.
func (o *op) standardMixinFor(kindID, attr string) string {
	for _, id := range []string{MixinIPNetwork, MixinIPNetIface, MixinSSHKey, MixinUserData} {
		c := o.m.get(id)
		if c.Attr(attr) != nil && o.applies(c, kindID) {
			return id
		}
	}
	return ""
}

func (o *op) applies(c *Category, kindID string) bool {
	if len(c.Applies) == 0 {
		return true
	}
	for _, a := range c.Applies {
		if o.m.isA(kindID, a) {
			return true
		}
	}
	return false
}

// checkMixins verifies mixins exist, apply to kind, and that at most one
// os_tpl and one resource_tpl are among them (GFD.224 §3.6).
func (o *op) checkMixins(kindID string, mixins []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	var os, res string
	for _, id := range mixins {
		c := o.m.get(id)
		if c == nil {
			return nil, kind.Errorf(kind.Invalid, "unknown mixin %s", id)
		}
		if c.Class != ClassMixin {
			return nil, kind.Errorf(kind.Invalid, "%s is a %s, not a mixin", id, c.Class)
		}
		if !o.applies(c, kindID) {
			return nil, kind.Errorf(kind.Invalid, "mixin %s does not apply to kind %s", id, kindID)
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		if o.m.dependsOn(id, MixinOSTpl) && id != MixinOSTpl {
			if os != "" {
				return nil, kind.Errorf(kind.Invalid, "only one os_tpl may be applied, got %s and %s", os, id)
			}
			os = id
		}
		if o.m.dependsOn(id, MixinResourceTpl) && id != MixinResourceTpl {
			if res != "" {
				return nil, kind.Errorf(kind.Invalid, "only one resource_tpl may be applied, got %s and %s", res, id)
			}
			res = id
		}
		out = append(out, id)
	}
	return out, nil
}

// withTemplate adds mixin to mixins, first removing any template of the
// same sort: applying a second os_tpl or resource_tpl replaces the first
// (GFD.224 §3.6.1, §3.6.2).
func (o *op) withTemplate(mixins []string, mixin string) []string {
	var out []string
	for _, base := range []string{MixinOSTpl, MixinResourceTpl} {
		if !o.m.dependsOn(mixin, base) || mixin == base {
			continue
		}
		for _, m := range mixins {
			if !o.m.dependsOn(m, base) || m == base {
				out = append(out, m)
			}
		}
		return append(out, mixin)
	}
	for _, m := range mixins {
		if m == mixin {
			return mixins
		}
	}
	return append(append(out, mixins...), mixin)
}

// checkAttrs validates client attributes for an entity of kind with mixins.
// prev is the current entity on update (nil on create). It returns the
// complete attribute set to store.
func (o *op) checkAttrs(kindID string, mixins []string, given map[string]any, prev *Entity, replace bool) (map[string]any, error) {
	defs := o.m.attrDefs(kindID, mixins)
	out := map[string]any{}
	if prev != nil {
		for k, v := range prev.Attrs {
			d := defs[k]
			// Replacing keeps what the client cannot set; a partial update
			// keeps everything. Attributes whose mixin went away are dropped.
			if d != nil && (!replace || d.Server || !d.Mutable) {
				out[k] = v
			}
		}
	}
	for name, v := range given {
		d := defs[name]
		if d == nil {
			return nil, kind.Errorf(kind.Invalid, "attribute %s is not defined by kind %s or its mixins", name, kindID)
		}
		nv, err := d.Check(v)
		if err != nil {
			return nil, kind.Wrap(kind.Invalid, err, "")
		}
		if d.Server {
			// A client cannot choose a state; sending back the current
			// value (a PUT of what was read) is fine.
			if cur, ok := prev0(prev).Attrs[name]; !ok || !equalValue(cur, nv) {
				return nil, kind.Errorf(kind.Invalid, "attribute %s is immutable: only the server sets it", name)
			}
			continue
		}
		if prev != nil && !d.Mutable {
			if cur, ok := prev.Attrs[name]; !ok || !equalValue(cur, nv) {
				return nil, kind.Errorf(kind.Invalid, "attribute %s is immutable", name)
			}
		}
		out[name] = nv
	}
	// A resource_tpl's sizes override the entity's own (GFD.224 §3.6.2);
	// other defaults fill what is missing.
	for _, id := range mixins {
		if c := o.m.get(id); c != nil && c.Template != nil {
			for _, a := range c.Attributes {
				out[a.Name] = a.Default
			}
		}
	}
	for name, d := range defs {
		// Whatever is still missing (new entity, replaced attributes, a
		// newly applied mixin) takes its default.
		if _, ok := out[name]; !ok && d.Default != nil {
			out[name] = d.Default
		}
	}
	for name, d := range defs {
		if !d.Required || name == AttrSource || name == AttrTarget {
			continue
		}
		if _, ok := out[name]; !ok {
			return nil, kind.Errorf(kind.Invalid, "attribute %s is required", name)
		}
	}
	return out, nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// prev0 gives an empty entity for nil, so lookups need no nil check.
func prev0(e *Entity) *Entity {
	if e == nil {
		return &Entity{}
	}
	return e
}

func equalValue(a, b any) bool {
	ka, _ := encodeValue(a)
	kb, _ := encodeValue(b)
	return ka == kb
}
