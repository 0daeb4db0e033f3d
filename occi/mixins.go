package occi

import (
	"context"
	"errors"
	"strings"

	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/internal/kind"
)

// Members names the entities of a mixin association: by location (path
// or absolute URI) or by occi.core.id (an id that is a URI is a location).
type Members struct {
	Locations []string
	IDs       []string
}

// Associate adds the members to mixin (a type identifier), or, with
// replace, makes them its only members: the others leave it (GFD.223
// §8.3.2, §8.2). The mixin's attributes come with it (defaults apply,
// required ones must be there); a new os_tpl or resource_tpl takes effect
// on the machine as in Update.
func (s *Service) Associate(ctx context.Context, mixin string, members Members, replace bool) error {
	o, err := s.begin(ctx)
	if err != nil {
		return err
	}
	m, err := o.mixin(mixin)
	if err != nil {
		return err
	}
	locs, err := o.memberLocations(members)
	if err != nil {
		return err
	}
	if !replace && len(locs) == 0 {
		return kind.New(kind.Invalid, "name the entities to add with X-OCCI-Location")
	}
	return o.associate(m, locs, replace)
}

// Dissociate removes the members from mixin; no members means all of
// them. The attributes only the mixin defined leave with it.
func (s *Service) Dissociate(ctx context.Context, mixin string, members Members) error {
	o, err := s.begin(ctx)
	if err != nil {
		return err
	}
	m, err := o.mixin(mixin)
	if err != nil {
		return err
	}
	locs, err := o.memberLocations(members)
	if err != nil {
		return err
	}
	if len(locs) == 0 {
		if locs, err = o.list(filter{Mixin: m.ID()}); err != nil {
			return err
		}
	}
	changes, err := o.without(m, locs)
	if err != nil {
		return err
	}
	return o.replaceAll(changes)
}

// Categories answers the query interface (GFD.223 §6): every category, or
// with filters (type identifiers) the categories related to them: each
// one, its actions, and for a kind the mixins that apply to it.
func (s *Service) Categories(ctx context.Context, filters []string) ([]*Category, error) {
	o, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	return o.related(filters), nil
}

// CollectionAt answers the kind or mixin whose collection lives at path
// ("/compute/"), or nil when no category is bound there.
func (s *Service) CollectionAt(ctx context.Context, path string) (*Category, error) {
	o, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	return o.m.at(path), nil
}

// AddMixins defines user mixins (GFD.223 §6.4). A mixin without a
// location gets "/mixins/<term>/"; locations must be free.
func (s *Service) AddMixins(ctx context.Context, cs []*Category) error {
	o, err := s.begin(ctx)
	if err != nil {
		return err
	}
	return o.addMixins(cs)
}

// DeleteMixins removes user mixins (type identifiers) and their
// associations, the attributes they defined leaving with them (GFD.223
// §6.5). Provider mixins are Forbidden.
func (s *Service) DeleteMixins(ctx context.Context, ids []string) error {
	o, err := s.begin(ctx)
	if err != nil {
		return err
	}
	return o.deleteMixins(ids)
}

func (o *op) mixin(id string) (*Category, error) {
	m := o.m.get(id)
	if m == nil || m.Class != ClassMixin {
		return nil, kind.Errorf(kind.NotFound, "no mixin %s", id)
	}
	return m, nil
}

// memberLocations reads the entities a mixin collection request names.
func (o *op) memberLocations(members Members) ([]string, error) {
	var out []string
	for _, l := range members.Locations {
		out = append(out, o.localPath(l))
	}
	for _, id := range members.IDs {
		if strings.HasPrefix(id, "/") || strings.Contains(id, "://") {
			out = append(out, o.localPath(id))
			continue
		}
		loc, err := o.s.st.locationByID(o.db, o.sc, normID(id))
		if errors.Is(err, errNotFound) {
			return nil, kind.Errorf(kind.Invalid, "no entity has id %s", id)
		} else if err != nil {
			return nil, dbErr(err)
		}
		out = append(out, loc)
	}
	return out, nil
}

// associate adds entities to a mixin (replace=false) or makes them its
// only members (replace=true).
func (o *op) associate(mixin *Category, locs []string, replace bool) error {
	es, err := o.existing(locs)
	if err != nil {
		return err
	}
	var changes []*Entity
	for _, e := range es {
		ne, err := o.joining(mixin, e)
		if err != nil {
			return err
		}
		changes = append(changes, ne)
	}
	if err := o.preCheckQuota(changes); err != nil {
		return err
	}
	for i, e := range es {
		if err := o.retemplate(e, changes[i]); err != nil {
			return err
		}
	}
	if replace {
		// Members left out of the new collection leave the mixin.
		current, err := o.list(filter{Mixin: mixin.ID()})
		if err != nil {
			return err
		}
		keep := map[string]bool{}
		for _, l := range locs {
			keep[l] = true
		}
		var drop []string
		for _, l := range current {
			if !keep[l] {
				drop = append(drop, l)
			}
		}
		removed, err := o.without(mixin, drop)
		if err != nil {
			return err
		}
		changes = append(changes, removed...)
	}
	return o.replaceAll(changes)
}

