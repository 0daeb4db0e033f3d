package occi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	cb "github.com/occicdmi/occicdmi/computebackends"
)

// response is what an operation answers, before rendering.
type response struct {
	status     int
	location   string    // Location header (a path; made absolute)
	entity     *Entity   // one entity rendering
	created    []*Entity // entities created (201)
	listing    bool      // an entity collection
	locations  []string  // its members
	entities   []*Entity // its members, loaded when the rendering needs them
	wantRes    bool      // JSON: keep "resources" even when empty
	wantLinks  bool      // JSON: keep "links" even when empty
	categories []*Category
	noContent  bool
	queryIface bool   // categories form the query interface's collection
	allow      string // with status 405
}

// full loads what an entity's rendering shows: its links, its live state
// and the actions that state allows.
func (o *op) full(e *Entity) (*Entity, error) {
	o.syncState(e)
	if !e.IsLink() {
		locs, err := o.s.st.links(o.db, []string{e.Location}, false)
		if err != nil {
			return nil, err
		}
		links, err := o.s.st.entities(o.db, locs)
		if err != nil {
			return nil, err
		}
		for _, l := range links {
			o.fillActions(l)
		}
		e.Links = links
	}
	o.fillActions(e)
	return e, nil
}

func (o *op) get(loc string) (*response, *httpError) {
	e, err := o.s.st.entity(o.db, loc)
	if errors.Is(err, errNotFound) {
		return nil, errorf(http.StatusNotFound, "no entity at %s", loc)
	} else if err != nil {
		return nil, errorf(http.StatusInternalServerError, "%v", err)
	}
	if e, err = o.full(e); err != nil {
		return nil, errorf(http.StatusInternalServerError, "%v", err)
	}
	return &response{status: http.StatusOK, entity: e}, nil
}

// tx runs fn in one database transaction; when it fails, backend calls
// made so far are undone.
func (o *op) tx(fn func(tx *gorm.DB) error) *httpError {
	err := o.db.Transaction(fn)
	if err == nil {
		o.undo = nil
		return nil
	}
	o.rollback()
	var he *httpError
	if errors.As(err, &he) {
		return he
	}
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		// Another request (perhaps another server process) took the same
		// location or id between our checks and our write.
		return errorf(http.StatusConflict, "a concurrent request created the same entity or category; retry: %v", err)
	}
	o.s.log.Error("database write failed", "err", err)
	return errorf(http.StatusInternalServerError, "store the change: %v", err)
}

// create makes the entities of a rendering posted to a kind's collection
// (or PUT at loc), with their inline links.
func (o *op) create(docs []entityDoc, kindHint, loc string) (*response, *httpError) {
	if len(docs) == 0 {
		return nil, errorf(http.StatusBadRequest, "the request carries no entity rendering")
	}
	if loc != "" && len(docs) > 1 {
		return nil, errorf(http.StatusBadRequest, "a PUT creates one entity, got %d", len(docs))
	}
	pending := map[string]*Entity{}
	var order, roots []*Entity
	for _, d := range docs {
		e, herr := o.buildEntity(d, kindHint, loc, pending)
		if herr != nil {
			return nil, herr
		}
		if pending[e.Location] != nil {
			return nil, errorf(http.StatusConflict, "two entities at %s in one request", e.Location)
		}
		pending[e.Location] = e
		order = append(order, e)
		roots = append(roots, e)
		if e.IsLink() {
			continue
		}
		links, herr := o.inlineLinks(e, d, pending)
		if herr != nil {
			return nil, herr
		}
		order = append(order, links...)
		e.Links = links
	}
	// Existing ids and locations are refused before any backend call.
	for _, e := range order {
		if _, err := o.s.st.entity(o.db, e.Location); err == nil {
			return nil, errorf(http.StatusConflict, "an entity already exists at %s", e.Location)
		}
		if _, err := o.s.st.locationByID(o.db, e.ID); err == nil {
			return nil, errorf(http.StatusConflict, "an entity with id %s already exists", e.ID)
		}
	}
	for _, e := range order {
		if herr := o.provision(e, pending); herr != nil {
			o.rollback()
			return nil, herr
		}
	}
	if herr := o.tx(func(tx *gorm.DB) error {
		for _, e := range order {
			if err := o.s.st.insert(tx, e); err != nil {
				return err
			}
		}
		return nil
	}); herr != nil {
		return nil, herr
	}
	for _, e := range roots {
		o.fillActions(e)
		for _, l := range e.Links {
			o.fillActions(l)
		}
	}
	return &response{status: http.StatusCreated, location: roots[0].Location, created: roots}, nil
}

