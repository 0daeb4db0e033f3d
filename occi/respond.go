package occi

import (
	"net/http"
	"strings"
)

// response is what a handler answers, before rendering.
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
	queryIface bool      // categories form the query interface's collection
	allow      string    // with status 405
	stream     *streamed // a listing to stream
}

func entityResponse(e *Entity, err error) (*response, error) {
	if err != nil {
		return nil, err
	}
	return &response{status: http.StatusOK, entity: e}, nil
}

func listed(l *Listing, err error) (*response, error) {
	if err != nil {
		return nil, err
	}
	return &response{status: http.StatusOK, listing: true, locations: l.Locations, entities: l.Entities}, nil
}

// acted renders an action's result: the templates a save made, the
// entity acted on, or the collection's members.
func acted(res *ActResult, err error) (*response, error) {
	switch {
	case err != nil:
		return nil, err
	case res.Saved != nil:
		return &response{status: http.StatusOK, categories: res.Saved}, nil
	case res.Entity != nil:
		return &response{status: http.StatusOK, entity: res.Entity}, nil
	}
	return &response{status: http.StatusOK, listing: true, locations: res.Locations}, nil
}

func writeError(w http.ResponseWriter, media string, status int, msg string) {
	h := w.Header()
	h.Del("Location")
	if isJSON(media) {
		h.Set("Content-Type", media)
		w.WriteHeader(status)
		_, _ = w.Write(marshal(map[string]any{"error": msg, "status": status}))
		return
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg + "\n"))
}

// write renders resp in the request's media type.
func (rq *request) write(w http.ResponseWriter, resp *response) {
	h := w.Header()
	if resp.location != "" {
		h.Set("Location", rq.rd.abs(resp.location))
	}
	f, jsonBody, uriList := rq.render(resp, rq.media)
	switch media := rq.media; media {
	case mediaOCCI:
		f.setHeaders(h)
		h.Set("Content-Type", mediaOCCI)
		w.WriteHeader(resp.status)
		_, _ = w.Write([]byte("OK"))
	case mediaURIList:
		h.Set("Content-Type", mediaURIList)
		w.WriteHeader(resp.status)
		_, _ = w.Write([]byte(rq.rd.uriList(uriList)))
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

// render makes resp's text fields, JSON body or URI list, what media
// needs.
func (rq *request) render(resp *response, media string) (f fields, jsonBody any, uriList []string) {
	r := rq.rd
	switch {
	case resp.entity != nil && isJSON(media):
		jsonBody = r.entityJSON(resp.entity)
	case resp.entity != nil && media != mediaURIList:
		f = r.entityText(resp.entity)
	case resp.noContent:
	case resp.entity != nil:
		f = r.entityText(resp.entity)
		jsonBody = r.entityJSON(resp.entity)
	case resp.created != nil:
		locs := make([]string, len(resp.created))
		for i, e := range resp.created {
			locs[i] = e.Location
		}
		f = r.locationsText(locs)
		uriList = locs
		if len(resp.created) == 1 {
			jsonBody = r.entityJSON(resp.created[0])
		} else {
			jsonBody = r.collectionJSON(resp.created, false, false)
		}
	case resp.categories != nil || resp.queryIface:
		f = r.categoriesText(resp.categories)
		if len(resp.categories) == 1 && !resp.queryIface {
			jsonBody = r.categoryJSON(resp.categories[0])
		} else {
			jsonBody = r.categoriesJSON(resp.categories)
		}
	case resp.listing:
		f = r.locationsText(resp.locations)
		uriList = resp.locations
		if isJSON(rq.media) {
			jsonBody = r.collectionJSON(resp.entities, resp.wantRes || (!resp.wantLinks && len(resp.entities) == 0), resp.wantLinks)
		}
	}
	return f, jsonBody, uriList
}
