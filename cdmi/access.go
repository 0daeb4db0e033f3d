package cdmi

import (
	"context"
	"fmt"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/internal/database"
)

// Access time and count (cdmi_atime, cdmi_acount; CDMI 1.1.1 §16.3 Table
// 118) change on every read. Writing them on the read path made every read
// a write transaction (an fsync on SQLite, the single writer's lock). They
// are kept in memory instead and written in batches:
//
//   - a read records its access here (touch), no statement;
//   - whatever renders the metadata adds the accesses not written yet
//     (merged), so this server's answers count every access at once, as
//     §16.3 asks ("immediately be made available ... in any subsequent
//     retrievals");
//   - a flush writes them all in one transaction, AccessFlushInterval after
//     the first pending access, at once when accessFlushObjects objects are
//     pending, and at Close. It adds (a_count = a_count + n) and keeps the
//     later time (a_time only moves forward), so two servers on one
//     database lose nothing of each other's.
//
// What this costs: another server sees this one's accesses only once they
// are flushed (within the interval), and a crash loses at most the accesses
// of the last interval (statistics, never data).

// AccessFlushInterval is how long accesses stay in memory at most before
// they are written (the most a crash can lose of them).
const AccessFlushInterval = time.Second

// accessFlushObjects is how many objects may have pending accesses before
// they are written without waiting for the interval: the bound on the
// memory the pending accesses hold and on one flush's transaction.
const accessFlushObjects = 4096

type pendingAccess struct {
	n    int64     // accesses not written yet
	last time.Time // the latest of them
}

// accessLog holds the accesses not written yet, by object ID.
type accessLog struct {
	db  *gorm.DB
	log func(msg string, args ...any)

	mu      sync.Mutex
	pending map[string]pendingAccess
	timer   *time.Timer // armed while something is pending
	closed  bool

	flushing sync.Mutex // one flush at a time, so their order is kept
}

func newAccessLog(db *gorm.DB, warn func(string, ...any)) *accessLog {
	return &accessLog{db: db, log: warn, pending: map[string]pendingAccess{}}
}

// record notes one access of the object id at t.
func (a *accessLog) record(id string, t time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.pending[id]
	p.n++
	if t.After(p.last) {
		p.last = t
	}
	a.pending[id] = p
	switch {
	case a.closed:
		// After Close (a request still finishing): written by the
		// flush Close is running or lost with the process, never
		// scheduled on a database that is going away.
	case len(a.pending) >= accessFlushObjects:
		a.stopTimer()
		go a.flush()
	case a.timer == nil:
		a.timer = time.AfterFunc(AccessFlushInterval, a.flush)
	}
}

func (a *accessLog) stopTimer() {
	if a.timer != nil {
		a.timer.Stop()
		a.timer = nil
	}
}

// merged is the access time and count of o with the accesses not written
// yet added.
func (a *accessLog) merged(o *object) (time.Time, int64) {
	a.mu.Lock()
	p, ok := a.pending[o.ObjectID]
	a.mu.Unlock()
	if !ok {
		return o.ATime, o.ACount
	}
	at := o.ATime
	if p.last.After(at) {
		at = p.last
	}
	return at, o.ACount + p.n
}

// take removes and returns what is pending.
func (a *accessLog) take() map[string]pendingAccess {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stopTimer()
	if len(a.pending) == 0 {
		return nil
	}
	out := a.pending
	a.pending = make(map[string]pendingAccess, len(out))
	return out
}

// putBack returns accesses a failed flush could not write; the next flush
// tries them again.
func (a *accessLog) putBack(batch map[string]pendingAccess) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, b := range batch {
		p := a.pending[id]
		p.n += b.n
		if b.last.After(p.last) {
			p.last = b.last
		}
		a.pending[id] = p
	}
	if !a.closed && a.timer == nil && len(a.pending) > 0 {
		a.timer = time.AfterFunc(AccessFlushInterval, a.flush)
	}
}

// flush writes what is pending; a failure is logged and retried later.
func (a *accessLog) flush() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.flushCtx(ctx); err != nil {
		a.log("cdmi: write access times and counts (retried)", "err", err)
	}
}

func (a *accessLog) flushCtx(ctx context.Context) error {
	a.flushing.Lock()
	defer a.flushing.Unlock()
	batch := a.take()
	if len(batch) == 0 {
		return nil
	}
	// autocommit: each update commits on its own, so one written is not
	// put back when a later one fails.
	autocommit := a.db.Dialector.Name() == "postgres"
	write := func(tx *gorm.DB) error {
		for id, p := range batch {
			// An object deleted meanwhile matches no row: nothing to do.
			err := tx.Exec(`UPDATE cdmi_objects SET a_count = a_count + ?,
				a_time = CASE WHEN a_time IS NULL OR a_time < ? THEN ? ELSE a_time END
				WHERE object_id = ?`, p.n, p.last, p.last, id).Error
			if err != nil {
				return err
			}
			if autocommit {
				delete(batch, id)
			}
		}
		return nil
	}
	var err error
	if autocommit {
		// One statement at a time, each its own transaction: the flush
		// never holds one row's lock while waiting for another's, so it
		// cannot deadlock with a write (parent, then child) or with
		// another server's flush. PostgreSQL batches the commits' WAL
		// flushes itself.
		err = write(a.db.WithContext(ctx))
	} else {
		// SQLite: one transaction, one fsync for the whole batch.
		err = a.db.WithContext(ctx).Transaction(write)
	}
	if err != nil {
		a.putBack(batch)
		return fmt.Errorf("%d objects: %w", len(batch), database.Classify(err))
	}
	return nil
}

// close writes what is pending and schedules no more flushes.
func (a *accessLog) close(ctx context.Context) error {
	a.mu.Lock()
	a.closed = true
	a.stopTimer()
	a.mu.Unlock()
	return a.flushCtx(ctx)
}

// touch records a read (or listing) of o: its access time and count
// (§16.3 Table 118), written later in a batch (see accessLog).
func (s *Service) touch(_ context.Context, o *object) {
	s.accesses.record(o.ObjectID, time.Now().UTC())
}

// FlushAccesses writes the access times and counts not written yet.
func (s *Service) FlushAccesses(ctx context.Context) error {
	return s.accesses.flushCtx(ctx)
}

// Close writes the pending access times and counts; the service must not
// be used after it (a request still running records its access in memory
// only).
func (s *Service) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.accesses.close(ctx); err != nil {
		return fmt.Errorf("cdmi: write access times and counts: %w", err)
	}
	return nil
}

// Close closes the service (Service.Close).
func (s *Server) Close() error { return s.svc.Close() }
