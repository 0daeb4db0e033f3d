//go:build ceph

package rbd_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
	const bound = 45 * time.Second
	for name, call := range map[string]func() error{
		"volume WriteAt": func() error { _, err := v.WriteAt(ctx, vol, []byte("during"), 100); return err },
		"value Put":      func() error { return o.Put(ctx, key, bytes.NewReader([]byte("during")), 6) },
	} {
		start := time.Now()
		err := call()
		took := time.Since(start)
		t.Logf("%s after %v: %v", name, took.Round(time.Millisecond), err)
		assert.ErrorIs(t, err, storagebackends.ErrUnavailable, name)
		assert.Less(t, took, bound, "%s must fail, not hang", name)
	}
	resume()

	// librados resends to the OSD once it answers; allow it a moment.
	var got []byte
	require.Eventually(t, func() bool {
		rc, err := o.Open(ctx, key, 0, -1)
		if err != nil {
			return false
		}
		defer rc.Close()
		got, err = io.ReadAll(rc)
		return err == nil
	}, 60*time.Second, 500*time.Millisecond, "the same connection serves again after the OSD resumes")
	assert.Equal(t, before, got, "the failed Put left the value as it was")
	buf := make([]byte, len(before))
	_, err = v.ReadAt(ctx, vol, buf, 100)
	require.NoError(t, err)
	// A timed-out RBD write may or may not have reached the OSD before the
	// pause (as with a disk write cut by a crash); the bytes are one or
	// the other, never a mix.
	if !bytes.Equal(before, buf) {
		assert.Equal(t, append([]byte("during"), before[6:]...), buf)
	}
	_, err = v.WriteAt(ctx, vol, []byte("after"), 0)
	assert.NoError(t, err)
}
