package cdmi

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/internal/kind"
)

// Names travel percent-encoded. The router hands over the raw path
// (UseEncodedPath, SkipClean), and each segment is decoded here on its own,
// so "%2F" can never split a name and ".." can never climb. Decisions:
//   - a decoded name may hold spaces, '%', unicode: anything but '/' and
//     '?' (reserved as delimiters by §5.13.6: children listings mark
//     containers with '/' and references with '?') and NUL;
//   - "." and ".." are refused as names (400), never resolved;
//   - an empty segment ("a//b") is refused (400).

const maxNameBytes = 1024

func decodeName(seg string) (string, error) {
	n, err := url.PathUnescape(seg)
	if err != nil {
		return "", invalidf("name %q is not validly percent-encoded", seg)
	}
	switch {
	case n == "":
		return "", invalidf("empty name in the path (two slashes in a row?)")
	case n == "." || n == "..":
		return "", invalidf("%q is not allowed as a name", n)
	case strings.ContainsAny(n, "/?"):
		return "", invalidf("name %q holds a '/' or '?' (%%2F, %%3F), reserved as delimiters (§5.13.6)", n)
	case strings.ContainsRune(n, 0):
		return "", invalidf("name %q holds a NUL byte", n)
	case !utf8.ValidString(n):
		return "", invalidf("name %q is not valid UTF-8", seg)
	case len(n) > maxNameBytes:
		return "", invalidf("name is longer than %d bytes", maxNameBytes)
	}
	return n, nil
}

// viewerKey carries, in a request's context, the principal lookups hide
// objects from (Service.hidden): every lookup (locate, resolveURI for
// copy, move and reference sources) applies it without each call site
// passing it along. A context without one hides nothing (the server's own
// work).
type viewerKey struct{}

func withViewer(ctx context.Context, who Principal) context.Context {
	return context.WithValue(ctx, viewerKey{}, who)
}

// withoutViewer is ctx hiding nothing: for what the server looks up
// itself, whoever asks.
func withoutViewer(ctx context.Context) context.Context {
	return context.WithValue(ctx, viewerKey{}, nil)
}

// hiddenFrom tells whether o is invisible to the context's principal.
func (s *Service) hiddenFrom(ctx context.Context, o *object) bool {
	who, ok := ctx.Value(viewerKey{}).(Principal)
	return ok && s.hidden(who, o)
}

// walkKey carries, in a request's context, the containers the request's
// path walk read (walkCache): what renders the answer (the parent's ID and
// URI, the object's lineage) takes them from there instead of reading the
// rows again. They are as fresh as the walk, the same request's, and only
// the reads outside a transaction use them (cachedByID).
type walkKey struct{}

type walkCache struct {
	mu   sync.Mutex
	byID map[string]*object
}

func withWalkCache(ctx context.Context) context.Context {
	return context.WithValue(ctx, walkKey{}, &walkCache{byID: map[string]*object{}})
}

// walked records a container a path walk went through.
func walked(ctx context.Context, o *object) {
	if c, ok := ctx.Value(walkKey{}).(*walkCache); ok {
		c.mu.Lock()
		c.byID[o.ObjectID] = o
		c.mu.Unlock()
	}
}

// cachedByID is byID, from the request's walk when it read the row (only
// for reads on s.db, never inside a transaction).
func (s *Service) cachedByID(ctx context.Context, db *gorm.DB, id string) (*object, error) {
	if c, ok := ctx.Value(walkKey{}).(*walkCache); ok && db == s.db {
		c.mu.Lock()
		o := c.byID[id]
		c.mu.Unlock()
		if o != nil {
			return o, nil
		}
	}
	return s.byID(ctx, db, id)
}

// target is what a request's path names.
type target struct {
	obj    *object // nil when nothing exists there yet
	parent *object // the container a new object would go into; nil by ID
	name   string  // the last name (decoded); "" for the root and by-ID paths
	slash  bool    // the path ends in '/'
	byID   bool    // reached through /cdmi_objectid/
	path   string  // the request's escaped path
}

// locate resolves an escaped path (the CDMI root included). Intermediate
// names must exist and be containers; the last one may be missing (a
// create). A read walks through the root without needing its row. What
// the context's principal cannot see is not there (hiddenFrom); what
// belongs to a disabled domain is refused (checkDomainEnabled).
func (s *Service) locate(ctx context.Context, p string, read bool) (*target, error) {
	t, err := s.resolvePath(ctx, p, read)
	if err != nil {
		return nil, err
	}
	if err := s.checkDomainEnabled(ctx, t); err != nil {
		return nil, err
	}
	return t, nil
}

