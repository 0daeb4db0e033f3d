// Package fs is the embedded storage backend: values as files and volumes as
// sparse files under the data folder.
package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/occicdmi/occicdmi/storagebackends"
)

// Name is the backend's name in the registries (--objects, --volumes).
const Name = "fs"

func init() {
	storagebackends.RegisterObjects(Name, func(_ context.Context, o storagebackends.Options) (storagebackends.Objects, error) {
		return NewObjects(filepath.Join(o.DataDir, "objects"))
	})
}

// Objects keeps each value in one file named after its key.
type Objects struct {
	root     string // holds the values
	tmp      string // holds values being written; same file system, so rename is atomic
	rootSync *dirSyncer
}

// NewObjects opens (creating if needed) an object store rooted at dir.
func NewObjects(dir string) (*Objects, error) {
	o := &Objects{root: filepath.Join(dir, "v"), tmp: filepath.Join(dir, "tmp")}
	o.rootSync = newDirSyncer(o.root)
	for _, d := range []string{o.root, o.tmp} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("fs: create %s: %w: %v", d, storagebackends.ErrUnavailable, err)
		}
	}
	return o, nil
}

// path maps a key to a file name. Keys are escaped so that no key can name a
// file outside the root ("..", "/" and the like are just characters).
func (o *Objects) path(key string) (string, error) {
	if key == "" {
		return "", fmt.Errorf("fs: empty key: %w", storagebackends.ErrInvalid)
	}
	name := url.PathEscape(key)
	if len(name) > maxName {
		return "", fmt.Errorf("fs: key of %d bytes is too long (%d escaped, at most %d): %w", len(key), len(name), maxName, storagebackends.ErrInvalid)
	}
	return filepath.Join(o.root, name), nil
}

// maxName is the longest file name Linux file systems take (NAME_MAX); a
// longer key would fail as an I/O error instead of as the caller's mistake.
const maxName = 255

// syncDir makes a rename in dir durable: without it a crash right after
// Put returned could bring the old value back.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func mapErr(op, key string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("fs: %s %q: %w", op, key, storagebackends.ErrNotFound)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("fs: %s %q: %w", op, key, err)
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return fmt.Errorf("fs: %s %q: %w", op, key, storagebackends.ErrNoSpace)
	case errors.Is(err, syscall.EFBIG):
		return fmt.Errorf("fs: %s %q: larger than the file system holds: %w", op, key, storagebackends.ErrInvalid)
	default:
		return fmt.Errorf("fs: %s %q: %w: %s", op, key, storagebackends.ErrUnavailable, pathless(err))
	}
}

// pathless is err's text without the file names os puts in it: the
// message reaches clients (a 503 says why), the server's folders must not.
func pathless(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Op + ": " + le.Err.Error()
	}
	return err.Error()
}

// ctxReader stops a copy when the context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Put writes to a temporary file, syncs it and renames it into place, so a
// crash leaves either the old value or the new one, never a torn file.
func (o *Objects) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	p, err := o.path(key)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(o.tmp, "put-*")
	if err != nil {
		return mapErr("put", key, err)
	}
	defer os.Remove(f.Name()) // no-op after a successful rename
	n, err := pooledCopy(f, ctxReader{ctx, r})
	if err == nil && size >= 0 && n != size {
		err = fmt.Errorf("got %d bytes, expected %d: %w", n, size, storagebackends.ErrInvalid)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if errors.Is(err, storagebackends.ErrInvalid) {
			return fmt.Errorf("fs: put %q: %w", key, err)
		}
		return mapErr("put", key, err)
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return mapErr("put", key, err)
	}
	return mapErr("put", key, o.rootSync.sync())
}

