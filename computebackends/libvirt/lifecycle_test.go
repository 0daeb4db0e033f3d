package libvirt

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	cb "github.com/occicdmi/occicdmi/computebackends"
)

func status(t *testing.T, b *Backend, id string) cb.Status {
	t.Helper()
	s, err := b.MachineStatus(context.Background(), id)
	require.NoError(t, err)
	return s
}

// TestLifecycle drives every compute action (GFD.224 §3.6.1 table 5:
// start, stop, restart, suspend, save) on the empty-disk domain (no OS, so
// it is fast) and checks each resulting state with virsh.
func TestLifecycle(t *testing.T) {
	b := openTest(t)
	b.ShutdownTimeout = 2 * time.Second
	ctx := context.Background()
	id := newID("life")
	machine(t, b, cb.Machine{ID: id, Hostname: "life", Cores: 1, Memory: 0.0625, DiskSize: 1,
		Image: &cb.Image{Term: "empty", Source: "empty.qcow2"}})

	assert.Equal(t, "shut off", domstate(t, id))
	assert.Equal(t, cb.StateInactive, status(t, b, id).State)
	// Its own overlay, backed by the base image, sized by the resource_tpl.
	overlay := b.overlayPath(DomainName(id))
	out, err := exec.Command("qemu-img", "info", "-U", "--output=json", overlay).Output()
	require.NoError(t, err)
	var info struct {
		Backing     string `json:"backing-filename"`
		VirtualSize int64  `json:"virtual-size"`
	}
	require.NoError(t, json.Unmarshal(out, &info))
	assert.Equal(t, filepath.Join(b.ImageDir(), "empty.qcow2"), info.Backing)
	assert.Equal(t, int64(gib), info.VirtualSize)

	require.ErrorIs(t, b.CreateMachine(ctx, cb.Machine{ID: id}), cb.ErrExists)
	require.ErrorIs(t, b.Stop(ctx, id, cb.StopPowerOff), cb.ErrConflict, "stopping a stopped machine")
	require.ErrorIs(t, b.Suspend(ctx, id, cb.SuspendSuspend), cb.ErrConflict)
	require.ErrorIs(t, b.Restart(ctx, id, cb.RestartWarm), cb.ErrConflict)

	// Resize while stopped (Backend.Resize).
	require.NoError(t, b.Resize(ctx, id, 2, 0.125))
	dominfo := virsh(t, "dominfo", DomainName(id))
	assert.Regexp(t, `CPU\(s\):\s+2\n`, dominfo)
	assert.Regexp(t, `Max memory:\s+131072 KiB`, dominfo)
	require.ErrorIs(t, b.Resize(ctx, id, 0, 1), cb.ErrInvalid)

	require.NoError(t, b.Start(ctx, id))
	assert.Equal(t, "running", domstate(t, id))
	assert.Equal(t, cb.StateActive, status(t, b, id).State)
	require.ErrorIs(t, b.Start(ctx, id), cb.ErrConflict)
	require.ErrorIs(t, b.Resize(ctx, id, 1, 0.0625), cb.ErrConflict, "no hot resize")

	require.NoError(t, b.Suspend(ctx, id, cb.SuspendSuspend))
	assert.Equal(t, "paused", domstate(t, id))
	assert.Equal(t, cb.StateSuspended, status(t, b, id).State)
	require.NoError(t, b.Start(ctx, id), "start resumes a paused machine")
	assert.Equal(t, "running", domstate(t, id))

	require.NoError(t, b.Restart(ctx, id, cb.RestartWarm))
	assert.Equal(t, "running", domstate(t, id))
	pidBefore := qemuPID(t, id)
	require.NoError(t, b.Restart(ctx, id, cb.RestartCold))
	assert.Equal(t, "running", domstate(t, id))
	assert.NotEqual(t, pidBefore, qemuPID(t, id), "a cold restart runs a new QEMU")

	// No OS answers the power button: acpioff fails and the machine runs on.
	require.ErrorIs(t, b.Stop(ctx, id, cb.StopACPIOff), cb.ErrConflict)
	assert.Equal(t, "running", domstate(t, id))
	// graceful escalates to power-off after the bounded wait.
	require.NoError(t, b.Stop(ctx, id, cb.StopGraceful))
	assert.Equal(t, "shut off", domstate(t, id))

	require.NoError(t, b.Start(ctx, id))
	require.NoError(t, b.Stop(ctx, id, cb.StopPowerOff))
	assert.Equal(t, "shut off", domstate(t, id))
	assert.Equal(t, cb.Status{State: cb.StateInactive, Message: "powered off"}, status(t, b, id))

	// hibernate: managed save, QEMU exits, start restores.
	require.NoError(t, b.Start(ctx, id))
	require.NoError(t, b.Suspend(ctx, id, cb.SuspendHibernate))
	assert.Equal(t, "shut off", domstate(t, id))
	assert.Contains(t, virsh(t, "dominfo", DomainName(id)), "Managed save:   yes")
	assert.Equal(t, cb.StateSuspended, status(t, b, id).State)
	require.NoError(t, b.Start(ctx, id))
	assert.Equal(t, "running", domstate(t, id))
	assert.Contains(t, virsh(t, "dominfo", DomainName(id)), "Managed save:   no")
	// Stopping a hibernated machine discards its saved memory.
	require.NoError(t, b.Suspend(ctx, id, cb.SuspendHibernate))
	require.NoError(t, b.Stop(ctx, id, cb.StopGraceful))
	assert.Contains(t, virsh(t, "dominfo", DomainName(id)), "Managed save:   no")
	assert.Equal(t, cb.StateInactive, status(t, b, id).State)
	require.NoError(t, b.Start(ctx, id))

	// Save hot: a standalone image (no backing file) the catalogue can offer.
	img, err := b.Save(ctx, id, cb.SaveHot, "Life Saved")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.Remove(filepath.Join(b.ImageDir(), img.Source)) })
	assert.Equal(t, "life-saved", img.Term)
	assert.Equal(t, "running", domstate(t, id), "the guest runs again after a hot save")
	out, err = exec.Command("qemu-img", "info", "--output=json", filepath.Join(b.ImageDir(), img.Source)).Output()
	require.NoError(t, err)
	assert.NotContains(t, string(out), "backing-filename")
	require.ErrorIs(t, func() error { _, err := b.Save(ctx, id, cb.SaveDeferred, ""); return err }(), cb.ErrConflict)
	// A machine booted from the saved image.
	other := newID("fromsaved")
	machine(t, b, cb.Machine{ID: other, Memory: 0.0625, Image: &img})
	assert.Equal(t, "shut off", domstate(t, other))

	require.NoError(t, b.DeleteMachine(ctx, id))
	assert.NoFileExists(t, overlay)
	_, err = exec.Command("virsh", "-c", b.uri.String(), "dominfo", DomainName(id)).CombinedOutput()
	assert.Error(t, err, "the domain is undefined")
	_, err = b.MachineStatus(ctx, id)
	require.ErrorIs(t, err, cb.ErrNotFound)
	require.ErrorIs(t, b.Start(ctx, id), cb.ErrNotFound)
	require.ErrorIs(t, b.DeleteMachine(ctx, id), cb.ErrNotFound)
}