// current loads an entity for a change, with its live state.
func (o *op) current(loc string) (*Entity, *httpError) {
	e, err := o.s.st.entity(o.db, loc)
	if errors.Is(err, errNotFound) {
		return nil, errorf(http.StatusNotFound, "no entity at %s", loc)
	} else if err != nil {
		return nil, errorf(http.StatusInternalServerError, "%v", err)
	}
	o.syncState(e)
	return e, nil
}

// change applies a partial update (POST, replace=false) or a full
// replacement (PUT, replace=true) to an existing entity (GFD.223 §7.2-7.3).
// Links of a resource are left intact.
func (o *op) change(prev *Entity, d entityDoc, replace bool) (*response, *httpError) {
	if d.Kind != "" && d.Kind != prev.Kind {
		return nil, errorf(http.StatusBadRequest, "the kind of %s is %s and cannot change to %s", prev.Location, prev.Kind, d.Kind)
	}
	if d.ID != "" && d.ID != prev.ID {
		return nil, errorf(http.StatusBadRequest, "attribute occi.core.id is immutable (%s, got %s)", prev.ID, d.ID)
	}
	if prev.IsLink() {
		if d.Source != "" && o.localPath(d.Source) != prev.Source {
			return nil, errorf(http.StatusBadRequest, "changing the source of link %s is not supported; delete and recreate it", prev.Location)
		}
		if d.Target != "" && o.localPath(d.Target) != prev.Target {
			return nil, errorf(http.StatusBadRequest, "changing the target of link %s is not supported; delete and recreate it", prev.Location)
		}
	} else if d.Source != "" || d.Target != "" {
		return nil, errorf(http.StatusBadRequest, "occi.core.source and occi.core.target belong to links")
	}
	mixins := d.Mixins
	if !replace {
		mixins = append([]string(nil), prev.Mixins...)
		for _, m := range d.Mixins {
			mixins = o.withTemplate(mixins, m)
		}
	}
	for name := range d.Attrs {
		if id := o.standardMixinFor(prev.Kind, name); id != "" && o.m.attrDefs(prev.Kind, mixins)[name] == nil {
			mixins = append(mixins, id)
		}
	}
	mixins, herr := o.checkMixins(prev.Kind, mixins)
	if herr != nil {
		return nil, herr
	}
	attrs, herr := o.checkAttrs(prev.Kind, mixins, d.Attrs, prev, replace)
	if herr != nil {
		return nil, herr
	}
	e := &Entity{ID: prev.ID, Location: prev.Location, Kind: prev.Kind, Mixins: mixins, Attrs: attrs,
		Source: prev.Source, Target: prev.Target, SourceKind: prev.SourceKind, TargetKind: prev.TargetKind}
	// A partial update may add links (a resource's links are mutable,
	// GFD.221 table 8); links it already has are left as they are, and a
	// PUT leaves all links intact (GFD.223 §7.2.2).
	var added []*Entity
	if !replace && !prev.IsLink() && len(d.Links) > 0 {
		var herr *httpError
		if added, herr = o.newLinks(e, d); herr != nil {
			return nil, herr
		}
	}
	if herr := o.rebuild(prev, e); herr != nil {
		return nil, herr
	}
	if herr := o.resize(prev, e); herr != nil {
		o.rollback()
		return nil, herr
	}
	for _, l := range added {
		if herr := o.provision(l, map[string]*Entity{e.Location: e}); herr != nil {
			o.rollback()
			return nil, herr
		}
	}
	if herr := o.tx(func(tx *gorm.DB) error {
		if err := o.s.st.replace(tx, e); err != nil {
			return err
		}
		for _, l := range added {
			if err := o.s.st.insert(tx, l); err != nil {
				return err
			}
		}
		return nil
	}); herr != nil {
		return nil, herr
	}
	full, err := o.full(e)
	if err != nil {
		return nil, errorf(http.StatusInternalServerError, "%v", err)
	}
	return &response{status: http.StatusOK, entity: full}, nil
}

