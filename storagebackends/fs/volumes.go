package fs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/occicdmi/occicdmi/storagebackends"
)

func init() {
	storagebackends.RegisterVolumes(Name, func(_ context.Context, o storagebackends.Options) (storagebackends.Volumes, error) {
		return NewVolumes(filepath.Join(o.DataDir, "volumes"))
	})
}

// Volumes keeps each volume in one sparse raw file, which QEMU attaches as
// is. Snapshots are sparse copies in a folder per volume.
type Volumes struct {
	root  string // <escaped name>.img
	snaps string // <escaped name>/<escaped snapshot>.img
	tmp   string // files being built; linked into place when complete
}

// NewVolumes opens (creating if needed) a volume store rooted at dir.
func NewVolumes(dir string) (*Volumes, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("fs: volumes in %s: %w: %v", dir, storagebackends.ErrInvalid, err)
	}
	v := &Volumes{root: filepath.Join(abs, "v"), snaps: filepath.Join(abs, "snap"), tmp: filepath.Join(abs, "tmp")}
	for _, d := range []string{v.root, v.snaps, v.tmp} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("fs: create %s: %w: %v", d, storagebackends.ErrUnavailable, err)
		}
	}
	return v, nil
}

func checkName(what, name string) error {
	if name == "" {
		return fmt.Errorf("fs: empty %s name: %w", what, storagebackends.ErrInvalid)
	}
	return nil
}

func (v *Volumes) path(name string) (string, error) {
	if err := checkName("volume", name); err != nil {
		return "", err
	}
	if n := len(url.PathEscape(name)) + len(".img"); n > maxName {
		return "", fmt.Errorf("fs: volume name of %d bytes is too long: %w", len(name), storagebackends.ErrInvalid)
	}
	return filepath.Join(v.root, url.PathEscape(name)+".img"), nil
}

func (v *Volumes) snapPath(name, snap string) (string, error) {
	if err := checkName("volume", name); err != nil {
		return "", err
	}
	if err := checkName("snapshot", snap); err != nil {
		return "", err
	}
	if n := len(url.PathEscape(snap)) + len(".img"); n > maxName {
		return "", fmt.Errorf("fs: snapshot name of %d bytes is too long: %w", len(snap), storagebackends.ErrInvalid)
	}
	return filepath.Join(v.snaps, url.PathEscape(name), url.PathEscape(snap)+".img"), nil
}

func checkSize(name string, size int64) error {
	if size <= 0 {
		return fmt.Errorf("fs: volume %q: size %d must be positive: %w", name, size, storagebackends.ErrInvalid)
	}
	return nil
}

// publish links a finished temporary file to its final name, failing with
// ErrExists rather than replacing a volume someone else made meanwhile.
func publish(tmp, final, name string) error {
	err := os.Link(tmp, final)
	os.Remove(tmp)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("fs: volume %q: %w", name, storagebackends.ErrExists)
	}
	return mapErr("create volume", name, err)
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// CreateVolume makes a sparse file of size bytes.
func (v *Volumes) CreateVolume(_ context.Context, name string, size int64) error {
	p, err := v.path(name)
	if err != nil {
		return err
	}
	if err := checkSize(name, size); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("fs: volume %q: %w", name, storagebackends.ErrExists)
	}
	if err != nil {
		return mapErr("create volume", name, err)
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(p)
	}
	return mapErr("create volume", name, err)
}

// ResizeVolume truncates or extends the file; an extension is a hole.
func (v *Volumes) ResizeVolume(_ context.Context, name string, size int64) error {
	p, err := v.path(name)
	if err != nil {
		return err
	}
	if err := checkSize(name, size); err != nil {
		return err
	}
	if !exists(p) { // os.Truncate would not create it, but say NotFound plainly
		return fmt.Errorf("fs: resize volume %q: %w", name, storagebackends.ErrNotFound)
	}
	return mapErr("resize volume", name, os.Truncate(p, size))
}

// VolumeSize reports the file's length.
func (v *Volumes) VolumeSize(_ context.Context, name string) (int64, error) {
	p, err := v.path(name)
	if err != nil {
		return 0, err
	}
	st, err := os.Stat(p)
	if err != nil {
		return 0, mapErr("stat volume", name, err)
	}
	return st.Size(), nil
}

