package database

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
)

// Writes committed together keep their own outcomes: one that fails (or
// panics) leaves nothing behind, the others commit, and a write is
// answered only after the transaction that holds it has committed.
func TestGroupCommitKeepsEachWritesOutcome(t *testing.T) {
	db, _ := openNotes(t)
	g := NewGroupCommit(db)
	require.True(t, g.group, "SQLite groups")
	insert := func(id uint) func(tx *gorm.DB) error {
		return func(tx *gorm.DB) error {
			_, err := Exec(tx, "INSERT INTO notes (id, text) VALUES (?, ?)", id, "x")
			return err
		}
	}
	// The first write holds its batch open until the others have queued
	// behind it, so that they commit together in the next batch.
	release := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		assert.NoError(t, g.Run(context.Background(), func(tx *gorm.DB) error {
			<-release
			return insert(100)(tx)
		}))
	}()
	require.Eventually(t, func() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.running }, 10*time.Second, time.Millisecond)

	errBad := errors.New("refused")
	outcomes := make([]error, 6)
	panicked := make(chan any, 1)
	for i := range outcomes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := uint(i + 1)
			switch i {
			case 2: // writes, then fails: its row must go
				outcomes[i] = g.Run(context.Background(), func(tx *gorm.DB) error {
					if err := insert(id)(tx); err != nil {
						return err
					}
					return errBad
				})
			case 4: // writes, then panics: the panic is its request's alone
				defer func() { panicked <- recover() }()
				outcomes[i] = g.Run(context.Background(), func(tx *gorm.DB) error {
					_ = insert(id)(tx)
					panic("boom")
				})
			case 5: // the same id as write 0: the duplicate fails on its own
				outcomes[i] = g.Run(context.Background(), insert(1))
			default:
				outcomes[i] = g.Run(context.Background(), insert(id))
			}
		}()
	}
	require.Eventually(t, func() bool { g.mu.Lock(); defer g.mu.Unlock(); return len(g.queue) == len(outcomes) }, 10*time.Second, time.Millisecond)
	close(release)
	wg.Wait()

	assert.Equal(t, "boom", <-panicked)
	assert.True(t, (outcomes[0] == nil) != (outcomes[5] == nil), "one insert of id 1 wins: %v, %v", outcomes[0], outcomes[5])
	if outcomes[5] != nil {
		assert.ErrorIs(t, outcomes[5], gorm.ErrDuplicatedKey, "translated as gorm translates")
	}
	assert.NoError(t, outcomes[1])
	assert.ErrorIs(t, outcomes[2], errBad)
	assert.NoError(t, outcomes[3])
	var ids []uint
	require.NoError(t, db.Model(&note{}).Order("id").Pluck("id", &ids).Error)
	assert.Equal(t, []uint{1, 2, 4, 100}, ids)
}

// A write whose caller gave up before its turn is not run.
func TestGroupCommitSkipsCancelledWrites(t *testing.T) {
	db, _ := openNotes(t)
	g := NewGroupCommit(db)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	err := g.Run(ctx, func(tx *gorm.DB) error { ran = true; return nil })
	assert.ErrorIs(t, err, context.Canceled)
	assert.False(t, ran)
}

// WithTx hands a transaction through a context; QueryRow and Exec use it.
func TestWithTxCarriesTheTransaction(t *testing.T) {
	db, _ := openNotes(t)
	assert.Nil(t, TxFrom(context.Background()))
	err := db.Transaction(func(tx *gorm.DB) error {
		ctx := WithTx(context.Background(), tx)
		n, err := Exec(TxFrom(ctx), "INSERT INTO notes (id, text) VALUES (?, ?)", 7, "in tx")
		require.NoError(t, err)
		assert.EqualValues(t, 1, n)
		var text string
		require.NoError(t, QueryRow(TxFrom(ctx), "SELECT text FROM notes WHERE id = ?", 7).Scan(&text))
		assert.Equal(t, "in tx", text)
		return errors.New("roll back")
	})
	require.Error(t, err)
	var count int64
	require.NoError(t, db.Model(&note{}).Count(&count).Error)
	assert.Zero(t, count, "rolled back with the transaction")
}

// A batch that would start with fewer writes than were about at the end
// of the last one waits for them (gather), so that one commit serves the
// writers just answered instead of half of them at a time.
func TestGroupCommitGathersTheWritersAbout(t *testing.T) {
	db, _ := openNotes(t)
	g := NewGroupCommit(db)
	was := gatherWait
	gatherWait = time.Minute // the writes below come well within it
	t.Cleanup(func() { gatherWait = was })
	g.company = 3 // as after a batch of three

	var mu sync.Mutex
	txs := map[gorm.ConnPool]int{}
	write := func(id uint) {
		assert.NoError(t, g.Run(context.Background(), func(tx *gorm.DB) error {
			mu.Lock()
			txs[tx.Statement.ConnPool]++
			mu.Unlock()
			_, err := Exec(tx, "INSERT INTO notes (id, text) VALUES (?, ?)", id, "x")
			return err
		}))
	}
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); write(1) }()
	require.Eventually(t, func() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.running }, 10*time.Second, time.Millisecond)
	go func() { defer wg.Done(); write(2) }()
	go func() { defer wg.Done(); write(3) }()
	wg.Wait()
	assert.Len(t, txs, 1, "the three writes share one transaction")
	assert.Equal(t, 3, g.company)
}
