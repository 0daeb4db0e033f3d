package testsupport

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/internal/database"
	"github.com/occicdmi/occicdmi/migrations"
)

// DatabaseEnv chooses the database every test opened with DB runs on:
// "postgres" for the PostgreSQL at OCCICDMI_TEST_POSTGRES (the several-
// processes setup), anything else for SQLite. .ci/run runs the protocol
// packages once on each.
const DatabaseEnv = "OCCICDMI_TEST_DB"

// PostgresEnv names the PostgreSQL the tests may use.
const PostgresEnv = "OCCICDMI_TEST_POSTGRES"

// DB opens a fresh, migrated database for one test, the way production
// opens it (database.Open: SQLite with WAL and foreign keys on): an SQLite
// file in a temporary folder, or a schema of its own on PostgreSQL when
// OCCICDMI_TEST_DB=postgres. It is closed (and the schema dropped) with t.
func DB(t testing.TB) *gorm.DB {
	t.Helper()
	var db *gorm.DB
	if os.Getenv(DatabaseEnv) == "postgres" {
		db = PostgresSchema(t, Need(t, "PostgreSQL", PostgresEnv))
	} else {
		var err error
		db, err = database.Open(filepath.Join(t.TempDir(), "test.db"))
		require.NoError(t, err)
		t.Cleanup(func() { database.Close(db) })
	}
	_, err := migrations.Run(context.Background(), db)
	require.NoError(t, err)
	return db
}

// PostgresSchema opens dsn in a new, empty schema of its own, which keeps
// tests apart from each other and from other packages on the same
// database; the schema is dropped with t. It does not migrate.
func PostgresSchema(t testing.TB, dsn string) *gorm.DB {
	t.Helper()
	admin, err := database.Open(dsn)
	require.NoError(t, err)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "test_" + hex.EncodeToString(b[:])
	require.NoError(t, admin.Exec("CREATE SCHEMA "+schema).Error)
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	db, err := database.Open(dsn + sep + "search_path=" + schema)
	require.NoError(t, err)
	t.Cleanup(func() {
		database.Close(db)
		admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		database.Close(admin)
	})
	return db
}

// FreshPostgresDatabase creates an empty database on the PostgreSQL at
// dsn and returns its URL, for a test whose server processes need a
// database of their own (a schema is not enough across processes); it is
// dropped with t.
func FreshPostgresDatabase(t testing.TB, dsn string) string {
	t.Helper()
	admin, err := database.Open(dsn)
	require.NoError(t, err)
	defer database.Close(admin)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "test_" + hex.EncodeToString(b[:])
	require.NoError(t, admin.Exec("CREATE DATABASE "+name).Error)
	t.Cleanup(func() {
		if db, err := database.Open(dsn); err == nil {
			db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
			database.Close(db)
		}
	})
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	u.Path = "/" + name
	return u.String()
}

// SecondHandle opens db's database again, as another server process would:
// the same PostgreSQL schema, or the same SQLite file. It is closed with t.
func SecondHandle(t testing.TB, db *gorm.DB) *gorm.DB {
	t.Helper()
	var dsn string
	if db.Dialector.Name() == "postgres" {
		var schema string
		require.NoError(t, db.Raw("SELECT current_schema()").Scan(&schema).Error)
		dsn = os.Getenv(PostgresEnv)
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		dsn += sep + "search_path=" + schema
	} else {
		var rows []struct{ Name, File string }
		require.NoError(t, db.Raw("PRAGMA database_list").Scan(&rows).Error)
		require.NotEmpty(t, rows)
		dsn = rows[0].File
	}
	other, err := database.Open(dsn)
	require.NoError(t, err)
	t.Cleanup(func() { database.Close(other) })
	return other
}