func qemuPID(t *testing.T, id string) int {
	t.Helper()
	raw, err := os.ReadFile("/run/libvirt/qemu/" + DomainName(id) + ".pid")
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	require.NoError(t, err)
	return pid
}

// TestOutsideChanges: the state follows libvirt, including what others did.
func TestOutsideChanges(t *testing.T) {
	b := openTest(t)
	ctx := context.Background()
	id := newID("outside")
	machine(t, b, cb.Machine{ID: id, Memory: 0.0625, Image: &cb.Image{Source: "empty.qcow2"}})
	require.NoError(t, b.Start(ctx, id))

	virsh(t, "destroy", DomainName(id))
	assert.Equal(t, cb.StateInactive, status(t, b, id).State, "destroyed by hand")

	require.NoError(t, b.Start(ctx, id))
	virsh(t, "suspend", DomainName(id))
	assert.Equal(t, cb.StateSuspended, status(t, b, id).State, "paused by hand")
	virsh(t, "resume", DomainName(id))

	// QEMU killed: libvirt records a crash; OCCI shows error with a message.
	require.NoError(t, syscall.Kill(qemuPID(t, id), syscall.SIGKILL))
	waitFor(t, 10*time.Second, "libvirt to notice QEMU died", func() bool { return domstate(t, id) == "shut off" })
	s := status(t, b, id)
	assert.Equal(t, cb.StateError, s.State)
	assert.Contains(t, s.Message, "crashed")
	require.NoError(t, b.Start(ctx, id), "a crashed machine can be started again")
	assert.Equal(t, "running", domstate(t, id))
}

// TestBadInput: refused before anything is made.
func TestBadInput(t *testing.T) {
	b := openTest(t)
	ctx := context.Background()
	cases := []cb.Machine{
		{ID: ""},
		{ID: newID("bad"), Architecture: "arm"},
		{ID: newID("bad"), Memory: -1},
		{ID: newID("bad"), Memory: 0.001},
		{ID: newID("bad"), Hostname: "no spaces allowed"},
		{ID: newID("bad"), Image: &cb.Image{Source: "no-such-image.qcow2"}},
		{ID: newID("bad"), Image: &cb.Image{Source: "../../etc/passwd"}},
		{ID: newID("bad"), Image: &cb.Image{Source: "empty.qcow2"}, DiskSize: 0.001},
	}
	for _, m := range cases {
		err := b.CreateMachine(ctx, m)
		require.ErrorIs(t, err, cb.ErrInvalid, "%+v", m)
		if m.ID != "" {
			_, err := b.MachineStatus(ctx, m.ID)
			require.ErrorIs(t, err, cb.ErrNotFound, "nothing defined for %+v", m)
			assert.NoFileExists(t, b.overlayPath(DomainName(m.ID)))
		}
	}
	_, err := b.Save(ctx, "x", "lukewarm", "")
	require.ErrorIs(t, err, cb.ErrInvalid)
	require.ErrorIs(t, b.Stop(ctx, "x", "gently"), cb.ErrInvalid)
	_, err = b.MachineStatus(ctx, "no-such-machine")
	require.ErrorIs(t, err, cb.ErrNotFound)
}
