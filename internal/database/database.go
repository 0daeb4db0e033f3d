// Package database opens the metadata store (SQLite by default, PostgreSQL
// for several server processes) the one way production and tests share, and
// turns the database's failures into error kinds.
package database

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/glebarez/sqlite"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/driver/postgres"
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
	// WAL lets readers go on while a write commits; busy_timeout makes a
	// second writer wait instead of failing; foreign keys are off by default
	// in SQLite. synchronous(FULL): an acknowledged write survives a power
	// loss, not only a crash of the process (NORMAL in WAL mode may lose
	// the last commits then).
	db, err := gorm.Open(sqlite.Open(dsn+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)"), gcfg)
	if err != nil {
		return nil, fmt.Errorf("open SQLite %s: %w", dsn, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	// SQLite allows one writer at a time; one connection turns lock
	// contention into queueing instead of SQLITE_BUSY errors.
	sqlDB.SetMaxOpenConns(1)
	return db, nil
}

// Close closes db's connections.
func Close(db *gorm.DB) {
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
