package occi

import (
	"context"
	"strconv"
	"strings"

	"github.com/occicdmi/occicdmi/internal/kind"
)

// MaxPageSize is the most entities one page of a listing holds (the
// "number" of GFD.223 §5).
const MaxPageSize = 1000

// Query selects the entities of a listing (GFD.223 §3.1, §5, §6.2).
type Query struct {
	// Collection is the type identifier of the kind or mixin whose
	// collection is listed; "" for none.
	Collection string
	// Prefix lists the entities whose location starts with it (an unbound
	// path, GFD.223 §3.1); a prefix other than "/" with nothing below it
	// is NotFound.
	Prefix string
	// Categories filter by kind (its sub-kinds included) or mixin (type
	// identifiers).
	Categories []string
	// Attrs filter by attribute value; occi.core.id, occi.core.source and
	// occi.core.target filter on the entity's id and link ends.
	Attrs map[string]any
	// Number entities per page, page Page (from 1); Number 0 lists all.
	Page, Number int
	// Entities loads the entities themselves (with their links), not
	// only their locations.
	Entities bool
	// Only narrows the listing to resources (OnlyResources) or links
	// (OnlyLinks); "" lists both.
	Only string
}

// Sorts of entities a Query may be narrowed to.
const (
	OnlyResources = "resources"
	OnlyLinks     = "links"
)

// streamPage is how many entities a streamed listing reads at a time:
// what it holds in memory, and how long it holds a database connection.
// A variable so that tests page through small listings.
var streamPage = 1000

// Listing is a collection's members, in location order.
type Listing struct {
	Locations []string
	Entities  []*Entity // when Query.Entities; links inside their resources
}

// List answers the entities q selects. Entities are loaded only when
// asked for, in bulk; a listing calls no backend.
func (s *Service) List(ctx context.Context, q Query) (*Listing, error) {
	o, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	f, err := o.query(q)
	if err != nil {
		return nil, err
	}
	return o.listing(f, q.Entities)
}

// query checks q and turns it into the store's filter.
func (o *op) query(q Query) (filter, error) {
	f, err := o.filter(q)
	if err != nil {
		return f, err
	}
	// An unbound path is the union of what lies below it (GFD.223 §3.1);
	// with nothing below it, it does not exist.
	if q.Collection == "" && q.Prefix != "" && q.Prefix != "/" {
		if any, err := o.list(filter{Prefix: q.Prefix, Limit: 1}); err != nil {
			return f, err
		} else if len(any) == 0 {
			return f, kind.Errorf(kind.NotFound, "nothing at %s", q.Prefix)
		}
	}
	return f, nil
}

// EachLocation calls fn with the location of each entity q selects, in
// location order, as List would list them; an error fn answers stops the
// listing and is answered. Locations are read streamPage at a time, each
// page its own statement: memory is bounded by a page, no database
// connection waits on fn, and entities created or deleted during the
// listing may or may not be in it.
func (s *Service) EachLocation(ctx context.Context, q Query, fn func(loc string) error) error {
	o, f, err := s.beginListing(ctx, q)
	if err != nil {
		return err
	}
	return f.pages(func(k keyset) (string, int, error) {
		locs, err := o.s.st.pageLocations(o.db, o.sc, f.filter, k)
		if err != nil {
			return "", 0, dbErr(err)
		}
		for _, l := range locs {
			if err := fn(l); err != nil {
				return "", 0, err
			}
		}
		return last(locs), len(locs), nil
	})
}

// Each calls fn with each entity q selects (q.Entities is implied), in
// location order, with its links when it is a resource and the actions
// it allows, as List would list them; paged as EachLocation. A listing
// calls no backend.
func (s *Service) Each(ctx context.Context, q Query, fn func(*Entity) error) error {
	o, f, err := s.beginListing(ctx, q)
	if err != nil {
		return err
	}
	return o.records(f, func(r *record) error {
		e := r.entity()
		o.fillActions(e)
		for _, l := range e.Links {
			o.fillActions(l)
		}
		return fn(e)
	})
}

