package libvirt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	golibvirt "github.com/digitalocean/go-libvirt"
	"libvirt.org/go/libvirtxml"

	cb "github.com/occicdmi/occicdmi/computebackends"
)

const gib = 1 << 30

func (b *Backend) overlayPath(name string) string {
	return filepath.Join(b.imageDir, "machines", name+".qcow2")
}

// consolePath is where QEMU writes the guest's serial console.
func (b *Backend) consolePath(name string) string {
	return filepath.Join(b.imageDir, "machines", name+".console")
}

// ConsoleLog returns what the machine's guest wrote on its serial console.
func (b *Backend) ConsoleLog(id string) ([]byte, error) {
	return os.ReadFile(b.consolePath(DomainName(id)))
}

// resolveImage turns an Image.Source into the path of an existing base image:
// absolute, file://, or relative to the image folder (never outside it).
func (b *Backend) resolveImage(src string) (string, error) {
	p := strings.TrimPrefix(src, "file://")
	if strings.Contains(p, "://") {
		return "", fmt.Errorf("image %q: only local files are supported (put the image in the image folder, --image-dir): %w", src, cb.ErrUnsupported)
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(b.imageDir, p)
		if rel, err := filepath.Rel(b.imageDir, p); err != nil || strings.HasPrefix(rel, "..") {
			return "", fmt.Errorf("image %q lies outside the image folder: %w", src, cb.ErrInvalid)
		}
	}
	fi, err := os.Stat(p)
	if err != nil || !fi.Mode().IsRegular() {
		return "", fmt.Errorf("image %q: no such image file %s in the image folder: %w", src, filepath.Base(p), cb.ErrInvalid)
	}
	return p, nil
}

// directBoot finds the kernel and initramfs that go with a base image.
func directBoot(base string) (kernel, initrd string, ok bool) {
	kernel, initrd = base+".vmlinuz", base+".initrd"
	if fileExists(kernel) && fileExists(initrd) {
		return kernel, initrd, true
	}
	return "", "", false
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

type imageInfo struct {
	Format      string `json:"format"`
	VirtualSize int64  `json:"virtual-size"`
}

func qemuImg(ctx context.Context, args ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, "qemu-img", args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("qemu-img %s: %w: %v: %s", args[0], cb.ErrUnavailable, err, toolOutput(out))
	}
	return out, nil
}

// absPath is a file path in a tool's output.
var absPath = regexp.MustCompile(`/[^\s:'"]*/([^\s:'"/]+)`)

// toolOutput is what a failed tool printed, for a message that may reach
// a client: file paths become their base names (the server's folders are
// no client's business; the log has the command line).
func toolOutput(out []byte) string {
	return absPath.ReplaceAllString(strings.TrimSpace(string(out)), "$1")
}

func inspect(ctx context.Context, path string) (imageInfo, error) {
	var info imageInfo
	out, err := exec.CommandContext(ctx, "qemu-img", "info", "-U", "--output=json", path).Output()
	if err != nil {
		return info, fmt.Errorf("qemu-img info %s: %w: %v", filepath.Base(path), cb.ErrInvalid, err)
	}
	if err := json.Unmarshal(out, &info); err != nil {
		return info, fmt.Errorf("qemu-img info %s: %w: %v", filepath.Base(path), cb.ErrUnavailable, err)
	}
	return info, nil
}

// createOverlay makes a qcow2 overlay of base at path; diskGiB > 0 sets its
// virtual size (never smaller than the base image: that would cut data).
func createOverlay(ctx context.Context, base, path string, diskGiB float64) error {
	info, err := inspect(ctx, base)
	if err != nil {
		return err
	}
	args := []string{"create", "-q", "-f", "qcow2", "-F", info.Format, "-b", base, path}
	if diskGiB > 0 {
		size := int64(diskGiB * gib)
		if size < info.VirtualSize {
			return fmt.Errorf("disk size %g GiB is smaller than image %s (%d bytes): %w", diskGiB, filepath.Base(base), info.VirtualSize, cb.ErrInvalid)
		}
		args = append(args, fmt.Sprint(size))
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("overlay %s is left from an earlier machine: %w", filepath.Base(path), cb.ErrExists)
	}
	_, err = qemuImg(ctx, args...)
	return err
}