// sparseCopy copies src into a new temporary file, leaving holes where src
// has blocks of zeros, so a mostly empty volume stays mostly unallocated.
func (v *Volumes) sparseCopy(ctx context.Context, src io.Reader, size int64) (string, error) {
	f, err := os.CreateTemp(v.tmp, "vol-*")
	if err != nil {
		return "", err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	buf := make([]byte, 1<<20)
	var off int64
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n, rerr := io.ReadFull(src, buf)
		if n > 0 {
			if off+int64(n) > size {
				return "", fmt.Errorf("image is larger than the volume's %d bytes: %w", size, storagebackends.ErrInvalid)
			}
			if !allZero(buf[:n]) {
				if _, err := f.WriteAt(buf[:n], off); err != nil {
					return "", err
				}
			}
			off += int64(n)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return "", rerr
		}
	}
	if err := f.Truncate(size); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	ok = true
	return f.Name(), nil
}

var zeros = make([]byte, 1<<20)

func allZero(p []byte) bool {
	for len(p) > 0 {
		n := min(len(p), len(zeros))
		if !bytes.Equal(p[:n], zeros[:n]) {
			return false
		}
		p = p[n:]
	}
	return true
}

// copyFile makes a sparse copy of the file at src, published at dst. Only
// the file's allocated extents are read (SEEK_DATA/SEEK_HOLE, lseek(2)): a
// snapshot of an empty 20 GiB volume reads nothing instead of 20 GiB of
// holes. A file system without them is copied whole, holes kept by
// sparseCopy.
func (v *Volumes) copyFile(ctx context.Context, src, dst, name string) error {
	f, err := os.Open(src)
	if err != nil {
		return mapErr("copy volume", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return mapErr("copy volume", name, err)
	}
	tmp, _, err := v.extentCopy(ctx, f, st.Size())
	if errors.Is(err, errNoExtents) {
		if _, err = f.Seek(0, io.SeekStart); err == nil {
			tmp, err = v.sparseCopy(ctx, f, st.Size())
		}
	}
	if err != nil {
		return mapErr("copy volume", name, err)
	}
	return publish(tmp, dst, name)
}

// whence values of lseek(2) for sparse files (Linux, the BSDs, macOS).
const (
	seekData = 3
	seekHole = 4
)

var errNoExtents = errors.New("the file system does not report extents")

// extentCopy copies the data extents of src (size bytes) into a new
// temporary file of the same size; holes stay holes. It tells how many
// bytes it read.
func (v *Volumes) extentCopy(ctx context.Context, src *os.File, size int64) (tmp string, read int64, err error) {
	if _, err := src.Seek(0, seekData); err != nil && !errors.Is(err, syscall.ENXIO) {
		return "", 0, errNoExtents // ENXIO: no data at all, which is fine
	}
	f, err := os.CreateTemp(v.tmp, "vol-*")
	if err != nil {
		return "", 0, err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	buf := make([]byte, 1<<20)
	for off := int64(0); off < size; {
		start, err := src.Seek(off, seekData)
		if errors.Is(err, syscall.ENXIO) {
			break // only a hole from off to the end
		}
		if err != nil {
			return "", read, err
		}
		end, err := src.Seek(start, seekHole)
		if err != nil {
			return "", read, err
		}
		read += end - start
		if err := copyExtent(ctx, f, src, start, end, buf); err != nil {
			return "", read, err
		}
		off = end
	}
	if err := f.Truncate(size); err != nil {
		return "", read, err
	}
	if err := f.Sync(); err != nil {
		return "", read, err
	}
	if err := f.Close(); err != nil {
		return "", read, err
	}
	ok = true
	return f.Name(), read, nil
}

// copyExtent copies src's bytes start..end to the same place in dst,
// skipping blocks of zeros (allocated but never written).
func copyExtent(ctx context.Context, dst, src *os.File, start, end int64, buf []byte) error {
	for off := start; off < end; {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := src.ReadAt(buf[:min(int64(len(buf)), end-off)], off)
		if n > 0 && !allZero(buf[:n]) {
			if _, werr := dst.WriteAt(buf[:n], off); werr != nil {
				return werr
			}
		}
		off += int64(n)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Snapshot copies the volume's file. The copy is not atomic against
// concurrent writers to the same volume; callers snapshot quiesced volumes
// (a running VM's disk should be frozen first, as with any raw file).
func (v *Volumes) Snapshot(ctx context.Context, name, snapshot string) error {
	p, err := v.path(name)
	if err != nil {
		return err
	}
	sp, err := v.snapPath(name, snapshot)
	if err != nil {
		return err
	}
	if !exists(p) {
		return fmt.Errorf("fs: snapshot volume %q: %w", name, storagebackends.ErrNotFound)
	}
	if err := os.MkdirAll(filepath.Dir(sp), 0o750); err != nil {
		return mapErr("snapshot volume", name, err)
	}
	if exists(sp) {
		return fmt.Errorf("fs: snapshot %q of volume %q: %w", snapshot, name, storagebackends.ErrExists)
	}
	return v.copyFile(ctx, p, sp, name+"@"+snapshot)
}

// Clone copies a snapshot into a new volume.
func (v *Volumes) Clone(ctx context.Context, src, snapshot, dst string) error {
	sp, err := v.snapPath(src, snapshot)
	if err != nil {
		return err
	}
	dp, err := v.path(dst)
	if err != nil {
		return err
	}
	if !exists(sp) {
		return fmt.Errorf("fs: clone: snapshot %q of volume %q: %w", snapshot, src, storagebackends.ErrNotFound)
	}
	if exists(dp) {
		return fmt.Errorf("fs: clone: volume %q: %w", dst, storagebackends.ErrExists)
	}
	return v.copyFile(ctx, sp, dp, dst)
}

// CreateFromImage writes the image into a temporary sparse file and links
// it into place only when complete.
func (v *Volumes) CreateFromImage(ctx context.Context, name string, image io.Reader, size int64) error {
	p, err := v.path(name)
	if err != nil {
		return err
	}
	if err := checkSize(name, size); err != nil {
		return err
	}
	if exists(p) {
		return fmt.Errorf("fs: volume %q: %w", name, storagebackends.ErrExists)
	}
	tmp, err := v.sparseCopy(ctx, image, size)
	if errors.Is(err, storagebackends.ErrInvalid) {
		return fmt.Errorf("fs: volume %q: %w", name, err)
	}
	if err != nil {
		return mapErr("create volume from image", name, err)
	}
	return publish(tmp, p, name)
}

// DeleteVolume removes the file and the volume's snapshots.
func (v *Volumes) DeleteVolume(_ context.Context, name string) error {
	p, err := v.path(name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		return mapErr("delete volume", name, err)
	}
	return mapErr("delete volume snapshots", name, os.RemoveAll(filepath.Join(v.snaps, url.PathEscape(name))))
}

// ReadAt reads from the file.
func (v *Volumes) ReadAt(_ context.Context, name string, p []byte, off int64) (int, error) {
	path, err := v.path(name)
	if err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, fmt.Errorf("fs: read volume %q: negative offset: %w", name, storagebackends.ErrInvalid)
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, mapErr("read volume", name, err)
	}
	defer f.Close()
	n, err := f.ReadAt(p, off)
	if err == io.EOF {
		return n, io.EOF
	}
	return n, mapErr("read volume", name, err)
}

// WriteAt writes inside the file, never past its end.
func (v *Volumes) WriteAt(_ context.Context, name string, p []byte, off int64) (int, error) {
	path, err := v.path(name)
	if err != nil {
		return 0, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return 0, mapErr("write volume", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, mapErr("write volume", name, err)
	}
	if off < 0 || off > st.Size()-int64(len(p)) { // not off+len: that overflows near 2^63
		return 0, fmt.Errorf("fs: write volume %q: bytes %d..%d outside its %d bytes: %w",
			name, off, off+int64(len(p)), st.Size(), storagebackends.ErrInvalid)
	}
	n, err := f.WriteAt(p, off)
	if err == nil {
		err = f.Sync()
	}
	return n, mapErr("write volume", name, err)
}

// Access gives the file's absolute path; QEMU opens it as a raw disk.
func (v *Volumes) Access(_ context.Context, name string) (storagebackends.VolumeAccess, error) {
	p, err := v.path(name)
	if err != nil {
		return storagebackends.VolumeAccess{}, err
	}
	if !exists(p) {
		return storagebackends.VolumeAccess{}, fmt.Errorf("fs: volume %q: %w", name, storagebackends.ErrNotFound)
	}
	return storagebackends.VolumeAccess{Type: "file", Path: p, Format: "raw"}, nil
}

// ListVolumes reads the volume folder a batch of entries at a time; the
// time is the file's last change (the file system keeps no portable
// creation time).
func (v *Volumes) ListVolumes(ctx context.Context, fn func(name string, made time.Time) error) error {
	d, err := os.Open(v.root)
	if err != nil {
		return mapErr("list volumes", v.root, err)
	}
	defer d.Close()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		entries, err := d.ReadDir(256)
		for _, e := range entries {
			if err := v.listed(e, fn); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return mapErr("list volumes", v.root, err)
		}
	}
}

func (v *Volumes) listed(e fs.DirEntry, fn func(name string, made time.Time) error) error {
	esc, ok := strings.CutSuffix(e.Name(), ".img")
	if !ok || !e.Type().IsRegular() {
		return nil
	}
	name, err := url.PathUnescape(esc)
	if err != nil {
		return nil // not a name this store made
	}
	info, err := e.Info()
	if errors.Is(err, fs.ErrNotExist) {
		return nil // deleted meanwhile
	} else if err != nil {
		return mapErr("list volumes", name, err)
	}
	return fn(name, info.ModTime())
}
