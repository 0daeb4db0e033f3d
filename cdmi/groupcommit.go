package cdmi

import (
	"context"
	"fmt"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/internal/database"
)

// groupCommit runs concurrent data object writes' commits in one SQLite
// transaction, each in a savepoint of its own: one commit (one fsync of
// the WAL) for all of them, where each used to wait for the one before to
// reach the disk. A write's savepoint is rolled back on its error alone;
// every write is answered only once the transaction holding it has
// committed, so what is acknowledged is as durable as before.
//
// SQLite runs one writer at a time, so the writes waiting meanwhile would
// have run one after the other anyway. PostgreSQL runs transactions side
// by side and batches their WAL flushes itself; there each write keeps its
// own transaction (and its row locks stay its own).
type groupCommit struct {
	db *gorm.DB

	mu      sync.Mutex
	queue   []*groupedWrite
	running bool // a leader is committing; new writes queue for the next batch
}

// groupMax bounds one batch: the time the writes in it wait for each other.
const groupMax = 64

type groupedWrite struct {
	ctx   context.Context
	fn    func(tx *gorm.DB) error
	err   error
	panic any
	done  chan struct{}
}

// run commits fn with whatever other writes are waiting, and returns fn's
// outcome (or the transaction's, when the commit itself fails).
func (g *groupCommit) run(ctx context.Context, fn func(tx *gorm.DB) error) error {
	w := &groupedWrite{ctx: ctx, fn: fn, done: make(chan struct{})}
	g.mu.Lock()
	g.queue = append(g.queue, w)
	lead := !g.running
	g.running = true
	g.mu.Unlock()
	if lead {
		g.drain()
	}
	<-w.done
	if w.panic != nil {
		panic(w.panic)
	}
	return w.err
}

// drain commits batches until the queue is empty. The leader commits the
// batch its own write is in; later batches go on in another goroutine, so
// that no request waits for more than its own batch and the one before.
func (g *groupCommit) drain() {
	g.mu.Lock()
	batch := g.queue[:min(len(g.queue), groupMax)]
	g.queue = append([]*groupedWrite(nil), g.queue[len(batch):]...)
	g.mu.Unlock()
	g.commit(batch)
	g.mu.Lock()
	more := len(g.queue) > 0
	g.running = more
	g.mu.Unlock()
	if more {
		go g.drain()
	}
}

// commit runs batch in one transaction, each write in a savepoint.
func (g *groupCommit) commit(batch []*groupedWrite) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var ran []*groupedWrite // what is in the transaction: its commit decides
	err := g.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for _, w := range batch {
			if err := w.ctx.Err(); err != nil {
				w.err = err // gave up before its turn: not run
				continue
			}
			// The write's own context (values, not its cancellation:
			// the batch commits as a whole) on a savepoint of its own.
			wctx := context.WithoutCancel(w.ctx)
			w.err = runSavepoint(tx.WithContext(wctx), w)
			if w.panic == nil && w.err == nil {
				ran = append(ran, w)
			}
		}
		return nil
	})
	if err != nil {
		err = fmt.Errorf("commit: %w", database.Classify(err))
		for _, w := range ran {
			w.err = err
		}
	}
	for _, w := range batch {
		close(w.done)
	}
}

// runSavepoint runs w.fn in a nested transaction (a savepoint, rolled back
// when fn fails or panics); a panic is handed to w's own request.
func runSavepoint(tx *gorm.DB, w *groupedWrite) (err error) {
	defer func() {
		if v := recover(); v != nil {
			w.panic = v
			err = fmt.Errorf("panic: %v", v)
		}
	}()
	return database.Classify(tx.Transaction(w.fn))
}

// inGroupTx is inTx for a data object write: grouped with the writes
// waiting beside it on SQLite (groupCommit), its own transaction on
// PostgreSQL.
func (s *Service) inGroupTx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	if s.group == nil {
		return s.inTx(ctx, fn)
	}
	return s.group.run(ctx, fn)
}
