package libvirt

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	cb "github.com/occicdmi/occicdmi/computebackends"
)

// TestRBDLiveResize grows an RBD image attached to a running guest (rbd
// resize from the host, as the storage backend does), then ResizeDisk
// tells QEMU (virDomainBlockResize): libvirt's block info shows the new
// capacity, which is what the guest's virtio disk is given. A disk the
// machine lacks is ErrNotFound; a stopped machine is ErrConflict (it sees
// the size at its next start).
func TestRBDLiveResize(t *testing.T) {
	b := openTest(t)
	conf, mon := cephEnv(t)
	pool := os.Getenv("OCCICDMI_TEST_RBD_POOL")
	if pool == "" {
		pool = "rbd"
	}
	ctx := context.Background()
	image := newID("lvresize")
	src := filepath.Join(t.TempDir(), "pattern")
	require.NoError(t, os.WriteFile(src, make([]byte, 1<<20), 0o644))
	rbd := func(args ...string) {
		t.Helper()
		out, err := exec.Command("rbd", append([]string{"-c", conf}, args...)...).CombinedOutput()
		require.NoError(t, err, "rbd %v: %s", args, out)
	}
	rbd("import", src, pool+"/"+image)
	t.Cleanup(func() { _ = exec.Command("rbd", "-c", conf, "rm", pool+"/"+image).Run() })

	id := newID("rsz")
	machine(t, b, cb.Machine{ID: id, Memory: 0.0625, Image: &cb.Image{Source: "empty.qcow2"}})
	require.NoError(t, b.Start(ctx, id))
	disk := cb.Disk{ID: "vol-" + image, Source: cb.VolumeSource{Type: "rbd", Pool: pool, Image: image, Monitors: []string{mon}}}
	require.NoError(t, b.AttachDisk(ctx, id, disk))
	target := ""
	for _, line := range strings.Split(virsh(t, "domblklist", DomainName(id)), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[1] == pool+"/"+image {
			target = f[0]
		}
	}
	require.NotEmpty(t, target, "the disk is attached")
	capacity := func() string {
		for _, line := range strings.Split(virsh(t, "domblkinfo", DomainName(id), target), "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == "Capacity:" {
				return f[1]
			}
		}
		return ""
	}
	require.Equal(t, "1048576", capacity())

	rbd("resize", "--size", "4M", pool+"/"+image)
	require.NoError(t, b.ResizeDisk(ctx, id, disk.ID, 4<<20))
	assert.Equal(t, "4194304", capacity(), "QEMU has the new size")

	assert.ErrorIs(t, b.ResizeDisk(ctx, id, "no-such-disk", 4<<20), cb.ErrNotFound)
	require.NoError(t, b.Stop(ctx, id, cb.StopPowerOff))
	assert.ErrorIs(t, b.ResizeDisk(ctx, id, disk.ID, 8<<20), cb.ErrConflict)
}