// newLinks builds the links of a partial update that the resource does not
// have yet (same self, or same target and kind, is the same link).
func (o *op) newLinks(e *Entity, d entityDoc) ([]*Entity, *httpError) {
	locs, err := o.s.st.links(o.db, []string{e.Location}, false)
	if err != nil {
		return nil, errorf(http.StatusInternalServerError, "%v", err)
	}
	have, err := o.s.st.entities(o.db, locs)
	if err != nil {
		return nil, errorf(http.StatusInternalServerError, "%v", err)
	}
	var fresh []linkDoc
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

// remove deletes entities and, for resources, every link from or to them.
func (o *op) remove(locs []string) *httpError {
	es, err := o.s.st.entities(o.db, locs)
	if err != nil {
		return errorf(http.StatusInternalServerError, "%v", err)
	}
	var resources []string
	for _, e := range es {
		if !e.IsLink() {
			resources = append(resources, e.Location)
		}
	}
	from, err := o.s.st.links(o.db, resources, false)
	if err != nil {
		return errorf(http.StatusInternalServerError, "%v", err)
	}
	to, err := o.s.st.links(o.db, resources, true)
	if err != nil {
		return errorf(http.StatusInternalServerError, "%v", err)
	}
	seen := map[string]bool{}
	var all []*Entity
	var linkLocs []string
	for _, l := range append(from, to...) {
		if !seen[l] {
			seen[l] = true
			linkLocs = append(linkLocs, l)
		}
	}
	links, err := o.s.st.entities(o.db, linkLocs)
	if err != nil {
		return errorf(http.StatusInternalServerError, "%v", err)
	}
	all = append(all, links...)
	for _, e := range es {
		if !seen[e.Location] {
			seen[e.Location] = true
			all = append(all, e)
		}
	}
	if herr := o.deprovision(all); herr != nil {
		return herr
	}
	locsAll := make([]string, len(all))
	for i, e := range all {
		locsAll[i] = e.Location
	}
	return o.tx(func(tx *gorm.DB) error { return o.s.st.delete(tx, locsAll) })
}

// ---- actions -----------------------------------------------------------

// resolveAction finds the action a request triggers: the query's term
// (GFD.223 §7.4.2), checked against the invocation rendering if any.
func (o *op) resolveAction(e *Entity, term, fromBody string) (*Category, *httpError) {
	if fromBody != "" && actionTerm(fromBody) != term {
		return nil, errorf(http.StatusBadRequest, "the query names action %q but the body invokes %s", term, fromBody)
	}
	for _, id := range o.definedActions(e) {
		if actionTerm(id) == term && (fromBody == "" || fromBody == id) {
			return o.m.get(id), nil
		}
	}
	return nil, errorf(http.StatusBadRequest, "action %q is not defined for %s (kind %s)", term, e.Location, e.Kind)
}

// actionParams validates an invocation's attributes against the action.
func actionParams(a *Category, given map[string]any) (map[string]any, *httpError) {
	out := map[string]any{}
	for k, v := range given {
		d := a.Attr(k)
		if d == nil {
			return nil, errorf(http.StatusBadRequest, "action %s has no parameter %s", a.Term, k)
		}
		nv, err := d.Check(v)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "%v", err)
		}
		out[k] = nv
	}
	for _, d := range a.Attributes {
		if _, ok := out[d.Name]; !ok {
			if d.Required {
				return nil, errorf(http.StatusBadRequest, "action %s needs parameter %s", a.Term, d.Name)
			}
			if d.Default != nil {
				out[d.Name] = d.Default
			}
		}
	}
	return out, nil
}

