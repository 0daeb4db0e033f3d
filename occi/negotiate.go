package occi

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/occicdmi/occicdmi/internal/kind"
	"github.com/occicdmi/occicdmi/internal/web"
)

// Media types (GFD.229 §6-8, GFD.226 §3).
const (
	mediaPlain     = "text/plain"
	mediaOCCIPlain = "text/occi+plain"
	mediaOCCI      = "text/occi"
	mediaURIList   = "text/uri-list"
	mediaOCCIJSON  = "application/occi+json"
	mediaJSON      = "application/json"
)

// MaxBody caps request bodies: OCCI renderings are small, and a cap keeps
// a client from making the server buffer without end.
const MaxBody = 1 << 20

// negotiate picks the response media type from Accept (GFD.223 §4.1).
// No Accept, or */*, means text/plain; text/plain wins a tie with
// text/occi whatever the order. text/uri-list is only for
// collections: asked for elsewhere it is a 400 (GFD.229 §8).
func negotiate(r *http.Request, listing bool) (string, error) {
	accept := strings.Join(r.Header.Values("Accept"), ",")
	if strings.TrimSpace(accept) == "" {
		return mediaPlain, nil
	}
	type choice struct {
		media string
		q     float64
		order int
	}
	var cs []choice
	for i, part := range strings.Split(accept, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		media, params, err := mime.ParseMediaType(part)
		if err != nil {
			// A media range without a valid shape; skip it as HTTP allows.
			media = strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
		}
		q := 1.0
		if s, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				q = f
			}
		}
		if q > 0 {
			cs = append(cs, choice{media, q, i})
		}
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].q > cs[j].q })
	// At equal q, a body rendering beats text/occi: every client parses
	// text/plain, and large answers in headers overflow clients' limits.
	plainAt := map[float64]bool{}
	for _, c := range cs {
		switch c.media {
		case mediaPlain, mediaOCCIPlain, "*/*", "text/*":
			plainAt[c.q] = true
		}
	}
	uriListOnly := false
	for _, c := range cs {
		if c.media == mediaOCCI && plainAt[c.q] {
			continue
		}
		switch c.media {
		case "*/*", "text/*":
			return mediaPlain, nil
		case "application/*":
			return mediaOCCIJSON, nil
		case mediaPlain, mediaOCCIPlain, mediaOCCI, mediaOCCIJSON, mediaJSON:
			return c.media, nil
		case mediaURIList:
			if listing {
				return mediaURIList, nil
			}
			uriListOnly = true
		}
	}
	if uriListOnly {
		return "", web.Errorf(http.StatusBadRequest, "text/uri-list renders only collections; ask for text/plain, text/occi or application/occi+json here")
	}
	return "", web.Errorf(http.StatusNotAcceptable, "none of the accepted media types (%s) is served; use text/plain, text/occi, text/occi+plain, application/occi+json or text/uri-list (collections)", clip(accept))
}

var versionRe = regexp.MustCompile(`OCCI/(\d+)\.(\d+)`)

// checkVersion answers 501 when a client asks for a later OCCI version
// than 1.2 (GFD.223 §4.3), in User-Agent or in an X-OCCI-Version header.
func checkVersion(r *http.Request) error {
	hints := []string{r.Header.Get("User-Agent")}
	for _, v := range r.Header.Values("X-OCCI-Version") {
		if !strings.HasPrefix(strings.TrimSpace(v), "OCCI/") {
			v = "OCCI/" + strings.TrimSpace(v)
		}
		hints = append(hints, v)
	}
	for _, h := range hints {
		for _, m := range versionRe.FindAllStringSubmatch(h, -1) {
			major, _ := strconv.Atoi(m[1])
			minor, _ := strconv.Atoi(m[2])
			if major > 1 || (major == 1 && minor > 2) {
				return web.Errorf(http.StatusNotImplemented, "OCCI/%d.%d is not implemented; this server speaks OCCI/1.2 (and understands 1.1)", major, minor)
			}
		}
	}
	return nil
}

