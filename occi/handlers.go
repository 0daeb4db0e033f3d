package occi

import (
	"errors"
	"net/http"
	"strings"
)

// served lists the media types this server renders, for the Accept header
// of every response (GFD.223 §4.2).
const served = "text/plain, text/occi, text/occi+plain, text/uri-list, application/occi+json, application/json"

// begin does what every OCCI request needs first: the version check, the
// media type negotiation, and the per-request model. It writes the error
// and returns nil when the request cannot go on.
func (s *Server) begin(w http.ResponseWriter, r *http.Request, listing bool) (*op, string) {
	w.Header().Set("Accept", served)
	if herr := checkVersion(r); herr != nil {
		writeError(w, mediaPlain, herr)
		return nil, ""
	}
	media, herr := negotiate(r, listing)
	if herr != nil {
		writeError(w, mediaPlain, herr)
		return nil, ""
	}
	o, err := s.newOp(r)
	if err != nil {
		s.log.Error("occi: load model", "err", err)
		writeError(w, media, errorf(http.StatusServiceUnavailable, "the database is unavailable"))
		return nil, ""
	}
	return o, media
}

func methodNotAllowed(w http.ResponseWriter, media string, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, media, errorf(http.StatusMethodNotAllowed, "method not allowed here; allowed: %s", allow))
}

// handleQuery serves the query interface (GFD.223 §6).
func (s *Server) handleQuery() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o, media := s.begin(w, r, false)
		if o == nil {
			return
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			h, err := parseTextHeaders(r.Header)
			if err != nil {
				writeError(w, media, errorf(http.StatusBadRequest, "filter: %v", err))
				return
			}
			o.write(w, media, &response{status: http.StatusOK, categories: o.related(h.Categories), queryIface: true})
		case http.MethodPost, http.MethodDelete:
			p, herr := readPayload(r)
			if herr != nil {
				writeError(w, media, herr)
				return
			}
			if r.Method == http.MethodPost {
				herr = o.addMixins(p.Categories)
			} else {
				herr = o.deleteMixins(p.Categories)
			}
			if herr != nil {
				writeError(w, media, herr)
				return
			}
			o.write(w, media, &response{status: http.StatusOK, noContent: true})
		default:
			methodNotAllowed(w, media, "GET, POST, DELETE")
		}
	})
}

// handlePath serves collections and entities, telling them apart by the
// path: a bound location is a collection, another path ending in "/" an
// unbound one, anything else an entity.
func (s *Server) handlePath() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.EscapedPath()
		listing := strings.HasSuffix(p, "/")
		o, media := s.begin(w, r, listing)
		if o == nil {
			return
		}
		var resp *response
		var herr *httpError
		switch c := o.m.at(p); {
		case c != nil && c.Class == ClassKind:
			resp, herr = o.kindCollection(r, media, c)
		case c != nil:
			resp, herr = o.mixinCollection(r, media, c)
		case listing:
			resp, herr = o.unbound(r, media, p)
		default:
			resp, herr = o.entity(r, p)
		}
		if herr != nil {
			if herr.status >= 500 {
				s.log.Error("occi: request failed", "method", r.Method, "path", p, "status", herr.status, "err", herr.msg)
			}
			writeError(w, media, herr)
			return
		}
		if resp.status == http.StatusMethodNotAllowed {
			methodNotAllowed(w, media, resp.allow)
			return
		}
		o.write(w, media, resp)
	})
}

func notAllowed(allow string) *response {
	return &response{status: http.StatusMethodNotAllowed, allow: allow}
}

func isJSON(media string) bool { return media == mediaOCCIJSON || media == mediaJSON }

// filteredList answers a GET of a collection: base narrowed by the Category
// and attribute filters and the pagination the request carries.
func (o *op) filteredList(r *http.Request, media string, base filter) (*response, *httpError) {
	h, err := parseTextHeaders(r.Header)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "filter: %v", err)
	}
	f, herr := o.listFilter(base, h, r.URL.Query())
	if herr != nil {
		return nil, herr
	}
	return o.list(f, isJSON(media))
}

