package occi

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	cb "github.com/occicdmi/occicdmi/computebackends"
	"github.com/occicdmi/occicdmi/internal/kind"
)

// Invocation is an action a client triggers (GFD.223 §7.4.2).
type Invocation struct {
	Term   string         // the action's term (?action=<term>)
	Action string         // type identifier the invocation names, "" when none
	Params map[string]any // the action's attributes (parameters)
}

// ActResult is what an action answers.
type ActResult struct {
	// Entity is the entity acted on, as Get shows it, when there was one.
	Entity *Entity
	// Locations are the members of the collection acted on.
	Locations []string
	// Saved are the OS templates a "save" made (GFD.224 §3.1).
	Saved []*Category
}

// Act triggers an action on the entity at loc.
func (s *Service) Act(ctx context.Context, loc string, inv Invocation) (*ActResult, error) {
	o, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	// With its links: the answer renders them.
	e, err := o.entityAt(loc, true)
	if err != nil {
		return nil, err
	}
	if inv.Term == "" {
		return nil, kind.New(kind.Invalid, "?action= names no action")
	}
	return o.act([]*Entity{e}, []string{loc}, true, inv)
}

// ActAll triggers an action on every member of a collection (q's
// Collection or Prefix; filters and paging are ignored). Every member's
// state is checked before any backend call, so a refused action changes
// nothing. A backend failure on one member stops there; its error (of the
// failure's kind) names the members already changed, the one that failed
// and the ones not attempted, since a start or stop done cannot be undone.
func (s *Service) ActAll(ctx context.Context, q Query, inv Invocation) (*ActResult, error) {
	o, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	f, err := o.filter(Query{Collection: q.Collection, Prefix: q.Prefix})
	if err != nil {
		return nil, err
	}
	locs, err := o.list(f)
	if err != nil {
		return nil, err
	}
	if len(locs) == 0 {
		// No member checks the action, so the collection does: an
		// action no member could have is refused even on an empty one.
		if err := o.checkCollectionAction(q.Collection, inv); err != nil {
			return nil, err
		}
	}
	es, err := o.entities(locs)
	if err != nil {
		return nil, err
	}
	return o.act(es, locs, false, inv)
}

// checkCollectionAction refuses an action that no member of the
// collection could define: for a kind's collection, one of the actions of
// the kind, its sub-kinds and their parents, or of a mixin (members may
// carry mixins); for a mixin's, one of the mixin's or of any kind.
func (o *op) checkCollectionAction(collection string, inv Invocation) error {
	c := o.m.get(collection)
	for _, cat := range o.m.all() {
		mayDefine := c == nil || cat.ID() == collection ||
			(c.Class == ClassKind && (cat.Class == ClassMixin || (cat.Class == ClassKind && o.m.isA(cat.ID(), collection)) || o.m.isA(collection, cat.ID()))) ||
			(c.Class == ClassMixin && cat.Class == ClassKind)
		if !mayDefine {
			continue
		}
		for _, id := range cat.Actions {
			if actionTerm(id) == inv.Term && (inv.Action == "" || inv.Action == id) {
				return nil
			}
		}
	}
	where := collection
	if where == "" {
		where = "this collection"
	}
	return kind.Errorf(kind.Invalid, "action %q is not defined for any member of %s", inv.Term, where)
}

type job struct {
	e      *Entity
	a      *Category
	params map[string]any
	// withLinks is true when e came with its links: every link from it,
	// since a link is its source's project's and the caller sees e.
	withLinks bool
}