// readPayload parses the request's OCCI content whatever its rendering.
// The text/occi fields in headers are always read (clients send them with
// any Content-Type, or none); a body is read per its Content-Type. A
// Category without class takes its class from m (see payload.settle),
// unknown when m does not know it.
func readPayload(r *http.Request, m *model, unknown Class) (*payload, error) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, web.Errorf(http.StatusRequestEntityTooLarge, "request body exceeds %d bytes", MaxBody)
		}
		return nil, kind.Errorf(kind.Invalid, "read request body: %w", err)
	}
	media, err := contentType(r.Header.Get("Content-Type"))
	if err != nil {
		return nil, err
	}
	if err := checkText("the request body", body); err != nil {
		return nil, err
	}
	if isJSON(media) {
		if err := checkJSONEscapes(body); err != nil {
			return nil, err
		}
	}
	hp, err := parseTextHeaders(r.Header)
	if err == nil {
		err = hp.settle(m, unknown)
	}
	if err != nil {
		return nil, kind.Wrap(kind.Invalid, err, "")
	}
	var bp *payload
	switch media {
	case mediaOCCIJSON, mediaJSON:
		if bp, err = parseJSON(body); err != nil {
			return nil, kind.Wrap(kind.Invalid, err, "")
		}
	case mediaPlain, mediaOCCIPlain, mediaOCCI, "":
		if strings.TrimSpace(string(body)) == "OK" || media == mediaOCCI {
			// text/occi carries everything in headers; its body is "OK" or empty.
			return hp, nil
		}
		if bp, err = parseTextBody(body); err == nil {
			err = bp.settle(m, unknown)
		}
		if err != nil {
			return nil, kind.Wrap(kind.Invalid, err, "")
		}
	case mediaURIList:
		bp = &payload{}
		for _, line := range strings.Split(string(body), "\n") {
			line = strings.TrimSpace(line)
			if line != "" && !strings.HasPrefix(line, "#") {
				bp.Locations = append(bp.Locations, line)
			}
		}
	default:
		return nil, web.Errorf(http.StatusUnsupportedMediaType, "Content-Type %s is not served; send text/plain, text/occi, application/occi+json or text/uri-list", media)
	}
	return merge(hp, bp), nil
}

// contentType reads the request's Content-Type. Some clients send a list:
// rOCCI-cli's default is "text/plain,text/occi" (its --media-type), the
// Infrastructure Manager's OCCI connector sends the same. The first type
// of the list this server reads is taken; a list with none of them
// answers with its first type (415), one with no valid type at all is
// malformed (400).
func contentType(ct string) (string, error) {
	if strings.TrimSpace(ct) == "" {
		return "", nil
	}
	parts, err := splitOutside(ct, ',')
	if err != nil {
		return "", kind.Errorf(kind.Invalid, "malformed Content-Type %q: %w", clip(ct), err)
	}
	first := ""
	for _, part := range parts {
		if strings.TrimSpace(part) == "" {
			continue
		}
		m, _, err := mime.ParseMediaType(part)
		if err != nil {
			continue
		}
		if readable(m) {
			return m, nil
		}
		if first == "" {
			first = m
		}
	}
	if first == "" {
		return "", kind.Errorf(kind.Invalid, "malformed Content-Type %q", clip(ct))
	}
	return first, nil
}

// readable tells whether readPayload reads a body of media type m.
func readable(m string) bool {
	switch m {
	case mediaPlain, mediaOCCIPlain, mediaOCCI, mediaOCCIJSON, mediaJSON, mediaURIList:
		return true
	}
	return false
}

// merge adds header fields to a body payload; a body's entity wins.
func merge(h, b *payload) *payload {
	if h == nil || (len(h.Categories) == 0 && len(h.Locations) == 0 && len(h.Attrs) == 0 && len(h.Entities) == 0) {
		return b
	}
	if b == nil || (len(b.Categories) == 0 && len(b.Locations) == 0 && len(b.Entities) == 0 && b.Action == "") {
		return h
	}
	return b
}