// DefaultBlankDisk is the virtual size of the root disk of a machine created
// without an os_tpl and without a disk size (sparse: it costs nothing until
// written).
const DefaultBlankDisk = 1 // GiB

// createBlank makes an empty qcow2 disk of diskGiB (DefaultBlankDisk if 0).
func createBlank(ctx context.Context, path string, diskGiB float64) error {
	if diskGiB == 0 {
		diskGiB = DefaultBlankDisk
	}
	size := int64(diskGiB * gib)
	if size < 1<<20 {
		return fmt.Errorf("disk size %g GiB is too small for a root disk (at least 1 MiB): %w", diskGiB, cb.ErrInvalid)
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("disk %s is left from an earlier machine: %w", filepath.Base(path), cb.ErrExists)
	}
	_, err := qemuImg(ctx, "create", "-q", "-f", "qcow2", path, fmt.Sprint(size))
	return err
}

// rootDisk returns the file behind the domain's first file disk (vda).
func (b *Backend) rootDisk(ctx context.Context, id string, d golibvirt.Domain) (string, *libvirtxml.Domain, error) {
	dom, err := b.domainXML(ctx, "save", id, d, golibvirt.DomainXMLInactive)
	if err != nil {
		return "", nil, err
	}
	for _, disk := range dom.Devices.Disks {
		if disk.Target != nil && disk.Target.Dev == "vda" && disk.Source != nil && disk.Source.File != nil {
			return disk.Source.File.File, dom, nil
		}
	}
	return "", nil, fmt.Errorf("libvirt: save %q: the machine has no root disk: %w", id, cb.ErrConflict)
}

func (b *Backend) domainXML(ctx context.Context, op, id string, d golibvirt.Domain, flags golibvirt.DomainXMLFlags) (*libvirtxml.Domain, error) {
	var doc string
	if err := b.call(ctx, op, id, func(l *golibvirt.Libvirt) (err error) {
		doc, err = l.DomainGetXMLDesc(d, flags)
		return err
	}); err != nil {
		return nil, err
	}
	dom := &libvirtxml.Domain{}
	if err := dom.Unmarshal(doc); err != nil {
		return nil, fmt.Errorf("libvirt: %s %q: %w: unreadable domain XML: %v", op, id, cb.ErrUnavailable, err)
	}
	if dom.Devices == nil {
		dom.Devices = &libvirtxml.DomainDeviceList{}
	}
	return dom, nil
}

