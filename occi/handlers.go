package occi

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/occicdmi/occicdmi/internal/kind"
	"github.com/occicdmi/occicdmi/internal/web"
)

// served lists the media types this server renders, for the Accept header
// of every response (GFD.223 §4.2).
const served = "text/plain, text/occi, text/occi+plain, text/uri-list, application/occi+json, application/json"

// request is what a handler needs once a request is accepted: the context
// for service calls (base URL, the request's model), the media type to
// answer in, and the renderer.
type request struct {
	ctx   context.Context
	media string
	m     *model
	rd    *renderer
}

// begin does what every OCCI request needs first: the version check, the
// media type negotiation, and the per-request model. It writes the error
// and returns false when the request cannot go on.
func (s *Server) begin(w http.ResponseWriter, r *http.Request, listing bool) (*request, bool) {
	w.Header().Set("Accept", served)
	if err := checkVersion(r); err != nil {
		s.fail(w, r, mediaPlain, err)
		return nil, false
	}
	media, err := negotiate(r, listing)
	if err != nil {
		s.fail(w, r, mediaPlain, err)
		return nil, false
	}
	base := s.baseURL(r)
	ctx, m, err := s.svc.withModel(WithBaseURL(r.Context(), base))
	if err != nil {
		s.log.Error("occi: load model", "err", err)
		s.fail(w, r, media, web.Errorf(http.StatusServiceUnavailable, "the database is unavailable"))
		return nil, false
	}
	return &request{ctx: ctx, media: media, m: m, rd: &renderer{base: base, m: m}}, true
}

// getEntity serves a GET or HEAD of an entity (a path that names no
// collection: those end in "/"): the entity and the user mixins' version
// are read together, before the model (see Service.lookup).
func (s *Server) getEntity(w http.ResponseWriter, r *http.Request, loc string) {
	w.Header().Set("Accept", served)
	if err := checkVersion(r); err != nil {
		s.fail(w, r, mediaPlain, err)
		return
	}
	media, err := negotiate(r, false)
	if err != nil {
		s.fail(w, r, mediaPlain, err)
		return
	}
	base := s.baseURL(r)
	ctx, m, e, err := s.svc.lookup(WithBaseURL(r.Context(), base), loc)
	if err != nil && kind.Of(err) == kind.Internal {
		// What the request reads first failed, as the model's load in
		// begin would have.
		s.log.Error("occi: read entity", "err", err)
		err = web.Errorf(http.StatusServiceUnavailable, "the database is unavailable")
	}
	if err != nil {
		s.fail(w, r, media, err)
		return
	}
	rq := &request{ctx: ctx, media: media, m: m, rd: &renderer{base: base, m: m}}
	rq.write(w, &response{status: http.StatusOK, entity: e})
}

// fail writes err in the negotiated media type: its status from its kind,
// an internal error logged and answered without its detail.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, media string, err error) {
	status, msg := web.Answer(w, r, s.log, err)
	writeError(w, media, status, msg)
}

func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request, media string, allow string) {
	w.Header().Set("Allow", allow)
	s.fail(w, r, media, web.Errorf(http.StatusMethodNotAllowed, "method not allowed here; allowed: %s", allow))
}

// handleQuery serves the query interface (GFD.223 §6).
func (s *Server) handleQuery() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rq, ok := s.begin(w, r, false)
		if !ok {
			return
		}
		var resp *response
		var err error
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			var h *payload
			if h, err = filterHeaders(r, rq.m); err == nil {
				var cs []*Category
				cs, err = s.svc.Categories(rq.ctx, categoryIDs(h.Categories))
				resp = &response{status: http.StatusOK, categories: cs, queryIface: true}
			}
		case http.MethodPost, http.MethodDelete:
			var p *payload
			// Only mixins are defined and removed here: a Category
			// without class that the server does not know is one.
			if p, err = readPayload(r, rq.m, ClassMixin); err == nil {
				if r.Method == http.MethodPost {
					err = s.svc.AddMixins(rq.ctx, p.Categories)
				} else {
					err = s.svc.DeleteMixins(rq.ctx, categoryIDs(p.Categories))
				}
				resp = &response{status: http.StatusOK, noContent: true}
			}
		default:
			s.methodNotAllowed(w, r, rq.media, "GET, HEAD, POST, DELETE")
			return
		}
		if err != nil {
			s.fail(w, r, rq.media, err)
			return
		}
		rq.write(w, resp)
	})
}

// handlePath serves collections and entities, telling them apart by the
// path: a bound location is a collection, another path ending in "/" an
// unbound one, anything else an entity.
// semicolonQuery reads ";" in a query as "&": GFD.223's pagination
// section gives "?page=1;number=100" as its example (in its source), and
// clients copy it, but Go's
// query parser drops a pair holding a semicolon (net/url since Go 1.17),
// which would list the whole collection instead of the page asked for.
func semicolonQuery(r *http.Request) {
	if strings.Contains(r.URL.RawQuery, ";") {
		u := *r.URL
		u.RawQuery = strings.ReplaceAll(u.RawQuery, ";", "&")
		r.URL = &u
	}
}