// PutNew stores the value of a key that names no value yet and that
// nothing reads before PutNew returns (a fresh key its caller just made).
// Such a value needs no temporary file and no rename to appear whole: the
// file is made under its own name at once, and the folder's fsync, which
// makes the new name durable, runs beside the write and the file's fsync
// instead of after them (Put's chain is write, fsync, rename, fsync of the
// folder). It returns, like Put, once both are on disk. On error the file
// is removed; what a crash leaves is a file no one names, which the
// owner's sweep of unreferenced values removes.
func (o *Objects) PutNew(ctx context.Context, key string, r io.Reader, size int64) error {
	p, err := o.path(key)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return mapErr("put", key, err)
	}
	folder := make(chan error, 1)
	go func() { folder <- o.rootSync.sync() }() // the name exists: its fsync may start
	n, err := pooledCopy(f, ctxReader{ctx, r})
	if err == nil && size >= 0 && n != size {
		err = fmt.Errorf("got %d bytes, expected %d: %w", n, size, storagebackends.ErrInvalid)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if ferr := <-folder; err == nil {
		err = ferr
	}
	if err != nil {
		_ = os.Remove(p)
		if errors.Is(err, storagebackends.ErrInvalid) {
			return fmt.Errorf("fs: put %q: %w", key, err)
		}
		return mapErr("put", key, err)
	}
	return nil
}

// copyBuffers are the buffers Put copies through: io.Copy into a file
// from a reader it cannot splice from allocates 32 KiB per call, eight
// times a small value.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// pooledCopy is io.Copy(f, r) through a pooled buffer. f is hidden behind
// a plain io.Writer: os.File's ReadFrom would take its own buffer.
func pooledCopy(f *os.File, r io.Reader) (int64, error) {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	return io.CopyBuffer(struct{ io.Writer }{f}, r, *bp)
}

type limitedFile struct {
	*io.SectionReader
	f     *os.File
	total int64
}

func (l limitedFile) Close() error { return l.f.Close() }

// SyscallConn lets net/http hand the value to the kernel (sendfile, which
// takes anything with a file descriptor; net falls back to reading when it
// answers an error): the file's own offset is put
// where the section reads next before each send, and the section moves on
// by what the send took after it, so reads and sends may alternate.
func (l limitedFile) SyscallConn() (syscall.RawConn, error) {
	// A send runs to the end of the file unless its caller bounds it: only
	// a section that ends there may be sent so.
	if _, base, n := l.Outer(); base+n != l.total {
		return nil, errors.ErrUnsupported
	}
	raw, err := l.f.SyscallConn()
	if err != nil {
		return nil, err
	}
	return sectionConn{RawConn: raw, l: l}, nil
}

// sectionConn is the file's raw connection, kept in step with the
// section reader over it (see SyscallConn).
type sectionConn struct {
	syscall.RawConn
	l limitedFile
}

func (c sectionConn) Read(fn func(fd uintptr) bool) error {
	pos, err := c.l.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	_, base, _ := c.l.Outer()
	if _, err := c.l.f.Seek(base+pos, io.SeekStart); err != nil {
		return err
	}
	err = c.RawConn.Read(fn)
	end, serr := c.l.f.Seek(0, io.SeekCurrent)
	if serr != nil {
		return errors.Join(err, serr)
	}
	_, serr = c.l.Seek(end-base, io.SeekStart)
	return errors.Join(err, serr)
}

// OpenSized is Open that also tells the size of the whole value (Open
// knows it from its fstat): a caller serving a value needs no Size call
// before it, one stat less per read.
func (o *Objects) OpenSized(ctx context.Context, key string, off, length int64) (io.ReadCloser, int64, error) {
	rc, err := o.Open(ctx, key, off, length)
	if err != nil {
		return nil, 0, err
	}
	return rc, rc.(limitedFile).total, nil
}

// Open reads a range of the value.
func (o *Objects) Open(_ context.Context, key string, off, length int64) (io.ReadCloser, error) {
	p, err := o.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, mapErr("open", key, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, mapErr("open", key, err)
	}
	if off < 0 || off > st.Size() {
		f.Close()
		return nil, fmt.Errorf("fs: open %q: offset %d outside 0..%d: %w", key, off, st.Size(), storagebackends.ErrInvalid)
	}
	if length < 0 || off+length > st.Size() {
		length = st.Size() - off
	}
	return limitedFile{SectionReader: io.NewSectionReader(f, off, length), f: f, total: st.Size()}, nil
}

