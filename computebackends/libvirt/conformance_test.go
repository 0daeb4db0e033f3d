package libvirt

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	cb "github.com/occicdmi/occicdmi/computebackends"
	"github.com/occicdmi/occicdmi/computebackends/computetest"
)

// TestConformance runs the compute conformance suite against libvirtd
// (scripts/testenv.sh up; skipped without it, failed under CI=true). The
// machines boot the empty disk: no guest OS, so they start in a blink but
// answer neither the ACPI power button nor a PCI hot-unplug
// (UncooperativeGuest); TestRealGuest boots a real one.
func TestConformance(t *testing.T) {
	old := unplugWait
	unplugWait = 2 * time.Second
	t.Cleanup(func() { unplugWait = old })
	computetest.Run(t, func(t *testing.T) cb.Backend {
		b := openTest(t)
		b.ShutdownTimeout = time.Second
		return b
	}, computetest.Options{
		Machine: func(id string) cb.Machine {
			return cb.Machine{ID: id, Hostname: "conformance", Cores: 1, Memory: 0.0625,
				Image: &cb.Image{Term: "empty", Source: "empty.qcow2"}}
		},
		Volume: func(t *testing.T) cb.VolumeSource {
			// QEMU runs as libvirt-qemu: the file lies where it can reach it.
			_, dir := env(t)
			vol := filepath.Join(dir, "machines", computetest.NewID("conformance")+"-vol.raw")
			require.NoError(t, os.WriteFile(vol, nil, 0o644))
			t.Cleanup(func() { _ = os.Remove(vol) })
			require.NoError(t, os.Truncate(vol, 8<<20))
			return cb.VolumeSource{Type: "file", Path: vol}
		},
		// qemu-nbd serving an empty raw image, its socket opened to QEMU
		// the way linkage/nbd does (serveNBD).
		NBDVolume: func(t *testing.T) cb.VolumeSource {
			return serveNBD(t, nil, 8<<20).Source()
		},
		Sizes: func(t *testing.T, id string) (int, float64) {
			info := virsh(t, "dominfo", DomainName(id))
			cpus := regexp.MustCompile(`CPU\(s\):\s+(\d+)`).FindStringSubmatch(info)
			mem := regexp.MustCompile(`Max memory:\s+(\d+) KiB`).FindStringSubmatch(info)
			require.NotNil(t, cpus, info)
			require.NotNil(t, mem, info)
			c, _ := strconv.Atoi(cpus[1])
			kib, _ := strconv.ParseFloat(mem[1], 64)
			return c, kib / (1 << 20)
		},
		// What a crash does: QEMU killed, libvirt records it.
		Break: func(t *testing.T, id string) {
			require.NoError(t, syscall.Kill(qemuPID(t, id), syscall.SIGKILL))
			waitFor(t, 10*time.Second, "libvirt to notice QEMU died", func() bool { return domstate(t, id) == "shut off" })
		},
		DeleteImage: func(t *testing.T, img cb.Image) {
			_, dir := env(t)
			for _, f := range []string{img.Source, img.Source + ".vmlinuz", img.Source + ".initrd"} {
				_ = os.Remove(filepath.Join(dir, f))
			}
		},
		UncooperativeGuest: true,
	})
}
