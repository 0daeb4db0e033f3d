package fs

import "sync"

// dirSyncer makes renames into one folder durable, sharing fsyncs between
// concurrent callers: an fsync of the folder covers every entry renamed
// into it before it started, so a caller whose rename is done needs one
// fsync that starts after that, not one of its own. Callers that arrive
// while an fsync runs wait for it to end and share the next one. Each
// caller still returns only once an fsync covering its rename succeeded.
type dirSyncer struct {
	dir    string
	syncFn func(dir string) error // syncDir; tests count and fail it

	mu       sync.Mutex
	cond     *sync.Cond
	started  uint64 // fsyncs started
	done     uint64 // fsyncs finished (they run one at a time)
	running  bool
	lastFail uint64 // the number of the latest fsync that failed
	failErr  error
}

func newDirSyncer(dir string) *dirSyncer {
	d := &dirSyncer{dir: dir, syncFn: syncDir}
	d.cond = sync.NewCond(&d.mu)
	return d
}

// sync returns once an fsync of the folder that started after the call
// has finished: nil when it succeeded.
func (d *dirSyncer) sync() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	need := d.started + 1 // the next fsync to start is the first that covers this caller
	for d.done < need {
		if d.running {
			d.cond.Wait()
			continue
		}
		d.running = true
		d.started++
		n := d.started
		d.mu.Unlock()
		err := d.syncFn(d.dir)
		d.mu.Lock()
		d.running, d.done = false, n
		if err != nil {
			d.lastFail, d.failErr = n, err
		}
		d.cond.Broadcast()
	}
	if d.lastFail >= need {
		// The fsync that covered this caller, or a later one, failed: it
		// cannot tell its rename is on disk.
		return d.failErr
	}
	return nil
}
