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
type entityCache struct {
	watch *database.Watch
	mu    sync.Mutex
	lru   *list.List // of *cached, most recent first
	byKey map[string]*list.Element
	bytes int
}

// cacheEntries and cacheBytes bound the entity cache: a few thousand
// computes' records (a compute's is about 600 bytes with a link).
const (
	cacheEntries = 8192
	cacheBytes   = 16 << 20
)

type cached struct {
	key     string
	stamp   database.Stamp
	rec     *record // with its links; never changed once cached
	version int64   // the user mixins' version read with it
	size    int
}

func newEntityCache(w *database.Watch) *entityCache {
	if w == nil {
		return nil
	}
	return &entityCache{watch: w, lru: list.New(), byKey: map[string]*list.Element{}}
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
func (c *entityCache) stamp() database.Stamp { return c.watch.Stamp() }

// get answers the record and mixin version kept for key, when they are
// still current.
func (c *entityCache) get(key string) (*record, int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[key]
	if !ok {
		return nil, 0, false
	}
	e := el.Value.(*cached)
	if !e.stamp.Current() {
		c.remove(el)
		return nil, 0, false
	}
	c.lru.MoveToFront(el)
	return e.rec, e.version, true
}

// fill keeps what a read that began at s answered, unless a watched write
// began or ended since s (then it may be older than what is committed).
func (c *entityCache) fill(key string, s database.Stamp, r *record, version int64) {
	size := len(key) + r.size()
	if size > cacheBytes/64 {
		return // one huge entity must not push out the rest
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Checked under the lock: get drops what is not current, and fill
	// must not put back an entry older than one it replaced.
	if !s.Current() {
		return
	}
	if el, ok := c.byKey[key]; ok {
		c.remove(el)
	}
	c.byKey[key] = c.lru.PushFront(&cached{key: key, stamp: s, rec: r, version: version, size: size})
	c.bytes += size
	for c.lru.Len() > cacheEntries || c.bytes > cacheBytes {
		c.remove(c.lru.Back())
	}
}

func (c *entityCache) remove(el *list.Element) {
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
