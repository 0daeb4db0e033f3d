package nbd

// Interworking with independent NBD clients: libnbd's nbdinfo and nbdcopy
// (Debian libnbd-bin) and QEMU's qemu-img and qemu-io (qemu-utils). Each
// test skips when its tool is missing, and fails under CI=true.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/occicdmi/occicdmi/internal/testsupport"
)

func needTool(t testing.TB, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	testsupport.NeedService(t, name+" ("+pkg+")", err == nil)
	return path
}

// runTool runs a client and returns its standard output; a failure fails
// the test with everything it printed.
func runTool(t testing.TB, tool string, args ...string) string {
	t.Helper()
	out, err := tryTool(tool, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(tool), strings.Join(args, " "), err, out)
	}
	return out
}

func tryTool(tool string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.String(), err
}

func nbdURI(name, sock string) string { return "nbd+unix:///" + name + "?socket=" + sock }

func randomFile(t testing.TB, size int) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "in.img")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, data
}

func sameBytes(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("%s: %d bytes, want %d; first difference at %d", what, len(got), len(want), i)
	}
}

// nbdinfo shows the export, its size and flags, and lists the exports.
func TestNbdinfo(t *testing.T) {
	nbdinfo := needTool(t, "nbdinfo", "libnbd-bin")
	s := quietServer(Options{})
	if err := s.Add("vol", newMem(64*MiB), false); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("ro", newMem(MiB), true); err != nil {
		t.Fatal(err)
	}
	sock := startServer(t, s)

	var info struct {
		Protocol string `json:"protocol"`
		Exports  []struct {
			Name     string `json:"export-name"`
			Size     int64  `json:"export-size"`
			ReadOnly bool   `json:"is_read_only"`
			Flush    bool   `json:"can_flush"`
			FUA      bool   `json:"can_fua"`
			Trim     bool   `json:"can_trim"`
			Zero     bool   `json:"can_zero"`
			Multi    bool   `json:"can_multi_conn"`
			MaxBlock int64  `json:"block_size_maximum"`
		} `json:"exports"`
	}
	out := runTool(t, nbdinfo, "--json", nbdURI("vol", sock))
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("nbdinfo --json: %v\n%s", err, out)
	}
	if len(info.Exports) != 1 {
		t.Fatalf("nbdinfo: %s", out)
	}
	e := info.Exports[0]
	if e.Name != "vol" || e.Size != 64*MiB || e.ReadOnly || !e.Flush || !e.FUA || !e.Trim || !e.Zero || !e.Multi || e.MaxBlock != 32*MiB {
		t.Fatalf("nbdinfo export: %+v\n%s", e, out)
	}
	t.Logf("nbdinfo --json %s: protocol %s, %+v", nbdURI("vol", sock), info.Protocol, e)
	if got := strings.TrimSpace(runTool(t, nbdinfo, "--size", nbdURI("ro", sock))); got != fmt.Sprint(MiB) {
		t.Fatalf("nbdinfo --size: %q", got)
	}
	if got := runTool(t, nbdinfo, "--is", "readonly", nbdURI("ro", sock)); got != "" {
		t.Logf("nbdinfo --is readonly: %s", got)
	}
	list := runTool(t, nbdinfo, "--list", nbdURI("", sock))
	if !strings.Contains(list, "export=\"vol\"") && !strings.Contains(list, "export=vol") || !strings.Contains(list, "ro") {
		t.Fatalf("nbdinfo --list:\n%s", list)
	}
	// A missing export is an error for the client, not a hang.
	if out, err := tryTool(nbdinfo, nbdURI("missing", sock)); err == nil {
		t.Fatalf("nbdinfo on a missing export succeeded:\n%s", out)
	}
}

// nbdcopy copies 64 MiB in and out byte for byte (with its default
// multi-connection, many-requests-in-flight copying).
func TestNbdcopy(t *testing.T) {
	nbdcopy := needTool(t, "nbdcopy", "libnbd-bin")
	s := quietServer(Options{})
	dev := newMem(64 * MiB)
	if err := s.Add("vol", dev, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("ro", newMem(64*MiB), true); err != nil {
		t.Fatal(err)
	}
	sock := startServer(t, s)
	in, data := randomFile(t, 64*MiB)
	runTool(t, nbdcopy, "--flush", in, nbdURI("vol", sock))
	sameBytes(t, "device after nbdcopy in", dev.bytes(), data)
	if dev.flushes.Load() == 0 {
		t.Error("nbdcopy --flush did not flush")
	}
	out := filepath.Join(t.TempDir(), "out.img")
	runTool(t, nbdcopy, nbdURI("vol", sock), out)
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "file after nbdcopy out", got, data)
	if out, err := tryTool(nbdcopy, in, nbdURI("ro", sock)); err == nil {
		t.Fatalf("nbdcopy to a read-only export succeeded:\n%s", out)
	}
	if dev.outside.Load() != 0 {
		t.Fatal("access outside the device")
	}
}

