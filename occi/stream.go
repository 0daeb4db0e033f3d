package occi

import (
	"encoding/json"
	"io"
	"net/http"
)

// A streamed listing is rendered to the response as the service hands its
// members over, a page at a time: memory stays bounded by a page whatever
// the collection's size. The status line goes out with the first member
// (or when the listing ends empty), so an error found before it, such as
// a bad filter, is answered as usual; an error after it (the database
// failing mid-listing) can only cut the response, and does, so that the
// client cannot take a truncated listing for a whole one.

// streamed is a listing to render by streaming: resources and/or links
// of one query.
type streamed struct {
	query Query
	// kinds of member the collection holds, when it holds only one
	onlyResources, onlyLinks bool
}

// lazyWriter writes the response's status and headers before its first
// byte.
type lazyWriter struct {
	w       http.ResponseWriter
	media   string
	started bool
}

func (l *lazyWriter) start() {
	if l.started {
		return
	}
	l.started = true
	ct := l.media
	if !isJSON(ct) && ct != mediaURIList {
		ct += "; charset=utf-8"
	}
	l.w.Header().Set("Content-Type", ct)
	l.w.WriteHeader(http.StatusOK)
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	l.start()
	return l.w.Write(p)
}

// stream renders resp.stream to w in the request's media type.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, rq *request, resp *response) {
	lw := &lazyWriter{w: w, media: rq.media}
	var err error
	if isJSON(rq.media) {
		err = s.streamJSON(lw, rq, resp)
	} else {
		err = s.streamLocations(lw, rq, resp.stream.query)
	}
	switch {
	case err == nil:
		lw.start()
	case !lw.started:
		s.fail(w, r, rq.media, err)
	default:
		s.log.Error("occi: listing cut short", "path", r.URL.Path, "err", err)
		panic(http.ErrAbortHandler)
	}
}

// streamLocations writes the members' locations, one a line: text/plain
// as X-OCCI-Location fields (GFD.229 §6), text/uri-list (RFC 2483).
func (s *Server) streamLocations(w io.Writer, rq *request, q Query) error {
	prefix, eol := "X-OCCI-Location: ", "\n"
	if rq.media == mediaURIList {
		prefix, eol = "", "\r\n"
	}
	buf := make([]byte, 0, 256)
	return s.svc.EachLocation(rq.ctx, q, func(loc string) error {
		buf = append(buf[:0], prefix...)
		buf = append(buf, rq.rd.abs(loc)...)
		buf = append(buf, eol...)
		_, err := w.Write(buf)
		return err
	})
}

// streamJSON writes {"resources": [...], "links": [...]} (GFD.226 §3.3)
// one entity at a time: resources first, then links, each its own pass
// over the listing. "resources" is there when the collection holds
// resources or nothing at all, "links" when it holds links or only links
// may be in it.
func (s *Server) streamJSON(w io.Writer, rq *request, resp *response) error {
	st := resp.stream
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	var opened bool // "{" written
	member := func(name string) error {
		sep := ","
		if !opened {
			sep, opened = "{", true
		}
		_, err := io.WriteString(w, sep+`"`+name+`":[`)
		return err
	}
	pass := func(only, name string, keep bool) (int, error) {
		q := st.query
		q.Only = only
		n := 0
		err := s.svc.Each(rq.ctx, q, func(e *Entity) error {
			var err error
			if n == 0 {
				err = member(name)
			} else {
				_, err = io.WriteString(w, ",")
			}
			n++
			if err == nil {
				err = enc.Encode(rq.rd.entityJSON(e))
			}
			return err
		})
		if err == nil && n == 0 && keep {
			err = member(name)
		}
		if err == nil && (n > 0 || keep) {
			_, err = io.WriteString(w, "]")
		}
		return n, err
	}
	var resources, links int
	var err error
	if !st.onlyLinks {
		if resources, err = pass(OnlyResources, "resources", resp.wantRes); err != nil {
			return err
		}
	}
	if !st.onlyResources {
		if links, err = pass(OnlyLinks, "links", resp.wantLinks); err != nil {
			return err
		}
	}
	if resources == 0 && links == 0 && !resp.wantRes && !resp.wantLinks {
		if err := member("resources"); err != nil {
			return err
		}
		if _, err := io.WriteString(w, "]"); err != nil {
			return err
		}
	}
	if !opened {
		_, err = io.WriteString(w, "{")
	}
	if err == nil {
		_, err = io.WriteString(w, "}\n")
	}
	return err
}