// existing loads the entities at locs; a missing one is Invalid.
func (o *op) existing(locs []string) ([]*Entity, error) {
	es, err := o.entities(locs)
	if err != nil {
		return nil, err
	}
	if len(es) != len(dedupe(locs)) {
		found := map[string]bool{}
		for _, e := range es {
			found[e.Location] = true
		}
		for _, l := range locs {
			if !found[l] {
				return nil, kind.Errorf(kind.Invalid, "no entity at %s", l)
			}
		}
	}
	return es, nil
}

// joining answers e as a member of mixin (see retemplate for its
// machine).
func (o *op) joining(mixin *Category, e *Entity) (*Entity, error) {
	if !o.applies(mixin, e.Kind) {
		return nil, kind.Errorf(kind.Invalid, "mixin %s does not apply to %s (kind %s)", mixin.ID(), e.Location, e.Kind)
	}
	ms := o.withTemplate(e.Mixins, mixin.ID())
	if _, err := o.checkMixins(e.Kind, ms); err != nil {
		return nil, err
	}
	// The mixin's attributes come with it: defaults apply, required
	// ones must already be there (GFD.221 §5.3.7).
	attrs, err := o.checkAttrs(e.Kind, ms, nil, e, false)
	if err != nil {
		return nil, kind.Errorf(kind.Of(err), "%s: %w", e.Location, err)
	}
	if err := o.ownMixins(e.Project, ms); err != nil {
		return nil, err
	}
	ne := *e
	ne.Mixins, ne.Attrs = ms, attrs
	return &ne, nil
}

// retemplate rebuilds or resizes e's machine when joining a mixin changes
// its template (ne is e as it will be).
func (o *op) retemplate(e, ne *Entity) error {
	o.syncState(e)
	if err := o.rebuild(e, ne); err != nil {
		o.rollback()
		return err
	}
	if err := o.resize(e, ne); err != nil {
		o.rollback()
		return err
	}
	return nil
}

// without computes entities after leaving mixin: the attributes only the
// mixin defined go with it.
func (o *op) without(mixin *Category, locs []string) ([]*Entity, error) {
	es, err := o.entities(locs)
	if err != nil {
		return nil, err
	}
	var out []*Entity
	for _, e := range es {
		var ms []string
		for _, m := range e.Mixins {
			if m != mixin.ID() {
				ms = append(ms, m)
			}
		}
		attrs, err := o.checkAttrs(e.Kind, ms, nil, e, false)
		if err != nil {
			return nil, kind.Errorf(kind.Of(err), "%s: %w", e.Location, err)
		}
		ne := *e
		ne.Mixins, ne.Attrs = ms, attrs
		out = append(out, &ne)
	}
	return out, nil
}

// replaceAll stores changed entities in one transaction, within the
// quotas.
func (o *op) replaceAll(changes []*Entity) error {
	return o.tx(func(tx *gorm.DB) error {
		if err := o.checkQuota(tx, changes); err != nil {
			return err
		}
		for _, e := range changes {
			if err := o.s.st.replace(tx, e); err != nil {
				return err
			}
		}
		return nil
	})
}

