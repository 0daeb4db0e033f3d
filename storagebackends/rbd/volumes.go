//go:build ceph

package rbd

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ceph/go-ceph/rados"
	"github.com/ceph/go-ceph/rbd"

	"github.com/occicdmi/occicdmi/storagebackends"
)

// order 22: 4 MiB RADOS objects, RBD's default.
const order = 22

// features: layering only. Layering is what clones need; exclusive-lock
// (and what depends on it) would make this server and a VM using the same
// image pass the lock back and forth on every write.
const features = rbd.FeatureLayering

// Volumes keeps each volume as an RBD image of the same (escaped) name.
// Open image handles are kept for a moment between calls (see handles.go).
type Volumes struct {
	c     *Cluster
	ioctx *rados.IOContext

	mu      sync.Mutex
	handles map[string]*handle
	owned   bool // Close also closes c (opened by the registry for us)
}

// Volumes opens the pool's volume store.
func (c *Cluster) Volumes() (*Volumes, error) {
	ioctx, err := c.conn.OpenIOContext(c.pool)
	if err != nil {
		return nil, mapErr("open pool", c.pool, err)
	}
	return &Volumes{c: c, ioctx: ioctx}, nil
}

// Close closes the cached image handles, the pool and the connection
// opened for this store (the server calls it on shutdown, through
// io.Closer).
func (v *Volumes) Close() error {
	v.mu.Lock()
	for name, h := range v.handles {
		delete(v.handles, name)
		h.dead = true
		if h.refs == 0 {
			h.img.Close()
		}
	}
	v.mu.Unlock()
	v.ioctx.Destroy()
	if v.owned {
		v.c.Close()
	}
	return nil
}

func checkName(what, name string) error {
	if name == "" {
		return fmt.Errorf("ceph: empty %s name: %w", what, storagebackends.ErrInvalid)
	}
	return nil
}

func checkSize(name string, size int64) error {
	if size <= 0 {
		return fmt.Errorf("ceph: volume %q: size %d must be positive: %w", name, size, storagebackends.ErrInvalid)
	}
	return nil
}

// open opens the image (at snapshot snap when not rbd.NoSnapshot).
func (v *Volumes) open(op, name string, readOnly bool) (*rbd.Image, error) {
	if err := checkName("volume", name); err != nil {
		return nil, err
	}
	var img *rbd.Image
	var err error
	if readOnly {
		img, err = rbd.OpenImageReadOnly(v.ioctx, escape(name), rbd.NoSnapshot)
	} else {
		img, err = rbd.OpenImage(v.ioctx, escape(name), rbd.NoSnapshot)
	}
	if err != nil {
		return nil, mapErr(op, name, err)
	}
	return img, nil
}

// CreateVolume creates an image (thin: it reads as zeros).
func (v *Volumes) CreateVolume(_ context.Context, name string, size int64) error {
	if err := checkName("volume", name); err != nil {
		return err
	}
	if err := checkSize(name, size); err != nil {
		return err
	}
	_, err := rbd.Create(v.ioctx, escape(name), uint64(size), order, features)
	return mapErr("create volume", name, err)
}

// ResizeVolume grows or shrinks the image.
func (v *Volumes) ResizeVolume(_ context.Context, name string, size int64) error {
	if err := checkSize(name, size); err != nil {
		return err
	}
	h, err := v.acquire("resize volume", name)
	if err != nil {
		return err
	}
	defer v.release(h)
	return mapErr("resize volume", name, h.img.Resize(uint64(size)))
}

// VolumeSize reports the image's size.
func (v *Volumes) VolumeSize(_ context.Context, name string) (int64, error) {
	h, err := v.acquire("stat volume", name)
	if err != nil {
		return 0, err
	}
	defer v.release(h)
	n, err := h.img.GetSize()
	return int64(n), mapErr("stat volume", name, err)
}

// Snapshot makes an RBD snapshot and protects it, so it can be cloned
// (layering clones of format 1 need a protected parent snapshot).
func (v *Volumes) Snapshot(_ context.Context, name, snapshot string) error {
	if err := checkName("snapshot", snapshot); err != nil {
		return err
	}
	h, err := v.acquire("snapshot volume", name)
	if err != nil {
		return err
	}
	defer v.release(h)
	snap, err := h.img.CreateSnapshot(escape(snapshot))
	if err != nil {
		return mapErr("snapshot volume", name+"@"+snapshot, err)
	}
	if err := snap.Protect(); err != nil {
		_ = snap.Remove()
		return mapErr("protect snapshot", name+"@"+snapshot, err)
	}
	return nil
}

