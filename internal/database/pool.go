package database

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"

	"gorm.io/gorm"
)

// sqlitePool is the connection pool gorm sees on SQLite: statements that
// only read, outside a transaction, go to a pool of read-only connections
// (WAL lets them run beside a commit and beside each other); everything
// else, and every transaction whole, goes to the single writer
// connection, so SQLite never sees two writers. Both sides keep their
// statements prepared, since parsing SQL was a third of a small request's
// CPU.
type sqlitePool struct {
	writer, readers *sql.DB
	wstmts, rstmts  *stmtCache
	watches         watchList // what process-local caches watch (Watch)
	// lingering are the watches of writes sent through a query outside a
	// transaction (an INSERT ... RETURNING): the write may go on while its
	// rows are read, so their watches end only once a later statement on
	// the one writer connection has run, which it can only after those
	// rows were closed.
	lingerMu  sync.Mutex
	lingering []*Watch
	writers   *writers // this handle's registration among the file's (Watch)
}

func newSQLitePool(writer, readers *sql.DB) *sqlitePool {
	return &sqlitePool{writer: writer, readers: readers, wstmts: newStmtCache(writer), rstmts: newStmtCache(readers)}
}

// route picks the side for a statement outside a transaction. A read is a
// SELECT or a WITH (the recursive subtree queries); an INSERT ...
// RETURNING, which gorm sends through QueryContext, is not. The readers
// are opened query_only, so a write sent there by mistake fails instead of
// racing the writer.
func (p *sqlitePool) route(query string) *stmtCache {
	q := strings.TrimLeft(query, " \t\r\n(")
	if len(q) >= 6 && (strings.EqualFold(q[:6], "select") || strings.EqualFold(q[:4], "with")) {
		return p.rstmts
	}
	return p.wstmts
}

func (p *sqlitePool) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return p.route(query).db.PrepareContext(ctx, query)
}

func (p *sqlitePool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	// A statement of its own: its write has ended (committed or failed)
	// when it returns.
	ws := p.watches.touching(query, nil)
	defer func() {
		endAll(ws)
		p.endLingering()
	}()
	c := p.wstmts
	if st := c.get(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return c.db.ExecContext(ctx, query, args...)
}

func (p *sqlitePool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	c := p.route(query)
	if c == p.wstmts {
		p.linger(p.watches.touching(query, nil))
	}
	if st := c.get(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return c.db.QueryContext(ctx, query, args...)
}

func (p *sqlitePool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	c := p.route(query)
	if c == p.wstmts {
		p.linger(p.watches.touching(query, nil))
	}
	if st := c.get(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return c.db.QueryRowContext(ctx, query, args...)
}

func (p *sqlitePool) linger(ws []*Watch) {
	if len(ws) == 0 {
		return
	}
	p.lingerMu.Lock()
	p.lingering = append(p.lingering, ws...)
	p.lingerMu.Unlock()
}

// endLingering ends the watches of the writes sent through queries
// before the statement that just ran (or the transaction that just began)
// on the writer connection: they were over before it had the connection.
func (p *sqlitePool) endLingering() {
	p.lingerMu.Lock()
	ws := p.lingering
	p.lingering = nil
	p.lingerMu.Unlock()
	endAll(ws)
}

// BeginTx starts a transaction on the writer: its reads see its own
// writes, and it holds SQLite's one write lock until it ends.
func (p *sqlitePool) BeginTx(ctx context.Context, opts *sql.TxOptions) (gorm.ConnPool, error) {
	tx, err := p.writer.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	p.endLingering()
	return &sqliteTx{Tx: tx, stmts: p.wstmts, watches: &p.watches}, nil
}

// GetDBConn gives gorm's DB() the writer: pings and pool settings act on
// the connection that serialises writes.
func (p *sqlitePool) GetDBConn() (*sql.DB, error) { return p.writer, nil }

func (p *sqlitePool) Ping() error { return p.writer.Ping() }

func (p *sqlitePool) close() error {
	p.rstmts.close()
	p.wstmts.close()
	return errors.Join(p.readers.Close(), p.writer.Close(), p.writers.close())
}

// sqliteTx is a transaction on the writer that uses the writer's prepared
// statements (database/sql rebinds a statement to the transaction's
// connection without preparing it again). A statement not prepared yet
// runs unprepared: preparing it on the writer would wait for the one
// connection this transaction holds. It is prepared when the transaction
// has ended.
type sqliteTx struct {
	*sql.Tx
	stmts  *stmtCache
	missed []string
	// watches are the pool's; watched those this transaction's statements
	// wrote, begun at its first statement naming them and ended when it
	// ends: a savepoint rolled back or released inside it changes nothing
	// a cache sees before the end.
	watches *watchList
	watched []*Watch
}

func (t *sqliteTx) stmt(ctx context.Context, query string) *sql.Stmt {
	t.watched = t.watches.touching(query, t.watched)
	st, settled := t.stmts.lookup(query)
	if st != nil {
		return t.StmtContext(ctx, st)
	}
	if !settled && len(t.missed) < 64 {
		t.missed = append(t.missed, query)
	}
	return nil
}

func (t *sqliteTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, query, args...)
}

func (t *sqliteTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, query, args...)
}

func (t *sqliteTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, query, args...)
}