func (o *op) checkAction(e *Entity, a *Category) *httpError {
	if !accepted(e, a.ID()) {
		return errorf(http.StatusConflict, "action %s is not allowed: %s is %s (allowed from %s)",
			a.Term, e.Location, stateOf(e), strings.Join(allowedFrom[a.ID()], ", "))
	}
	return nil
}

// perform runs one action on one entity whose state allows it. It returns
// the new os_tpl for save.
func (o *op) perform(e *Entity, a *Category, params map[string]any) (*Category, *httpError) {
	be := o.s.cfg.Compute
	if be == nil && a.Scheme != SchemeStorageAction {
		return nil, errorf(http.StatusServiceUnavailable, "no compute backend is configured")
	}
	method := strv(params["method"])
	var err error
	var saved *Category
	stateAttr := ""
	switch a.Scheme {
	case SchemeComputeAction:
		switch a.Term {
		case "start":
			err = be.Start(o.ctx, e.ID)
		case "stop":
			err = be.Stop(o.ctx, e.ID, cb.StopMethod(method))
		case "restart":
			err = be.Restart(o.ctx, e.ID, cb.RestartMethod(method))
		case "suspend":
			err = be.Suspend(o.ctx, e.ID, cb.SuspendMethod(method))
		case "save":
			var img cb.Image
			img, err = be.Save(o.ctx, e.ID, cb.SaveMethod(method), strv(params["name"]))
			if err == nil {
				saved = o.savedTemplate(e, img)
			}
		}
		stateAttr = "occi.compute.state"
	case SchemeNetworkAction:
		if a.Term == "up" {
			err = be.StartNetwork(o.ctx, e.ID)
		} else {
			err = be.StopNetwork(o.ctx, e.ID)
		}
		stateAttr = "occi.network.state"
	case SchemeStorageAction:
		changes := map[string]any{}
		vols := o.s.cfg.Volumes
		var name string
		if vols != nil {
			name, _, err = o.volumeFor(e, "")
		}
		if err == nil {
			switch a.Term {
			case "online":
				changes["occi.storage.state"] = "online"
			case "offline":
				changes["occi.storage.state"] = "offline"
			case "backup", "snapshot":
				if vols != nil {
					err = vols.Snapshot(o.ctx, name, a.Term+"-"+time.Now().UTC().Format("20060102T150405.000000000"))
				}
			case "resize":
				size := num64(params["size"])
				if vols != nil {
					err = vols.ResizeVolume(o.ctx, name, int64(size*gib))
				}
				changes["occi.storage.size"] = size
			}
		}
		if err != nil {
			return nil, o.mapBackend(a.Term+" "+e.Location, err)
		}
		for k, v := range changes {
			e.Attrs[k] = v
		}
		changes["occi.storage.state.message"] = nil
		delete(e.Attrs, "occi.storage.state.message")
		return nil, o.tx(func(tx *gorm.DB) error { return o.s.st.setAttrs(tx, e.Location, changes) })
	default:
		return nil, errorf(http.StatusNotImplemented, "action %s has no implementation", a.ID())
	}
	if err != nil {
		return nil, o.mapBackend(a.Term+" "+e.Location, err)
	}
	o.syncState(e)
	changes := map[string]any{stateAttr: e.Attrs[stateAttr], stateAttr + ".message": e.Attrs[stateAttr+".message"]}
	herr := o.tx(func(tx *gorm.DB) error {
		if saved != nil {
			if err := o.s.st.addUserMixin(tx, saved, "save"); err != nil {
				return err
			}
		}
		return o.s.st.setAttrs(tx, e.Location, changes)
	})
	return saved, herr
}

