package database

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
)

type note struct {
	ID   uint `gorm:"primaryKey"`
	Text string
}

func openNotes(t *testing.T) (*gorm.DB, *sqlitePool) {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "pool.db"))
	require.NoError(t, err)
	t.Cleanup(func() { Close(db) })
	require.NoError(t, db.AutoMigrate(&note{}))
	p, ok := db.ConnPool.(*sqlitePool)
	require.True(t, ok, "SQLite is opened with the read pool")
	return db, p
}

// Reads go to the read-only connections, writes (an INSERT ... RETURNING
// too, which gorm sends as a query) to the writer; a write sent to a
// reader fails rather than racing the writer.
func TestPoolRoutes(t *testing.T) {
	db, p := openNotes(t)
	n := note{Text: "a"}
	require.NoError(t, db.Create(&n).Error, "INSERT ... RETURNING runs on the writer")
	assert.NotZero(t, n.ID)
	var got note
	require.NoError(t, db.First(&got, n.ID).Error)
	assert.Equal(t, "a", got.Text)
	assert.Equal(t, p.rstmts, p.route("SELECT * FROM notes"))
	assert.Equal(t, p.rstmts, p.route(" with recursive t(id) AS (SELECT 1) SELECT id FROM t"))
	assert.Equal(t, p.wstmts, p.route("INSERT INTO notes (text) VALUES (?) RETURNING id"))
	assert.Equal(t, p.wstmts, p.route("PRAGMA foreign_keys"))
	_, err := p.readers.Exec("INSERT INTO notes (text) VALUES ('b')")
	assert.Error(t, err, "readers are query_only")
}

// A transaction holds the writer; reads outside it neither wait for it
// nor see its writes before it commits (WAL snapshots), as on PostgreSQL.
func TestPoolReadsBesideATransaction(t *testing.T) {
	db, _ := openNotes(t)
	tx := db.Begin()
	require.NoError(t, tx.Create(&note{Text: "in tx"}).Error)
	var n int64
	require.NoError(t, db.Model(&note{}).Count(&n).Error, "a read outside the transaction does not wait for it")
	assert.Zero(t, n)
	require.NoError(t, tx.Model(&note{}).Count(&n).Error)
	assert.EqualValues(t, 1, n, "the transaction sees its own write")
	require.NoError(t, tx.Commit().Error)
	require.NoError(t, db.Model(&note{}).Count(&n).Error)
	assert.EqualValues(t, 1, n)
}

// Savepoints (nested transactions, as occi.Service.WithTx uses) roll back
// their part only, and the statements a transaction ran are prepared once
// it ended, for the next one to reuse.
func TestPoolSavepointsAndPreparedStatements(t *testing.T) {
	db, p := openNotes(t)
	boom := errors.New("inner fails")
	err := db.Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&note{Text: "outer"}).Error; err != nil {
			return err
		}
		err := tx.Transaction(func(tx2 *gorm.DB) error {
			if err := tx2.Create(&note{Text: "inner"}).Error; err != nil {
				return err
			}
			return boom
		})
		assert.ErrorIs(t, err, boom)
		return nil
	})
	require.NoError(t, err)
	var texts []string
	require.NoError(t, db.Model(&note{}).Order("id").Pluck("text", &texts).Error)
	assert.Equal(t, []string{"outer"}, texts)
	p.wstmts.mu.RLock()
	cached := len(p.wstmts.stmts)
	p.wstmts.mu.RUnlock()
	assert.NotZero(t, cached, "the INSERT was prepared after the transaction")
	require.NoError(t, db.Transaction(func(tx *gorm.DB) error { return tx.Create(&note{Text: "again"}).Error }))
}

// Many transactions and reads at once on a cold statement cache finish:
// preparing on the writer never waits under a lock a transaction needs.
func TestPoolConcurrentColdCache(t *testing.T) {
	db, _ := openNotes(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				text := fmt.Sprintf("w%d-%d", i, j)
				errs <- db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
					var n int64
					if err := tx.Model(&note{}).Where("text = ?", text).Count(&n).Error; err != nil {
						return err
					}
					return tx.Create(&note{Text: text}).Error
				})
				var got []note
				errs <- db.WithContext(ctx).Where("text LIKE ?", fmt.Sprintf("w%d-%%", i)).Find(&got).Error
			}
		}()
	}
	go func() { wg.Wait(); close(errs) }()
	for err := range errs {
		require.NoError(t, err)
	}
	var n int64
	require.NoError(t, db.Model(&note{}).Count(&n).Error)
	assert.EqualValues(t, 16*20, n)
}
