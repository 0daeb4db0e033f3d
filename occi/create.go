package occi

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/internal/kind"
)

// EntityInput is an entity as a client describes it, whatever the
// rendering it came in: what Create, Replace and Update take.
type EntityInput struct {
	ID     string         // occi.core.id; "" lets the server choose a UUID
	Kind   string         // type identifier of the kind; "" for the collection's
	Mixins []string       // type identifiers of the mixins
	Attrs  map[string]any // attribute values, by name (not id, source, target)
	Links  []LinkInput    // links of a resource, created with it
	// Links only: the source and target resources (paths, or absolute URIs
	// on the base URL), and the target's kind when the client names it.
	Source, Target, TargetKind string
	// Location is where a collection rendering names the entity (used to
	// name members of a mixin, see Members).
	Location string
}

// LinkInput is a link given inside a resource's input; its source is that
// resource.
type LinkInput struct {
	Target     string // path or absolute URI of the target
	TargetKind string // the target's kind, when given
	Self       string // the link's own location, "" to choose one
	Kind       string // the link's kind; "" follows from the target
	Mixins     []string
	Attrs      map[string]any // may carry occi.core.id
}

// Create makes entities in the collection of kind (a type identifier, or
// "" when every input names its own kind), each resource with its inline
// links, and standalone links (an input of a link kind, with Source and
// Target). Either all are created, in the store and in the backends, or
// none. It answers the entities created, links inside their resources.
func (s *Service) Create(ctx context.Context, kindID string, in []EntityInput) ([]*Entity, error) {
	if kindID == KindEntity {
		return nil, kind.New(kind.Invalid, "entity is abstract")
	}
	o, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	return o.create(in, kindID, "")
}

// create makes the entities of a rendering posted to a kind's collection
// (or put at loc), with their inline links.
func (o *op) create(docs []EntityInput, kindHint, loc string) ([]*Entity, error) {
	if len(docs) == 0 {
		return nil, kind.New(kind.Invalid, "the request carries no entity rendering")
	}
	if loc != "" && len(docs) > 1 {
		return nil, kind.Errorf(kind.Invalid, "a PUT creates one entity, got %d", len(docs))
	}
	order, roots, err := o.build(docs, kindHint, loc)
	if err != nil {
		return nil, err
	}
	// Existing ids and locations are refused before any backend call.
	if err := o.checkFree(order); err != nil {
		return nil, err
	}
	if err := o.preCheckQuota(order); err != nil {
		return nil, err
	}
	pending := map[string]*Entity{}
	for _, e := range order {
		pending[e.Location] = e
	}
	joined := o.backendJoins(order)
	if !joined {
		for _, e := range order {
			if err := o.provision(e, pending); err != nil {
				o.rollback()
				return nil, err
			}
		}
	}
	if err := o.tx(func(tx *gorm.DB) error {
		if err := o.checkQuota(tx, order); err != nil {
			return err
		}
		if joined {
			if err := o.inBackendTx(tx, func() error { return o.provisionAll(order, pending) }); err != nil {
				return err
			}
		}
		return o.s.st.insertAll(tx, order)
	}); err != nil {
		return nil, err
	}
	for _, e := range roots {
		o.fillActions(e)
		for _, l := range e.Links {
			o.fillActions(l)
		}
	}
	return roots, nil
}

// checkFree refuses entities whose location or id an entity of any
// project has already, naming the first in order.
func (o *op) checkFree(order []*Entity) error {
	locs, ids := make([]string, len(order)), make([]string, len(order))
	for i, e := range order {
		locs[i], ids[i] = e.Location, e.ID
	}
	takenLocs, takenIDs, err := o.s.st.taken(o.db, locs, ids)
	if err != nil {
		return dbErr(err)
	}
	for _, e := range order {
		if takenLocs[e.Location] {
			return kind.Errorf(kind.Conflict, "an entity already exists at %s", e.Location)
		}
		if takenIDs[e.ID] {
			return kind.Errorf(kind.Conflict, "an entity with id %s already exists", e.ID)
		}
	}
	return nil
}

// backendJoins tells whether the backend side of creating order can be
// made in the create's transaction: the compute backend joins
// transactions, and no entity needs Volumes (storage, storagelinks),
// which are not the database's and are undone by compensation.
func (o *op) backendJoins(order []*Entity) bool {
	if !o.s.joins {
		return false
	}
	if o.s.volumes == nil {
		return true
	}
	for _, e := range order {
		if o.m.isA(e.Kind, KindStorage) || o.m.isA(e.Kind, KindStorageLink) {
			return false
		}
	}
	return true
}