// savedTemplate makes the os_tpl for an image "save" produced (GFD.224
// §3.1: the response renders the new OS template).
func (o *op) savedTemplate(e *Entity, img cb.Image) *Category {
	term := img.Term
	if !termRe.MatchString(term) {
		term = "saved-" + e.ID[:min(8, len(e.ID))]
	}
	base := term
	for i := 2; o.m.get(SchemeOSTemplate+term) != nil || o.m.at(osTemplateLocation(term)) != nil; i++ {
		term = fmt.Sprintf("%s-%d", base, i)
	}
	c := &Category{Scheme: SchemeOSTemplate, Term: term, Title: img.Title, Class: ClassMixin,
		Depends: []string{MixinOSTpl}, Applies: []string{KindCompute}, Location: osTemplateLocation(term),
		User: true, Image: img.Source}
	o.m.user[c.ID()] = c
	o.m.ulo[c.Location] = c
	return c
}

// act triggers an action on each entity (one for an entity URL, the
// members for a collection). Every entity's state is checked before any
// backend call, so a refused action changes nothing.
func (o *op) act(locs []string, term string, p *payload) (*response, *httpError) {
	es, err := o.s.st.entities(o.db, locs)
	if err != nil {
		return nil, errorf(http.StatusInternalServerError, "%v", err)
	}
	type job struct {
		e      *Entity
		a      *Category
		params map[string]any
	}
	var jobs []job
	for _, e := range es {
		o.syncState(e)
		a, herr := o.resolveAction(e, term, p.Action)
		if herr != nil {
			return nil, herr
		}
		params, herr := actionParams(a, p.ActionAttrs)
		if herr != nil {
			return nil, herr
		}
		if herr := o.checkAction(e, a); herr != nil {
			return nil, herr
		}
		jobs = append(jobs, job{e, a, params})
	}
	var saved []*Category
	for _, j := range jobs {
		c, herr := o.perform(j.e, j.a, j.params)
		if herr != nil {
			return nil, herr
		}
		if c != nil {
			saved = append(saved, c)
		}
	}
	if saved != nil {
		return &response{status: http.StatusOK, categories: saved}, nil
	}
	if len(jobs) == 1 && len(locs) == 1 {
		e, err := o.full(jobs[0].e)
		if err != nil {
			return nil, errorf(http.StatusInternalServerError, "%v", err)
		}
		return &response{status: http.StatusOK, entity: e}, nil
	}
	return &response{status: http.StatusOK, listing: true, locations: locs}, nil
}

// ---- collections ---------------------------------------------------------

// maxPageSize is the largest "number" of GFD.223 §5; larger is a 413.
const maxPageSize = 1000

// page reads the pagination parameters (GFD.223 §5). Pages count from 1.
func page(q url.Values) (limit, offset int, herr *httpError) {
	ps, ns := q.Get("page"), q.Get("number")
	if ps == "" && ns == "" {
		return 0, 0, nil
	}
	number := 100
	if ns != "" {
		n, err := strconv.Atoi(ns)
		if err != nil || n < 1 {
			return 0, 0, errorf(http.StatusBadRequest, "number=%q must be a positive integer", clip(ns))
		}
		if n > maxPageSize {
			return 0, 0, errorf(http.StatusRequestEntityTooLarge, "number=%d is more than the %d items a page may hold", n, maxPageSize)
		}
		number = n
	}
	p := 1
	if ps != "" {
		n, err := strconv.Atoi(ps)
		if err != nil || n < 1 {
			return 0, 0, errorf(http.StatusBadRequest, "page=%q must be an integer from 1", clip(ps))
		}
		p = n
	}
	return number, (p - 1) * number, nil
}

