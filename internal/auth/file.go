package auth

import (
	"os"
	"sync"
	"time"
)

// watched is a file's parsed content, read again when the file changes
// (its size or modification time, looked at most once a second), so that
// `occicdmi users add` takes effect without a restart. A file that becomes
// unreadable or invalid keeps the last good content; Err tells.
type watched[T any] struct {
	path  string
	parse func([]byte) (T, error)
	now   func() time.Time

	mu      sync.Mutex
	val     T
	mod     time.Time
	size    int64
	checked time.Time
	err     error
}

func newWatched[T any](path string, parse func([]byte) (T, error)) (*watched[T], error) {
	w := &watched[T]{path: path, parse: parse, now: time.Now}
	if err := w.load(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *watched[T]) load() error {
	fi, err := os.Stat(w.path)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(w.path)
	if err != nil {
		return err
	}
	v, err := w.parse(data)
	if err != nil {
		return err
	}
	w.val, w.mod, w.size = v, fi.ModTime(), fi.Size()
	return nil
}

func (w *watched[T]) get() T {
	w.mu.Lock()
	defer w.mu.Unlock()
	if now := w.now(); now.Sub(w.checked) >= time.Second {
		w.checked = now
		fi, err := os.Stat(w.path)
		switch {
		case err != nil:
			w.err = err
		case !fi.ModTime().Equal(w.mod) || fi.Size() != w.size:
			w.err = w.load()
		}
	}
	return w.val
}

// Err is the last failure to read the file again (nil: its content is
// current).
func (w *watched[T]) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}
