package occi

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"gorm.io/gorm"

	cb "github.com/occicdmi/occicdmi/computebackends"
	sb "github.com/occicdmi/occicdmi/storagebackends"
)

// StorageHook lets another layer (the CDMI linkage) own the block volumes
// behind OCCI storage. OCCI asks it first; when it answers ok=false OCCI
// manages a volume of its own named "occi-storage-<id>".
type StorageHook interface {
	// Volume names the block volume behind the storage resource, as seen
	// by a storagelink with deviceID ("" when the storage itself is
	// created or deleted). ok=false leaves the volume to OCCI.
	Volume(ctx context.Context, storage *Entity, deviceID string) (name string, ok bool, err error)
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

// op is one request's work: the database handle bound to the request's
// context, the model with user mixins, the renderer.
type op struct {
	s   *Server
	ctx context.Context
	db  *gorm.DB
	m   *model
	r   *renderer
	// undo holds compensations for backend calls made so far, run in
	// reverse when a later step fails.
	undo []func()
}

func (s *Server) newOp(r *http.Request) (*op, error) {
	ctx := r.Context()
	db := s.cfg.DB.WithContext(ctx)
	users, err := s.st.userMixins(db)
	if err != nil {
		return nil, err
	}
	m := &model{registry: s.reg, user: map[string]*Category{}, ulo: map[string]*Category{}}
	for _, c := range users {
		m.user[c.ID()] = c
		m.ulo[c.Location] = c
	}
	return &op{s: s, ctx: ctx, db: db, m: m, r: &renderer{base: s.baseURL(r), m: m}}, nil
}

func (o *op) rollback() {
	for i := len(o.undo) - 1; i >= 0; i-- {
		o.undo[i]()
	}
	o.undo = nil
}

// localPath turns a URI a client sent into a location on this server: an
// absolute URI on our base (or any host, when the path names an existing
// location is not known) becomes its path; other absolute URIs stay.
func (o *op) localPath(uri string) string {
	uri = strings.TrimSpace(uri)
	if strings.HasPrefix(uri, "/") {
		return uri
	}
	if strings.HasPrefix(uri, o.r.base+"/") {
		return uri[len(o.r.base):]
	}
	u, err := url.Parse(uri)
	if err == nil && u.Scheme != "" && u.Host != "" && (u.Scheme == "http" || u.Scheme == "https") {
		if b, err := url.Parse(o.r.base); err == nil && strings.EqualFold(b.Host, u.Host) {
			return u.EscapedPath()
		}
	}
	return uri
}

// mapBackend turns a backend's portable error kind into a status.
func (o *op) mapBackend(what string, err error) *httpError {
	switch {
	case errors.Is(err, cb.ErrNotFound), errors.Is(err, sb.ErrNotFound):
		return errorf(http.StatusNotFound, "%s: %v", what, err)
	case errors.Is(err, cb.ErrConflict):
		return errorf(http.StatusConflict, "%s: the current state does not allow this: %v", what, err)
	case errors.Is(err, cb.ErrExists), errors.Is(err, sb.ErrExists):
		return errorf(http.StatusConflict, "%s: %v", what, err)
	case errors.Is(err, cb.ErrInvalid), errors.Is(err, sb.ErrInvalid):
		return errorf(http.StatusBadRequest, "%s: %v", what, err)
	case errors.Is(err, cb.ErrUnavailable), errors.Is(err, sb.ErrUnavailable):
		return errorf(http.StatusServiceUnavailable, "%s: %v", what, err)
	case errors.Is(err, cb.ErrUnsupported), errors.Is(err, sb.ErrUnsupported):
		return errorf(http.StatusNotImplemented, "%s: %v", what, err)
	}
	o.s.log.Error("backend failure", "what", what, "err", err)
	return errorf(http.StatusInternalServerError, "%s: backend failure", what)
}

// ---- validation -------------------------------------------------------

// standardMixinFor finds the standard mixin that defines attr for kind,
// so that a client giving occi.network.address without the ipnetwork mixin
// still gets what it means.
func (o *op) standardMixinFor(kind, attr string) string {
	for _, id := range []string{MixinIPNetwork, MixinIPNetIface, MixinSSHKey, MixinUserData} {
		c := o.m.get(id)
		if c.Attr(attr) != nil && o.applies(c, kind) {
			return id
		}
	}
	return ""
}

func (o *op) applies(c *Category, kind string) bool {
	if len(c.Applies) == 0 {
		return true
	}
	for _, a := range c.Applies {
		if o.m.isA(kind, a) {
			return true
		}
	}
	return false
}

// checkMixins verifies mixins exist, apply to kind, and that at most one
// os_tpl and one resource_tpl are among them (GFD.224 §3.6).
func (o *op) checkMixins(kind string, mixins []string) ([]string, *httpError) {
	var out []string
	seen := map[string]bool{}
	var os, res string
	for _, id := range mixins {
		c := o.m.get(id)
		if c == nil {
			return nil, errorf(http.StatusBadRequest, "unknown mixin %s", id)
		}
		if c.Class != ClassMixin {
			return nil, errorf(http.StatusBadRequest, "%s is a %s, not a mixin", id, c.Class)
		}
		if !o.applies(c, kind) {
			return nil, errorf(http.StatusBadRequest, "mixin %s does not apply to kind %s", id, kind)
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		if o.m.dependsOn(id, MixinOSTpl) && id != MixinOSTpl {
			if os != "" {
				return nil, errorf(http.StatusBadRequest, "only one os_tpl may be applied, got %s and %s", os, id)
			}
			os = id
		}
		if o.m.dependsOn(id, MixinResourceTpl) && id != MixinResourceTpl {
			if res != "" {
				return nil, errorf(http.StatusBadRequest, "only one resource_tpl may be applied, got %s and %s", res, id)
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
func (o *op) checkAttrs(kind string, mixins []string, given map[string]any, prev *Entity, replace bool) (map[string]any, *httpError) {
	defs := o.m.attrDefs(kind, mixins)
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
			return nil, errorf(http.StatusBadRequest, "attribute %s is not defined by kind %s or its mixins", name, kind)
		}
		nv, err := d.Check(v)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "%v", err)
		}
		if d.Server {
			// A client cannot choose a state; sending back the current
			// value (a PUT of what was read) is fine.
			if cur, ok := prev0(prev).Attrs[name]; !ok || !equalValue(cur, nv) {
				return nil, errorf(http.StatusBadRequest, "attribute %s is immutable: only the server sets it", name)
			}
			continue
		}
		if prev != nil && !d.Mutable {
			if cur, ok := prev.Attrs[name]; !ok || !equalValue(cur, nv) {
				return nil, errorf(http.StatusBadRequest, "attribute %s is immutable", name)
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
			return nil, errorf(http.StatusBadRequest, "attribute %s is required", name)
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

// ---- creation ---------------------------------------------------------

// buildEntity validates a rendering for creation. kindHint is the kind of
// the collection it was posted to ("" for PUT). loc is the client-chosen
// location ("" to choose one). pending are resources created in the same
// request (inline links point from them).
func (o *op) buildEntity(d entityDoc, kindHint, loc string, pending map[string]*Entity) (*Entity, *httpError) {
	kind := d.Kind
	if kind == "" {
		kind = kindHint
	}
	if kind == "" {
		return nil, errorf(http.StatusBadRequest, "the rendering names no kind (a Category with class=\"kind\")")
	}
	k := o.m.get(kind)
	if k == nil {
		return nil, errorf(http.StatusBadRequest, "unknown kind %s", kind)
	}
	if k.Class != ClassKind {
		return nil, errorf(http.StatusBadRequest, "%s is a %s, not a kind", kind, k.Class)
	}
	if kind == KindEntity {
		return nil, errorf(http.StatusBadRequest, "kind %s is abstract and cannot be instantiated", kind)
	}
	if kindHint != "" && !o.m.isA(kind, kindHint) {
		return nil, errorf(http.StatusBadRequest, "kind %s does not belong in the collection of %s", kind, kindHint)
	}
	mixins := append([]string(nil), d.Mixins...)
	for name := range d.Attrs {
		if id := o.standardMixinFor(kind, name); id != "" && o.m.attrDefs(kind, mixins)[name] == nil {
			mixins = append(mixins, id)
		}
	}
	mixins, herr := o.checkMixins(kind, mixins)
	if herr != nil {
		return nil, herr
	}
	isLink := o.m.isA(kind, KindLink)
	e := &Entity{ID: d.ID, Kind: kind, Mixins: mixins}
	if e.ID == "" {
		e.ID = newUUID()
	} else if !idRe.MatchString(e.ID) {
		return nil, errorf(http.StatusBadRequest, "occi.core.id %q is not a valid id (letters, digits and ._~:- only)", clip(e.ID))
	}
	if loc == "" {
		loc = k.Location + e.ID
	}
	e.Location = loc
	attrs := d.Attrs
	if isLink {
		if d.Source == "" {
			return nil, errorf(http.StatusBadRequest, "attribute %s is required for a link", AttrSource)
		}
		if d.Target == "" {
			return nil, errorf(http.StatusBadRequest, "attribute %s is required for a link", AttrTarget)
		}
		e.Source, e.Target, e.TargetKind = o.localPath(d.Source), o.localPath(d.Target), d.TargetKind
		if herr := o.checkLinkEnds(e, pending); herr != nil {
			return nil, herr
		}
		// An interface on an IP network is an IP interface: its allocation
		// then always has a value (multiplicity 1, GFD.224 table 11).
		if o.m.isA(kind, KindNetworkInterface) && !contains(mixins, MixinIPNetIface) {
			if t, err := o.resolve(e.Target, pending); err == nil && contains(t.Mixins, MixinIPNetwork) {
				mixins = append(mixins, MixinIPNetIface)
				e.Mixins = mixins
			}
		}
		attrs = o.linkDefaults(e, attrs, pending)
	} else if d.Source != "" || d.Target != "" {
		return nil, errorf(http.StatusBadRequest, "occi.core.source and occi.core.target belong to links; %s is a resource kind", kind)
	}
	all, herr := o.checkAttrs(kind, mixins, attrs, nil, false)
	if herr != nil {
		return nil, herr
	}
	e.Attrs = all
	return e, nil
}

// resolve finds an entity by location among pending ones or in the store.
func (o *op) resolve(loc string, pending map[string]*Entity) (*Entity, error) {
	if e := pending[loc]; e != nil {
		return e, nil
	}
	return o.s.st.entity(o.db, loc)
}

// checkLinkEnds verifies a link's source and target (GFD.221 §4.5.2: the
// source must be a resource of this provider; infrastructure links need
// the right kinds at both ends, GFD.224 §3.4).
func (o *op) checkLinkEnds(e *Entity, pending map[string]*Entity) *httpError {
	src, err := o.resolve(e.Source, pending)
	if errors.Is(err, errNotFound) {
		return errorf(http.StatusBadRequest, "link source %s does not exist", e.Source)
	} else if err != nil {
		return errorf(http.StatusInternalServerError, "%v", err)
	}
	if src.IsLink() {
		return errorf(http.StatusBadRequest, "link source %s is a link, not a resource", e.Source)
	}
	e.SourceKind = src.Kind
	var tgt *Entity
	if strings.HasPrefix(e.Target, "/") {
		tgt, err = o.resolve(e.Target, pending)
		if errors.Is(err, errNotFound) {
			return errorf(http.StatusBadRequest, "link target %s does not exist", e.Target)
		} else if err != nil {
			return errorf(http.StatusInternalServerError, "%v", err)
		}
		if tgt.IsLink() {
			return errorf(http.StatusBadRequest, "link target %s is a link, not a resource", e.Target)
		}
		if e.TargetKind != "" && e.TargetKind != tgt.Kind && !o.m.isA(tgt.Kind, e.TargetKind) {
			return errorf(http.StatusBadRequest, "link target %s is a %s, not a %s", e.Target, tgt.Kind, e.TargetKind)
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
			return errorf(http.StatusBadRequest, "a %s link must start at a compute, %s is a %s", actionTerm(lk), e.Source, src.Kind)
		}
		if tgt == nil || !o.m.isA(tgt.Kind, ends[1]) {
			return errorf(http.StatusBadRequest, "a %s link must point to a %s on this server, %s is not one", actionTerm(lk), actionTerm(ends[1]), e.Target)
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
			n, _ := o.s.st.links(o.db, []string{e.Source}, false)
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

// inlineLinks builds the links a resource rendering carries.
func (o *op) inlineLinks(res *Entity, d entityDoc, pending map[string]*Entity) ([]*Entity, *httpError) {
	var out []*Entity
	for _, l := range d.Links {
		target := o.localPath(l.Target)
		kind := l.Kind
		if kind == "" {
			// Without a category the link's kind follows from its target.
			kind = KindLink
			if t, err := o.resolve(target, pending); err == nil {
				switch {
				case o.m.isA(t.Kind, KindNetwork):
					kind = KindNetworkInterface
				case o.m.isA(t.Kind, KindStorage):
					kind = KindStorageLink
				}
			}
		}
		ld := entityDoc{Kind: kind, Mixins: l.Mixins, Attrs: map[string]any{}, Source: res.Location, Target: target, TargetKind: l.TargetKind}
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
		loc := ""
		if l.Self != "" {
			loc = o.localPath(l.Self)
		}
		if loc != "" {
			if herr := o.checkFreeLocation(loc); herr != nil {
				return nil, herr
			}
		}
		le, herr := o.buildEntity(ld, "", loc, pending)
		if herr != nil {
			return nil, errorf(herr.status, "link to %s: %s", l.Target, herr.msg)
		}
		pending[le.Location] = le
		out = append(out, le)
	}
	return out, nil
}

// checkFreeLocation refuses locations that are bound to categories or the
// query interface.
func (o *op) checkFreeLocation(loc string) *httpError {
	if !strings.HasPrefix(loc, "/") || strings.HasSuffix(loc, "/") {
		return errorf(http.StatusBadRequest, "entity location %s must be a path not ending in /", loc)
	}
	for _, seg := range strings.Split(loc[1:], "/") {
		if seg == "" || seg == "." || seg == ".." || strings.EqualFold(seg, "%2e") || strings.EqualFold(seg, "%2e%2e") {
			return errorf(http.StatusBadRequest, "entity location %s has an empty, . or .. segment", loc)
		}
	}
	if o.m.at(loc) != nil || o.m.at(loc+"/") != nil || strings.HasPrefix(loc, "/-/") || strings.HasPrefix(loc, "/.well-known/") {
		return errorf(http.StatusBadRequest, "location %s is reserved for a category or the query interface", loc)
	}
	return nil
}

// ---- backend ---------------------------------------------------------

func num64(v any) float64 {
	f, _ := v.(float64)
	return f
}

func strv(v any) string {
	s, _ := v.(string)
	return s
}

func (o *op) machine(e *Entity) cb.Machine {
	m := cb.Machine{ID: e.ID, Hostname: strv(e.Attrs["occi.compute.hostname"]),
		Architecture: strv(e.Attrs["occi.compute.architecture"]),
		Cores:        int(num64(e.Attrs["occi.compute.cores"])), Share: int(num64(e.Attrs["occi.compute.share"])),
		Memory:   num64(e.Attrs["occi.compute.memory"]),
		UserData: strv(e.Attrs["occi.compute.userdata"]), SSHKey: strv(e.Attrs["occi.credentials.ssh.publickey"])}
	// A machine needs a size: one core and 1 GiB when neither the client
	// nor a resource_tpl said.
	if m.Cores == 0 {
		m.Cores = 1
	}
	if m.Memory == 0 {
		m.Memory = 1
	}
	for _, id := range e.Mixins {
		c := o.m.get(id)
		if c == nil {
			continue
		}
		if c.Template != nil {
			m.DiskSize = c.Template.Disk
		}
		if c.Image != "" {
			m.Image = &cb.Image{Term: c.Term, Title: c.Title, Source: c.Image}
		}
	}
	return m
}

func volumeName(e *Entity) string { return "occi-storage-" + e.ID }

// volumeFor names the volume behind a storage resource.
func (o *op) volumeFor(storage *Entity, deviceID string) (string, bool, error) {
	if o.s.cfg.Storage != nil {
		name, ok, err := o.s.cfg.Storage.Volume(o.ctx, storage, deviceID)
		if err != nil || ok {
			return name, true, err
		}
	}
	return volumeName(storage), false, nil
}

const gib = 1 << 30

// provision creates the backend side of a new entity, registering undo.
func (o *op) provision(e *Entity, pending map[string]*Entity) *httpError {
	be := o.s.cfg.Compute
	switch {
	case o.m.isA(e.Kind, KindCompute):
		if be == nil {
			return errorf(http.StatusServiceUnavailable, "no compute backend is configured")
		}
		if err := be.CreateMachine(o.ctx, o.machine(e)); err != nil {
			return o.mapBackend("create machine", err)
		}
		o.undo = append(o.undo, func() { o.logUndo("delete machine", be.DeleteMachine(context.WithoutCancel(o.ctx), e.ID)) })
		o.syncState(e)
	case o.m.isA(e.Kind, KindNetwork):
		if be == nil {
			return errorf(http.StatusServiceUnavailable, "no compute backend is configured")
		}
		n := cb.Network{ID: e.ID, Label: strv(e.Attrs["occi.network.label"]), VLAN: int(num64(e.Attrs["occi.network.vlan"])),
			Address: strv(e.Attrs["occi.network.address"]), Gateway: strv(e.Attrs["occi.network.gateway"]),
			Allocation: strv(e.Attrs["occi.network.allocation"])}
		if err := be.CreateNetwork(o.ctx, n); err != nil {
			return o.mapBackend("create network", err)
		}
		o.undo = append(o.undo, func() { o.logUndo("delete network", be.DeleteNetwork(context.WithoutCancel(o.ctx), e.ID)) })
		o.syncState(e)
	case o.m.isA(e.Kind, KindStorage):
		vols := o.s.cfg.Volumes
		if vols == nil {
			return nil
		}
		name, hooked, err := o.volumeFor(e, "")
		if err != nil {
			return o.mapBackend("resolve the storage's volume", err)
		}
		if hooked {
			return nil
		}
		size := int64(num64(e.Attrs["occi.storage.size"]) * gib)
		if err := vols.CreateVolume(o.ctx, name, size); err != nil {
			return o.mapBackend("create volume", err)
		}
		o.undo = append(o.undo, func() { o.logUndo("delete volume", vols.DeleteVolume(context.WithoutCancel(o.ctx), name)) })
	case (o.m.isA(e.Kind, KindNetworkInterface) || o.m.isA(e.Kind, KindStorageLink)) && be == nil:
		return errorf(http.StatusServiceUnavailable, "no compute backend is configured")
	case o.m.isA(e.Kind, KindNetworkInterface):
		src, _ := o.resolve(e.Source, pending)
		tgt, _ := o.resolve(e.Target, pending)
		nic := cb.Interface{ID: e.ID, NetworkID: tgt.ID, MAC: strv(e.Attrs["occi.networkinterface.mac"]),
			Address: strv(e.Attrs["occi.networkinterface.address"])}
		got, err := be.AttachInterface(o.ctx, src.ID, nic)
		if err != nil {
			return o.mapBackend("attach network interface", err)
		}
		o.undo = append(o.undo, func() {
			o.logUndo("detach interface", be.DetachInterface(context.WithoutCancel(o.ctx), src.ID, e.ID))
		})
		if got.MAC != "" {
			e.Attrs["occi.networkinterface.mac"] = got.MAC
		}
		e.Attrs["occi.networkinterface.state"] = "active"
	case o.m.isA(e.Kind, KindStorageLink):
		src, _ := o.resolve(e.Source, pending)
		tgt, _ := o.resolve(e.Target, pending)
		disk := cb.Disk{ID: e.ID}
		if mp := strv(e.Attrs["occi.storagelink.mountpoint"]); strings.HasPrefix(mp, "/dev/") {
			disk.Target = strings.TrimPrefix(mp, "/dev/")
		}
		if vols := o.s.cfg.Volumes; vols != nil {
			name, _, err := o.volumeFor(tgt, strv(e.Attrs["occi.storagelink.deviceid"]))
			if err != nil {
				return o.mapBackend("resolve the storage's volume", err)
			}
			acc, err := vols.Access(o.ctx, name)
			if err != nil {
				return o.mapBackend("find the storage's volume", err)
			}
			disk.Source = cb.VolumeSource{Type: acc.Type, Path: acc.Path, Format: acc.Format, Pool: acc.Pool,
				Image: acc.Image, Monitors: acc.Monitors, User: acc.User, ConfigFile: acc.ConfigFile}
		}
		if err := be.AttachDisk(o.ctx, src.ID, disk); err != nil {
			return o.mapBackend("attach disk", err)
		}
		o.undo = append(o.undo, func() {
			o.logUndo("detach disk", be.DetachDisk(context.WithoutCancel(o.ctx), src.ID, e.ID))
		})
		e.Attrs["occi.storagelink.state"] = "active"
	}
	return nil
}

// osTemplate returns the os_tpl among mixins ("" for none).
func (o *op) osTemplate(mixins []string) string {
	for _, m := range mixins {
		if m != MixinOSTpl && o.m.dependsOn(m, MixinOSTpl) {
			return m
		}
	}
	return ""
}

// rebuild redefines an inactive compute whose os_tpl changes, so the new
// template takes effect on the machine (GFD.224 §3.6.1: the change MUST
// affect the execution environment). The compute contract has no
// "reimage", so the machine is deleted and created again from the new
// spec, and its links are attached again; every step is undone on failure.
// A compute that is not inactive must be stopped first: 409.
func (o *op) rebuild(prev, next *Entity) *httpError {
	if !o.m.isA(prev.Kind, KindCompute) || o.osTemplate(prev.Mixins) == o.osTemplate(next.Mixins) {
		return nil
	}
	be := o.s.cfg.Compute
	if be == nil {
		return errorf(http.StatusServiceUnavailable, "no compute backend is configured")
	}
	if st := stateOf(prev); st != "inactive" {
		return errorf(http.StatusConflict, "changing the os_tpl of %s rebuilds it: its state is %s, stop it first", prev.Location, st)
	}
	locs, err := o.s.st.links(o.db, []string{prev.Location}, false)
	if err != nil {
		return errorf(http.StatusInternalServerError, "%v", err)
	}
	links, err := o.s.st.entities(o.db, locs)
	if err != nil {
		return errorf(http.StatusInternalServerError, "%v", err)
	}
	if err := be.DeleteMachine(o.ctx, prev.ID); err != nil && !errors.Is(err, cb.ErrNotFound) {
		return o.mapBackend("delete machine for rebuild", err)
	}
	o.undo = append(o.undo, func() {
		// Put the old machine back as it was, links included.
		restore := *o
		restore.ctx = context.WithoutCancel(o.ctx)
		restore.undo = nil
		if herr := restore.provision(prev, nil); herr != nil {
			o.logUndo("recreate machine", herr)
			return
		}
		for _, l := range links {
			if herr := restore.provision(l, nil); herr != nil {
				o.logUndo("reattach link", herr)
			}
		}
	})
	if herr := o.provision(next, nil); herr != nil {
		o.rollback()
		return herr
	}
	for _, l := range links {
		if herr := o.provision(l, nil); herr != nil {
			o.rollback()
			return herr
		}
	}
	return nil
}

// Resizer is what a compute backend may implement, beside the contract,
// to give a stopped machine new sizes (a resource_tpl change or an update
// of occi.compute.cores/memory, GFD.224 §3.6.2). Backends need not import
// this package: the method is enough. Without it, sizes change in OCCI's
// model only and the machine keeps the sizes it was created with.
type Resizer interface {
	Resize(ctx context.Context, id string, cores int, memoryGiB float64) error
}

// resize passes new sizes to the backends: occi.storage.size to the
// storage's volume, compute sizes to a compute backend that can take them.
func (o *op) resize(prev, next *Entity) *httpError {
	if o.m.isA(prev.Kind, KindStorage) {
		was, now := num64(prev.Attrs["occi.storage.size"]), num64(next.Attrs["occi.storage.size"])
		vols := o.s.cfg.Volumes
		if was == now || vols == nil {
			return nil
		}
		// Like the 1.1 "resize" action, this resizes the volume behind the
		// storage, whoever made it.
		name, _, err := o.volumeFor(prev, "")
		if err != nil {
			return o.mapBackend("resolve the storage's volume", err)
		}
		if err := vols.ResizeVolume(o.ctx, name, int64(now*gib)); err != nil {
			return o.mapBackend("resize volume", err)
		}
		o.undo = append(o.undo, func() {
			o.logUndo("resize volume back", vols.ResizeVolume(context.WithoutCancel(o.ctx), name, int64(was*gib)))
		})
		return nil
	}
	if !o.m.isA(prev.Kind, KindCompute) || o.osTemplate(prev.Mixins) != o.osTemplate(next.Mixins) {
		return nil // not a compute, or rebuilt with the new sizes already
	}
	rz, ok := o.s.cfg.Compute.(Resizer)
	if !ok {
		return nil
	}
	was, now := o.machine(prev), o.machine(next)
	if was.Cores == now.Cores && was.Memory == now.Memory {
		return nil
	}
	if st := stateOf(prev); st != "inactive" {
		return errorf(http.StatusConflict, "resizing %s needs it inactive: its state is %s, stop it first", prev.Location, st)
	}
	if err := rz.Resize(o.ctx, prev.ID, now.Cores, now.Memory); err != nil {
		return o.mapBackend("resize machine", err)
	}
	o.undo = append(o.undo, func() {
		o.logUndo("resize back", rz.Resize(context.WithoutCancel(o.ctx), prev.ID, was.Cores, was.Memory))
	})
	return nil
}

func (o *op) logUndo(what string, err error) {
	if err != nil {
		o.s.log.Error("undo after a failed request did not complete", "what", what, "err", err)
	}
}

// syncState copies the backend's state of a compute or network into the
// entity (so a change made behind OCCI's back shows).
func (o *op) syncState(e *Entity) {
	be := o.s.cfg.Compute
	if be == nil {
		return
	}
	var st cb.Status
	var err error
	prefix := ""
	switch {
	case o.m.isA(e.Kind, KindCompute):
		st, err = be.MachineStatus(o.ctx, e.ID)
		prefix = "occi.compute.state"
	case o.m.isA(e.Kind, KindNetwork):
		st, err = be.NetworkStatus(o.ctx, e.ID)
		prefix = "occi.network.state"
	default:
		return
	}
	if errors.Is(err, cb.ErrNotFound) {
		st = cb.Status{State: cb.StateError, Message: "the compute backend no longer knows this resource"}
	} else if err != nil {
		o.s.log.Warn("backend status", "id", e.ID, "err", err)
		return
	}
	e.Attrs[prefix] = string(st.State)
	if st.Message != "" {
		e.Attrs[prefix+".message"] = st.Message
	} else {
		delete(e.Attrs, prefix+".message")
	}
}

// deprovision removes the backend side of entities about to be deleted.
// Links are detached unless their source machine goes too.
func (o *op) deprovision(es []*Entity) *httpError {
	be := o.s.cfg.Compute
	gone := map[string]bool{}
	for _, e := range es {
		gone[e.Location] = true
	}
	ignore := func(err error) error {
		if errors.Is(err, cb.ErrNotFound) || errors.Is(err, sb.ErrNotFound) {
			return nil
		}
		return err
	}
	for _, e := range es {
		if !e.IsLink() || be == nil {
			continue
		}
		if gone[e.Source] && o.m.isA(e.SourceKind, KindCompute) {
			continue
		}
		src, err := o.s.st.entity(o.db, e.Source)
		if err != nil {
			continue
		}
		switch {
		case o.m.isA(e.Kind, KindNetworkInterface):
			if err := ignore(be.DetachInterface(o.ctx, src.ID, e.ID)); err != nil {
				return o.mapBackend("detach network interface", err)
			}
		case o.m.isA(e.Kind, KindStorageLink):
			if err := ignore(be.DetachDisk(o.ctx, src.ID, e.ID)); err != nil {
				return o.mapBackend("detach disk", err)
			}
		}
	}
	for _, e := range es {
		switch {
		case e.IsLink():
		case o.m.isA(e.Kind, KindCompute) && be != nil:
			if err := ignore(be.DeleteMachine(o.ctx, e.ID)); err != nil {
				return o.mapBackend("delete machine", err)
			}
		case o.m.isA(e.Kind, KindNetwork) && be != nil:
			if err := ignore(be.DeleteNetwork(o.ctx, e.ID)); err != nil {
				return o.mapBackend("delete network", err)
			}
		case o.m.isA(e.Kind, KindStorage) && o.s.cfg.Volumes != nil:
			name, hooked, err := o.volumeFor(e, "")
			if err != nil {
				return o.mapBackend("resolve the storage's volume", err)
			}
			if !hooked {
				if err := ignore(o.s.cfg.Volumes.DeleteVolume(o.ctx, name)); err != nil {
					return o.mapBackend("delete volume", err)
				}
			}
		}
	}
	return nil
}

// ---- state machines ---------------------------------------------------

// allowedFrom gives, per action, the states it may start from (GFD.224
// figures 2-4; 1.1's storage actions from GFD.184 table 9). A rendering
// lists an action only from these states; network and storage actions are
// also accepted when the resource already is in the target state (they
// are idempotent: "down" on an inactive network changes nothing), see
// idempotent.
var allowedFrom = map[string][]string{
	SchemeComputeAction + "start":    {"inactive", "suspended", "error"},
	SchemeComputeAction + "stop":     {"active", "suspended", "error"},
	SchemeComputeAction + "restart":  {"active"},
	SchemeComputeAction + "suspend":  {"active"},
	SchemeComputeAction + "save":     {"active", "inactive"},
	SchemeNetworkAction + "up":       {"inactive", "error"},
	SchemeNetworkAction + "down":     {"active", "error"},
	SchemeStorageAction + "online":   {"offline", "error"},
	SchemeStorageAction + "offline":  {"online", "error"},
	SchemeStorageAction + "backup":   {"online", "offline"},
	SchemeStorageAction + "snapshot": {"online", "offline"},
	SchemeStorageAction + "resize":   {"online", "offline"},
}

// stateOf returns the entity's current state attribute value.
func stateOf(e *Entity) string {
	for _, k := range []string{"occi.compute.state", "occi.network.state", "occi.storage.state"} {
		if s, ok := e.Attrs[k].(string); ok {
			return s
		}
	}
	return ""
}

// definedActions lists the actions the entity's kind and mixins define.
func (o *op) definedActions(e *Entity) []string {
	var out []string
	for k := e.Kind; k != ""; {
		c := o.m.get(k)
		if c == nil {
			break
		}
		out = append(out, c.Actions...)
		k = c.Parent
	}
	for _, id := range e.Mixins {
		if c := o.m.get(id); c != nil {
			out = append(out, c.Actions...)
		}
	}
	return out
}

// idempotent maps actions to the state they lead to when running them in
// that state is a harmless no-op.
var idempotent = map[string]string{
	SchemeNetworkAction + "up":      "active",
	SchemeNetworkAction + "down":    "inactive",
	SchemeStorageAction + "online":  "online",
	SchemeStorageAction + "offline": "offline",
}

// accepted tells whether action may be invoked in the entity's state.
func accepted(e *Entity, action string) bool {
	return allowed(e, action) || (idempotent[action] != "" && idempotent[action] == stateOf(e))
}

// allowed tells whether the action is one the state offers.
func allowed(e *Entity, action string) bool {
	from, ok := allowedFrom[action]
	if !ok {
		return true
	}
	st := stateOf(e)
	for _, s := range from {
		if s == st {
			return true
		}
	}
	return false
}

// fillActions sets the actions applicable now (GFD.229 §5.1.1: a
// resource's rendering carries the actions its state allows).
func (o *op) fillActions(e *Entity) {
	e.Actions = nil
	for _, a := range o.definedActions(e) {
		if allowed(e, a) {
			e.Actions = append(e.Actions, a)
		}
	}
}
