package database

import (
	"fmt"
	"os"
	"sync"
	"syscall"
)

// writers is how the handles on one SQLite file know of each other, so
// that a cache kept by one process (Watch) is not fooled by another's
// writes: several servers may share a SQLite file (only one of them holds
// its lock, see cmd/occicdmi/app's ownership, but each writes). Every
// handle holds a shared lock on <file>.writers for its life and, when it
// opens, appends a byte to it. So a handle that can take the file's lock
// exclusively (its own shared lock converted) knows no other handle is
// open now, and while the file's size stays it knows none has opened
// since: a new one grows the file before it writes anything.
type writers struct {
	mu sync.Mutex
	f  *os.File
}

func openWriters(dsn string) (*writers, error) {
	f, err := os.OpenFile(dsn+".writers", os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the writers' file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock the writers' file: %w", err)
	}
	if _, err := f.Write([]byte{'w'}); err != nil {
		f.Close()
		return nil, fmt.Errorf("write the writers' file: %w", err)
	}
	return &writers{f: f}, nil
}

// alone tells whether no other handle on the file is open now, and the
// file's size, which a handle opened later changes.
func (w *writers) alone() (ok bool, size int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	fd := int(w.f.Fd())
	// Converting is not atomic: meanwhile another handle may take its
	// shared lock, and then the exclusive one fails, as it should.
	ok = syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB) == nil
	if err := syscall.Flock(fd, syscall.LOCK_SH); err != nil {
		ok = false
	}
	if !ok {
		return false, 0
	}
	size, ok = w.size()
	return ok, size
}

// size is the file's size now (ok false when it cannot be read).
func (w *writers) size() (int64, bool) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(w.f.Fd()), &st); err != nil {
		return 0, false
	}
	return st.Size, true
}

func (w *writers) close() error {
	if w == nil {
		return nil
	}
	return w.f.Close()
}