func (o *op) kindCollection(r *http.Request, media string, k *Category) (*response, *httpError) {
	base := filter{Kinds: o.m.subKinds(k.ID())}
	isLinkKind := o.m.isA(k.ID(), KindLink)
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		resp, herr := o.filteredList(r, media, base)
		if resp != nil {
			resp.wantRes, resp.wantLinks = !isLinkKind, isLinkKind
		}
		return resp, herr
	case http.MethodPost:
		p, herr := readPayload(r)
		if herr != nil {
			return nil, herr
		}
		if term := r.URL.Query().Get("action"); term != "" {
			locs, err := o.s.st.list(o.db, base)
			if err != nil {
				return nil, errorf(http.StatusInternalServerError, "%v", err)
			}
			return o.act(locs, term, p)
		}
		if k.ID() == KindEntity {
			return nil, errorf(http.StatusBadRequest, "entity is abstract")
		}
		return o.create(p.Entities, k.ID(), "")
	case http.MethodDelete:
		h, err := parseTextHeaders(r.Header)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "filter: %v", err)
		}
		f, herr := o.listFilter(base, h, nil)
		if herr != nil {
			return nil, herr
		}
		locs, err := o.s.st.list(o.db, f)
		if err != nil {
			return nil, errorf(http.StatusInternalServerError, "%v", err)
		}
		if herr := o.remove(locs); herr != nil {
			return nil, herr
		}
		return &response{status: http.StatusOK, noContent: true}, nil
	}
	return notAllowed("GET, POST, DELETE"), nil
}

func (o *op) mixinCollection(r *http.Request, media string, m *Category) (*response, *httpError) {
	base := filter{Mixin: m.ID()}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		resp, herr := o.filteredList(r, media, base)
		if resp != nil {
			resp.wantRes = true
		}
		return resp, herr
	case http.MethodPost, http.MethodPut, http.MethodDelete:
		p, herr := readPayload(r)
		if herr != nil {
			return nil, herr
		}
		if term := r.URL.Query().Get("action"); term != "" && r.Method == http.MethodPost {
			locs, err := o.s.st.list(o.db, base)
			if err != nil {
				return nil, errorf(http.StatusInternalServerError, "%v", err)
			}
			return o.act(locs, term, p)
		}
		locs, herr := o.memberLocations(p)
		if herr != nil {
			return nil, herr
		}
		switch r.Method {
		case http.MethodPost:
			if len(locs) == 0 {
				return nil, errorf(http.StatusBadRequest, "name the entities to add with X-OCCI-Location")
			}
			herr = o.associate(m, locs, false)
		case http.MethodPut:
			herr = o.associate(m, locs, true)
		default:
			if len(locs) == 0 {
				locs = nil // no rendering: every member leaves the mixin
			}
			herr = o.disassociate(m, locs)
		}
		if herr != nil {
			return nil, herr
		}
		return o.list(base, isJSON(media))
	}
	return notAllowed("GET, POST, PUT, DELETE"), nil
}

func (o *op) unbound(r *http.Request, media, prefix string) (*response, *httpError) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return notAllowed("GET"), nil
	}
	h, err := parseTextHeaders(r.Header)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "filter: %v", err)
	}
	f, herr := o.listFilter(filter{Prefix: prefix}, h, r.URL.Query())
	if herr != nil {
		return nil, herr
	}
	// An unbound path is the union of what lies below it (GFD.223 §3.1);
	// with nothing below it, it does not exist.
	if prefix != "/" {
		if any, err := o.s.st.list(o.db, filter{Prefix: prefix, Limit: 1}); err != nil {
			return nil, errorf(http.StatusInternalServerError, "%v", err)
		} else if len(any) == 0 {
			return nil, errorf(http.StatusNotFound, "nothing at %s", prefix)
		}
	}
	return o.list(f, isJSON(media))
}