// act triggers an action on each entity es (one for an entity URL, the
// members at locs for a collection); withLinks when they came with their
// links.
func (o *op) act(es []*Entity, locs []string, withLinks bool, inv Invocation) (*ActResult, error) {
	var jobs []job
	for _, e := range es {
		o.syncState(e)
		a, err := o.resolveAction(e, inv.Term, inv.Action)
		if err != nil {
			return nil, err
		}
		params, err := actionParams(a, inv.Params)
		if err != nil {
			return nil, err
		}
		if err := checkAction(e, a); err != nil {
			return nil, err
		}
		jobs = append(jobs, job{e, a, params, withLinks})
	}
	// Resizes of a collection fit the quota together, or none is made.
	var grown []*Entity
	for _, j := range jobs {
		if g := resized(j); g != nil {
			grown = append(grown, g)
		}
	}
	if err := o.preCheckQuota(grown); err != nil {
		return nil, err
	}
	var saved []*Category
	for i, j := range jobs {
		c, err := o.perform(j)
		if err != nil && len(jobs) > 1 {
			return nil, partial(jobs, i, err)
		}
		if err != nil {
			return nil, err
		}
		if c != nil {
			saved = append(saved, c)
		}
	}
	if saved != nil {
		return &ActResult{Saved: saved}, nil
	}
	if len(jobs) == 1 && len(locs) == 1 {
		return &ActResult{Entity: o.acted(jobs[0])}, nil
	}
	return &ActResult{Locations: locs}, nil
}

// partial reports a collection action that failed at jobs[failed]: which
// members it changed, which one failed and why, which it did not try.
func partial(jobs []job, failed int, err error) error {
	locs := func(js []job) string {
		if len(js) == 0 {
			return "none"
		}
		out := make([]string, len(js))
		for i, j := range js {
			out[i] = j.e.Location
		}
		return strings.Join(out, ", ")
	}
	return kind.Errorf(kind.Of(err), "%s stopped at member %d of %d: %w; done (changed): %s; not attempted: %s",
		jobs[failed].a.Term, failed+1, len(jobs), err, locs(jobs[:failed]), locs(jobs[failed+1:]))
}

// resolveAction finds the action a request triggers: the query's term
// (GFD.223 §7.4.2), checked against the invocation rendering if any.
func (o *op) resolveAction(e *Entity, term, fromBody string) (*Category, error) {
	if fromBody != "" && actionTerm(fromBody) != term {
		return nil, kind.Errorf(kind.Invalid, "the query names action %q but the body invokes %s", term, fromBody)
	}
	for _, id := range o.definedActions(e) {
		if actionTerm(id) == term && (fromBody == "" || fromBody == id) {
			return o.m.get(id), nil
		}
	}
	return nil, kind.Errorf(kind.Invalid, "action %q is not defined for %s (kind %s)", term, e.Location, e.Kind)
}

// actionParams validates an invocation's attributes against the action.
func actionParams(a *Category, given map[string]any) (map[string]any, error) {
	out := map[string]any{}
	for k, v := range given {
		d := a.Attr(k)
		if d == nil {
			return nil, kind.Errorf(kind.Invalid, "action %s has no parameter %s", a.Term, k)
		}
		nv, err := d.Check(v)
		if err != nil {
			return nil, kind.Wrap(kind.Invalid, err, "")
		}
		out[k] = nv
	}
	for _, d := range a.Attributes {
		if _, ok := out[d.Name]; !ok {
			if d.Required {
				return nil, kind.Errorf(kind.Invalid, "action %s needs parameter %s", a.Term, d.Name)
			}
			if d.Default != nil {
				out[d.Name] = d.Default
			}
		}
	}
	return out, nil
}

func checkAction(e *Entity, a *Category) error {
	if !accepted(e, a.ID()) {
		return kind.Errorf(kind.Conflict, "action %s is not allowed: %s is %s (allowed from %s)",
			a.Term, e.Location, stateOf(e), strings.Join(allowedFrom[a.ID()], ", "))
	}
	return nil
}