// eachRecord is Each for the renderings: fn gets each entity's record,
// its links attached, valid until fn returns.
func (s *Service) eachRecord(ctx context.Context, q Query, fn func(*record) error) error {
	o, f, err := s.beginListing(ctx, q)
	if err != nil {
		return err
	}
	return o.records(f, fn)
}

// records reads p's listing as records, a page at a time.
func (o *op) records(p pager, fn func(*record) error) error {
	var pg pageBuf
	return p.pages(func(k keyset) (string, int, error) {
		page, err := o.recordPage(p.filter, k, &pg)
		if err != nil {
			if kind.Of(err) == kind.Internal {
				err = dbErr(err)
			}
			return "", 0, err
		}
		return page.each(&pg.rec, fn)
	})
}

// recordPage reads one page of records with their links: from the page
// cache when it holds it (Service.pages), else from the database, then
// kept when no write to the OCCI tables began or ended meanwhile.
func (o *op) recordPage(f filter, k keyset, pg *pageBuf) (*recordPage, error) {
	key, ok := o.pageKey(f, k, "records")
	if !ok {
		return o.s.st.readPage(o.db, o.sc, f, k, true, pg)
	}
	if v, hit := o.s.pages.get(key); hit {
		return v.(*recordPage), nil
	}
	stamp := o.s.pages.stamp()
	page, err := o.s.st.readPage(o.db, o.sc, f, k, true, pg)
	if err == nil {
		kept := page.own()
		o.s.pages.fill(key, stamp, kept, len(key)+kept.size())
	}
	return page, err
}

// textPage is one page of locations rendered by the database (see
// store.pageText), from the page cache or kept in it as recordPage's;
// cached tells that text is the cache's (not to be written into).
func (o *op) textPage(f filter, k keyset, prefix, eol string, buf []byte) (text []byte, at string, n int, cached bool, err error) {
	key, ok := o.pageKey(f, k, "text"+strconv.Itoa(len(prefix))+":"+prefix+eol)
	if !ok {
		text, at, n, err = o.s.st.pageText(o.db, o.sc, f, k, prefix, eol, buf)
		return text, at, n, false, err
	}
	if v, hit := o.s.pages.get(key); hit {
		p := v.(*textPage)
		return p.text, p.last, p.n, true, nil
	}
	stamp := o.s.pages.stamp()
	text, at, n, err = o.s.st.pageText(o.db, o.sc, f, k, prefix, eol, buf)
	if err == nil {
		p := &textPage{text: append([]byte(nil), text...), last: at, n: n}
		o.s.pages.fill(key, stamp, p, len(key)+len(p.text)+len(at)+64)
	}
	return text, at, n, false, err
}

type textPage struct {
	text []byte
	last string
	n    int
}

// pageKey is the page cache's key of page k of f in a rendering (how),
// for the call's caller; ok is false when the page is not to be cached:
// no cache (not the database's only writer), inside a caller's
// transaction (it may see its own uncommitted writes), or a filter on
// attribute values (whose values' types the key would have to tell).
func (o *op) pageKey(f filter, k keyset, how string) (key string, ok bool) {
	if o.s.pages == nil || o.j != nil || f.Attrs != nil {
		return "", false
	}
	var b strings.Builder
	field := func(v string) {
		b.WriteString(strconv.Itoa(len(v)))
		b.WriteByte(':')
		b.WriteString(v)
	}
	field(how)
	field(cacheKey(o.sc, ""))
	b.WriteString(strconv.Itoa(len(f.Kinds)))
	if f.Kinds == nil {
		b.WriteByte('-') // no kind filter, unlike an empty one
	}
	for _, kd := range f.Kinds {
		field(kd)
	}
	for _, v := range []string{f.Mixin, f.Prefix, f.ID, f.Source, f.Target, f.Only, k.After} {
		field(v)
	}
	for _, v := range []int{f.Limit, f.Offset, k.Offset, k.Limit} {
		field(strconv.Itoa(v))
	}
	return b.String(), true
}