// WriteAt writes a range in place (into a staged value: see the contract).
func (o *Objects) WriteAt(ctx context.Context, key string, off int64, r io.Reader, length int64) error {
	p, err := o.path(key)
	if err != nil {
		return err
	}
	if off < 0 {
		return fmt.Errorf("fs: write %q: negative offset: %w", key, storagebackends.ErrInvalid)
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return mapErr("write", key, err)
	}
	src := io.Reader(ctxReader{ctx, r})
	if length >= 0 {
		src = io.LimitReader(src, length)
	}
	n, err := io.Copy(io.NewOffsetWriter(f, off), src)
	if err == nil && length >= 0 && n != length {
		err = fmt.Errorf("got %d bytes, expected %d", n, length)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return mapErr("write", key, err)
}

// PutRange stages a range write in a temporary file: a reflink of src
// where the file system has them (btrfs, XFS; else an in-kernel copy),
// patched with the new bytes, synced and renamed to dst like Put. src is
// never opened for writing.
func (o *Objects) PutRange(ctx context.Context, dst, src string, off int64, r io.Reader, length int64) error {
	if err := storagebackends.CheckPutRange(dst, src, off, length); err != nil {
		return fmt.Errorf("fs: %w", err)
	}
	dp, err := o.path(dst)
	if err != nil {
		return err
	}
	sp, err := o.path(src)
	if err != nil {
		return err
	}
	in, err := os.Open(sp)
	if err != nil {
		return mapErr("put range from", src, err)
	}
	defer in.Close()
	f, err := os.CreateTemp(o.tmp, "range-*")
	if err != nil {
		return mapErr("put range", dst, err)
	}
	defer os.Remove(f.Name()) // no-op after a successful rename
	err = patchedCopy(ctx, f, in, off, r, length)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, storagebackends.ErrInvalid) {
		return fmt.Errorf("fs: put range %q: %w", dst, err)
	}
	if err != nil {
		return mapErr("put range", dst, err)
	}
	if err := os.Rename(f.Name(), dp); err != nil {
		return mapErr("put range", dst, err)
	}
	return mapErr("put range", dst, o.rootSync.sync())
}

// patchedCopy fills f with in's bytes and then length bytes of r at off.
func patchedCopy(ctx context.Context, f, in *os.File, off int64, r io.Reader, length int64) error {
	if err := cloneFile(f, in); err != nil {
		if _, err := io.Copy(f, in); err != nil { // copy_file_range on Linux
			return err
		}
	}
	n, err := io.Copy(io.NewOffsetWriter(f, off), io.LimitReader(ctxReader{ctx, r}, length))
	if err != nil {
		return err
	}
	if n != length {
		return fmt.Errorf("got %d bytes, expected %d: %w", n, length, storagebackends.ErrInvalid)
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() < off+length { // an empty range past the end still extends
		return f.Truncate(off + length)
	}
	return nil
}

// Size reports the value's length.
func (o *Objects) Size(_ context.Context, key string) (int64, error) {
	p, err := o.path(key)
	if err != nil {
		return 0, err
	}
	st, err := os.Stat(p)
	if err != nil {
		return 0, mapErr("stat", key, err)
	}
	return st.Size(), nil
}

// Delete removes the value.
func (o *Objects) Delete(_ context.Context, key string) error {
	p, err := o.path(key)
	if err != nil {
		return err
	}
	return mapErr("delete", key, os.Remove(p))
}

// Copy duplicates a value through a temporary file, atomically like Put.
func (o *Objects) Copy(ctx context.Context, dst, src string) error {
	rc, err := o.Open(ctx, src, 0, -1)
	if err != nil {
		return err
	}
	defer rc.Close()
	return o.Put(ctx, dst, rc, -1)
}

// List walks the values whose keys start with prefix.
func (o *Objects) List(ctx context.Context, prefix string, fn func(key string, size int64) error) error {
	entries, err := os.ReadDir(o.root)
	if err != nil {
		return mapErr("list", prefix, err)
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		key, err := url.PathUnescape(e.Name())
		if err != nil || !strings.HasPrefix(key, prefix) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed while listing
		}
		if err := fn(key, info.Size()); err != nil {
			return err
		}
	}
	return nil
}