// perform runs one action on one entity whose state allows it. It returns
// the new os_tpl for save.
func (o *op) perform(j job) (*Category, error) {
	if o.s.compute == nil && j.a.Scheme != SchemeStorageAction {
		return nil, kind.New(kind.Unavailable, "no compute backend is configured")
	}
	stateAttr := ""
	switch j.a.Scheme {
	case SchemeComputeAction:
		stateAttr = "occi.compute.state"
	case SchemeNetworkAction:
		stateAttr = "occi.network.state"
	case SchemeStorageAction:
		return nil, o.storageAction(j)
	default:
		return nil, kind.Errorf(kind.Unsupported, "action %s has no implementation", j.a.ID())
	}
	disks, err := o.diskLinks(j)
	if err != nil {
		return nil, err
	}
	if j.a.Scheme == SchemeComputeAction && j.a.Term == "start" {
		// Volumes are asked before the machine starts, outside the
		// transaction: they are not the database's.
		if err := o.authorizeDisks(j.e, disks); err != nil {
			return nil, err
		}
	}
	var saved *Category
	// The backend's call, and its state after it, read before the
	// transaction unless the backend joins it: a slow backend must not
	// hold the writes committed with this one.
	call := func() error {
		var err error
		if saved, err = o.backendAction(j); err != nil {
			return backendErr(j.a.Term+" "+j.e.Location, err)
		}
		o.syncState(j.e)
		return nil
	}
	record := func(tx *gorm.DB) error { return o.recordAction(tx, j.e, stateAttr, saved, disks) }
	if o.s.joins {
		// The machine's change and its record are one transaction.
		err = o.tx(func(tx *gorm.DB) error {
			return o.inBackendTx(tx, func() error {
				if err := call(); err != nil {
					return err
				}
				return record(tx)
			})
		})
		return saved, err
	}
	if err := call(); err != nil {
		return nil, err
	}
	return saved, o.tx(record)
}

// recordAction stores what an action did to e: its state as the backend
// told it after the action, the states of its disks, and the template a
// save made.
func (o *op) recordAction(tx *gorm.DB, e *Entity, stateAttr string, saved *Category, disks []*Entity) error {
	changes := map[string]any{stateAttr: e.Attrs[stateAttr], stateAttr + ".message": e.Attrs[stateAttr+".message"]}
	if saved != nil {
		if err := o.s.st.addUserMixin(tx, saved, "save"); err != nil {
			return err
		}
	}
	if err := o.setDiskStates(tx, e, disks); err != nil {
		return err
	}
	return o.s.st.setAttrs(tx, e.Location, changes)
}

// backendAction calls the compute backend for a compute or network action.
func (o *op) backendAction(j job) (*Category, error) {
	if j.a.Scheme == SchemeNetworkAction {
		if j.a.Term == "up" {
			return nil, o.s.compute.StartNetwork(o.ctx, j.e.ID)
		}
		return nil, o.s.compute.StopNetwork(o.ctx, j.e.ID)
	}
	return o.computeAction(j)
}

// acted is the entity an action on one entity answers: as Get shows it,
// its links those loaded with it (their states as setDiskStates left
// them). Its state was read after the action; a backend that does not
// join the transaction is asked again, after the commit.
func (o *op) acted(j job) *Entity {
	e := j.e
	if !o.s.joins {
		o.syncState(e)
	}
	for _, l := range e.Links {
		o.fillActions(l)
	}
	o.fillActions(e)
	return e
}

// computeAction calls the compute backend for a compute action.
func (o *op) computeAction(j job) (*Category, error) {
	be, id, method := o.s.compute, j.e.ID, strv(j.params["method"])
	switch j.a.Term {
	case "start":
		return nil, be.Start(o.ctx, id)
	case "stop":
		return nil, be.Stop(o.ctx, id, cb.StopMethod(method))
	case "restart":
		return nil, be.Restart(o.ctx, id, cb.RestartMethod(method))
	case "suspend":
		return nil, be.Suspend(o.ctx, id, cb.SuspendMethod(method))
	case "save":
		img, err := be.Save(o.ctx, id, cb.SaveMethod(method), strv(j.params["name"]))
		if err != nil {
			return nil, err
		}
		return o.savedTemplate(j.e, img), nil
	}
	return nil, nil
}

