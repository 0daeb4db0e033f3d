package libvirt

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	cb "github.com/occicdmi/occicdmi/computebackends"
	"github.com/occicdmi/occicdmi/internal/testsupport"
)

// env returns the test environment (scripts/testenv/libvirt.sh env), or
// skips; under CI=true a missing libvirtd fails the run instead.
func env(t testing.TB) (uri, imageDir string) {
	t.Helper()
	testsupport.Need(t, "libvirtd", "OCCICDMI_TEST_LIBVIRT")
	uri = os.Getenv("OCCICDMI_LIBVIRT_URI")
	if uri == "" {
		uri = "qemu:///system"
	}
	imageDir = os.Getenv("OCCICDMI_IMAGE_DIR")
	require.NotEmpty(t, imageDir, "OCCICDMI_IMAGE_DIR must name the folder scripts/guest-image.sh filled")
	require.FileExists(t, filepath.Join(imageDir, "empty.qcow2"))
	return uri, imageDir
}

func openTest(t testing.TB) *Backend {
	t.Helper()
	uri, dir := env(t)
	b, err := Open(context.Background(), cb.Options{URI: uri, ImageDir: dir})
	require.NoError(t, err)
	_, err = b.version(context.Background())
	require.NoError(t, err, "libvirtd at %s must answer", uri)
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func newID(prefix string) string {
	r := make([]byte, 4)
	_, _ = rand.Read(r)
	return prefix + "-" + hex.EncodeToString(r)
}

// virsh runs virsh against the test URI: the tests check every state
// against libvirt itself, not against what the backend says.
func virsh(t testing.TB, args ...string) string {
	t.Helper()
	uri, _ := env(t)
	out, err := exec.Command("virsh", append([]string{"-c", uri}, args...)...).CombinedOutput()
	require.NoError(t, err, "virsh %v: %s", args, out)
	return strings.TrimSpace(string(out))
}

func domstate(t testing.TB, id string) string {
	t.Helper()
	return virsh(t, "domstate", DomainName(id))
}

// machine creates a machine and removes it (and its domain) at the end.
func machine(t testing.TB, b *Backend, m cb.Machine) {
	t.Helper()
	require.NoError(t, b.CreateMachine(context.Background(), m))
	t.Cleanup(func() {
		if err := b.DeleteMachine(context.Background(), m.ID); err != nil && !isKind(err, cb.ErrNotFound) {
			t.Errorf("cleanup %s: %v", m.ID, err)
		}
	})
}

func isKind(err, kind error) bool { return errors.Is(err, kind) }

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// hmp runs a command on the QEMU monitor of machine id (HMP, through
// libvirt) and returns its answer.
func hmp(t testing.TB, id, cmd string) string {
	t.Helper()
	return virsh(t, "qemu-monitor-command", "--hmp", DomainName(id), cmd)
}

// blockNode returns the block node QEMU attached to the device libvirt
// named by the alias of disk link diskID: proof that QEMU opened the
// volume.
func blockNode(t testing.TB, id, diskID string) string {
	t.Helper()
	info := hmp(t, id, "info block")
	m := regexp.MustCompile(`(?m)^(\S+): .*\n\s+Attached to:\s+/machine/peripheral/` + regexp.QuoteMeta(Alias(diskID)) + `/`).FindStringSubmatch(info)
	require.NotNil(t, m, "QEMU has a block node for disk %s:\n%s", diskID, info)
	return m[1]
}

// qemuIO runs a qemu-io command on a block node of machine id (HMP
// qemu-io: the I/O goes through QEMU's driver for the volume) and returns
// what it printed. HMP qemu-io prints on QEMU's stderr, which libvirt
// keeps in the domain's log: the answer is what the log gained.
func qemuIO(t testing.TB, id, node, cmd string) string {
	t.Helper()
	logFile := "/var/log/libvirt/qemu/" + DomainName(id) + ".log"
	before, _ := os.ReadFile(logFile)
	answer := hmp(t, id, `qemu-io `+node+` "`+cmd+`"`)
	var after []byte
	waitFor(t, 5*time.Second, "qemu-io output in "+logFile+" (the monitor answered "+strconv.Quote(answer)+")", func() bool {
		after, _ = os.ReadFile(logFile)
		return bytes.Contains(after[len(before):], []byte("bytes at offset"))
	})
	return string(after[len(before):])
}
