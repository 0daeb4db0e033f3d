package libvirt

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"libvirt.org/go/libvirtxml"

	cb "github.com/occicdmi/occicdmi/computebackends"
	"github.com/occicdmi/occicdmi/internal/testsupport"
)

// nbdVolume is a raw image served on a Unix socket by qemu-nbd, an NBD
// server independent of ours (linkage/nbd).
type nbdVolume struct {
	File   string // the raw image behind the export
	Socket string
	Export string
}

func (v nbdVolume) Source() cb.VolumeSource {
	return cb.VolumeSource{Type: "nbd", Path: v.Socket, Image: v.Export, Format: "raw"}
}

// serveNBD writes content (padded to size) into a raw image and serves it
// with qemu-nbd, stopped with t. The socket is opened to QEMU the way
// linkage/nbd does it (VolumeSource): group libvirt-qemu, mode 0660, and
// search permission for others on every folder above. Skipped without
// qemu-nbd, failed under CI=true.
func serveNBD(t testing.TB, content []byte, size int64) nbdVolume {
	t.Helper()
	qemuNBD, err := exec.LookPath("qemu-nbd")
	testsupport.NeedService(t, "qemu-nbd (qemu-utils; scripts/testenv.sh up libvirt installs it)", err == nil)
	// A short folder of its own: a Unix socket path has at most 107 bytes.
	dir, err := os.MkdirTemp("", "occi-nbd-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	v := nbdVolume{File: filepath.Join(dir, "vol.raw"), Socket: filepath.Join(dir, "nbd.sock"), Export: newID("export")}
	require.NoError(t, os.WriteFile(v.File, content, 0o600))
	require.NoError(t, os.Truncate(v.File, size))
	pidFile := filepath.Join(dir, "qemu-nbd.pid")
	out, err := exec.Command(qemuNBD, "--fork", "--persistent", "--shared=4", "--format=raw",
		"--socket="+v.Socket, "--export-name="+v.Export, "--pid-file="+pidFile, v.File).CombinedOutput()
	require.NoError(t, err, "qemu-nbd: %s", out)
	raw, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	require.NoError(t, err, "qemu-nbd pid file %q", raw)
	t.Cleanup(func() { stopPID(t, pid, "qemu-nbd") })

	grp, err := user.LookupGroup("libvirt-qemu")
	require.NoError(t, err, "QEMU's group")
	gid, _ := strconv.Atoi(grp.Gid)
	require.NoError(t, os.Chown(v.Socket, -1, gid), "give the socket to QEMU's group (the tests run as root)")
	require.NoError(t, os.Chmod(v.Socket, 0o660))
	openFolders(t, filepath.Dir(v.Socket))
	return v
}

// openFolders gives others search permission (o+x) on dir and every folder
// above it.
func openFolders(t testing.TB, dir string) {
	t.Helper()
	for ; ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		require.NoError(t, err)
		require.NoError(t, os.Chmod(dir, fi.Mode().Perm()|0o001))
		if dir == filepath.Dir(dir) {
			return
		}
	}
}