// provisionAll provisions order's entities, in order.
func (o *op) provisionAll(order []*Entity, pending map[string]*Entity) error {
	for _, e := range order {
		if err := o.provision(e, pending); err != nil {
			return err
		}
	}
	return nil
}

// build validates the inputs of a create and builds their entities: order
// is every entity (inline links after their resource), roots the inputs'.
func (o *op) build(docs []EntityInput, kindHint, loc string) (order, roots []*Entity, err error) {
	pending := map[string]*Entity{}
	for _, d := range docs {
		e, err := o.buildEntity(d, kindHint, loc, pending)
		if err != nil {
			return nil, nil, err
		}
		if pending[e.Location] != nil {
			return nil, nil, kind.Errorf(kind.Conflict, "two entities at %s in one request", e.Location)
		}
		pending[e.Location] = e
		order = append(order, e)
		roots = append(roots, e)
		if e.IsLink() {
			continue
		}
		links, err := o.inlineLinks(e, d, pending)
		if err != nil {
			return nil, nil, err
		}
		order = append(order, links...)
		e.Links = links
	}
	return order, roots, nil
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// idRe limits client-chosen ids to what a path segment carries unescaped.
var idRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._~:\-]{0,254}$`)

// buildEntity validates a rendering for creation. kindHint is the kind of
// the collection it was posted to ("" for PUT). loc is the client-chosen
// location ("" to choose one). pending are resources created in the same
// request (inline links point from them).
func (o *op) buildEntity(d EntityInput, kindHint, loc string, pending map[string]*Entity) (*Entity, error) {
	k, err := o.creatableKind(d.Kind, kindHint)
	if err != nil {
		return nil, err
	}
	kindID := k.ID()
	mixins, err := o.checkMixins(kindID, o.withStandardMixins(kindID, d.Mixins, d.Attrs))
	if err != nil {
		return nil, err
	}
	e := &Entity{ID: d.ID, Kind: kindID, Mixins: mixins, Project: o.who.Project}
	if e.ID == "" {
		e.ID = newUUID()
	} else if !idRe.MatchString(e.ID) {
		return nil, kind.Errorf(kind.Invalid, "occi.core.id %q is not a valid id (letters, digits and ._~:- only)", clip(e.ID))
	}
	if loc == "" {
		loc = k.Location + e.ID
	}
	e.Location = loc
	attrs := d.Attrs
	if o.m.isA(kindID, KindLink) {
		if attrs, err = o.linkEnds(e, d, pending); err != nil {
			return nil, err
		}
	} else if d.Source != "" || d.Target != "" {
		return nil, kind.Errorf(kind.Invalid, "occi.core.source and occi.core.target belong to links; %s is a resource kind", kindID)
	}
	all, err := o.checkAttrs(kindID, e.Mixins, attrs, nil, false)
	if err != nil {
		return nil, err
	}
	e.Attrs = all
	if err := o.ownMixins(e.Project, e.Mixins); err != nil {
		return nil, err
	}
	return e, nil
}

// creatableKind finds the kind an input names (or the collection's) and
// checks that it may be instantiated there.
func (o *op) creatableKind(kindID, kindHint string) (*Category, error) {
	if kindID == "" {
		kindID = kindHint
	}
	if kindID == "" {
		return nil, kind.New(kind.Invalid, `the rendering names no kind (a Category with class="kind")`)
	}
	k := o.m.get(kindID)
	switch {
	case k == nil:
		return nil, kind.Errorf(kind.Invalid, "unknown kind %s", kindID)
	case k.Class != ClassKind:
		return nil, kind.Errorf(kind.Invalid, "%s is a %s, not a kind", kindID, k.Class)
	case kindID == KindEntity:
		return nil, kind.Errorf(kind.Invalid, "kind %s is abstract and cannot be instantiated", kindID)
	case kindHint != "" && !o.m.isA(kindID, kindHint):
		return nil, kind.Errorf(kind.Invalid, "kind %s does not belong in the collection of %s", kindID, kindHint)
	}
	return k, nil
}

// withStandardMixins adds the standard mixins that define attributes the
// client gave without naming their mixin.
func (o *op) withStandardMixins(kindID string, mixins []string, attrs map[string]any) []string {
	mixins = append([]string(nil), mixins...)
	for name := range attrs {
		if id := o.standardMixinFor(kindID, name); id != "" && o.m.attrDefs(kindID, mixins)[name] == nil {
			mixins = append(mixins, id)
		}
	}
	return mixins
}

// linkEnds sets and checks a new link's source and target, and answers
// its attributes with the defaults links must carry.
func (o *op) linkEnds(e *Entity, d EntityInput, pending map[string]*Entity) (map[string]any, error) {
	if d.Source == "" {
		return nil, kind.Errorf(kind.Invalid, "attribute %s is required for a link", AttrSource)
	}
	if d.Target == "" {
		return nil, kind.Errorf(kind.Invalid, "attribute %s is required for a link", AttrTarget)
	}
	e.Source, e.Target, e.TargetKind = o.localPath(d.Source), o.localPath(d.Target), d.TargetKind
	// A target on another server is kept as given: within the columns
	// that keep it (migrations/0002_occi.go), the same on every database.
	if len(e.Target) > maxLocationBytes {
		return nil, kind.Errorf(kind.Invalid, "link target is %d bytes long; at most %d are kept", len(e.Target), maxLocationBytes)
	}
	if len(e.TargetKind) > maxKindIDBytes {
		return nil, kind.Errorf(kind.Invalid, "link target kind is %d bytes long; at most %d", len(e.TargetKind), maxKindIDBytes)
	}
	if err := o.checkLinkEnds(e, pending); err != nil {
		return nil, err
	}
	// An interface on an IP network is an IP interface: its allocation
	// then always has a value (multiplicity 1, GFD.224 table 11).
	if o.m.isA(e.Kind, KindNetworkInterface) && !contains(e.Mixins, MixinIPNetIface) {
		if t, err := o.resolve(e.Target, pending); err == nil && contains(t.Mixins, MixinIPNetwork) {
			e.Mixins = append(e.Mixins, MixinIPNetIface)
		}
	}
	return o.linkDefaults(e, d.Attrs, pending), nil
}

// resolve finds an entity by location among pending ones or in the store.
func (o *op) resolve(loc string, pending map[string]*Entity) (*Entity, error) {
	if e := pending[loc]; e != nil {
		return e, nil
	}
	return o.s.st.entity(o.db, o.sc, loc, false)
}

// resolveAny finds an entity among pending ones or in the store, whoever's
// it is: the ends of a link being provisioned, which were checked when the
// link was made (a link an administrator made may cross projects).
func (o *op) resolveAny(loc string, pending map[string]*Entity) (*Entity, error) {
	if e := pending[loc]; e != nil {
		return e, nil
	}
	return o.s.st.entity(o.db, everyone, loc, false)
}

// resolveEnd finds one end of a link; a missing one, or another
// project's, is NotFound.
func (o *op) resolveEnd(what, loc string, pending map[string]*Entity) (*Entity, error) {
	e, err := o.resolve(loc, pending)
	if errors.Is(err, errNotFound) {
		return nil, kind.Errorf(kind.NotFound, "link %s %s does not exist", what, loc)
	} else if err != nil {
		return nil, dbErr(err)
	}
	if e.IsLink() {
		return nil, kind.Errorf(kind.Invalid, "link %s %s is a link, not a resource", what, loc)
	}
	return e, nil
}

// checkLinkEnds verifies a link's source and target (GFD.221 §4.5.2: the
// source must be a resource of this provider; infrastructure links need
// the right kinds at both ends, GFD.224 §3.4).
func (o *op) checkLinkEnds(e *Entity, pending map[string]*Entity) error {
	src, err := o.resolveEnd("source", e.Source, pending)
	if err != nil {
		return err
	}
	e.SourceKind = src.Kind
	e.Project = src.Project // a link is its source's project's (see Caller)
	var tgt *Entity
	if strings.HasPrefix(e.Target, "/") {
		if tgt, err = o.resolveEnd("target", e.Target, pending); err != nil {
			return err
		}
		if e.TargetKind != "" && e.TargetKind != tgt.Kind && !o.m.isA(tgt.Kind, e.TargetKind) {
			return kind.Errorf(kind.Invalid, "link target %s is a %s, not a %s", e.Target, tgt.Kind, e.TargetKind)
		}
		e.TargetKind = tgt.Kind
	}
	need := map[string][2]string{
		KindNetworkInterface: {KindCompute, KindNetwork},
		KindStorageLink:      {KindCompute, KindStorage},
	}
	for lk, ends := range need {
		if !o.m.isA(e.Kind, lk) {
			continue
		}
		if !o.m.isA(src.Kind, ends[0]) {
			return kind.Errorf(kind.Invalid, "a %s link must start at a compute, %s is a %s", actionTerm(lk), e.Source, src.Kind)
		}
		if tgt == nil || !o.m.isA(tgt.Kind, ends[1]) {
			return kind.Errorf(kind.Invalid, "a %s link must point to a %s on this server, %s is not one", actionTerm(lk), actionTerm(ends[1]), e.Target)
		}
	}
	return nil
}

// linkDefaults fills the attributes infrastructure links must carry
// (multiplicity 1 in GFD.224 tables 10, 12) when the client left them out.
func (o *op) linkDefaults(e *Entity, attrs map[string]any, pending map[string]*Entity) map[string]any {
	out := make(map[string]any, len(attrs)+2)
	for k, v := range attrs {
		out[k] = v
	}
	switch {
	case o.m.isA(e.Kind, KindNetworkInterface):
		if _, ok := out["occi.networkinterface.interface"]; !ok {
			n, _ := o.s.st.links(o.db, everyone, []string{e.Source}, false)
			count := len(n)
			for _, p := range pending {
				if p.Source == e.Source && p != e {
					count++
				}
			}
			out["occi.networkinterface.interface"] = fmt.Sprintf("eth%d", count)
		}
	case o.m.isA(e.Kind, KindStorageLink):
		if _, ok := out["occi.storagelink.deviceid"]; !ok {
			if t, err := o.resolve(e.Target, pending); err == nil {
				out["occi.storagelink.deviceid"] = t.ID
			}
		}
	}
	return out
}

// inlineLinks builds the links a resource's input carries.
func (o *op) inlineLinks(res *Entity, d EntityInput, pending map[string]*Entity) ([]*Entity, error) {
	var out []*Entity
	for _, l := range d.Links {
		ld := o.linkInput(res, l, pending)
		loc := ""
		if l.Self != "" {
			loc = o.localPath(l.Self)
		}
		if loc != "" {
			if err := o.checkFreeLocation(loc); err != nil {
				return nil, err
			}
		}
		le, err := o.buildEntity(ld, "", loc, pending)
		if err != nil {
			return nil, kind.Errorf(kind.Of(err), "link to %s: %w", l.Target, err)
		}
		pending[le.Location] = le
		out = append(out, le)
	}
	return out, nil
}

// linkInput makes an inline link from res a standalone link's input.
func (o *op) linkInput(res *Entity, l LinkInput, pending map[string]*Entity) EntityInput {
	target := o.localPath(l.Target)
	kindID := l.Kind
	if kindID == "" {
		// Without a category the link's kind follows from its target.
		kindID = KindLink
		if t, err := o.resolve(target, pending); err == nil {
			switch {
			case o.m.isA(t.Kind, KindNetwork):
				kindID = KindNetworkInterface
			case o.m.isA(t.Kind, KindStorage):
				kindID = KindStorageLink
			}
		}
	}
	ld := EntityInput{Kind: kindID, Mixins: l.Mixins, Attrs: map[string]any{}, Source: res.Location, Target: target, TargetKind: l.TargetKind}
	for k, v := range l.Attrs {
		switch k {
		case AttrID:
			if s, ok := v.(string); ok {
				ld.ID = normID(s)
			}
		case AttrSource, AttrTarget, AttrSourceKind, AttrTargetKind:
		default:
			ld.Attrs[k] = v
		}
	}
	return ld
}

// checkFreeLocation applies the location rule (paths.go) to an entity's
// location, and refuses one bound to a category.
func (o *op) checkFreeLocation(loc string) error {
	if err := o.checkLocation("entity location", loc, false); err != nil {
		return err
	}
	if o.m.at(loc) != nil || o.m.at(loc+"/") != nil {
		return kind.Errorf(kind.Conflict, "location %s is bound to a category", loc)
	}
	if o.mixinTaken("", loc+"/") {
		return kind.Errorf(kind.Conflict, "location %s is a mixin's location", loc)
	}
	return nil
}

// ReservedPaths are the operator endpoints the server mounts on the same
// router as OCCI: no entity and no user mixin lives at one or below one.
var ReservedPaths = []string{"/metrics", "/healthz", "/readyz"}

// Reserved tells whether p is one of ReservedPaths or lies below one.
func Reserved(p string) bool {
	for _, r := range ReservedPaths {
		if p == r || strings.HasPrefix(p, r+"/") {
			return true
		}
	}
	return false
}
