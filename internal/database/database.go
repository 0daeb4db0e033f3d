// Package database opens the metadata store (SQLite by default, PostgreSQL
// for several server processes) the one way production and tests share, and
// turns the database's failures into error kinds.
package database

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	sqlite3 "github.com/mattn/go-sqlite3"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/occicdmi/occicdmi/internal/kind"
)

// IsPostgres tells whether a database setting names PostgreSQL.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Open opens the database dsn names (a postgres:// URL, else an SQLite
// file path), without migrating it.
func Open(dsn string) (*gorm.DB, error) {
	gcfg := &gorm.Config{Logger: logger.Discard, TranslateError: true}
	if IsPostgres(dsn) {
		db, err := gorm.Open(postgres.Open(dsn), gcfg)
		if err != nil {
			return nil, fmt.Errorf("open PostgreSQL: %w", err)
		}
		return db, nil
	}
	if err := os.MkdirAll(filepath.Dir(dsn), 0o750); err != nil {
		return nil, fmt.Errorf("create the database folder: %w", err)
	}
	// The file holds every entity and ACL: readable by the server alone.
	f, err := os.OpenFile(dsn, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open SQLite %s: %w", dsn, err)
	}
	_ = f.Close()
	return openSQLite(dsn, gcfg)
}

// sqliteDriver is mattn/go-sqlite3 with temp_store=MEMORY on every
// connection: the journals SQLite keeps to roll back one statement or one
// savepoint inside a transaction (a group commit's writes each have one)
// live in memory instead of a temporary file created and deleted per
// transaction. They are never needed after a crash (the WAL is what makes
// a commit atomic and durable), so this changes no durability.
const sqliteDriver = "sqlite3-occicdmi"

func init() {
	sql.Register(sqliteDriver, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		_, err := c.Exec("PRAGMA temp_store = MEMORY", nil)
		return err
	}})
}

// openSQLite opens the file with the read pool beside the single writer
// (see sqlitePool). The driver is mattn/go-sqlite3 (SQLite's C library
// through cgo): it keeps a prepared statement compiled, where the pure-Go
// modernc driver compiles the SQL again on every execution; measured on a
// primary-key read through gorm, 22 µs of CPU against 40 µs.
//
// WAL lets readers go on while a write commits; busy_timeout makes a
// second writer wait instead of failing; foreign keys are off by default
// in SQLite. synchronous(FULL): an acknowledged write survives a power
// loss, not only a crash of the process (NORMAL in WAL mode may lose the
// last commits then). cache_size gives each connection a 16 MiB page
// cache (2 MiB by default).
func openSQLite(dsn string, gcfg *gorm.Config) (*gorm.DB, error) {
	params := "?_journal_mode=WAL&_busy_timeout=10000&_foreign_keys=1&_synchronous=FULL&_cache_size=-16384"
	writer, err := sql.Open(sqliteDriver, dsn+params)
	if err != nil {
		return nil, fmt.Errorf("open SQLite %s: %w", dsn, err)
	}
	// SQLite allows one writer at a time; one connection turns lock
	// contention into queueing instead of SQLITE_BUSY errors.
	writer.SetMaxOpenConns(1)
	// Readers never write (query_only), so they need no lock but WAL's
	// snapshot.
	readers, err := sql.Open(sqliteDriver, dsn+params+"&_query_only=1")
	if err != nil {
		_ = writer.Close()
		return nil, fmt.Errorf("open SQLite %s: %w", dsn, err)
	}
	n := readConns()
	readers.SetMaxOpenConns(n)
	readers.SetMaxIdleConns(n)
	pool := newSQLitePool(writer, readers)
	// Before anything is written through this handle: the others' caches
	// must know of it first (writers).
	if pool.writers, err = openWriters(dsn); err != nil {
		_ = pool.close()
		return nil, fmt.Errorf("open SQLite %s: %w", dsn, err)
	}
	db, err := gorm.Open(sqlite.Dialector{DSN: dsn, Conn: pool}, gcfg)
	if err != nil {
		_ = pool.close()
		return nil, fmt.Errorf("open SQLite %s: %w", dsn, err)
	}
	return db, nil
}

// readConns sizes the read pool: two per core the process may use, so
// both cores stay busy while some readers wait on the disk.
func readConns() int {
	return min(max(2*runtime.GOMAXPROCS(0), 2), 16)
}

// Close closes db's connections.
func Close(db *gorm.DB) {
	if p, ok := db.ConnPool.(*sqlitePool); ok {
		_ = p.close()
		return
	}
	if sqlDB, err := db.DB(); err == nil {
		_ = sqlDB.Close()
	}
}

// Classify gives a database error its kind: a missing row is NotFound, a
// duplicate key a Conflict (a concurrent request took the same name), a
// database that cannot be reached Unavailable. Other errors stay as they
// are (Internal). A nil err stays nil; an error that has a kind keeps it.
func Classify(err error) error {
	switch {
	case err == nil:
		return nil
	case kind.Of(err) != kind.Internal:
		return err
	case errors.Is(err, gorm.ErrRecordNotFound):
		return &kind.Error{Kind: kind.NotFound, Msg: "not found", Err: err}
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return &kind.Error{Kind: kind.Conflict, Msg: "a concurrent request made the same change; retry", Err: err}
	case unreachable(err):
		// The driver's text (a FATAL with its SQLSTATE, an address) is
		// for errors.Is and the log, not for the client.
		return &kind.Error{Kind: kind.Unavailable, Msg: "the database is unavailable; retry later", Err: err}
	}
	return err
}

// unreachable reports failures that say the database is down or going
// away rather than that the statement was wrong.
func unreachable(err error) bool {
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08: connection exception; 57P0x: admin/crash shutdown,
		// cannot connect now; 53300: too many connections.
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P0") || pgErr.Code == "53300"
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "SQLITE_BUSY") || strings.Contains(msg, "database is locked") ||
		strings.Contains(msg, "conn closed") || strings.Contains(msg, "unexpected EOF")
}