// qemu-img: info, convert in (to an existing NBD target, -n) and out.
func TestQemuImg(t *testing.T) {
	qemuImg := needTool(t, "qemu-img", "qemu-utils")
	s := quietServer(Options{})
	dev := newMem(64 * MiB)
	if err := s.Add("vol", dev, false); err != nil {
		t.Fatal(err)
	}
	sock := startServer(t, s)
	uri := nbdURI("vol", sock)
	var info struct {
		VirtualSize int64  `json:"virtual-size"`
		Format      string `json:"format"`
	}
	out := runTool(t, qemuImg, "info", "--output=json", uri)
	if err := json.Unmarshal([]byte(out), &info); err != nil || info.VirtualSize != 64*MiB {
		t.Fatalf("qemu-img info: %v\n%s", err, out)
	}
	in, data := randomFile(t, 64*MiB)
	runTool(t, qemuImg, "convert", "-n", "-f", "raw", "-O", "raw", in, uri)
	sameBytes(t, "device after qemu-img convert in", dev.bytes(), data)
	dst := filepath.Join(t.TempDir(), "out.img")
	runTool(t, qemuImg, "convert", "-f", "raw", "-O", "raw", uri, dst)
	got, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "file after qemu-img convert out", got, data)
	runTool(t, qemuImg, "compare", "-f", "raw", "-F", "raw", in, uri)
}

// qemu-io: patterned writes and reads, write zeroes, discard, FUA, flush.
func TestQemuIo(t *testing.T) {
	qemuIo := needTool(t, "qemu-io", "qemu-utils")
	s := quietServer(Options{})
	dev := newMem(16 * MiB)
	if err := s.Add("vol", dev, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("ro", newMem(MiB), true); err != nil {
		t.Fatal(err)
	}
	sock := startServer(t, s)
	out := runTool(t, qemuIo, "-f", "raw",
		"-c", "write -P 0xab 0 1M",
		"-c", "read -P 0xab 0 1M",
		"-c", "write -P 0xcd -f 1M 64k", // FUA
		"-c", "read -P 0xcd 1M 64k",
		"-c", "write -P 0xee 2M 1M",
		"-c", "write -z 2M 512k",
		"-c", "read -P 0 2M 512k",
		"-c", "read -P 0xee 2560k 512k",
		"-c", "discard 4M 1M",
		"-c", "flush",
		"-c", "write -P 0x11 15M 1M",
		"-c", "read -P 0x11 15M 1M",
		nbdURI("vol", sock))
	if strings.Contains(out, "failed") || strings.Contains(out, "error") {
		t.Fatalf("qemu-io:\n%s", out)
	}
	b := dev.bytes()
	sameBytes(t, "0xab", b[:MiB], bytes.Repeat([]byte{0xab}, MiB))
	sameBytes(t, "0xcd", b[MiB:MiB+64<<10], bytes.Repeat([]byte{0xcd}, 64<<10))
	sameBytes(t, "zeroes", b[2*MiB:2*MiB+512<<10], make([]byte, 512<<10))
	sameBytes(t, "0x11", b[15*MiB:], bytes.Repeat([]byte{0x11}, MiB))
	if dev.flushes.Load() == 0 {
		t.Error("no flush reached the device")
	}
	// A write to a read-only export fails in qemu-io.
	out, _ = tryTool(qemuIo, "-f", "raw", "-c", "write -P 1 0 4k", nbdURI("ro", sock))
	if !strings.Contains(out, "failed") && !strings.Contains(out, "denied") && !strings.Contains(out, "read-only") && !strings.Contains(out, "Read-only") {
		t.Fatalf("qemu-io write to a read-only export:\n%s", out)
	}
}

// Independent TLS clients over TCP: nbdinfo (nbds://, GnuTLS) and qemu-img
// (tls-creds-x509), against the FORCEDTLS listener.
func TestTLSClients(t *testing.T) {
	cert := newTestCert(t)
	s := quietServer(Options{TLS: cert.server})
	dev := newMem(8 * MiB)
	if err := s.Add("vol", dev, false); err != nil {
		t.Fatal(err)
	}
	ln, err := s.ListenTCP("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, s, ln)
	port := ln.Addr().(interface{ String() string }).String()
	port = port[strings.LastIndex(port, ":")+1:]

	t.Run("nbdinfo", func(t *testing.T) {
		nbdinfo := needTool(t, "nbdinfo", "libnbd-bin")
		uri := "nbds://localhost:" + port + "/vol?tls-certificates=" + cert.dir
		if got := strings.TrimSpace(runTool(t, nbdinfo, "--size", uri)); got != fmt.Sprint(8*MiB) {
			t.Fatalf("nbdinfo --size over TLS: %q", got)
		}
		// Without TLS the server refuses: NBD_REP_ERR_TLS_REQD.
		if out, err := tryTool(nbdinfo, "nbd://localhost:"+port+"/vol"); err == nil {
			t.Fatalf("nbdinfo without TLS succeeded:\n%s", out)
		}
	})
	t.Run("qemu-img", func(t *testing.T) {
		qemuImg := needTool(t, "qemu-img", "qemu-utils")
		in, data := randomFile(t, 8*MiB)
		obj := "tls-creds-x509,id=tls0,endpoint=client,dir=" + cert.dir
		target := "driver=nbd,server.type=inet,server.host=localhost,server.port=" + port + ",export=vol,tls-creds=tls0"
		runTool(t, qemuImg, "convert", "-n", "--object", obj, "-f", "raw", "--target-image-opts", in, target)
		sameBytes(t, "device after qemu-img convert over TLS", dev.bytes(), data)
	})
}