// listFilter combines a collection's own scope with the filter a client
// sent as a rendering in the request headers (GFD.223 §6.2).
func (o *op) listFilter(base filter, h *payload, q url.Values) (filter, *httpError) {
	f := base
	for _, c := range h.Categories {
		cat := o.m.get(c.ID())
		if cat == nil {
			return f, errorf(http.StatusBadRequest, "filter names unknown category %s", c.ID())
		}
		switch cat.Class {
		case ClassKind:
			kinds := o.m.subKinds(cat.ID())
			if f.Kinds != nil {
				kinds = intersect(f.Kinds, kinds)
				if kinds == nil {
					kinds = []string{}
				}
			}
			f.Kinds = kinds
		case ClassMixin:
			if f.Mixin != "" && f.Mixin != cat.ID() {
				// Two mixins: keep the collection's and filter on the second.
				f.Attrs = nil
			}
			f.Mixin = cat.ID()
		default:
			return f, errorf(http.StatusBadRequest, "an action (%s) cannot filter a collection", c.ID())
		}
	}
	for k, v := range h.Attrs {
		switch k {
		case AttrID:
			f.ID = normID(strv(v))
		case AttrSource:
			f.Source = o.localPath(strv(v))
		case AttrTarget:
			f.Target = o.localPath(strv(v))
		default:
			if f.Attrs == nil {
				f.Attrs = map[string]any{}
			}
			f.Attrs[k] = v
		}
	}
	var herr *httpError
	f.Limit, f.Offset, herr = page(q)
	return f, herr
}

func intersect(a, b []string) []string {
	in := map[string]bool{}
	for _, x := range b {
		in[x] = true
	}
	var out []string
	for _, x := range a {
		if in[x] {
			out = append(out, x)
		}
	}
	return out
}

// list answers a collection GET; entities are loaded only when the
// rendering shows them (JSON), in bulk.
func (o *op) list(f filter, needEntities bool) (*response, *httpError) {
	locs, err := o.s.st.list(o.db, f)
	if err != nil {
		return nil, errorf(http.StatusInternalServerError, "%v", err)
	}
	resp := &response{status: http.StatusOK, listing: true, locations: locs}
	if needEntities {
		es, err := o.s.st.entities(o.db, locs)
		if err != nil {
			return nil, errorf(http.StatusInternalServerError, "%v", err)
		}
		var resources []string
		byLoc := map[string]*Entity{}
		for _, e := range es {
			o.fillActions(e)
			if !e.IsLink() {
				resources = append(resources, e.Location)
				byLoc[e.Location] = e
			}
		}
		linkLocs, err := o.s.st.links(o.db, resources, false)
		if err != nil {
			return nil, errorf(http.StatusInternalServerError, "%v", err)
		}
		links, err := o.s.st.entities(o.db, linkLocs)
		if err != nil {
			return nil, errorf(http.StatusInternalServerError, "%v", err)
		}
		for _, l := range links {
			o.fillActions(l)
			if src := byLoc[l.Source]; src != nil {
				src.Links = append(src.Links, l)
			}
		}
		resp.entities = es
	}
	return resp, nil
}

// memberLocations reads the entities a mixin collection request names:
// X-OCCI-Location values, a URI list, or entity renderings by id.
func (o *op) memberLocations(p *payload) ([]string, *httpError) {
	var out []string
	for _, l := range p.Locations {
		out = append(out, o.localPath(l))
	}
	for _, d := range p.Entities {
		switch {
		case d.Location != "":
			out = append(out, o.localPath(d.Location))
		case strings.HasPrefix(d.ID, "/") || strings.Contains(d.ID, "://"):
			out = append(out, o.localPath(d.ID))
		case d.ID != "":
			loc, err := o.s.st.locationByID(o.db, normID(d.ID))
			if err != nil {
				return nil, errorf(http.StatusBadRequest, "no entity has id %s", d.ID)
			}
			out = append(out, loc)
		}
	}
	return out, nil
}

