package occi

import (
	"context"
	"errors"

	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/internal/kind"
)

// Update applies a partial update to the entity at loc (GFD.223 §7.3):
// the mixins given are added (a new os_tpl or resource_tpl replaces the
// old one), the attributes given change, links the input carries that the
// resource does not have yet are created. It answers the entity as Get.
func (s *Service) Update(ctx context.Context, loc string, in EntityInput) (*Entity, error) {
	o, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	prev, err := o.current(loc)
	if err != nil {
		return nil, err
	}
	return o.change(prev, in, false)
}

// Replace puts in at loc (GFD.223 §7.2.2): an entity there is replaced
// (its mixins and client-settable attributes become the input's; its
// links stay), else one is created there (created=true).
func (s *Service) Replace(ctx context.Context, loc string, in EntityInput) (e *Entity, created bool, err error) {
	o, err := s.begin(ctx)
	if err != nil {
		return nil, false, err
	}
	prev, err := o.s.st.entity(o.db, o.sc, loc, false)
	if errors.Is(err, errNotFound) {
		if err := o.checkFreeLocation(loc); err != nil {
			return nil, false, err
		}
		es, err := o.create([]EntityInput{in}, "", loc)
		if err != nil {
			return nil, false, err
		}
		return es[0], true, nil
	} else if err != nil {
		return nil, false, dbErr(err)
	}
	o.syncState(prev)
	e, err = o.change(prev, in, true)
	return e, false, err
}

// change applies a partial update (replace=false) or a full replacement
// (replace=true) to an existing entity (GFD.223 §7.2-7.3). Links of a
// resource are left intact.
func (o *op) change(prev *Entity, d EntityInput, replace bool) (*Entity, error) {
	e, err := o.changed(prev, d, replace)
	if err != nil {
		return nil, err
	}
	// A partial update may add links (a resource's links are mutable,
	// GFD.221 table 8); links it already has are left as they are, and a
	// PUT leaves all links intact (GFD.223 §7.2.2).
	var added []*Entity
	if !replace && !prev.IsLink() && len(d.Links) > 0 {
		if added, err = o.newLinks(e, d); err != nil {
			return nil, err
		}
	}
	if err := o.preCheckQuota([]*Entity{e}); err != nil {
		return nil, err
	}
	if err := o.rebuild(prev, e); err != nil {
		return nil, err
	}
	if err := o.resize(prev, e); err != nil {
		o.rollback()
		return nil, err
	}
	for _, l := range added {
		if err := o.provision(l, map[string]*Entity{e.Location: e}); err != nil {
			o.rollback()
			return nil, err
		}
	}
	if err := o.tx(func(tx *gorm.DB) error {
		if err := o.checkQuota(tx, []*Entity{e}); err != nil {
			return err
		}
		if err := o.s.st.replace(tx, e); err != nil {
			return err
		}
		for _, l := range added {
			if err := o.s.st.insert(tx, l); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return o.full(e, false)
}

// changed validates an update against the entity it changes and answers
// the entity as it will be (without new links).
func (o *op) changed(prev *Entity, d EntityInput, replace bool) (*Entity, error) {
	if d.Kind != "" && d.Kind != prev.Kind {
		return nil, kind.Errorf(kind.Invalid, "the kind of %s is %s and cannot change to %s", prev.Location, prev.Kind, d.Kind)
	}
	if d.ID != "" && d.ID != prev.ID {
		return nil, kind.Errorf(kind.Invalid, "attribute occi.core.id is immutable (%s, got %s)", prev.ID, d.ID)
	}
	if prev.IsLink() {
		if d.Source != "" && o.localPath(d.Source) != prev.Source {
			return nil, kind.Errorf(kind.Invalid, "changing the source of link %s is not supported; delete and recreate it", prev.Location)
		}
		if d.Target != "" && o.localPath(d.Target) != prev.Target {
			return nil, kind.Errorf(kind.Invalid, "changing the target of link %s is not supported; delete and recreate it", prev.Location)
		}
	} else if d.Source != "" || d.Target != "" {
		return nil, kind.New(kind.Invalid, "occi.core.source and occi.core.target belong to links")
	}
	mixins := d.Mixins
	if !replace {
		mixins = append([]string(nil), prev.Mixins...)
		for _, m := range d.Mixins {
			mixins = o.withTemplate(mixins, m)
		}
	}
	mixins, err := o.checkMixins(prev.Kind, o.withStandardMixins(prev.Kind, mixins, d.Attrs))
	if err != nil {
		return nil, err
	}
	attrs, err := o.checkAttrs(prev.Kind, mixins, d.Attrs, prev, replace)
	if err != nil {
		return nil, err
	}
	if err := o.ownMixins(prev.Project, mixins); err != nil {
		return nil, err
	}
	return &Entity{ID: prev.ID, Location: prev.Location, Kind: prev.Kind, Mixins: mixins, Attrs: attrs,
		Source: prev.Source, Target: prev.Target, SourceKind: prev.SourceKind, TargetKind: prev.TargetKind, Project: prev.Project}, nil
}

// newLinks builds the links of a partial update that the resource does not
// have yet (same self, or same target and kind, is the same link).
func (o *op) newLinks(e *Entity, d EntityInput) ([]*Entity, error) {
	have, err := o.linksOf([]string{e.Location}, false)
	if err != nil {
		return nil, err
	}
	var fresh []LinkInput
	for _, l := range d.Links {
		dup := false
		for _, h := range have {
			if (l.Self != "" && o.localPath(l.Self) == h.Location) ||
				(o.localPath(l.Target) == h.Target && (l.Kind == "" || l.Kind == h.Kind)) {
				dup = true
			}
		}
		if !dup {
			fresh = append(fresh, l)
		}
	}
	pending := map[string]*Entity{e.Location: e}
	d.Links = fresh
	return o.inlineLinks(e, d, pending)
}