// eachText calls fn with the locations q selects, rendered by the
// database a page at a time: each location as prefix, location, eol.
// It lists what EachLocation lists.
func (s *Service) eachText(ctx context.Context, q Query, prefix, eol string, fn func([]byte) error) error {
	o, f, err := s.beginListing(ctx, q)
	if err != nil {
		return err
	}
	var buf []byte
	return f.pages(func(k keyset) (string, int, error) {
		text, at, n, cached, err := o.textPage(f.filter, k, prefix, eol, buf)
		if err != nil {
			return "", 0, dbErr(err)
		}
		if !cached {
			buf = text
		}
		if n > 0 {
			if err := fn(text); err != nil {
				return "", 0, err
			}
		}
		return at, n, nil
	})
}

func last(xs []string) string {
	if len(xs) == 0 {
		return ""
	}
	return xs[len(xs)-1]
}

func (s *Service) beginListing(ctx context.Context, q Query) (*op, pager, error) {
	o, err := s.begin(ctx)
	if err != nil {
		return nil, pager{}, err
	}
	f, err := o.query(q)
	return o, pager{filter: f}, err
}

// pager reads a filter's listing in keyset pages of streamPage, within
// the filter's own page (Limit, Offset) when it has one.
type pager struct{ filter filter }

// pages calls read for each page until one comes back short; read
// answers the page's last location and how many it held.
func (p pager) pages(read func(keyset) (string, int, error)) error {
	k := keyset{Offset: p.filter.Offset}
	left := p.filter.Limit
	for {
		k.Limit = streamPage
		if p.filter.Limit > 0 {
			k.Limit = min(streamPage, left)
		}
		at, n, err := read(k)
		if err != nil {
			return err
		}
		left -= n
		if n < k.Limit || (p.filter.Limit > 0 && left <= 0) {
			return nil
		}
		k = keyset{After: at}
	}
}

// filter turns a query into the store's filter: the collection's own
// scope narrowed by the category and attribute filters, and the page.
func (o *op) filter(q Query) (filter, error) {
	var f filter
	if q.Collection != "" {
		c := o.m.get(q.Collection)
		switch {
		case c == nil:
			return f, kind.Errorf(kind.NotFound, "no collection of %s", q.Collection)
		case c.Class == ClassKind:
			f.Kinds = o.m.subKinds(c.ID())
		default:
			f.Mixin = c.ID()
		}
	}
	f.Prefix, f.Only = q.Prefix, q.Only
	for _, id := range q.Categories {
		if err := o.narrow(&f, id); err != nil {
			return f, err
		}
	}
	for k, v := range q.Attrs {
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
	switch {
	case q.Number < 0 || q.Page < 0:
		return f, kind.New(kind.Invalid, "page and number must be positive")
	case q.Number > MaxPageSize:
		return f, kind.Errorf(kind.Invalid, "number=%d is more than the %d items a page may hold", q.Number, MaxPageSize)
	case q.Number > 0:
		f.Limit, f.Offset = q.Number, (max(q.Page, 1)-1)*q.Number
	}
	return f, nil
}

// narrow adds a category filter (GFD.223 §6.2) to f.
func (o *op) narrow(f *filter, id string) error {
	cat := o.m.get(id)
	if cat == nil {
		return kind.Errorf(kind.Invalid, "filter names unknown category %s", id)
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
		return kind.Errorf(kind.Invalid, "an action (%s) cannot filter a collection", id)
	}
	return nil
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

// listing lists f; entities are loaded only when wanted, in bulk.
func (o *op) listing(f filter, wantEntities bool) (*Listing, error) {
	locs, err := o.list(f)
	if err != nil {
		return nil, err
	}
	out := &Listing{Locations: locs}
	if !wantEntities {
		return out, nil
	}
	es, err := o.entities(locs)
	if err != nil {
		return nil, err
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
	links, err := o.linksOf(resources, false)
	if err != nil {
		return nil, err
	}
	for _, l := range links {
		o.fillActions(l)
		if src := byLoc[l.Source]; src != nil {
			src.Links = append(src.Links, l)
		}
	}
	out.Entities = es
	return out, nil
}
