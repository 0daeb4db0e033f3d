// Package migrations holds the versioned schema of the database, for SQLite
// and PostgreSQL alike. Each migration lives in its own file, registers itself
// in init with an ID that sorts in the order it must run (0001_..., 0002_...),
// and is applied at most once: the IDs applied are recorded in
// schema_migrations. A migration's Up receives a transaction and must not
// refer to types that may change later; it declares the table shapes it
// creates as local structs, frozen at the time it was written.
package migrations

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"gorm.io/gorm"
)

// Migration is one versioned step of the schema.
type Migration struct {
	ID string // sorts in application order, e.g. "0002_occi_entities"
	Up func(tx *gorm.DB) error
}

var (
	mu  sync.Mutex
	all = map[string]Migration{}
)

// Register adds a migration. It panics on a duplicate ID: two files claiming
// the same version is a programming error.
func Register(m Migration) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := all[m.ID]; dup {
		panic("migrations: duplicate migration " + m.ID)
	}
	all[m.ID] = m
}

// List returns every migration in application order.
func List() []Migration {
	mu.Lock()
	defer mu.Unlock()
	out := make([]Migration, 0, len(all))
	for _, m := range all {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

type schemaMigration struct {
	ID        string `gorm:"primaryKey;size:128"`
	AppliedAt time.Time
}

func (schemaMigration) TableName() string { return "schema_migrations" }

// lockKey is the PostgreSQL advisory lock that serialises migrations when
// several server processes start against one database at once.
const lockKey = 7_104_2024

// Run applies every migration not yet applied, each in its own transaction,
// and returns the IDs it applied.
func Run(ctx context.Context, db *gorm.DB) ([]string, error) {
	db = db.WithContext(ctx)
	if db.Dialector.Name() == "postgres" {
		// A session-level advisory lock must be taken and released on the
		// same connection, so hold one connection for the whole run.
		var applied []string
		err := db.Connection(func(conn *gorm.DB) error {
			if err := conn.Exec("SELECT pg_advisory_lock(?)", lockKey).Error; err != nil {
				return fmt.Errorf("migrations: lock: %w", err)
			}
			defer conn.Exec("SELECT pg_advisory_unlock(?)", lockKey)
			var err error
			applied, err = run(conn)
			return err
		})
		return applied, err
	}
	return run(db)
}

func run(db *gorm.DB) ([]string, error) {
	if err := db.AutoMigrate(&schemaMigration{}); err != nil {
		return nil, fmt.Errorf("migrations: create schema_migrations: %w", err)
	}
	var done []schemaMigration
	if err := db.Find(&done).Error; err != nil {
		return nil, fmt.Errorf("migrations: read schema_migrations: %w", err)
	}
	seen := make(map[string]bool, len(done))
	for _, d := range done {
		seen[d.ID] = true
	}
	var applied []string
	for _, m := range List() {
		if seen[m.ID] {
			continue
		}
		err := db.Transaction(func(tx *gorm.DB) error {
			if err := m.Up(tx); err != nil {
				return err
			}
			return tx.Create(&schemaMigration{ID: m.ID, AppliedAt: time.Now().UTC()}).Error
		})
		if err != nil {
			return applied, fmt.Errorf("migrations: %s: %w", m.ID, err)
		}
		applied = append(applied, m.ID)
	}
	return applied, nil
}