// Clone makes dst a copy-on-write layering clone of the snapshot: instant,
// whatever the size; dst reads its parent's objects until it writes its own.
func (v *Volumes) Clone(_ context.Context, src, snapshot, dst string) error {
	for _, n := range []string{src, snapshot, dst} {
		if err := checkName("volume or snapshot", n); err != nil {
			return err
		}
	}
	opts := rbd.NewRbdImageOptions()
	defer opts.Destroy()
	if err := opts.SetUint64(rbd.ImageOptionFeatures, features); err != nil {
		return mapErr("clone", dst, err)
	}
	if err := opts.SetUint64(rbd.ImageOptionOrder, order); err != nil {
		return mapErr("clone", dst, err)
	}
	err := rbd.CloneImage(v.ioctx, escape(src), escape(snapshot), v.ioctx, escape(dst), opts)
	if err != nil && errors.Is(mapErr("", "", err), storagebackends.ErrNotFound) {
		return fmt.Errorf("ceph: clone: snapshot %q of volume %q: %w", snapshot, src, storagebackends.ErrNotFound)
	}
	return mapErr("clone to", dst, err)
}

// CreateFromImage writes the image into a fresh image under a temporary
// name, skipping zero blocks (the image stays thin), and renames it into
// place when complete: the volume never appears half-written.
func (v *Volumes) CreateFromImage(ctx context.Context, name string, image io.Reader, size int64) error {
	if err := checkName("volume", name); err != nil {
		return err
	}
	if err := checkSize(name, size); err != nil {
		return err
	}
	if img, err := v.open("create volume", name, true); err == nil {
		img.Close()
		return fmt.Errorf("ceph: volume %q: %w", name, storagebackends.ErrExists)
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := ".tmp-" + hex.EncodeToString(rnd[:])
	if _, err := rbd.Create(v.ioctx, tmp, uint64(size), order, features); err != nil {
		return mapErr("create volume", name, err)
	}
	err := v.fill(ctx, tmp, name, image, size)
	if err == nil {
		img := rbd.GetImage(v.ioctx, tmp)
		err = mapErr("create volume", name, img.Rename(escape(name)))
	}
	if err != nil {
		_ = rbd.RemoveImage(v.ioctx, tmp)
	}
	return err
}

func (v *Volumes) fill(ctx context.Context, tmp, name string, image io.Reader, size int64) error {
	img, err := rbd.OpenImage(v.ioctx, tmp, rbd.NoSnapshot)
	if err != nil {
		return mapErr("create volume", name, err)
	}
	defer img.Close()
	buf := make([]byte, 1<<order)
	zero := make([]byte, 1<<order)
	var off int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, rerr := io.ReadFull(image, buf)
		if n > 0 {
			if off+int64(n) > size {
				return fmt.Errorf("ceph: volume %q: image is larger than the volume's %d bytes: %w", name, size, storagebackends.ErrInvalid)
			}
			if !bytes.Equal(buf[:n], zero[:n]) {
				if _, err := img.WriteAt(buf[:n], off); err != nil {
					return mapErr("create volume", name, err)
				}
			}
			off += int64(n)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			return mapErr("create volume", name, img.Flush())
		}
		if rerr != nil {
			return fmt.Errorf("ceph: volume %q: reading the image: %w", name, rerr)
		}
	}
}

// DeleteVolume removes the image and its snapshots. Clones of those
// snapshots are flattened first (they get their own copy of the parent's
// bytes), so deleting a volume never breaks another.
func (v *Volumes) DeleteVolume(ctx context.Context, name string) error {
	v.drop(name)
	img, err := v.open("delete volume", name, false)
	if err != nil {
		return err
	}
	snaps, err := img.GetSnapshotNames()
	if err != nil {
		img.Close()
		return mapErr("delete volume", name, err)
	}
	for _, s := range snaps {
		if err := v.dropSnapshot(img, name, s.Name); err != nil {
			img.Close()
			return err
		}
	}
	img.Close()
	// Another client with the image open (a server sharing the pool keeps
	// handles for a second, a VM for as long as it runs) makes RBD refuse
	// with EBUSY: retry for a few seconds, then report it.
	deadline := time.Now().Add(5 * idle)
	for {
		err := rbd.RemoveImage(v.ioctx, escape(name))
		if errno(err) != syscall.EBUSY || time.Now().After(deadline) || ctx.Err() != nil {
			if errno(err) == syscall.EBUSY {
				return fmt.Errorf("ceph: delete volume %q: still open elsewhere (attached to a VM?): %w", name, storagebackends.ErrUnavailable)
			}
			return mapErr("delete volume", name, err)
		}
		time.Sleep(idle / 4)
	}
}