func (s *Server) handlePath() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		semicolonQuery(r)
		p := r.URL.EscapedPath()
		listing := strings.HasSuffix(p, "/")
		if !listing && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			// No collection's location lacks the final "/": an entity.
			s.getEntity(w, r, p)
			return
		}
		rq, ok := s.begin(w, r, listing)
		if !ok {
			return
		}
		var resp *response
		var err error
		switch c := rq.m.at(p); {
		case c != nil && c.Class == ClassKind:
			resp, err = s.kindCollection(rq, r, c)
		case c != nil:
			resp, err = s.mixinCollection(rq, r, c)
		case listing:
			resp, err = s.unbound(rq, r, p)
		default:
			resp, err = s.entity(rq, r, p)
		}
		if err != nil {
			s.fail(w, r, rq.media, err)
			return
		}
		switch {
		case resp.status == http.StatusMethodNotAllowed:
			s.methodNotAllowed(w, r, rq.media, resp.allow)
		case resp.stream != nil:
			s.stream(w, r, rq, resp)
		default:
			rq.write(w, resp)
		}
	})
}

func notAllowed(allow string) *response {
	return &response{status: http.StatusMethodNotAllowed, allow: allow}
}

func noContent() *response { return &response{status: http.StatusOK, noContent: true} }

func isJSON(media string) bool { return media == mediaOCCIJSON || media == mediaJSON }

func (s *Server) kindCollection(rq *request, r *http.Request, k *Category) (*response, error) {
	base := Query{Collection: k.ID()}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		resp, err := s.list(rq, r, base)
		if resp != nil {
			isLinkKind := rq.m.isA(k.ID(), KindLink)
			resp.wantRes, resp.wantLinks = !isLinkKind, isLinkKind
			if resp.stream != nil {
				resp.stream.onlyResources, resp.stream.onlyLinks = !isLinkKind, isLinkKind
			}
		}
		return resp, err
	case http.MethodPost:
		p, err := readPayload(r, rq.m, "")
		if err != nil {
			return nil, err
		}
		if term := r.URL.Query().Get("action"); term != "" {
			return acted(s.svc.ActAll(rq.ctx, base, invocation(term, p)))
		}
		created, err := s.svc.Create(rq.ctx, k.ID(), inputs(p.Entities))
		if err != nil {
			return nil, err
		}
		return &response{status: http.StatusCreated, location: created[0].Location, created: created}, nil
	case http.MethodDelete:
		h, err := filterHeaders(r, rq.m)
		if err != nil {
			return nil, err
		}
		base.Categories, base.Attrs = categoryIDs(h.Categories), h.Attrs
		if err := s.svc.DeleteAll(rq.ctx, base); err != nil {
			return nil, err
		}
		return noContent(), nil
	}
	return notAllowed("GET, HEAD, POST, DELETE"), nil
}

func (s *Server) mixinCollection(rq *request, r *http.Request, m *Category) (*response, error) {
	base := Query{Collection: m.ID()}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		resp, err := s.list(rq, r, base)
		if resp != nil {
			resp.wantRes = true
		}
		return resp, err
	case http.MethodPost, http.MethodPut, http.MethodDelete:
		p, err := readPayload(r, rq.m, "")
		if err != nil {
			return nil, err
		}
		if term := r.URL.Query().Get("action"); term != "" && r.Method == http.MethodPost {
			return acted(s.svc.ActAll(rq.ctx, base, invocation(term, p)))
		}
		switch members := membersOf(p); r.Method {
		case http.MethodPost:
			err = s.svc.Associate(rq.ctx, m.ID(), members, false)
		case http.MethodPut:
			err = s.svc.Associate(rq.ctx, m.ID(), members, true)
		default:
			err = s.svc.Dissociate(rq.ctx, m.ID(), members)
		}
		if err != nil {
			return nil, err
		}
		return s.listing(rq, base)
	}
	return notAllowed("GET, HEAD, POST, PUT, DELETE"), nil
}

// unbound serves a path below which entities may lie: it lists them. Any
// other method is 405 where something lies below the path, and 404 where
// nothing does, as a GET there answers (there is no resource to refuse
// the method for).
func (s *Server) unbound(rq *request, r *http.Request, prefix string) (*response, error) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if _, err := s.svc.List(rq.ctx, Query{Prefix: prefix, Page: 1, Number: 1}); err != nil {
			return nil, err
		}
		return notAllowed("GET, HEAD"), nil
	}
	return s.list(rq, r, Query{Prefix: prefix})
}