// storageAction runs a storage action: the state changes in OCCI's model,
// snapshots and resizes reach the volume (OCCI 1.1's actions).
func (o *op) storageAction(j job) error {
	e, vols := j.e, o.s.volumes
	changes := map[string]any{}
	var err error
	switch j.a.Term {
	case "online", "offline":
		if av, ok := vols.(Availability); ok {
			err = av.SetOnline(o.ctx, e.ID, j.a.Term == "online")
		}
		changes["occi.storage.state"] = j.a.Term
	case "backup", "snapshot":
		if vols != nil {
			err = vols.Snapshot(o.ctx, e.ID, j.a.Term+"-"+time.Now().UTC().Format("20060102T150405.000000000"))
		}
	case "resize":
		size, was := num64(j.params["size"]), num64(e.Attrs["occi.storage.size"])
		if vols != nil {
			if err = vols.Resize(o.ctx, e.ID, int64(size*gib)); err == nil {
				o.later("resize volume back", func(ctx context.Context) error { return vols.Resize(ctx, e.ID, int64(was*gib)) })
			}
		}
		changes["occi.storage.size"] = size
	}
	if err != nil {
		return backendErr(j.a.Term+" "+e.Location, err)
	}
	for k, v := range changes {
		e.Attrs[k] = v
	}
	changes["occi.storage.state.message"] = nil
	delete(e.Attrs, "occi.storage.state.message")
	return o.tx(func(tx *gorm.DB) error {
		if err := o.checkQuota(tx, []*Entity{e}); err != nil {
			return err
		}
		return o.s.st.setAttrs(tx, e.Location, changes)
	})
}

// resized is the storage a resize job makes (nil for other jobs).
func resized(j job) *Entity {
	if j.a.Scheme != SchemeStorageAction || j.a.Term != "resize" {
		return nil
	}
	g := *j.e
	g.Attrs = make(map[string]any, len(j.e.Attrs))
	for k, v := range j.e.Attrs {
		g.Attrs[k] = v
	}
	g.Attrs["occi.storage.size"] = num64(j.params["size"])
	return &g
}

// savedTemplate makes the os_tpl for an image "save" produced (GFD.224
// §3.1: the response renders the new OS template).
func (o *op) savedTemplate(e *Entity, img cb.Image) *Category {
	term := img.Term
	if !validTerm(term) {
		term = "saved-" + e.ID[:min(8, len(e.ID))]
	}
	base := term
	for i := 2; o.m.get(SchemeOSTemplate+term) != nil || o.m.at(osTemplateLocation(term)) != nil ||
		o.mixinTaken(SchemeOSTemplate+term, osTemplateLocation(term)); i++ {
		term = fmt.Sprintf("%s-%d", base, i)
	}
	c := &Category{Scheme: SchemeOSTemplate, Term: term, Title: img.Title, Class: ClassMixin,
		Depends: []string{MixinOSTpl}, Applies: []string{KindCompute}, Location: osTemplateLocation(term),
		User: true, Image: img.Source, project: e.Project}
	o.m.user[c.ID()] = c
	o.m.ulo[c.Location] = c
	return c
}

// diskLinks are the storagelinks from a compute (none for other kinds):
// among the links j's entity came with, else read.
func (o *op) diskLinks(j job) ([]*Entity, error) {
	e := j.e
	if !o.m.isA(e.Kind, KindCompute) {
		return nil, nil
	}
	links := e.Links
	if !j.withLinks {
		locs, err := o.s.st.links(o.db, everyone, []string{e.Location}, false)
		if err != nil {
			return nil, dbErr(err)
		}
		if links, err = o.s.st.entities(o.db, everyone, locs); err != nil {
			return nil, dbErr(err)
		}
	}
	var out []*Entity
	for _, l := range links {
		if o.m.isA(l.Kind, KindStorageLink) && l.Source == e.Location {
			out = append(out, l)
		}
	}
	return out, nil
}

// setDiskStates makes each storagelink's state follow its compute: a disk
// is active only while the machine runs with it (GFD.224 §3.4.2). The
// compute's links loaded with it show the new states too.
func (o *op) setDiskStates(tx *gorm.DB, compute *Entity, disks []*Entity) error {
	state := diskState(compute)
	for _, l := range disks {
		if err := o.s.st.setAttrs(tx, l.Location, map[string]any{"occi.storagelink.state": state}); err != nil {
			return err
		}
		l.Attrs["occi.storagelink.state"] = state
		for _, shown := range compute.Links {
			if shown.Location == l.Location {
				shown.Attrs["occi.storagelink.state"] = state
			}
		}
	}
	return nil
}

// diskState is a storagelink's state on a compute in its current state.
func diskState(compute *Entity) string {
	if stateOf(compute) == "active" {
		return "active"
	}
	return "inactive"
}
