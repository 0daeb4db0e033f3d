package database

import (
	"database/sql"

	"gorm.io/gorm"
)

// Exec runs one statement written in SQL (? placeholders, no slice
// arguments) on db, which may be a transaction, and answers the rows it
// changed. On SQLite it goes straight to the connection pool, whose
// statements stay prepared (sqlitePool): gorm's statement builder and
// callbacks cost a small write about as much as SQLite's own work, and
// twice its allocations. Errors are translated as gorm translates them (a
// duplicate key is gorm.ErrDuplicatedKey). On PostgreSQL, whose
// placeholders differ, it is gorm's Exec.
func Exec(db *gorm.DB, query string, args ...any) (int64, error) {
	if !direct(db) {
		r := db.Exec(query, args...)
		return r.RowsAffected, r.Error
	}
	res, err := db.Statement.ConnPool.ExecContext(db.Statement.Context, query, args...)
	if err != nil {
		return 0, translate(db, err)
	}
	return res.RowsAffected()
}

// QueryRow runs a query written in SQL (as Exec) that answers at most one
// row; Scan tells sql.ErrNoRows when there is none.
func QueryRow(db *gorm.DB, query string, args ...any) *sql.Row {
	if !direct(db) {
		return db.Raw(query, args...).Row()
	}
	return db.Statement.ConnPool.QueryRowContext(db.Statement.Context, query, args...)
}

func direct(db *gorm.DB) bool {
	return db.Dialector.Name() == "sqlite" && db.Statement != nil && db.Statement.ConnPool != nil &&
		db.Statement.Context != nil
}

func translate(db *gorm.DB, err error) error {
	if t, ok := db.Dialector.(gorm.ErrorTranslator); ok && db.TranslateError {
		return t.Translate(err)
	}
	return err
}