func (v *Volumes) dropSnapshot(img *rbd.Image, name, snap string) error {
	what := name + "@" + snap
	at, err := rbd.OpenImageReadOnly(v.ioctx, escape(name), snap)
	if err != nil {
		return mapErr("delete snapshot", what, err)
	}
	pools, children, err := at.ListChildren()
	at.Close()
	if err != nil {
		return mapErr("list clones of", what, err)
	}
	for i, child := range children {
		ioctx := v.ioctx
		if pools[i] != v.c.pool {
			if ioctx, err = v.c.conn.OpenIOContext(pools[i]); err != nil {
				return mapErr("open pool", pools[i], err)
			}
			defer ioctx.Destroy()
		}
		ci, err := rbd.OpenImage(ioctx, child, rbd.NoSnapshot)
		if err != nil {
			return mapErr("open clone", child, err)
		}
		err = ci.Flatten()
		ci.Close()
		if err != nil {
			return mapErr("flatten clone", child, err)
		}
	}
	s := img.GetSnapshot(snap)
	if prot, err := s.IsProtected(); err == nil && prot {
		if err := s.Unprotect(); err != nil {
			return mapErr("unprotect snapshot", what, err)
		}
	}
	return mapErr("delete snapshot", what, s.Remove())
}

// ReadAt reads from the image; a read reaching past the end is cut there.
func (v *Volumes) ReadAt(_ context.Context, name string, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("ceph: read volume %q: negative offset: %w", name, storagebackends.ErrInvalid)
	}
	h, err := v.acquire("read volume", name)
	if err != nil {
		return 0, err
	}
	defer v.release(h)
	size, err := h.img.GetSize()
	if err != nil {
		return 0, mapErr("read volume", name, err)
	}
	if off >= int64(size) {
		return 0, io.EOF
	}
	want := p[:min(int64(len(p)), int64(size)-off)]
	n, err := h.img.ReadAt(want, off)
	if err == io.EOF && n == len(want) {
		err = nil
	}
	if err != nil {
		return n, mapErr("read volume", name, err)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt writes inside the image, never past its end.
func (v *Volumes) WriteAt(_ context.Context, name string, p []byte, off int64) (int, error) {
	h, err := v.acquire("write volume", name)
	if err != nil {
		return 0, err
	}
	defer v.release(h)
	size, err := h.img.GetSize()
	if err != nil {
		return 0, mapErr("write volume", name, err)
	}
	if off < 0 || off+int64(len(p)) > int64(size) {
		return 0, fmt.Errorf("ceph: write volume %q: bytes %d..%d outside its %d bytes: %w",
			name, off, off+int64(len(p)), size, storagebackends.ErrInvalid)
	}
	n, err := h.img.WriteAt(p, off)
	if err == nil {
		err = h.img.Flush() // durable on return, as the contract's callers expect
	}
	return n, mapErr("write volume", name, err)
}

// Access names the image for QEMU's rbd driver (libvirt's <source
// protocol='rbd' name='pool/image'> with one <host> per monitor).
func (v *Volumes) Access(_ context.Context, name string) (storagebackends.VolumeAccess, error) {
	h, err := v.acquire("volume", name)
	if err != nil {
		return storagebackends.VolumeAccess{}, err
	}
	v.release(h)
	return storagebackends.VolumeAccess{
		Type: "rbd", Format: "raw", Pool: v.c.pool, Image: escape(name),
		Monitors: v.c.monitors(), User: v.c.user(), ConfigFile: v.c.confFile,
	}, nil
}

// ListVolumes lists the pool's images (librbd answers the whole list at
// once: names only, a few dozen bytes each), without the temporary ones
// CreateFromImage fills, and asks each its creation time.
func (v *Volumes) ListVolumes(ctx context.Context, fn func(name string, made time.Time) error) error {
	names, err := rbd.GetImageNames(v.ioctx)
	if err != nil {
		return mapErr("list volumes", v.c.pool, err)
	}
	for _, esc := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		name, err := url.PathUnescape(esc)
		if err != nil || strings.HasPrefix(esc, ".tmp-") {
			continue // not an image this store made, or one being filled
		}
		made, err := v.created(esc)
		if errors.Is(err, storagebackends.ErrNotFound) {
			continue // deleted meanwhile
		} else if err != nil {
			return err
		}
		if err := fn(name, made); err != nil {
			return err
		}
	}
	return nil
}

func (v *Volumes) created(esc string) (time.Time, error) {
	img, err := rbd.OpenImageReadOnly(v.ioctx, esc, rbd.NoSnapshot)
	if err != nil {
		return time.Time{}, mapErr("list volumes", esc, err)
	}
	defer img.Close()
	ts, err := img.GetCreateTimestamp()
	if err != nil {
		return time.Time{}, mapErr("list volumes", esc, err)
	}
	return time.Unix(ts.Sec, ts.Nsec), nil
}