// Save writes a standalone qcow2 image from the machine's disk (its overlay
// and base flattened by qemu-img convert) into the image folder and returns
// it as a new os_tpl. hot (the default) saves now, pausing a running guest
// for the copy so the image is consistent; deferred needs a stopped machine.
// A kernel and initramfs used for direct boot are copied beside the image.
func (b *Backend) Save(ctx context.Context, id string, method cb.SaveMethod, name string) (cb.Image, error) {
	if err := b.allowed(ctx, cb.ActionSave, string(method), id); err != nil {
		return cb.Image{}, err
	}
	d, st, _, err := b.state(ctx, "save", id)
	if err != nil {
		return cb.Image{}, err
	}
	running := st == golibvirt.DomainRunning || st == golibvirt.DomainBlocked
	switch {
	case st == golibvirt.DomainShutoff || st == golibvirt.DomainCrashed || st == golibvirt.DomainPaused:
	case running && method == cb.SaveDeferred:
		return cb.Image{}, fmt.Errorf("libvirt: save %q: deferred save needs a stopped machine (stop it first, or save hot): %w", id, cb.ErrConflict)
	case running:
	default:
		return cb.Image{}, conflict("save", id, st)
	}
	disk, dom, err := b.rootDisk(ctx, id, d)
	if err != nil {
		return cb.Image{}, err
	}
	term := sanitizeTerm(name)
	if term == "" {
		term = "saved-" + randomHex(4)
	}
	dest := filepath.Join(b.imageDir, term+".qcow2")
	if fileExists(dest) {
		term += "-" + randomHex(3)
		dest = filepath.Join(b.imageDir, term+".qcow2")
	}
	if running {
		if err := b.call(ctx, "save", id, func(l *golibvirt.Libvirt) error { return l.DomainSuspend(d) }); err != nil {
			return cb.Image{}, err
		}
		defer func() {
			if err := b.call(context.WithoutCancel(ctx), "save", id, func(l *golibvirt.Libvirt) error { return l.DomainResume(d) }); err != nil {
				b.log.Error("libvirt: could not resume a machine paused for save", "id", id, "err", err)
			}
		}()
	}
	tmp := dest + ".part"
	// -U: QEMU holds the image's lock while the domain exists; the guest is
	// paused (or stopped), so reading it shared is consistent.
	if _, err := qemuImg(ctx, "convert", "-U", "-O", "qcow2", disk, tmp); err != nil {
		_ = os.Remove(tmp)
		return cb.Image{}, fmt.Errorf("libvirt: save %q: %w", id, err)
	}
	if dom.OS != nil && dom.OS.Kernel != "" && dom.OS.Initrd != "" {
		err := copyFile(dom.OS.Kernel, dest+".vmlinuz")
		if err == nil {
			err = copyFile(dom.OS.Initrd, dest+".initrd")
		}
		if err != nil {
			_ = os.Remove(tmp)
			_ = os.Remove(dest + ".vmlinuz")
			return cb.Image{}, fmt.Errorf("libvirt: save %q: copy kernel: %w: %v", id, cb.ErrUnavailable, err)
		}
	}
	_ = os.Chmod(tmp, 0o644)
	if err := os.Rename(tmp, dest); err != nil {
		_ = os.Remove(tmp)
		return cb.Image{}, fmt.Errorf("libvirt: save %q: %w: %v", id, cb.ErrUnavailable, err)
	}
	title := name
	if title == "" {
		title = "Image saved from " + id
	}
	return cb.Image{Term: term, Title: title, Source: term + ".qcow2"}, nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// sanitizeTerm turns a client-given name into a valid OCCI term
// (GFD.221: LOALPHA *( LOALPHA / DIGIT / "-" / "_" )).
func sanitizeTerm(name string) string {
	var sb strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9' && sb.Len() > 0, (r == '-' || r == '_') && sb.Len() > 0:
			sb.WriteRune(r)
		case r == ' ' && sb.Len() > 0:
			sb.WriteRune('-')
		}
	}
	return sb.String()
}

// reachable lets QEMU, which libvirt runs as another user (libvirt-qemu),
// reach a file (or an NBD volume's Unix socket, whose own permissions are
// its server's business): every folder above it gets search permission for others
// (o+x: names can be followed, not listed). libvirt itself labels the file,
// never its folders, and a private temporary folder (0700) above a volume
// or the image folder would otherwise make QEMU fail with "Permission
// denied" at start. Only for a local daemon: a remote one has its own
// filesystem.
func (b *Backend) reachable(path string) {
	if b.uri.Host != "" {
		return
	}
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(dir, fi.Mode().Perm()|0o001); err != nil {
				b.log.Warn("libvirt: QEMU may not reach a file: cannot open its folder to others", "dir", dir, "err", err)
			} else {
				b.log.Info("libvirt: gave others search permission so QEMU can reach its files", "dir", dir)
			}
		}
		if dir == filepath.Dir(dir) {
			return
		}
	}
}