func (s *Server) entity(rq *request, r *http.Request, loc string) (*response, error) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return entityResponse(s.svc.Get(rq.ctx, loc))
	case http.MethodDelete:
		if err := s.svc.Delete(rq.ctx, loc); err != nil {
			return nil, err
		}
		return noContent(), nil
	case http.MethodPost:
		p, err := readPayload(r, rq.m, "")
		if err != nil {
			return nil, err
		}
		if r.URL.Query().Has("action") {
			return acted(s.svc.Act(rq.ctx, loc, invocation(r.URL.Query().Get("action"), p)))
		}
		if len(p.Entities) != 1 {
			if _, err := s.svc.Get(rq.ctx, loc); err != nil {
				return nil, err
			}
			return nil, kind.Errorf(kind.Invalid, "a partial update needs one entity rendering, got %d", len(p.Entities))
		}
		return entityResponse(s.svc.Update(rq.ctx, loc, input(p.Entities[0])))
	case http.MethodPut:
		p, err := readPayload(r, rq.m, "")
		if err != nil {
			return nil, err
		}
		if len(p.Entities) != 1 {
			return nil, kind.Errorf(kind.Invalid, "a PUT needs one entity rendering, got %d", len(p.Entities))
		}
		e, created, err := s.svc.Replace(rq.ctx, loc, input(p.Entities[0]))
		if err != nil || !created {
			return entityResponse(e, err)
		}
		return &response{status: http.StatusCreated, location: e.Location, created: []*Entity{e}}, nil
	}
	// Another method on a missing entity: 404, as for GET.
	if _, err := s.svc.Get(rq.ctx, loc); err != nil {
		return nil, err
	}
	return notAllowed("GET, HEAD, POST, PUT, DELETE"), nil
}

// list answers a GET of a collection: base narrowed by the Category and
// attribute filters and the pagination the request carries.
func (s *Server) list(rq *request, r *http.Request, base Query) (*response, error) {
	h, err := filterHeaders(r, rq.m)
	if err != nil {
		return nil, err
	}
	base.Categories, base.Attrs = categoryIDs(h.Categories), h.Attrs
	if base.Page, base.Number, err = page(r.URL.Query()); err != nil {
		return nil, err
	}
	return s.listing(rq, base)
}

// listing answers the members of q, streamed (see stream.go; text/occi
// in stream_occi.go).
func (s *Server) listing(rq *request, q Query) (*response, error) {
	return &response{status: http.StatusOK, stream: &streamed{query: q}}, nil
}

// filterHeaders reads the filter a client sent as a rendering in the
// request headers (GFD.223 §6.2). A filter names categories by scheme and
// term only: one without class that the server does not know is kept (it
// matches nothing).
func filterHeaders(r *http.Request, m *model) (*payload, error) {
	h, err := parseTextHeaders(r.Header)
	if err == nil {
		err = h.settle(m, ClassMixin)
	}
	if err != nil {
		return nil, kind.Wrap(kind.Invalid, err, "filter")
	}
	return h, nil
}

// page reads the pagination parameters (GFD.223 §5). Pages count from 1;
// a page larger than MaxPageSize is a 413.
func page(q url.Values) (page, number int, err error) {
	ps, ns := q.Get("page"), q.Get("number")
	if ps == "" && ns == "" {
		return 0, 0, nil
	}
	number = 100
	if ns != "" {
		n, err := strconv.Atoi(ns)
		if err != nil || n < 1 {
			return 0, 0, kind.Errorf(kind.Invalid, "number=%q must be a positive integer", clip(ns))
		}
		if n > MaxPageSize {
			return 0, 0, web.Errorf(http.StatusRequestEntityTooLarge, "number=%d is more than the %d items a page may hold", n, MaxPageSize)
		}
		number = n
	}
	page = 1
	if ps != "" {
		n, err := strconv.Atoi(ps)
		if err != nil || n < 1 {
			return 0, 0, kind.Errorf(kind.Invalid, "page=%q must be an integer from 1", clip(ps))
		}
		page = n
	}
	return page, number, nil
}

// ---- from renderings to service inputs ----------------------------------------

func categoryIDs(cs []*Category) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID())
	}
	return out
}

func input(d entityDoc) EntityInput {
	in := EntityInput{ID: d.ID, Kind: d.Kind, Mixins: d.Mixins, Attrs: d.Attrs, Source: d.Source, Target: d.Target,
		TargetKind: d.TargetKind, Location: d.Location}
	for _, l := range d.Links {
		in.Links = append(in.Links, LinkInput(l))
	}
	return in
}

func inputs(ds []entityDoc) []EntityInput {
	out := make([]EntityInput, len(ds))
	for i, d := range ds {
		out[i] = input(d)
	}
	return out
}

func invocation(term string, p *payload) Invocation {
	return Invocation{Term: term, Action: p.Action, Params: p.ActionAttrs}
}

// membersOf reads the entities a mixin collection request names:
// X-OCCI-Location values, a URI list, or entity renderings by location or
// id.
func membersOf(p *payload) Members {
	m := Members{Locations: append([]string(nil), p.Locations...)}
	for _, d := range p.Entities {
		switch {
		case d.Location != "":
			m.Locations = append(m.Locations, d.Location)
		case d.ID != "":
			m.IDs = append(m.IDs, d.ID)
		}
	}
	return m
}
