package libvirt_test

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	lv "github.com/occicdmi/occicdmi/computebackends/libvirt"
	"github.com/occicdmi/occicdmi/spec-tests/harness"
)

// Create+start of a compute through OCCI HTTP (POST /compute/, then POST
// ?action=start, which answers once libvirt runs the domain), beside the
// same domain made by hand in the same run: qemu-img overlay, virsh define
// of the XML occicdmi wrote, virsh start.
//
//	go test ./spec-tests/libvirt/ -run '^$' -bench . -benchtime 5x

func needB(b *testing.B) string {
	if os.Getenv("OCCICDMI_TEST_LIBVIRT") == "" {
		b.Skip("no libvirtd: eval \"$(scripts/testenv.sh env libvirt)\"")
	}
	return harness.URL(b)
}

var computeBody = map[string]any{
	"kind":   infra + "compute",
	"mixins": []string{osTpl + "empty", resTpl + "tiny"},
}

// httpCreateStart returns the compute's location.
func httpCreateStart(tb testing.TB, base string) (string, error) {
	resp, out := do(tb, "POST", base+"/compute/", computeBody)
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("create: %d %v", resp.StatusCode, out)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "http") {
		loc = base + loc
	}
	resp, out = do(tb, "POST", loc+"?action=start", map[string]any{"action": computeAction + "start"})
	if resp.StatusCode != 200 {
		return loc, fmt.Errorf("start: %d %v", resp.StatusCode, out)
	}
	return loc, nil
}

func newUUID() string {
	r := make([]byte, 16)
	_, _ = rand.Read(r)
	r[6] = r[6]&0x0f | 0x40
	r[8] = r[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", r[0:4], r[4:6], r[6:8], r[8:10], r[10:16])
}

// template is the inactive XML occicdmi wrote for a compute, with the name
// and UUID turned into placeholders.
func template(b *testing.B, base string) string {
	resp, out := do(b, "POST", base+"/compute/", computeBody)
	if resp.StatusCode != http.StatusCreated {
		b.Fatalf("create: %d %v", resp.StatusCode, out)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "http") {
		loc = base + loc
	}
	defer do(b, "DELETE", loc, nil)
	id := entityID(b, loc)
	x := mustVirsh(b, "dumpxml", "--inactive", lv.DomainName(id))
	return strings.ReplaceAll(strings.ReplaceAll(x, lv.DomainName(id), "@NAME@"), id, "@UUID@")
}

func virshCreateStart(tpl, name string) error {
	dir := filepath.Join(os.Getenv("OCCICDMI_IMAGE_DIR"), "machines")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
		filepath.Join(os.Getenv("OCCICDMI_IMAGE_DIR"), "empty.qcow2"), filepath.Join(dir, name+".qcow2")).CombinedOutput(); err != nil {
		return fmt.Errorf("qemu-img: %v %s", err, out)
	}
	f := filepath.Join(os.TempDir(), name+".xml")
	if err := os.WriteFile(f, []byte(strings.ReplaceAll(strings.ReplaceAll(tpl, "@NAME@", name), "@UUID@", newUUID())), 0o644); err != nil {
		return err
	}
	defer os.Remove(f)
	for _, args := range [][]string{{"define", f}, {"start", name}} {
		if out, err := exec.Command("virsh", append([]string{"-c", libvirtURI()}, args...)...).CombinedOutput(); err != nil {
			return fmt.Errorf("virsh %v: %v %s", args, err, out)
		}
	}
	return nil
}

func virshCleanup(name string) {
	_ = exec.Command("virsh", "-c", libvirtURI(), "destroy", name).Run()
	_ = exec.Command("virsh", "-c", libvirtURI(), "undefine", name).Run()
	dir := filepath.Join(os.Getenv("OCCICDMI_IMAGE_DIR"), "machines")
	_ = os.Remove(filepath.Join(dir, name+".qcow2"))
	_ = os.Remove(filepath.Join(dir, name+".console"))
}

func runParallel(n int, fn func(i int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) { defer wg.Done(); errs[i] = fn(i) }(i)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func benchBoth(b *testing.B, n int) {
	base := needB(b)
	b.Run("occi-http", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			locs := make([]string, n)
			err := runParallel(n, func(j int) (err error) {
				locs[j], err = httpCreateStart(b, base)
				return err
			})
			b.StopTimer()
			for _, loc := range locs {
				if loc != "" {
					do(b, "DELETE", loc, nil)
				}
			}
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
	tpl := template(b, base)
	b.Run("virsh", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			names := make([]string, n)
			for j := range names {
				names[j] = "occi-benchv-" + newUUID()[:8]
			}
			err := runParallel(n, func(j int) error { return virshCreateStart(tpl, names[j]) })
			b.StopTimer()
			for _, name := range names {
				virshCleanup(name)
			}
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
}

func BenchmarkCreateStart(b *testing.B)  { benchBoth(b, 1) }
func BenchmarkConcurrent20(b *testing.B) { benchBoth(b, 20) }