func dedupe(xs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// related filters the query interface by categories (GFD.223 §6.1).
func (o *op) related(filters []string) []*Category {
	if len(filters) == 0 {
		return o.m.all()
	}
	var out []*Category
	seen := map[string]bool{}
	add := func(c *Category) {
		if c != nil && !seen[c.ID()] {
			seen[c.ID()] = true
			out = append(out, c)
		}
	}
	for _, f := range filters {
		c := o.m.get(f)
		if c == nil {
			continue
		}
		add(c)
		for _, a := range c.Actions {
			add(o.m.get(a))
		}
		if c.Class == ClassKind {
			for _, x := range o.m.all() {
				if x.Class == ClassMixin && len(x.Applies) > 0 && o.applies(x, c.ID()) {
					add(x)
				}
			}
		}
	}
	return out
}

// addMixins creates user-defined mixins (GFD.223 §6.4, POST /-/).
func (o *op) addMixins(cs []*Category) error {
	if len(cs) == 0 {
		return kind.New(kind.Invalid, "the request carries no mixin definition")
	}
	for _, c := range cs {
		if err := o.checkNewMixin(c); err != nil {
			return err
		}
		c.Actions, c.Parent, c.User, c.project = nil, "", true, o.who.Project
		o.m.user[c.ID()] = c
		o.m.ulo[c.Location] = c
	}
	return o.tx(func(tx *gorm.DB) error {
		for _, c := range cs {
			if err := o.s.st.addUserMixin(tx, c, "user"); err != nil {
				if errors.Is(err, gorm.ErrDuplicatedKey) {
					return kind.Errorf(kind.Conflict, "mixin %s or its location already exists", c.ID())
				}
				return err
			}
		}
		return nil
	})
}

// checkNewMixin validates a user mixin's definition and settles its
// location.
func (o *op) checkNewMixin(c *Category) error {
	if c.Class != ClassMixin {
		return kind.Errorf(kind.Invalid, "only mixins can be added to the query interface, %s is a %s", c.ID(), c.Class)
	}
	if !validTerm(c.Term) || !validScheme(c.Scheme) {
		return kind.Errorf(kind.Invalid, "mixin %q (scheme %q) is not a valid category: %s", clip(c.Term), clip(c.Scheme), grammar)
	}
	if o.m.get(c.ID()) != nil || o.mixinTaken(c.ID(), "") {
		return kind.Errorf(kind.Conflict, "category %s already exists", c.ID())
	}
	if c.Location == "" {
		c.Location = "/mixins/" + c.Term + "/"
	}
	c.Location = o.localPath(c.Location)
	if !strings.HasPrefix(c.Location, "/") {
		return kind.Errorf(kind.Invalid, "mixin location %s must be on this server", c.Location)
	}
	if !strings.HasSuffix(c.Location, "/") {
		c.Location += "/"
	}
	if strings.HasPrefix(c.Location, "/-/") || strings.HasPrefix(c.Location, "/.well-known/") || c.Location == "/" || Reserved(c.Location) {
		return kind.Errorf(kind.Invalid, "mixin location %s is reserved", c.Location)
	}
	if o.m.at(c.Location) != nil || o.mixinTaken("", c.Location) {
		return kind.Errorf(kind.Conflict, "location %s is already bound to a category", c.Location)
	}
	// Any project's entities: locations are one namespace (see Caller).
	if e, err := o.s.st.list(o.db, everyone, filter{Prefix: c.Location, Limit: 1}); err == nil && len(e) > 0 {
		return kind.Errorf(kind.Conflict, "location %s already holds entities", c.Location)
	}
	// A rel (depends) naming a category this server does not know is
	// kept as given: GFD.185 §3.4.1's own example adds a mixin with
	// rel="http:/example.com/occi/something_else#mixin" and gets 200. It
	// brings no attributes and no template behaviour; it is rendered back
	// as sent.
	for _, a := range c.Applies {
		k := o.m.get(a)
		if k == nil {
			return kind.Errorf(kind.Invalid, "mixin %s applies to unknown kind %s", c.ID(), a)
		}
		if k.Class != ClassKind {
			return kind.Errorf(kind.Invalid, "mixin %s applies to %s, which is not a kind", c.ID(), a)
		}
	}
	return nil
}

// mixinTaken tells whether any project's user mixin has the type
// identifier id or the location loc ("" for neither): they are one
// namespace, though another project's mixins are not shown (see Caller).
func (o *op) mixinTaken(id, loc string) bool {
	taken, err := o.s.st.userMixinTaken(o.db, id, loc)
	// A failed read lets the insert decide: its unique index refuses a
	// duplicate as Conflict.
	return err == nil && taken
}

// deleteMixins removes user-defined mixins and their associations.
func (o *op) deleteMixins(ids []string) error {
	if len(ids) == 0 {
		return kind.New(kind.Invalid, "the request names no mixin to delete")
	}
	var changes []*Entity
	for _, id := range ids {
		if o.m.byID[id] != nil {
			return kind.Errorf(kind.Forbidden, "%s is defined by the provider and cannot be deleted", id)
		}
		if o.m.user[id] == nil {
			return kind.Errorf(kind.NotFound, "no user-defined mixin %s", id)
		}
		// Its members leave it first, taking its attributes along.
		members, err := o.list(filter{Mixin: id})
		if err != nil {
			return err
		}
		ch, err := o.without(o.m.user[id], members)
		if err != nil {
			return err
		}
		changes = append(changes, ch...)
	}
	return o.tx(func(tx *gorm.DB) error {
		for _, e := range changes {
			if err := o.s.st.replace(tx, e); err != nil {
				return err
			}
		}
		for _, id := range ids {
			if err := o.s.st.deleteUserMixin(tx, id); err != nil {
				return err
			}
		}
		return nil
	})
}
