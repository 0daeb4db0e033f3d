package libvirt

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	cb "github.com/occicdmi/occicdmi/computebackends"
	"github.com/occicdmi/occicdmi/internal/testsupport"
)

// cephEnv returns the ceph.conf of the test cluster (scripts/testenv/ceph.sh)
// and one monitor address from it.
func cephEnv(t *testing.T) (conf, mon string) {
	t.Helper()
	conf = testsupport.Need(t, "Ceph", "CEPH_CONF")
	raw, err := os.ReadFile(conf)
	require.NoError(t, err)
	mon = "127.0.0.1:6789"
	if m := regexp.MustCompile(`v1:([0-9.]+:[0-9]+)`).FindSubmatch(raw); m != nil {
		mon = string(m[1])
	} else if m := regexp.MustCompile(`(?m)^\s*mon[ _]host\s*=\s*([0-9.]+(:[0-9]+)?)\s*$`).FindSubmatch(raw); m != nil {
		mon = string(m[1])
	}
	return conf, mon
}

// TestRBDHotAttach writes a pattern into an RBD image from the host (rbd
// CLI), hot-attaches the image to a running guest through QEMU's rbd driver,
// and reads the pattern back through QEMU (HMP qemu-io on the attached
// device): the bytes travel host -> Ceph -> QEMU.
func TestRBDHotAttach(t *testing.T) {
	b := openTest(t)
	conf, mon := cephEnv(t)
	pool := os.Getenv("OCCICDMI_TEST_RBD_POOL")
	if pool == "" {
		pool = "rbd"
	}
	ctx := context.Background()
	image := newID("lvtest")
	pattern := bytes.Repeat([]byte{0x5a}, 64<<10)
	src := filepath.Join(t.TempDir(), "pattern")
	require.NoError(t, os.WriteFile(src, pattern, 0o644))
	rbd := func(args ...string) {
		t.Helper()
		out, err := exec.Command("rbd", append([]string{"-c", conf}, args...)...).CombinedOutput()
		require.NoError(t, err, "rbd %v: %s", args, out)
	}
	rbd("import", src, pool+"/"+image)
	t.Cleanup(func() { _ = exec.Command("rbd", "-c", conf, "rm", pool+"/"+image).Run() })

	id := newID("rbd")
	machine(t, b, cb.Machine{ID: id, Memory: 0.0625, Image: &cb.Image{Source: "empty.qcow2"}})
	require.NoError(t, b.Start(ctx, id))
	disk := cb.Disk{ID: "vol-" + image, Source: cb.VolumeSource{Type: "rbd", Pool: pool, Image: image, Monitors: []string{mon}}}
	require.NoError(t, b.AttachDisk(ctx, id, disk))
	assert.Contains(t, virsh(t, "domblklist", DomainName(id)), pool+"/"+image)

	node := blockNode(t, id, disk.ID)
	out := qemuIO(t, id, node, "read -P 0x5a 0 65536")
	assert.Contains(t, out, "read 65536/65536 bytes")
	assert.NotContains(t, out, "Pattern verification failed")
	// The check can fail: another pattern does not verify.
	out = qemuIO(t, id, node, "read -P 0x00 0 4096")
	assert.Contains(t, out, "Pattern verification failed")

	// No guest OS acknowledges the unplug: detach fails and leaves the
	// volume attached, live and in the configuration.
	old := unplugWait
	unplugWait = 2 * time.Second
	t.Cleanup(func() { unplugWait = old })
	require.ErrorIs(t, b.DetachDisk(ctx, id, disk.ID), cb.ErrConflict)
	assert.Contains(t, virsh(t, "domblklist", "--inactive", DomainName(id)), pool+"/"+image)
	// Once stopped, the detach is a configuration change and succeeds.
	require.NoError(t, b.Stop(ctx, id, cb.StopPowerOff))
	require.NoError(t, b.DetachDisk(ctx, id, disk.ID))
	assert.NotContains(t, virsh(t, "domblklist", "--inactive", DomainName(id)), pool+"/"+image)
}