func (o *op) entity(r *http.Request, loc string) (*response, *httpError) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return o.get(loc)
	case http.MethodDelete:
		if _, err := o.s.st.entity(o.db, loc); errors.Is(err, errNotFound) {
			return nil, errorf(http.StatusNotFound, "no entity at %s", loc)
		} else if err != nil {
			return nil, errorf(http.StatusInternalServerError, "%v", err)
		}
		if herr := o.remove([]string{loc}); herr != nil {
			return nil, herr
		}
		return &response{status: http.StatusOK, noContent: true}, nil
	case http.MethodPost:
		p, herr := readPayload(r)
		if herr != nil {
			return nil, herr
		}
		if _, herr := o.current(loc); herr != nil {
			return nil, herr
		}
		if r.URL.Query().Has("action") {
			term := r.URL.Query().Get("action")
			if term == "" {
				return nil, errorf(http.StatusBadRequest, "?action= names no action")
			}
			return o.act([]string{loc}, term, p)
		}
		if len(p.Entities) != 1 {
			return nil, errorf(http.StatusBadRequest, "a partial update needs one entity rendering, got %d", len(p.Entities))
		}
		prev, herr := o.current(loc)
		if herr != nil {
			return nil, herr
		}
		return o.change(prev, p.Entities[0], false)
	case http.MethodPut:
		p, herr := readPayload(r)
		if herr != nil {
			return nil, herr
		}
		if len(p.Entities) != 1 {
			return nil, errorf(http.StatusBadRequest, "a PUT needs one entity rendering, got %d", len(p.Entities))
		}
		prev, err := o.s.st.entity(o.db, loc)
		if errors.Is(err, errNotFound) {
			if herr := o.checkFreeLocation(loc); herr != nil {
				return nil, herr
			}
			return o.create(p.Entities, "", loc)
		} else if err != nil {
			return nil, errorf(http.StatusInternalServerError, "%v", err)
		}
		o.syncState(prev)
		return o.change(prev, p.Entities[0], true)
	}
	return notAllowed("GET, POST, PUT, DELETE"), nil
}

// ---- writing ---------------------------------------------------------------

func writeError(w http.ResponseWriter, media string, herr *httpError) {
	h := w.Header()
	h.Del("Location")
	if isJSON(media) {
		h.Set("Content-Type", media)
		w.WriteHeader(herr.status)
		_, _ = w.Write(marshal(map[string]any{"error": herr.msg, "status": herr.status}))
		return
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(herr.status)
	_, _ = w.Write([]byte(herr.msg + "\n"))
}

func (o *op) write(w http.ResponseWriter, media string, resp *response) {
	h := w.Header()
	if resp.location != "" {
		h.Set("Location", o.r.abs(resp.location))
	}
	var f fields
	var jsonBody any
	var uriList []string
	switch {
	case resp.noContent:
	case resp.entity != nil:
		f = o.r.entityText(resp.entity)
		jsonBody = o.r.entityJSON(resp.entity)
	case resp.created != nil:
		locs := make([]string, len(resp.created))
		for i, e := range resp.created {
			locs[i] = e.Location
		}
		f = o.r.locationsText(locs)
		uriList = locs
		if len(resp.created) == 1 {
			jsonBody = o.r.entityJSON(resp.created[0])
		} else {
			jsonBody = o.r.collectionJSON(resp.created, false, false)
		}
	case resp.categories != nil || resp.queryIface:
		f = o.r.categoriesText(resp.categories)
		if len(resp.categories) == 1 && !resp.queryIface {
			jsonBody = o.r.categoryJSON(resp.categories[0])
		} else {
			jsonBody = o.r.categoriesJSON(resp.categories)
		}
	case resp.listing:
		f = o.r.locationsText(resp.locations)
		uriList = resp.locations
		if isJSON(media) {
			jsonBody = o.r.collectionJSON(resp.entities, resp.wantRes || (!resp.wantLinks && len(resp.entities) == 0), resp.wantLinks)
		}
	}
	switch media {
	case mediaOCCI:
		f.setHeaders(h)
		h.Set("Content-Type", mediaOCCI)
		w.WriteHeader(resp.status)
		_, _ = w.Write([]byte("OK"))
	case mediaURIList:
		h.Set("Content-Type", mediaURIList)
		w.WriteHeader(resp.status)
		_, _ = w.Write([]byte(o.r.uriList(uriList)))
	case mediaOCCIJSON, mediaJSON:
		h.Set("Content-Type", media)
		w.WriteHeader(resp.status)
		if jsonBody == nil {
			jsonBody = map[string]any{}
		}
		_, _ = w.Write(marshal(jsonBody))
	default:
		h.Set("Content-Type", media+"; charset=utf-8")
		w.WriteHeader(resp.status)
		var b strings.Builder
		f.writePlain(&b)
		_, _ = w.Write([]byte(b.String()))
	}
}
