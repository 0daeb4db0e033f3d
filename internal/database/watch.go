package database

import (
	"strings"
	"sync"
	"sync/atomic"

	"gorm.io/gorm"
)

// A Watch tells a process-local cache whether what it read from some
// tables may still be current: it sees every statement that goes to the
// SQLite writer (the only connection that writes, see sqlitePool), and
// moves its epoch when a write to the watched tables begins and again when
// the transaction holding it has ended (committed or rolled back, whole or
// a savepoint of it: the end of the transaction is what counts). A value
// read while no such write was open and kept with the epoch of before the
// read is current for as long as the epoch stays:
//
//	s := w.Stamp()              // before the read
//	v := read()                 // from the database, outside a transaction
//	if s.Current() { keep(v, s) } // no write began or ended meanwhile
//	...
//	if kept.s.Current() { use(kept.v) }
//
// The epoch sees only this process's writes. Other handles on the same
// SQLite file (another server process sharing it, which runs without the
// file's lock but writes) are told by the writers' file: no stamp is
// current while another handle is open, nor once one has opened since
// the stamp was taken (see writers). A cache relies on it only when the
// process is meant to be the database's only writer (the caller says so;
// see occi.Config.SoleWriter). A statement names the tables it writes, and no
// trigger or cascade writes the watched tables from another's (the
// migrations define none), so a write to them is told by its SQL text.
type Watch struct {
	tables  []string // a statement naming one of them writes the watched tables
	epoch   atomic.Uint64
	open    atomic.Int64 // writes to the tables not ended yet
	writers *writers     // the pool's: other handles on the file
}

// A Stamp is the epoch of a Watch when a read began; the zero Stamp is
// never current.
type Stamp struct {
	w       *Watch
	epoch   uint64
	writers int64 // the writers' file's size
}

// Current tells that no watched write began or ended since s was taken
// (and none was open then), and that no other handle on the file has
// opened since (none was open then).
func (s Stamp) Current() bool {
	if s.w == nil || s.w.epoch.Load() != s.epoch {
		return false
	}
	size, ok := s.w.writers.size()
	return ok && size == s.writers
}

// Stamp is the watch's epoch now, or the zero Stamp while a watched write
// is open (what the database answers then may be changed by it at once).
func (w *Watch) Stamp() Stamp {
	if w == nil {
		return Stamp{}
	}
	// The epoch first: a write that begins after it moves it, and one that
	// began before is counted in open (begin counts, then moves).
	e := w.epoch.Load()
	if w.open.Load() != 0 {
		return Stamp{}
	}
	alone, size := w.writers.alone()
	if !alone {
		return Stamp{}
	}
	return Stamp{w: w, epoch: e, writers: size}
}

func (w *Watch) begin() { w.open.Add(1); w.epoch.Add(1) }
func (w *Watch) end()   { w.epoch.Add(1); w.open.Add(-1) }

func (w *Watch) names(query string) bool {
	for _, t := range w.tables {
		if strings.Contains(query, t) {
			return true
		}
	}
	return false
}

// NewWatch watches the writes of this process to the tables of db whose
// names contain one of tables (e.g. "occi_"). It is nil on PostgreSQL,
// where other processes write beside this one and no process sees their
// writes: a nil Watch's Stamp is never current.
func NewWatch(db *gorm.DB, tables ...string) *Watch {
	p, ok := db.ConnPool.(*sqlitePool)
	if !ok || p.writers == nil {
		return nil
	}
	w := &Watch{tables: tables, writers: p.writers}
	p.watches.add(w)
	return w
}

// watchList is a pool's watches.
type watchList struct {
	mu   sync.RWMutex
	list []*Watch
}

func (l *watchList) add(w *Watch) {
	l.mu.Lock()
	l.list = append(l.list, w)
	l.mu.Unlock()
}

// touching appends to had the watches query writes that are not in it
// yet, each begun.
func (l *watchList) touching(query string, had []*Watch) []*Watch {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, w := range l.list {
		if w.names(query) && !contains(had, w) {
			w.begin()
			had = append(had, w)
		}
	}
	return had
}

func contains(ws []*Watch, w *Watch) bool {
	for _, x := range ws {
		if x == w {
			return true
		}
	}
	return false
}

func endAll(ws []*Watch) {
	for _, w := range ws {
		w.end()
	}
}