// associate adds entities to a mixin (replace=false) or makes them its
// only members (replace=true) (GFD.223 §8.3.2, §8.2).
func (o *op) associate(mixin *Category, locs []string, replace bool) *httpError {
	es, err := o.s.st.entities(o.db, locs)
	if err != nil {
		return errorf(http.StatusInternalServerError, "%v", err)
	}
	if len(es) != len(dedupe(locs)) {
		found := map[string]bool{}
		for _, e := range es {
			found[e.Location] = true
		}
		for _, l := range locs {
			if !found[l] {
				return errorf(http.StatusBadRequest, "no entity at %s", l)
			}
		}
	}
	var changes []*Entity
	for _, e := range es {
		if !o.applies(mixin, e.Kind) {
			return errorf(http.StatusBadRequest, "mixin %s does not apply to %s (kind %s)", mixin.ID(), e.Location, e.Kind)
		}
		ms := o.withTemplate(e.Mixins, mixin.ID())
		if _, herr := o.checkMixins(e.Kind, ms); herr != nil {
			return herr
		}
		// The mixin's attributes come with it: defaults apply, required
		// ones must already be there (GFD.221 §5.3.7).
		attrs, herr := o.checkAttrs(e.Kind, ms, nil, e, false)
		if herr != nil {
			return errorf(herr.status, "%s: %s", e.Location, herr.msg)
		}
		ne := *e
		ne.Mixins, ne.Attrs = ms, attrs
		o.syncState(e)
		if herr := o.rebuild(e, &ne); herr != nil {
			return herr
		}
		if herr := o.resize(e, &ne); herr != nil {
			o.rollback()
			return herr
		}
		changes = append(changes, &ne)
	}
	if replace {
		// Members left out of the new collection leave the mixin.
		current, err := o.s.st.list(o.db, filter{Mixin: mixin.ID()})
		if err != nil {
			return errorf(http.StatusInternalServerError, "%v", err)
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
		removed, herr := o.without(mixin, drop)
		if herr != nil {
			return herr
		}
		changes = append(changes, removed...)
	}
	return o.tx(func(tx *gorm.DB) error {
		for _, e := range changes {
			if err := o.s.st.replace(tx, e); err != nil {
				return err
			}
		}
		return nil
	})
}

// without computes entities after leaving mixin: the attributes only the
// mixin defined go with it.
func (o *op) without(mixin *Category, locs []string) ([]*Entity, *httpError) {
	es, err := o.s.st.entities(o.db, locs)
	if err != nil {
		return nil, errorf(http.StatusInternalServerError, "%v", err)
	}
	var out []*Entity
	for _, e := range es {
		var ms []string
		for _, m := range e.Mixins {
			if m != mixin.ID() {
				ms = append(ms, m)
			}
		}
		attrs, herr := o.checkAttrs(e.Kind, ms, nil, e, false)
		if herr != nil {
			return nil, errorf(herr.status, "%s: %s", e.Location, herr.msg)
		}
		ne := *e
		ne.Mixins, ne.Attrs = ms, attrs
		out = append(out, &ne)
	}
	return out, nil
}

// disassociate removes entities from a mixin (all members for nil).
func (o *op) disassociate(mixin *Category, locs []string) *httpError {
	if locs == nil {
		var err error
		if locs, err = o.s.st.list(o.db, filter{Mixin: mixin.ID()}); err != nil {
			return errorf(http.StatusInternalServerError, "%v", err)
		}
	}
	changes, herr := o.without(mixin, locs)
	if herr != nil {
		return herr
	}
	return o.tx(func(tx *gorm.DB) error {
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

// ---- query interface ---------------------------------------------------

// related filters the query interface by a category (GFD.223 §6.1): the
// category itself, its actions, and the mixins applying to a kind.
func (o *op) related(filters []*Category) []*Category {
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
		c := o.m.get(f.ID())
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
func (o *op) addMixins(cs []*Category) *httpError {
	if len(cs) == 0 {
		return errorf(http.StatusBadRequest, "the request carries no mixin definition")
	}
	for _, c := range cs {
		if c.Class != ClassMixin {
			return errorf(http.StatusBadRequest, "only mixins can be added to the query interface, %s is a %s", c.ID(), c.Class)
		}
		if o.m.get(c.ID()) != nil {
			return errorf(http.StatusConflict, "category %s already exists", c.ID())
		}
		if c.Location == "" {
			c.Location = "/mixins/" + c.Term + "/"
		}
		c.Location = o.localPath(c.Location)
		if !strings.HasPrefix(c.Location, "/") {
			return errorf(http.StatusBadRequest, "mixin location %s must be on this server", c.Location)
		}
		if !strings.HasSuffix(c.Location, "/") {
			c.Location += "/"
		}
		if strings.HasPrefix(c.Location, "/-/") || strings.HasPrefix(c.Location, "/.well-known/") || c.Location == "/" {
			return errorf(http.StatusBadRequest, "mixin location %s is reserved", c.Location)
		}
		if o.m.at(c.Location) != nil {
			return errorf(http.StatusConflict, "location %s is already bound to a category", c.Location)
		}
		if e, err := o.s.st.list(o.db, filter{Prefix: c.Location, Limit: 1}); err == nil && len(e) > 0 {
			return errorf(http.StatusConflict, "location %s already holds entities", c.Location)
		}
		for _, d := range append(append([]string(nil), c.Depends...), c.Applies...) {
			if o.m.get(d) == nil {
				return errorf(http.StatusBadRequest, "mixin %s refers to unknown category %s", c.ID(), d)
			}
		}
		for _, a := range c.Applies {
			if o.m.get(a).Class != ClassKind {
				return errorf(http.StatusBadRequest, "mixin %s applies to %s, which is not a kind", c.ID(), a)
			}
		}
		c.Actions, c.Parent, c.User = nil, "", true
		o.m.user[c.ID()] = c
		o.m.ulo[c.Location] = c
	}
	return o.tx(func(tx *gorm.DB) error {
		for _, c := range cs {
			if err := o.s.st.addUserMixin(tx, c, "user"); err != nil {
				if errors.Is(err, gorm.ErrDuplicatedKey) {
					return errorf(http.StatusConflict, "mixin %s or its location already exists", c.ID())
				}
				return err
			}
		}
		return nil
	})
}

// deleteMixins removes user-defined mixins and their associations.
func (o *op) deleteMixins(cs []*Category) *httpError {
	if len(cs) == 0 {
		return errorf(http.StatusBadRequest, "the request names no mixin to delete")
	}
	var changes []*Entity
	for _, c := range cs {
		if o.m.byID[c.ID()] != nil {
			return errorf(http.StatusForbidden, "%s is defined by the provider and cannot be deleted", c.ID())
		}
		if o.m.user[c.ID()] == nil {
			return errorf(http.StatusNotFound, "no user-defined mixin %s", c.ID())
		}
		// Its members leave it first, taking its attributes along.
		members, err := o.s.st.list(o.db, filter{Mixin: c.ID()})
		if err != nil {
			return errorf(http.StatusInternalServerError, "%v", err)
		}
		ch, herr := o.without(o.m.user[c.ID()], members)
		if herr != nil {
			return herr
		}
		changes = append(changes, ch...)
	}
	return o.tx(func(tx *gorm.DB) error {
		for _, e := range changes {
			if err := o.s.st.replace(tx, e); err != nil {
				return err
			}
		}
		for _, c := range cs {
			if err := o.s.st.deleteUserMixin(tx, c.ID()); err != nil {
				return err
			}
		}
		return nil
	})
}
