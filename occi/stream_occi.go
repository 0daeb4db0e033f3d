package occi

import (
	"bufio"
	"net"
	"net/http"
	"time"
)

// A text/occi listing carries its members in one X-OCCI-Location header
// (GFD.229 §7), and net/http writes headers only whole, from a map: a
// listing of any size would be held in memory. Over HTTP/1.x the handler
// takes the connection over instead (http.ResponseController.Hijack) and
// writes the answer itself: the status line and the headers set so far,
// then the header's value a page at a time as the database renders the
// pages, then the "OK" body; the connection closes after it (Connection:
// close), since what is left of the request stream is unknown to a
// handler that took it over. Over HTTP/2, which has no such thing, or
// when the connection cannot be taken, the listing is rendered whole.
// An error before the first page is answered as usual; after it, the
// connection is cut, so that no client takes a cut listing for a whole
// one.

// occiHeaders serves a text/occi listing; it answers false when it could
// not stream (the caller renders the listing whole).
func (s *Server) occiHeaders(w http.ResponseWriter, r *http.Request, rq *request, q Query) bool {
	if r.ProtoMajor != 1 {
		return false
	}
	var conn net.Conn
	var bw *bufio.ReadWriter
	refused := false
	err := s.svc.eachText(rq.ctx, q, ", "+rq.rd.base, "", func(text []byte) error {
		if conn == nil {
			var err error
			if conn, bw, err = http.NewResponseController(w).Hijack(); err != nil {
				refused = true
				return err
			}
			h := w.Header().Clone()
			h.Set("Content-Type", mediaOCCI)
			h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
			h.Set("Connection", "close")
			h.Set("Content-Length", "2")
			h.Del("X-OCCI-Location")
			_, _ = bw.WriteString("HTTP/1.1 200 OK\r\n")
			_ = h.Write(bw)
			_, _ = bw.WriteString("X-OCCI-Location: ")
			text = text[2:] // the first location has no ", " before it
		}
		_, err := bw.Write(text)
		return err
	})
	switch {
	case refused:
		return false
	case err != nil && conn == nil:
		s.fail(w, r, rq.media, err)
		return true
	case err != nil:
		s.log.Error("occi: listing cut short", "path", r.URL.Path, "err", err)
		_ = conn.Close()
		return true
	case conn == nil:
		// Nothing listed: no X-OCCI-Location header at all.
		rq.write(w, &response{status: http.StatusOK, listing: true})
		return true
	}
	_, _ = bw.WriteString("\r\n\r\n")
	if r.Method != http.MethodHead {
		_, _ = bw.WriteString("OK")
	}
	if err := bw.Flush(); err != nil {
		s.log.Debug("occi: text/occi listing not delivered", "err", err)
	}
	_ = conn.Close()
	return true
}