// resolvePath is locate's walk.
func (s *Service) resolvePath(ctx context.Context, p string, read bool) (*target, error) {
	rel, ok := strings.CutPrefix(p, s.root+"/")
	if !ok {
		return nil, kind.Errorf(kind.NotFound, "%s is outside the CDMI root %s/", p, s.root)
	}
	t := &target{path: p, slash: strings.HasSuffix(rel, "/") || rel == ""}
	rel = strings.TrimSuffix(rel, "/")
	var segs []string
	if rel != "" {
		segs = strings.Split(rel, "/")
	}
	// Every name is checked before any is looked up, so a bad name is a
	// 400 wherever it is, not a 404 for a missing parent.
	start := 0
	if len(segs) > 0 && segs[0] == "cdmi_objectid" {
		start = 2
	}
	for i := start; i < len(segs); i++ {
		if _, err := decodeName(segs[i]); err != nil {
			return nil, err
		}
	}
	var cur *object
	switch {
	case read && len(segs) > 0 || len(segs) > 1 && segs[0] != "cdmi_objectid":
		// A walk goes through the root without needing its row: reads
		// never use t.parent, and below the first level the root is no
		// one's parent (what renders a parent takes the root's ID alone,
		// parentOf). Fewer columns read on every request.
		cur = &object{ObjectID: s.rootID, Type: typeContainer, System: true}
	case len(segs) == 1 && segs[0] != "cdmi_objectid":
		// The root is the parent: its row comes with the walk (walkTarget).
		return s.walkTarget(ctx, t, nil, segs)
	default:
		var err error
		if cur, err = s.byID(ctx, s.db, s.rootID); err != nil {
			return nil, err
		}
		walked(ctx, cur) // the real row: the stand-in above has no metadata
	}
	if len(segs) > 0 && segs[0] == "cdmi_objectid" {
		if len(segs) == 1 {
			return nil, kind.Errorf(kind.NotFound, "%s/cdmi_objectid/ lists nothing; name an object ID", s.root)
		}
		id, err := parseObjectID(segs[1])
		if err != nil {
			return nil, kind.Errorf(kind.NotFound, "no object has ID %q: %v", segs[1], err)
		}
		o, err := s.byID(ctx, s.db, id)
		if errors.Is(err, errNotFound) || err == nil && s.hiddenFrom(ctx, o) {
			return nil, kind.Errorf(kind.NotFound, "no object has ID %s", id)
		}
		if err != nil {
			return nil, err
		}
		t.byID = true
		if len(segs) == 2 {
			t.obj = o
			if o.ParentID != "" {
				t.name = o.Name
				if t.parent, err = s.byID(ctx, s.db, o.ParentID); err != nil && !errors.Is(err, errNotFound) {
					return nil, err
				}
			}
			return t, nil
		}
		cur, segs = o, segs[2:]
		walked(ctx, cur)
	} else if len(segs) == 0 {
		t.obj = cur
		return t, nil
	}
	return s.walkTarget(ctx, t, cur, segs)
}

// walkTarget follows the escaped names segs down from cur (checked by
// decodeName already) in one statement, and fills in t: intermediate names
// must be containers the context's principal can see, the last may be
// missing. A nil cur is the root, read in the same statement: its row is
// the one named "" with no parent (ensureSystem).
func (s *Service) walkTarget(ctx context.Context, t *target, cur *object, segs []string) (*target, error) {
	names := make([]string, len(segs))
	for i, seg := range segs {
		names[i], _ = decodeName(seg)
	}
	var found []*object
	var err error
	switch {
	case cur == nil:
		if found, err = s.walkNames(ctx, s.db, "", append([]string{""}, names...)); err != nil {
			return nil, err
		}
		if len(found) == 0 || found[0].ObjectID != s.rootID {
			return nil, fmt.Errorf("the root container's row is missing")
		}
		cur, found = found[0], found[1:]
		walked(ctx, cur)
	case cur.isContainerLike():
		if found, err = s.walkNames(ctx, s.db, cur.ObjectID, names); err != nil {
			return nil, err
		}
	}
	for i, name := range names {
		if !cur.isContainerLike() {
			return nil, kind.Errorf(kind.NotFound, "%q is not a container", cur.Name)
		}
		var o *object
		if i < len(found) && !s.hiddenFrom(ctx, found[i]) {
			o = found[i] // a hidden object is answered as missing, walked through as missing
		}
		if i == len(names)-1 {
			t.parent, t.name, t.obj = cur, name, o
			return t, nil
		}
		if o == nil {
			return nil, kind.Errorf(kind.NotFound, "container %q does not exist", name)
		}
		cur = o
		walked(ctx, cur)
	}
	return t, nil
}

// resolveURI finds the object a URI in a body names ("copy", "move",
// "reference"): an absolute URL, a path under the root, or a path relative
// to the root as the spec's examples write them ("/MyContainer/x").
func (s *Service) resolveURI(ctx context.Context, uri string) (*target, error) {
	u, err := url.Parse(uri)
	if err != nil || u.EscapedPath() == "" {
		return nil, invalidf("%q is not a URI", uri)
	}
	p := u.EscapedPath()
	if !strings.HasPrefix(p, s.root+"/") {
		if !strings.HasPrefix(p, "/") {
			p = "/" + p
		}
		p = s.root + p
	}
	t, err := s.locate(ctx, p, false)
	if err != nil {
		return nil, err
	}
	if t.obj == nil {
		return nil, kind.Errorf(kind.NotFound, "source %q does not exist", uri)
	}
	return t, nil
}
