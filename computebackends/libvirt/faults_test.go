package libvirt

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	cb "github.com/occicdmi/occicdmi/computebackends"
)

// proxy stands between the backend and libvirtd's socket so a test can cut
// the daemon off (down), or make it hang (frozen), without disturbing the
// real daemon other tests use.
type proxy struct {
	path, target string
	frozen       atomic.Bool
	mu           sync.Mutex
	ln           net.Listener
	conns        []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	dir, err := os.MkdirTemp("", "lvproxy")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	p := &proxy{path: filepath.Join(dir, "sock"), target: target}
	p.up(t)
	t.Cleanup(p.down)
	return p
}

func (p *proxy) up(t *testing.T) {
	_ = os.Remove(p.path)
	ln, err := net.Listen("unix", p.path)
	require.NoError(t, err)
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("unix", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go p.pipe(c, s)
			go p.pipe(s, c)
		}
	}()
}

// pipe copies until either side closes; while frozen, bytes are held back.
func (p *proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		for p.frozen.Load() {
			time.Sleep(50 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

// down closes the listener and every connection: libvirtd is "gone".
func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestDaemonGoneAndBack: with libvirtd unreachable calls fail fast with
// ErrUnavailable and say why; when it is back the backend reconnects by
// itself and finds its machines by name; a daemon that hangs costs at most
// the call timeout.
func TestDaemonGoneAndBack(t *testing.T) {
	env(t)
	b0 := openTest(t)
	if b0.uri.Scheme != "qemu" || b0.uri.Host != "" {
		t.Skip("the proxy needs a local libvirtd socket (qemu:///system)")
	}
	p := newProxy(t, "/var/run/libvirt/libvirt-sock")
	b, err := Open(context.Background(), cb.Options{URI: "qemu:///system?socket=" + p.path, ImageDir: b0.ImageDir()})
	require.NoError(t, err)
	defer b.Close()
	// Calls that do work (a start under a loaded CI machine) get a generous
	// timeout; the hang below gets a short one, to show it is the bound.
	b.CallTimeout = time.Minute
	ctx := context.Background()
	id := newID("fault")
	machine(t, b0, cb.Machine{ID: id, Memory: 0.0625, Image: &cb.Image{Source: "empty.qcow2"}})
	require.NoError(t, b.Start(ctx, id))
	assert.Equal(t, cb.StateActive, status(t, b, id).State)

	p.down()
	start := time.Now()
	_, err = b.MachineStatus(ctx, id)
	require.ErrorIs(t, err, cb.ErrUnavailable)
	assert.Contains(t, err.Error(), "libvirtd")
	assert.Less(t, time.Since(start), 8*time.Second, "fails in bounded time")
	require.ErrorIs(t, b.Stop(ctx, id, cb.StopPowerOff), cb.ErrUnavailable)
	assert.Equal(t, "running", domstate(t, id), "nothing happened while the daemon was gone")

	p.up(t)
	assert.Equal(t, cb.StateActive, status(t, b, id).State, "reconnected by itself, machine found by name")
	require.NoError(t, b.Suspend(ctx, id, cb.SuspendSuspend))
	assert.Equal(t, "paused", domstate(t, id))

	// A daemon that hangs mid-call: the call times out, the next dial too.
	b.CallTimeout = 2 * time.Second
	p.frozen.Store(true)
	start = time.Now()
	_, err = b.MachineStatus(ctx, id)
	require.ErrorIs(t, err, cb.ErrUnavailable)
	assert.Contains(t, err.Error(), "did not answer")
	_, err = b.MachineStatus(ctx, id)
	require.ErrorIs(t, err, cb.ErrUnavailable)
	assert.Less(t, time.Since(start), 15*time.Second)
	p.frozen.Store(false)
	b.CallTimeout = time.Minute
	p.down()
	p.up(t)
	assert.Equal(t, cb.StateSuspended, status(t, b, id).State)

	// A new backend (a restarted occicdmi) finds the same machine.
	b2, err := Open(ctx, cb.Options{URI: "qemu:///system", ImageDir: b0.ImageDir()})
	require.NoError(t, err)
	defer b2.Close()
	assert.Equal(t, cb.StateSuspended, status(t, b2, id).State)
}

// TestLibvirtdRestart kills the real libvirtd by PID and starts it again.
// It disturbs every other libvirt user on the machine, so it runs only with
// OCCICDMI_TEST_LIBVIRT_RESTART=1.
func TestLibvirtdRestart(t *testing.T) {
	if os.Getenv("OCCICDMI_TEST_LIBVIRT_RESTART") != "1" {
		t.Skip("set OCCICDMI_TEST_LIBVIRT_RESTART=1 to kill and restart the real libvirtd")
	}
	b := openTest(t)
	b.CallTimeout = 5 * time.Second
	ctx := context.Background()
	id := newID("restart")
	machine(t, b, cb.Machine{ID: id, Memory: 0.0625, Image: &cb.Image{Source: "empty.qcow2"}})
	require.NoError(t, b.Start(ctx, id))

	out, err := exec.Command("pgrep", "-xn", "libvirtd").Output()
	require.NoError(t, err)
	var pid int
	_, err = fmt.Sscan(strings.TrimSpace(string(out)), &pid)
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(pid, syscall.SIGTERM))
	waitFor(t, 20*time.Second, "libvirtd to exit", func() bool { return syscall.Kill(pid, 0) != nil })
	_, err = b.MachineStatus(ctx, id)
	require.ErrorIs(t, err, cb.ErrUnavailable)

	_ = os.Remove("/run/libvirtd.pid")
	cmd := exec.Command("setsid", "tini", "-s", "--", "libvirtd")
	require.NoError(t, cmd.Start())
	go func() { _ = cmd.Wait() }()
	waitFor(t, 30*time.Second, "libvirtd to answer again", func() bool {
		_, err := b.MachineStatus(ctx, id)
		return err == nil
	})
	assert.Equal(t, cb.StateActive, status(t, b, id).State, "the guest ran on while libvirtd was away")
	require.NoError(t, b.Stop(ctx, id, cb.StopPowerOff))
	assert.Equal(t, "shut off", domstate(t, id))
}
