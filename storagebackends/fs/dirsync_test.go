package fs

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Callers that arrive while a folder fsync runs share the next one, and
// each returns only after an fsync that started after it arrived: the
// first fsync here may predate their renames, so it does not count.
func TestDirSyncShared(t *testing.T) {
	d := newDirSyncer(t.TempDir())
	var calls atomic.Int64
	release := make(chan struct{})
	d.syncFn = func(dir string) error {
		if calls.Add(1) == 1 {
			<-release
		}
		return syncDir(dir)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); assert.NoError(t, d.sync()) }()
	require.Eventually(t, func() bool { return calls.Load() == 1 }, 10*time.Second, time.Millisecond)
	var returned atomic.Int64
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, d.sync())
			returned.Add(1)
		}()
	}
	time.Sleep(20 * time.Millisecond) // let them queue (the count holds either way)
	assert.Zero(t, returned.Load(), "no caller returns on the fsync that began before it")
	close(release)
	wg.Wait()
	assert.GreaterOrEqual(t, calls.Load(), int64(2))
	t.Logf("17 callers, %d fsyncs", calls.Load())
}

// A failed fsync fails every caller it covered; the next one starts afresh.
func TestDirSyncFailure(t *testing.T) {
	d := newDirSyncer(t.TempDir())
	fail := errors.New("EIO")
	d.syncFn = func(string) error { return fail }
	require.ErrorIs(t, d.sync(), fail)
	d.syncFn = syncDir
	require.NoError(t, d.sync())
}
