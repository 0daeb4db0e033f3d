package database

import (
	"context"
	"fmt"
	"sync"
	"time"

	"gorm.io/gorm"
)

// GroupCommit runs concurrent writes' transactions as one SQLite
// transaction, each write in a savepoint of its own: one commit (one fsync
// of the WAL) for all of them, where each used to wait for the one before
// to reach the disk. A write's savepoint is rolled back on its error
// alone; every write is answered only once the transaction holding it has
// committed, so what is acknowledged is as durable as with a transaction
// of its own.
//
// SQLite runs one writer at a time, so the writes waiting meanwhile would
// have run one after the other anyway. PostgreSQL runs transactions side
// by side and batches their WAL flushes itself: there each write keeps a
// transaction of its own (and its row locks stay its own).
//
// A write's function runs on the goroutine committing its batch, after
// the writes queued before it: it must use only the tx it is given for the
// database (on SQLite a statement outside it would wait for the one writer
// connection the batch holds), and must not block on other requests.
type GroupCommit struct {
	db    *gorm.DB
	group bool // SQLite: writes share transactions

	mu      sync.Mutex
	queue   []*groupedWrite
	running bool // a leader is committing; new writes queue for the next batch
	// company is how many writes were about at the end of the last batch:
	// those in it and those queued behind it. A batch that would start
	// with fewer waits a little for the rest (see gather).
	company int
	arrived chan struct{} // a write queued (a signal, never blocks)
}

// NewGroupCommit groups the writes to db on SQLite; on another database
// each write runs in a transaction of its own.
func NewGroupCommit(db *gorm.DB) *GroupCommit {
	return &GroupCommit{db: db, group: db.Dialector.Name() == "sqlite", arrived: make(chan struct{}, 1)}
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

// Run commits fn with whatever other writes are waiting, and returns fn's
// outcome as it returned it (or the transaction's, classified, when the
// commit itself fails: then fn's changes are not stored). fn's tx carries ctx's values, not its
// cancellation: a batch commits as a whole. A write whose ctx is done
// before its turn is not run.
func (g *GroupCommit) Run(ctx context.Context, fn func(tx *gorm.DB) error) error {
	if !g.group {
		return g.db.WithContext(ctx).Transaction(fn)
	}
	w := &groupedWrite{ctx: ctx, fn: fn, done: make(chan struct{})}
	g.mu.Lock()
	g.queue = append(g.queue, w)
	lead := !g.running
	g.running = true
	g.mu.Unlock()
	select {
	case g.arrived <- struct{}{}:
	default:
	}
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
func (g *GroupCommit) drain() {
	g.gather()
	g.mu.Lock()
	batch := g.queue[:min(len(g.queue), groupMax)]
	g.queue = append([]*groupedWrite(nil), g.queue[len(batch):]...)
	g.mu.Unlock()
	g.commit(batch)
	g.mu.Lock()
	g.company = len(batch) + len(g.queue)
	more := len(g.queue) > 0
	g.running = more
	g.mu.Unlock()
	if more {
		go g.drain()
	}
}

// gatherWait bounds how long a batch waits for company: under the fsync
// it shares. (A variable for the test that needs a long one.)
var gatherWait = 500 * time.Microsecond

// gather waits, at most gatherWait, until as many writes are queued as
// were about at the end of the last batch. Without it, clients that each
// wait for their write settle into two halves taking turns: one half's
// batch commits while the other half's queues behind it, and the first
// half's next writes arrive just after that second batch began, so every
// commit (its fsync, and the WAL pages every batch rewrites) serves half
// of them. Waiting briefly for the writers just answered lets one batch
// serve them all. With fewer writers about, company falls with the next
// batch and nothing waits.
func (g *GroupCommit) gather() {
	var timer *time.Timer
	for {
		g.mu.Lock()
		n, want := len(g.queue), min(g.company, groupMax)
		g.mu.Unlock()
		if n >= want {
			break
		}
		if timer == nil {
			timer = time.NewTimer(gatherWait)
			defer timer.Stop()
		}
		select {
		case <-g.arrived:
		case <-timer.C:
			return
		}
	}
}

// commit runs batch in one transaction, each write in a savepoint.
func (g *GroupCommit) commit(batch []*groupedWrite) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var ran []*groupedWrite // what is in the transaction: its commit decides
	err := g.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for _, w := range batch {
			if err := w.ctx.Err(); err != nil {
				w.err = err // gave up before its turn: not run
				continue
			}
			w.err = runSavepoint(tx.WithContext(context.WithoutCancel(w.ctx)), w)
			if w.panic == nil && w.err == nil {
				ran = append(ran, w)
			}
		}
		return nil
	})
	if err != nil {
		err = fmt.Errorf("commit: %w", Classify(err))
		for _, w := range ran {
			w.err = err
		}
	}
	for _, w := range batch {
		close(w.done)
	}
}

// runSavepoint runs w.fn in a savepoint of its own, rolled back when fn
// fails or panics; a panic is handed to w's own request. (Written out
// rather than gorm's nested Transaction: one name for every write, and
// two statements past gorm's builder.)
func runSavepoint(tx *gorm.DB, w *groupedWrite) (err error) {
	if _, err := Exec(tx, "SAVEPOINT grouped_write"); err != nil {
		return err
	}
	defer func() {
		if v := recover(); v != nil {
			w.panic = v
			err = fmt.Errorf("panic: %v", v)
		}
		if err != nil {
			// A failure that ended the whole transaction (SQLite rolls
			// back on some I/O errors) fails these too; the commit then
			// fails every write of the batch.
			_, _ = Exec(tx, "ROLLBACK TO grouped_write")
		}
		_, _ = Exec(tx, "RELEASE grouped_write")
	}()
	return w.fn(tx)
}

type txKey struct{}

// WithTx returns a context that carries the transaction tx, for code a
// caller reaches through an interface that takes no database handle: a
// compute backend that keeps its state in the server's own database
// (computebackends.TxJoiner) makes its changes in tx, so that they commit
// or roll back with the caller's.
func WithTx(ctx context.Context, tx *gorm.DB) context.Context {
	return context.WithValue(ctx, txKey{}, tx)
}

// TxFrom returns the transaction WithTx put in ctx, or nil.
func TxFrom(ctx context.Context) *gorm.DB {
	tx, _ := ctx.Value(txKey{}).(*gorm.DB)
	return tx
}
