package occi

import (
	"bufio"
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
	if rq.media == mediaOCCI {
		if !s.occiHeaders(w, r, rq, resp.stream.query) {
			resp, err := listed(s.svc.List(rq.ctx, resp.stream.query))
			if err != nil {
				s.fail(w, r, rq.media, err)
				return
			}
			rq.write(w, resp)
		}
		return
	}
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
// as X-OCCI-Location fields (GFD.229 §6), text/uri-list (RFC 2483). The
// database renders each page's lines (every location is a path, so
// absolute is the base before it).
func (s *Server) streamLocations(w io.Writer, rq *request, q Query) error {
	prefix, eol := "X-OCCI-Location: "+rq.rd.base, "\n"
	if rq.media == mediaURIList {
		prefix, eol = rq.rd.base, "\r\n"
	}
	return s.svc.eachText(rq.ctx, q, prefix, eol, func(text []byte) error {
		_, err := w.Write(text)
		return err
	})
}

// streamJSON writes {"resources": [...], "links": [...]} (GFD.226 §3.3)
// one entity at a time: resources first, then links, each its own pass
// over the listing. "resources" is there when the collection holds
// resources or nothing at all, "links" when it holds links or only links
// may be in it.
func (s *Server) streamJSON(out io.Writer, rq *request, resp *response) error {
	st := resp.stream
	// Entities go out in writes of about a buffer (the lazyWriter starts
	// the answer with the first).
	w := bufio.NewWriterSize(out, 32<<10)
	rj := newRecordJSON(rq.rd)
	var buf []byte
	var opened bool // "{" written
	member := func(name string) error {
		sep := ","
		if !opened {
			sep, opened = "{", true
		}
		_, err := w.WriteString(sep + `"` + name + `":[`)
		return err
	}
	pass := func(only, name string, keep bool) (int, error) {
		q := st.query
		q.Only = only
		n := 0
		err := s.svc.eachRecord(rq.ctx, q, func(r *record) error {
			var err error
			if n == 0 {
				err = member(name)
			} else {
				err = w.WriteByte(',')
			}
			n++
			if err == nil {
				// Each entity ends in a newline, as json.Encoder wrote them.
				buf = append(rj.entity(buf[:0], r), '\n')
				_, err = w.Write(buf)
			}
			return err
		})
		if err == nil && n == 0 && keep {
			err = member(name)
		}
		if err == nil && (n > 0 || keep) {
			err = w.WriteByte(']')
		}
		return n, err
	}
	var resources, links int
	var err error
	switch {
	case st.query.Number > 0 && !st.onlyResources && !st.onlyLinks:
		// A GFD.223 §5 page of resources and links: one pass, in which
		// the links wait in a buffer (at most a page) for the resources.
		resources, links, err = s.pageJSON(w, rq, st.query, rj, member, resp.wantRes, resp.wantLinks)
		if err != nil {
			return err
		}
	default:
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
	}
	if resources == 0 && links == 0 && !resp.wantRes && !resp.wantLinks {
		if err := member("resources"); err != nil {
			return err
		}
		if err := w.WriteByte(']'); err != nil {
			return err
		}
	}
	if !opened {
		err = w.WriteByte('{')
	}
	if err == nil {
		_, err = w.WriteString("}\n")
	}
	if err == nil {
		err = w.Flush()
	}
	return err
}

// pageJSON writes one GFD.223 §5 page holding resources and links: the
// resources as they come, then the links, held until then.
func (s *Server) pageJSON(w *bufio.Writer, rq *request, q Query, rj *recordJSON, member func(string) error, keepRes, keepLinks bool) (resources, links int, err error) {
	var held, buf []byte
	err = s.svc.eachRecord(rq.ctx, q, func(r *record) error {
		if r.isLink() {
			if links > 0 {
				held = append(held, ',')
			}
			links++
			held = append(rj.entity(held, r), '\n')
			return nil
		}
		var err error
		if resources == 0 {
			err = member("resources")
		} else {
			err = w.WriteByte(',')
		}
		resources++
		if err == nil {
			buf = append(rj.entity(buf[:0], r), '\n')
			_, err = w.Write(buf)
		}
		return err
	})
	if err == nil && resources == 0 && keepRes {
		err = member("resources")
	}
	if err == nil && (resources > 0 || keepRes) {
		err = w.WriteByte(']')
	}
	if err == nil && (links > 0 || keepLinks) {
		if err = member("links"); err == nil {
			if _, err = w.Write(held); err == nil {
				err = w.WriteByte(']')
			}
		}
	}
	return resources, links, err
}
