package cdmi

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/internal/testsupport"
)

// Writes committed together keep their own outcomes: one that fails (or
// panics) leaves nothing behind, the others commit, and a write is
// answered only after the transaction that holds it has committed.
func TestGroupCommitKeepsEachWritesOutcome(t *testing.T) {
	db := testsupport.DB(t)
	if db.Dialector.Name() != "sqlite" {
		t.Skip("group commit is SQLite's")
	}
	g := &groupCommit{db: db}
	insert := func(id string) func(tx *gorm.DB) error {
		return func(tx *gorm.DB) error {
			return tx.Create(&object{ObjectID: id, Name: id, Type: typeDataObject, CTime: time.Now().UTC()}).Error
		}
	}
	// The first write holds its batch open until the others have queued
	// behind it, so that they commit together in the next batch.
	release := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		assert.NoError(t, g.run(context.Background(), func(tx *gorm.DB) error {
			<-release
			return insert("first")(tx)
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
			id := fmt.Sprintf("w%d", i)
			switch i {
			case 2: // writes, then fails: its row must go
				outcomes[i] = g.run(context.Background(), func(tx *gorm.DB) error {
					if err := insert(id)(tx); err != nil {
						return err
					}
					return errBad
				})
			case 4: // writes, then panics: the panic is its request's alone
				defer func() { panicked <- recover() }()
				outcomes[i] = g.run(context.Background(), func(tx *gorm.DB) error {
					_ = insert(id)(tx)
					panic("boom")
				})
			case 5: // the same ID as w0: the duplicate fails on its own
				outcomes[i] = g.run(context.Background(), insert("w0"))
			default:
				outcomes[i] = g.run(context.Background(), insert(id))
			}
		}()
	}
	require.Eventually(t, func() bool { g.mu.Lock(); defer g.mu.Unlock(); return len(g.queue) == len(outcomes) }, 10*time.Second, time.Millisecond)
	close(release)
	wg.Wait()

	assert.Equal(t, "boom", <-panicked)
	assert.True(t, (outcomes[0] == nil) != (outcomes[5] == nil), "one insert of w0 wins: %v, %v", outcomes[0], outcomes[5])
	assert.NoError(t, outcomes[1])
	assert.ErrorIs(t, outcomes[2], errBad)
	assert.NoError(t, outcomes[3])
	var ids []string
	require.NoError(t, db.Model(&object{}).Where("object_id IN ?", []string{"first", "w0", "w1", "w2", "w3", "w4", "w5"}).
		Order("object_id").Pluck("object_id", &ids).Error)
	// w0 or w5's insert of "w0" won, whichever ran first; the other failed.
	assert.Equal(t, []string{"first", "w0", "w1", "w3"}, ids)
}
