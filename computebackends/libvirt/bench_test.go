package libvirt

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	cb "github.com/occicdmi/occicdmi/computebackends"
)

// The benchmarks time create+start until libvirt reports the domain
// running, through the backend and, as the baseline in the same run, with
// qemu-img + virsh define + virsh start from the same domain XML.
//
//	go test ./computebackends/libvirt/ -run '^$' -bench . -benchtime 5x

func benchMachine(id string) cb.Machine {
	return cb.Machine{ID: id, Memory: 0.0625, Image: &cb.Image{Source: "empty.qcow2"}}
}

func cleanupDomain(b *Backend, id string) {
	_ = b.DeleteMachine(context.Background(), id)
}

// virshTemplate is the inactive XML the backend writes for a machine, with
// placeholders for what differs from one domain to the next.
func virshTemplate(tb testing.TB, b *Backend) string {
	id := newID("tpl")
	if err := b.CreateMachine(context.Background(), benchMachine(id)); err != nil {
		tb.Fatal(err)
	}
	defer cleanupDomain(b, id)
	x := virsh(tb, "dumpxml", "--inactive", DomainName(id))
	x = strings.ReplaceAll(x, DomainName(id), "@NAME@")
	x = strings.ReplaceAll(x, domainUUID(id), "@UUID@")
	return x
}

// virshCreateStart does by hand what CreateMachine+Start do.
func virshCreateStart(b *Backend, tpl, uri, name string) error {
	overlay := b.overlayPath(name)
	base := filepath.Join(b.ImageDir(), "empty.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, overlay).CombinedOutput(); err != nil {
		return fmt.Errorf("qemu-img: %v %s", err, out)
	}
	f := filepath.Join(os.TempDir(), name+".xml")
	x := strings.ReplaceAll(strings.ReplaceAll(tpl, "@NAME@", name), "@UUID@", domainUUID(name))
	if err := os.WriteFile(f, []byte(x), 0o644); err != nil {
		return err
	}
	defer os.Remove(f)
	for _, args := range [][]string{{"define", f}, {"start", name}} {
		if out, err := exec.Command("virsh", append([]string{"-c", uri}, args...)...).CombinedOutput(); err != nil {
			return fmt.Errorf("virsh %v: %v %s", args, err, out)
		}
	}
	return nil
}

func virshCleanup(b *Backend, uri, name string) {
	_ = exec.Command("virsh", "-c", uri, "destroy", name).Run()
	_ = exec.Command("virsh", "-c", uri, "undefine", name).Run()
	_ = os.Remove(b.overlayPath(name))
	_ = os.Remove(b.consolePath(name))
}

func BenchmarkCreateStart(bm *testing.B) {
	b := openTest(bm)
	uri, _ := env(bm)
	ctx := context.Background()
	bm.Run("backend", func(bm *testing.B) {
		for i := 0; i < bm.N; i++ {
			id := newID("bench")
			if err := b.CreateMachine(ctx, benchMachine(id)); err != nil {
				bm.Fatal(err)
			}
			if err := b.Start(ctx, id); err != nil {
				bm.Fatal(err)
			}
			bm.StopTimer()
			cleanupDomain(b, id)
			bm.StartTimer()
		}
	})
	tpl := virshTemplate(bm, b)
	bm.Run("virsh", func(bm *testing.B) {
		for i := 0; i < bm.N; i++ {
			name := DomainName(newID("benchv"))
			err := virshCreateStart(b, tpl, uri, name)
			bm.StopTimer()
			virshCleanup(b, uri, name)
			if err != nil {
				bm.Fatal(err)
			}
			bm.StartTimer()
		}
	})
}

// BenchmarkConcurrent20 creates and starts 20 machines at once per iteration.
func BenchmarkConcurrent20(bm *testing.B) {
	const n = 20
	b := openTest(bm)
	uri, _ := env(bm)
	ctx := context.Background()
	bm.Run("backend", func(bm *testing.B) {
		for i := 0; i < bm.N; i++ {
			ids := make([]string, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for j := range ids {
				ids[j] = newID(fmt.Sprintf("c%d", j))
				wg.Add(1)
				go func(j int) {
					defer wg.Done()
					if errs[j] = b.CreateMachine(ctx, benchMachine(ids[j])); errs[j] == nil {
						errs[j] = b.Start(ctx, ids[j])
					}
				}(j)
			}
			wg.Wait()
			bm.StopTimer()
			for j, id := range ids {
				cleanupDomain(b, id)
				if errs[j] != nil {
					bm.Fatal(errs[j])
				}
			}
			bm.StartTimer()
		}
	})
	tpl := virshTemplate(bm, b)
	bm.Run("virsh", func(bm *testing.B) {
		for i := 0; i < bm.N; i++ {
			names := make([]string, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for j := range names {
				names[j] = DomainName(newID(fmt.Sprintf("cv%d", j)))
				wg.Add(1)
				go func(j int) {
					defer wg.Done()
					errs[j] = virshCreateStart(b, tpl, uri, names[j])
				}(j)
			}
			wg.Wait()
			bm.StopTimer()
			for j, name := range names {
				virshCleanup(b, uri, name)
				if errs[j] != nil {
					bm.Fatal(errs[j])
				}
			}
			bm.StartTimer()
		}
	})
}