// stopPID stops a daemon the test started (by its PID, checking its name
// first) and waits until it is gone.
func stopPID(t testing.TB, pid int, name string) {
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil || strings.TrimSpace(string(comm)) != name {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(st), ") Z ") {
			return // gone, or a zombie nobody reaps: no longer serving
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("%s (pid %d) did not stop on SIGTERM", name, pid)
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// TestNBDAttach attaches a volume served over NBD on a Unix socket (by
// qemu-nbd) to a stopped machine and checks the disk libvirt records, that
// QEMU connects at start and reads the volume's bytes, and that a socket
// nobody serves makes the start fail with an error naming it; then
// hot-plugs a second export into the running machine, writes through QEMU
// and reads the bytes on the host, and detaches both.
func TestNBDAttach(t *testing.T) {
	b := openTest(t)
	ctx := context.Background()
	const size = 1 << 20
	cold := serveNBD(t, bytes.Repeat([]byte{0x5a}, 64<<10), size)
	hot := serveNBD(t, bytes.Repeat([]byte{0xa5}, 64<<10), size)

	id := newID("nbd")
	machine(t, b, cb.Machine{ID: id, Memory: 0.0625, Image: &cb.Image{Source: "empty.qcow2"}})

	// Attached to a stopped machine: recorded, opened by QEMU at start.
	d1 := cb.Disk{ID: "vol-nbd-cold", Source: cold.Source()}
	require.NoError(t, b.AttachDisk(ctx, id, d1))
	disk := findDisk(inactiveXML(t, id), Alias(d1.ID))
	require.NotNil(t, disk, "the disk is in the persistent definition")
	assert.Equal(t, "disk", disk.Device)
	require.NotNil(t, disk.Driver)
	assert.Equal(t, libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw", Cache: "none", Discard: "unmap"}, *disk.Driver)
	require.NotNil(t, disk.Source)
	require.NotNil(t, disk.Source.Network, "a network disk")
	assert.Equal(t, "nbd", disk.Source.Network.Protocol)
	assert.Equal(t, cold.Export, disk.Source.Network.Name)
	assert.Equal(t, []libvirtxml.DomainDiskSourceHost{{Transport: "unix", Socket: cold.Socket}}, disk.Source.Network.Hosts)
	require.NotNil(t, disk.Target)
	assert.Equal(t, "virtio", disk.Target.Bus)
	assert.Regexp(t, `^vd[b-z]$`, disk.Target.Dev)
	doc := virsh(t, "dumpxml", "--inactive", DomainName(id))
	assert.Contains(t, doc, `<disk type='network' device='disk'>`)

	require.NoError(t, b.Start(ctx, id), "QEMU connects to the socket at start")
	assert.Equal(t, "running", domstate(t, id))
	node := blockNode(t, id, d1.ID)
	out := qemuIO(t, id, node, "read -P 0x5a 0 65536")
	assert.Contains(t, out, "read 65536/65536 bytes")
	assert.NotContains(t, out, "Pattern verification failed")
	out = qemuIO(t, id, node, "read -P 0x00 65536 4096")
	assert.Contains(t, out, "read 4096/4096 bytes", "the rest of the volume is zeros")
	assert.NotContains(t, out, "Pattern verification failed")
	// The check can fail: another pattern does not verify.
	assert.Contains(t, qemuIO(t, id, node, "read -P 0x00 0 4096"), "Pattern verification failed")

	// Hot-plugged into the running machine: QEMU connects at once; what it
	// writes is in the image on the host.
	d2 := cb.Disk{ID: "vol-nbd-hot", Source: hot.Source()}
	require.NoError(t, b.AttachDisk(ctx, id, d2))
	assert.Contains(t, virsh(t, "domblklist", DomainName(id)), hot.Export)
	node2 := blockNode(t, id, d2.ID)
	out = qemuIO(t, id, node2, "read -P 0xa5 0 65536")
	assert.Contains(t, out, "read 65536/65536 bytes")
	assert.NotContains(t, out, "Pattern verification failed")
	// Written through the guest's device (its BlockBackend: the node
	// alone is not writable while the device uses it).
	out = qemuIO(t, id, "-d "+Alias(d2.ID)+"/virtio-backend", "write -P 0x3c 131072 8192")
	assert.Contains(t, out, "wrote 8192/8192 bytes")
	got, err := os.ReadFile(hot.File)
	require.NoError(t, err)
	assert.Equal(t, bytes.Repeat([]byte{0x3c}, 8192), got[131072:131072+8192], "QEMU's write reached the image through NBD")
	assert.Equal(t, bytes.Repeat([]byte{0xa5}, 64<<10), got[:64<<10], "and nothing else changed")

	// No guest OS acknowledges the unplug: detach fails and leaves the
	// volume attached, live and in the configuration.
	old := unplugWait
	unplugWait = 2 * time.Second
	t.Cleanup(func() { unplugWait = old })
	require.ErrorIs(t, b.DetachDisk(ctx, id, d2.ID), cb.ErrConflict)
	assert.Contains(t, virsh(t, "domblklist", DomainName(id)), hot.Export)
	assert.Contains(t, virsh(t, "domblklist", "--inactive", DomainName(id)), hot.Export)
	// Once stopped, the detaches are configuration changes.
	require.NoError(t, b.Stop(ctx, id, cb.StopPowerOff))
	require.NoError(t, b.DetachDisk(ctx, id, d2.ID))
	require.NoError(t, b.DetachDisk(ctx, id, d1.ID))
	blk := virsh(t, "domblklist", "--inactive", DomainName(id))
	assert.NotContains(t, blk, hot.Export)
	assert.NotContains(t, blk, cold.Export)
	require.ErrorIs(t, b.DetachDisk(ctx, id, d1.ID), cb.ErrNotFound)
	require.NoError(t, b.Start(ctx, id), "the machine starts without them")
}

// TestNBDUnreachable: a socket nobody serves, or one QEMU may not open,
// is accepted while the machine is stopped (QEMU connects at start) and
// makes the start fail with an error naming the socket; the machine stays
// inactive and starts once the disk is detached. Hot-plugging it into a
// running machine fails at once and attaches nothing.
func TestNBDUnreachable(t *testing.T) {
	b := openTest(t)
	ctx := context.Background()
	v := serveNBD(t, nil, 1<<20)
	for what, src := range map[string]cb.VolumeSource{
		"no server": {Type: "nbd", Path: filepath.Join(filepath.Dir(v.Socket), "nobody.sock"), Image: v.Export},
		// Served, but only to its owner (root): QEMU runs as libvirt-qemu.
		"not QEMU's": func() cb.VolumeSource {
			private := serveNBD(t, nil, 1<<20)
			require.NoError(t, os.Chmod(private.Socket, 0o600))
			return private.Source()
		}(),
	} {
		t.Run(what, func(t *testing.T) {
			id := newID("nbdbad")
			machine(t, b, cb.Machine{ID: id, Memory: 0.0625, Image: &cb.Image{Source: "empty.qcow2"}})
			d := cb.Disk{ID: "vol-bad", Source: src}
			require.NoError(t, b.AttachDisk(ctx, id, d), "recorded: QEMU connects only at start")
			err := b.Start(ctx, id)
			require.Error(t, err)
			t.Logf("start: %v", err)
			assert.Contains(t, err.Error(), src.Path, "the error names the socket")
			assert.Equal(t, "shut off", domstate(t, id))
			require.NoError(t, b.DetachDisk(ctx, id, d.ID))
			require.NoError(t, b.Start(ctx, id))

			err = b.AttachDisk(ctx, id, d)
			require.Error(t, err, "a hot-plug connects at once")
			t.Logf("hot-plug: %v", err)
			assert.Contains(t, err.Error(), src.Path)
			assert.NotContains(t, virsh(t, "domblklist", DomainName(id)), src.Path)
			assert.NotContains(t, virsh(t, "domblklist", "--inactive", DomainName(id)), src.Path)
		})
	}
}

// An NBD volume over TCP (a server on another host) is a network disk
// with a tcp host, and tls='yes' when the server requires TLS (libvirt's
// formatdomain "source ... tls"); an address that is no host:port is
// refused.
func TestNBDOverTCPDiskXML(t *testing.T) {
	d, err := diskXML(cb.Disk{ID: "s1", Source: cb.VolumeSource{Type: "nbd", Host: "10.0.0.5:10809", TLS: true, Image: "EXP"}}, "vdb")
	require.NoError(t, err)
	doc, err := d.Marshal()
	require.NoError(t, err)
	for _, want := range []string{`protocol="nbd" name="EXP" tls="yes"`, `<host transport="tcp" name="10.0.0.5" port="10809">`} {
		assert.Contains(t, doc, want)
	}
	d, err = diskXML(cb.Disk{ID: "s1", Source: cb.VolumeSource{Type: "nbd", Host: "[fd00::5]:10809", Image: "EXP"}}, "vdb")
	require.NoError(t, err)
	doc, err = d.Marshal()
	require.NoError(t, err)
	assert.NotContains(t, doc, "tls=")
	assert.Contains(t, doc, `name="fd00::5" port="10809"`)
	_, err = diskXML(cb.Disk{ID: "x", Source: cb.VolumeSource{Type: "nbd", Host: "10.0.0.5", Image: "EXP"}}, "vdb")
	assert.ErrorIs(t, err, cb.ErrInvalid)
}
