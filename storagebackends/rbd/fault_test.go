//go:build ceph

package rbd_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/storagebackends"
	"github.com/occicdmi/occicdmi/storagebackends/storagetest"
)

// FaultsEnv turns on TestOSDPaused. It pauses the cluster's only OSD, which
// every user of the cluster feels, so it runs only when asked (CI, on its
// own cluster, at the end).
const FaultsEnv = "OCCICDMI_TEST_CEPH_FAULTS"

// TestOSDPaused freezes the OSD (SIGSTOP, by the PID in the pid file that
// scripts/testenv/ceph.sh's cluster writes) so the cluster stops answering:
// block and value calls fail with ErrUnavailable after librados's op
// timeout instead of hanging, nothing changes, and after SIGCONT the same
// connection serves again.
func TestOSDPaused(t *testing.T) {
	if os.Getenv(FaultsEnv) == "" {
		t.Skipf("pauses the shared OSD; runs with %s=1", FaultsEnv)
	}
	c := connect(t)
	pidFile := filepath.Join(filepath.Dir(os.Getenv("CEPH_CONF")), "run", "osd.0.pid")
	b, err := os.ReadFile(pidFile)
	require.NoError(t, err, "the OSD's pid file from scripts/testenv/ceph.sh")
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)

	v, err := c.Volumes()
	require.NoError(t, err)
	o, err := c.Objects()
	require.NoError(t, err)
	ctx := context.Background()
	p := storagetest.Prefix()
	vol, key := p+"vol", p+"value"
	before := []byte("before the outage")
	require.NoError(t, v.CreateVolume(ctx, vol, 8<<20))
	_, err = v.WriteAt(ctx, vol, before, 100)
	require.NoError(t, err)
	require.NoError(t, o.Put(ctx, key, bytes.NewReader(before), int64(len(before))))
	t.Cleanup(func() { _ = v.DeleteVolume(ctx, vol); _ = o.Delete(ctx, key) })

	require.NoError(t, syscall.Kill(pid, syscall.SIGSTOP))
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	defer resume()

	// The op timeout is 15 s; allow for the image open and a slow machine.
	// Both calls run at once so the OSD is paused only about 15 s: a pause
	// much longer than the PGs' read lease (16 s) can leave a PG "laggy".
	const bound = 45 * time.Second
	calls := map[string]func() error{
		"volume WriteAt": func() error { _, err := v.WriteAt(ctx, vol, []byte("during"), 100); return err },
		"value Put":      func() error { return o.Put(ctx, key, bytes.NewReader([]byte("during")), 6) },
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	errs, took := map[string]error{}, map[string]time.Duration{}
	for name, call := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			err := call()
			mu.Lock()
			errs[name], took[name] = err, time.Since(start)
			mu.Unlock()
		}()
	}
	wg.Wait()
	for name := range calls {
		t.Logf("%s after %v: %v", name, took[name].Round(time.Millisecond), errs[name])
		assert.ErrorIs(t, errs[name], storagebackends.ErrUnavailable, name)
		assert.Less(t, took[name], bound, "%s must fail, not hang", name)
	}
	resume()

	// librados resends to the OSD once it answers; allow it a moment. If
	// the pause still left a PG laggy, have the monitor re-peer it (mark
	// the OSD down; the running daemon comes straight back up, data kept)
	// rather than leave a broken cluster to everyone else.
	// Both the value and the volume must serve again: their objects may
	// sit in different PGs, which recover one after the other.
	var got []byte
	buf := make([]byte, len(before))
	readable := func() bool {
		rc, err := o.Open(ctx, key, 0, -1)
		if err != nil {
			return false
		}
		defer rc.Close()
		if got, err = io.ReadAll(rc); err != nil {
			return false
		}
		_, err = v.ReadAt(ctx, vol, buf, 100)
		return err == nil
	}
	if !readable() {
		time.Sleep(20 * time.Second)
		if !readable() {
			out, err := exec.Command("ceph", "osd", "down", "0").CombinedOutput()
			t.Logf("the cluster did not serve 20 s after the pause; ceph osd down 0: %s %v", out, err)
		}
	}
	require.Eventually(t, func() bool {
		return readable()
	}, 90*time.Second, 500*time.Millisecond, "the same connection serves again after the OSD resumes")
	assert.Equal(t, before, got, "the failed Put left the value as it was")
	// A timed-out RBD write may or may not have reached the OSD before the
	// pause (as with a disk write cut by a crash); the bytes are one or
	// the other, never a mix.
	if !bytes.Equal(before, buf) {
		assert.Equal(t, append([]byte("during"), before[6:]...), buf)
	}
	_, err = v.WriteAt(ctx, vol, []byte("after"), 0)
	assert.NoError(t, err)
}
