package database

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
)

// A write to a watched table moves the watch when its first statement
// runs and again once its transaction has ended: a stamp taken before is
// no longer current, none taken while the transaction is open is, and one
// taken after the commit is. Writes to other tables leave it.
func TestWatchSeesATransactionEnd(t *testing.T) {
	db, _ := openNotes(t)
	w := NewWatch(db, "notes")
	other := NewWatch(db, "other_")
	require.NotNil(t, w, "SQLite has a writer to watch")
	before, untouched := w.Stamp(), other.Stamp()
	require.True(t, before.Current())
	require.NoError(t, db.Transaction(func(tx *gorm.DB) error {
		assert.True(t, before.Current(), "nothing written yet")
		_, err := Exec(tx, "INSERT INTO notes (id, text) VALUES (1, 'a')")
		require.NoError(t, err)
		assert.False(t, before.Current(), "a write began")
		assert.False(t, w.Stamp().Current(), "no stamp is current while a write is open")
		return nil
	}))
	assert.False(t, before.Current())
	assert.True(t, w.Stamp().Current(), "after the commit")
	assert.True(t, untouched.Current(), "another table's watch did not move")
}

// A read that began before a write committed must not keep what it read:
// its stamp is not current at fill time, whether the write committed
// while the read ran (a statement of its own) or was open when it began.
func TestWatchRacingRead(t *testing.T) {
	db, _ := openNotes(t)
	w := NewWatch(db, "notes")
	s := w.Stamp()
	var n int64
	require.NoError(t, db.Raw("SELECT COUNT(*) FROM notes").Scan(&n).Error) // the read, before the write
	_, err := Exec(db.WithContext(context.Background()), "INSERT INTO notes (id, text) VALUES (1, 'a')")
	require.NoError(t, err)
	assert.False(t, s.Current(), "the fill of the read is refused")

	s = w.Stamp()
	require.True(t, s.Current())
	// An INSERT ... RETURNING outside a transaction is sent as a query:
	// the write may run while its rows are read, so it counts as open
	// until a later statement has had the writer connection.
	var id int64
	require.NoError(t, db.Raw("INSERT INTO notes (text) VALUES ('b') RETURNING id").Scan(&id).Error)
	assert.NotZero(t, id)
	assert.False(t, s.Current())
	assert.False(t, w.Stamp().Current(), "open until the writer has moved on")
	_, err = Exec(db.WithContext(context.Background()), "UPDATE notes SET text = 'c' WHERE id = 1")
	require.NoError(t, err)
	assert.True(t, w.Stamp().Current())
}

// A group commit's batch holds a write whose savepoint is rolled back
// beside one that commits: the watch moves for the whole transaction,
// so nothing a cache read before or during it stays current, and what it
// reads afterwards is what was committed.
func TestWatchRolledBackSavepointInGroupCommit(t *testing.T) {
	db, _ := openNotes(t)
	w := NewWatch(db, "notes")
	g := NewGroupCommit(db)
	before := w.Stamp()
	var during Stamp
	errBad := errors.New("refused")
	batch := []*groupedWrite{
		{ctx: context.Background(), done: make(chan struct{}), fn: func(tx *gorm.DB) error {
			_, err := Exec(tx, "INSERT INTO notes (id, text) VALUES (1, 'kept')")
			during = w.Stamp()
			return err
		}},
		{ctx: context.Background(), done: make(chan struct{}), fn: func(tx *gorm.DB) error {
			if _, err := Exec(tx, "INSERT INTO notes (id, text) VALUES (2, 'rolled back')"); err != nil {
				return err
			}
			return errBad
		}},
	}
	g.commit(batch)
	require.NoError(t, batch[0].err)
	require.ErrorIs(t, batch[1].err, errBad)
	assert.False(t, during.Current(), "a stamp taken inside the batch is never current")
	assert.False(t, before.Current())
	after := w.Stamp()
	assert.True(t, after.Current())
	var texts []string
	require.NoError(t, db.Raw("SELECT text FROM notes ORDER BY id").Scan(&texts).Error)
	assert.Equal(t, []string{"kept"}, texts)
}

// A nil Watch (PostgreSQL: other processes write beside this one) never
// answers current.
func TestNilWatchIsNeverCurrent(t *testing.T) {
	var w *Watch
	assert.False(t, w.Stamp().Current())
	assert.False(t, Stamp{}.Current())
}

// Another handle on the same SQLite file (another server sharing it,
// without its lock, writes beside this one): no stamp is current while it
// is open, none taken before it opened is current after, even once it has
// closed; alone again, stamps are current again.
func TestWatchSeesAnotherHandle(t *testing.T) {
	db, _ := openNotes(t)
	w := NewWatch(db, "notes")
	before := w.Stamp()
	require.True(t, before.Current())
	var rows []struct{ Name, File string }
	require.NoError(t, db.Raw("PRAGMA database_list").Scan(&rows).Error)
	other, err := Open(rows[0].File)
	require.NoError(t, err)
	assert.False(t, before.Current(), "another handle opened since")
	assert.False(t, w.Stamp().Current(), "another handle is open")
	_, err = Exec(other.WithContext(context.Background()), "INSERT INTO notes (id, text) VALUES (1, 'theirs')")
	require.NoError(t, err)
	Close(other)
	assert.False(t, before.Current(), "still: it may have written")
	assert.True(t, w.Stamp().Current(), "alone again")
}