func (t *sqliteTx) Commit() error {
	err := t.Tx.Commit()
	t.ended()
	return err
}

func (t *sqliteTx) Rollback() error {
	err := t.Tx.Rollback()
	t.ended()
	return err
}

// ended runs once the transaction is over (its changes committed and
// visible to the readers, or gone).
func (t *sqliteTx) ended() {
	endAll(t.watched)
	t.watched = nil
	t.prepareMissed()
}

// prepareMissed prepares, now that the writer is free, what the
// transaction ran unprepared.
func (t *sqliteTx) prepareMissed() {
	for _, q := range t.missed {
		t.stmts.get(context.Background(), q)
	}
	t.missed = nil
}

// stmtCache holds prepared statements of one *sql.DB by their SQL text.
// It is bounded: statements whose text varies (IN lists of many lengths)
// stop being cached once it is full rather than growing it forever.
type stmtCache struct {
	db    *sql.DB
	mu    sync.RWMutex
	stmts map[string]*sql.Stmt
}

const maxCachedStmts = 1000

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, stmts: map[string]*sql.Stmt{}}
}

// get returns query's prepared statement, preparing it on first use, or
// nil for a statement not worth keeping (savepoints, pragmas, DDL) or one
// that failed to prepare (the caller runs it unprepared and gets the
// error then).
func (c *stmtCache) get(ctx context.Context, query string) *sql.Stmt {
	if !cacheable(query) {
		return nil
	}
	if st, settled := c.lookup(query); settled {
		return st
	}
	// Prepared without the caller's context: the statement outlives the
	// request, and a cancelled request must not poison the cache. Not under
	// the lock: on the writer, preparing waits for its one connection,
	// which a transaction looking statements up may hold.
	st, err := c.db.PrepareContext(context.WithoutCancel(ctx), query)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if had, ok := c.stmts[query]; ok {
		_ = st.Close()
		return had
	}
	c.stmts[query] = st
	return st
}

// lookup returns query's cached statement, or nil; settled is false
// when query is not cached but should be.
func (c *stmtCache) lookup(query string) (st *sql.Stmt, settled bool) {
	if !cacheable(query) {
		return nil, true
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	st, ok := c.stmts[query]
	return st, ok || len(c.stmts) >= maxCachedStmts
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.stmts {
		_ = st.Close()
		delete(c.stmts, q)
	}
}

// cacheable is true for the statements requests repeat: data reads and
// writes. Savepoint names are unique per transaction.
func cacheable(query string) bool {
	q := strings.TrimLeft(query, " \t\r\n(")
	for _, verb := range []string{"select", "insert", "update", "delete", "with"} {
		if len(q) >= len(verb) && strings.EqualFold(q[:len(verb)], verb) {
			return true
		}
	}
	return false
}
