package occi

import (
	"container/list"
	"strconv"
	"sync"

	"github.com/occicdmi/occicdmi/internal/database"
)

// entityCache keeps what recent GETs read (an entity's record with its
// links, and the user mixins' version read with them), so that the next
// GET of the same entity by a caller of the same scope reads nothing from
// the database. It is on only when this process is the only writer of its
// database (Config.SoleWriter): then every change to the OCCI tables goes
// through this process's SQLite writer, which the cache watches
// (database.Watch). Every write to a table whose name holds "occi_" moves
// the watch's epoch when it begins and again when its transaction has
// ended (committed, or rolled back, whole or a savepoint of it); an entry
// is used only while the epoch it was read at stays, and a read fills the
// cache only when the epoch did not move between its start and its end.
// So a write invalidates every entry, after its commit; a read that
// began before a write committed cannot keep the old value; and while a
// write is open nothing is served from the cache (the database answers
// what is committed). Whole-cache invalidation is coarse, but needs no
// knowledge of which entities a write's rendering reaches (a link changes
// its source's rendering, a deleted mixin its members').
//
// Entries are by scope and location: a caller sees only its project's
// entity and links (tenancy is the key's, as in the statement that read
// it), an administrator all. Memory is bounded: at most cacheEntries
// entries and cacheBytes bytes of records, the least recently used
// evicted first. Reads inside a caller's transaction neither use nor fill
// it (they may see that transaction's uncommitted writes).
type entityCache = memo

// memo is an LRU of values read from the OCCI tables, each kept with the
// stamp of the watch taken before it was read (see entityCache).
type memo struct {
	watch      *database.Watch
	maxEntries int
	maxBytes   int
	mu         sync.Mutex
	lru        *list.List // of *cached, most recent first
	byKey      map[string]*list.Element
	bytes      int
}

// cacheEntries and cacheBytes bound the entity cache: a few thousand
// computes' records (a compute's is about 600 bytes with a link).
const (
	cacheEntries = 8192
	cacheBytes   = 16 << 20
)

// pageEntries and pageBytes bound the page cache (Service.pages): pages
// of listings (streamPage entities each), kept and invalidated as the
// entity cache's entries. 32 MiB holds the record pages of about 50,000
// computes; a listing of more reads the rest from the database, a page
// at a time as without the cache, and never needs it all in memory.
const (
	pageEntries = 1024
	pageBytes   = 32 << 20
)

type cached struct {
	key   string
	stamp database.Stamp
	val   any // never changed once cached
	size  int
}

// kept is what the entity cache keeps of a GET.
type kept struct {
	rec     *record // with its links
	version int64   // the user mixins' version read with it
}

func newEntityCache(w *database.Watch) *entityCache { return newMemo(w, cacheEntries, cacheBytes) }

func newMemo(w *database.Watch, entries, bytes int) *memo {
	if w == nil {
		return nil
	}
	return &memo{watch: w, maxEntries: entries, maxBytes: bytes, lru: list.New(), byKey: map[string]*list.Element{}}
}

// cacheKey is the key of location for a caller who sees sc: "*" and the
// location for one who sees every project, else "P", the project's
// length, ":", the project and the location (the length keeps any
// project name from reading as another's prefix).
func cacheKey(sc scope, location string) string {
	if sc.all {
		return "*" + location
	}
	return "P" + strconv.Itoa(len(sc.project)) + ":" + sc.project + location
}

// stamp is taken before a read whose outcome may be kept (fill).
func (c *memo) stamp() database.Stamp { return c.watch.Stamp() }

// getEntity answers the record and mixin version kept for key, when
// they are still current.
func (c *memo) getEntity(key string) (*record, int64, bool) {
	v, ok := c.get(key)
	if !ok {
		return nil, 0, false
	}
	g := v.(kept)
	return g.rec, g.version, true
}

func (c *memo) fillEntity(key string, s database.Stamp, r *record, version int64) {
	c.fill(key, s, kept{rec: r, version: version}, len(key)+r.size())
}

// get answers the value kept for key, when it is still current.
func (c *memo) get(key string) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*cached)
	if !e.stamp.Current() {
		c.remove(el)
		return nil, false
	}
	c.lru.MoveToFront(el)
	return e.val, true
}

// fill keeps what a read that began at s answered (val, about size
// bytes), unless a watched write began or ended since s (then it may be
// older than what is committed).
func (c *memo) fill(key string, s database.Stamp, val any, size int) {
	if size > c.maxBytes/16 {
		return // one huge value must not push out the rest
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// get drops what is not current too; this keeps such values from
	// pushing out current ones.
	if !s.Current() {
		return
	}
	if el, ok := c.byKey[key]; ok {
		c.remove(el)
	}
	c.byKey[key] = c.lru.PushFront(&cached{key: key, stamp: s, val: val, size: size})
	c.bytes += size
	for c.lru.Len() > c.maxEntries || c.bytes > c.maxBytes {
		c.remove(c.lru.Back())
	}
}

func (c *memo) remove(el *list.Element) {
	e := c.lru.Remove(el).(*cached)
	delete(c.byKey, e.key)
	c.bytes -= e.size
}

// size is about the memory r holds, its links' included.
func (r *record) size() int {
	n := 200 + len(r.loc) + len(r.id) + len(r.kind) + len(r.source) + len(r.target) + len(r.sourceKind) + len(r.targetKind) + len(r.project)
	for _, m := range r.mixins {
		n += 24 + len(m)
	}
	for _, a := range r.attrs {
		n += 48 + len(a.name) + len(a.value)
	}
	for _, l := range r.links {
		n += l.size()
	}
	return n
}
