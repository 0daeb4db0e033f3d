//go:build ceph

package rbd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/ceph/go-ceph/rados"

	"github.com/occicdmi/occicdmi/storagebackends"
)

// Namespace keeps values apart from the RBD images of the same pool.
const Namespace = "occicdmi-values"

// chunk is the size of one data object. RADOS objects are meant to be a few
// MiB (osd_max_object_size is 128 MiB), so a value is striped over many.
const chunk = 4 << 20

// Objects keeps a value as a small head object pointing at data objects:
//
//	h.<key>              {"id":"<random>","size":N}
//	d.<id>.<index>       the value's bytes [index*4 MiB, (index+1)*4 MiB);
//	                     absent or short = zeros (holes from WriteAt)
//
// RADOS has no rename, and a value is many objects, so Put writes the data
// objects under a fresh id and then swaps the head in one compare-and-swap
// write op (cmpext on the old head + writefull): one atomic step on one
// object, so a reader sees the old value or the new one, never a mix, and a
// failed Put leaves the old head (its data objects are removed). The old
// value's data objects are deleted after the swap; a reader still streaming
// them then fails ("replaced while reading") rather than mixing versions.
type Objects struct {
	c     *Cluster
	ioctx *rados.IOContext
	owned bool // Close also closes c (opened by the registry for us)
}

// Close closes the pool and, when opened for this store, the connection.
func (o *Objects) Close() error {
	o.ioctx.Destroy()
	if o.owned {
		o.c.Close()
	}
	return nil
}

// Objects opens the pool's value store.
func (c *Cluster) Objects() (*Objects, error) {
	ioctx, err := c.conn.OpenIOContext(c.pool)
	if err != nil {
		return nil, mapErr("open pool", c.pool, err)
	}
	ioctx.SetNamespace(Namespace)
	return &Objects{c: c, ioctx: ioctx}, nil
}

type head struct {
	ID   string `json:"id"`
	Size int64  `json:"size"`
}

func headOID(key string) string { return "h." + escape(key) }

func dataOID(id string, i int64) string { return fmt.Sprintf("d.%s.%08x", id, i) }

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// maxOID stays under the OSDs' osd_max_object_name_len (2048).
const maxOID = 2000

func checkKey(key string) error {
	if key == "" {
		return fmt.Errorf("ceph: empty key: %w", storagebackends.ErrInvalid)
	}
	if len(headOID(key)) > maxOID {
		return fmt.Errorf("ceph: key of %d bytes is too long: %w", len(key), storagebackends.ErrInvalid)
	}
	return nil
}

// readHead returns the head and its raw bytes (for the compare-and-swap).
func (o *Objects) readHead(key string) (head, []byte, error) {
	buf := make([]byte, 512)
	n, err := o.ioctx.Read(headOID(key), buf, 0)
	if err != nil {
		return head{}, nil, mapErr("read", key, err)
	}
	var h head
	if err := json.Unmarshal(buf[:n], &h); err != nil {
		return head{}, nil, fmt.Errorf("ceph: value %q: bad head object: %w: %v", key, storagebackends.ErrUnavailable, err)
	}
	return h, buf[:n], nil
}

// swapHead replaces the head whose bytes are old (nil: no head yet) with h.
func (o *Objects) swapHead(key string, old []byte, h head) error {
	b, _ := json.Marshal(h)
	op := rados.CreateWriteOp()
	defer op.Release()
	if old == nil {
		op.Create(rados.CreateExclusive)
	} else {
		op.CmpExt(old, 0)
	}
	op.WriteFull(b)
	return op.Operate(o.ioctx, headOID(key), rados.OperationNoFlag)
}

// removeData deletes the data objects of id (best effort: a leftover is
// unreferenced garbage, never visible).
func (o *Objects) removeData(id string, size int64) {
	for i := int64(0); i*chunk < size; i++ {
		_ = o.ioctx.Delete(dataOID(id, i))
	}
}

// Put writes the data objects under a fresh id, then swaps the head.
func (o *Objects) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := checkKey(key); err != nil {
		return err
	}
	id := newID()
	buf := make([]byte, chunk)
	var n int64
	fail := func(err error) error {
		// In the background: when the cluster is unreachable each delete
		// would wait out the op timeout, and the caller wants its answer.
		// Leftovers are unreferenced, never visible.
		go o.removeData(id, n+chunk)
		return err
	}
	for i := int64(0); ; i++ {
		if err := ctx.Err(); err != nil {
			return fail(fmt.Errorf("ceph: put %q: %w", key, err))
		}
		m, rerr := io.ReadFull(r, buf)
		if m > 0 {
			if size >= 0 && n+int64(m) > size {
				return fail(fmt.Errorf("ceph: put %q: stream longer than the %d bytes announced: %w", key, size, storagebackends.ErrInvalid))
			}
			if err := o.ioctx.WriteFull(dataOID(id, i), buf[:m]); err != nil {
				return fail(mapErr("put", key, err))
			}
			n += int64(m)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return fail(fmt.Errorf("ceph: put %q: reading the value: %w", key, rerr))
		}
	}
	if size >= 0 && n != size {
		return fail(fmt.Errorf("ceph: put %q: got %d bytes, expected %d: %w", key, n, size, storagebackends.ErrInvalid))
	}
	for try := 0; ; try++ {
		old, raw, err := o.readHead(key)
		if err != nil && !errors.Is(err, storagebackends.ErrNotFound) {
			return fail(err)
		}
		if err = o.swapHead(key, raw, head{ID: id, Size: n}); err == nil {
			if raw != nil {
				o.removeData(old.ID, old.Size)
			}
			return nil
		}
		if try == 10 { // another writer keeps winning, or the cluster is gone
			return fail(mapErr("put", key, err))
		}
	}
}

// Open streams a range of the value.
func (o *Objects) Open(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	h, _, err := o.readHead(key)
	if err != nil {
		return nil, err
	}
	if off < 0 || off > h.Size {
		return nil, fmt.Errorf("ceph: open %q: offset %d outside 0..%d: %w", key, off, h.Size, storagebackends.ErrInvalid)
	}
	end := h.Size
	if length >= 0 && off+length < end {
		end = off + length
	}
	return &reader{ctx: ctx, o: o, key: key, id: h.ID, pos: off, end: end}, nil
}

type reader struct {
	ctx      context.Context
	o        *Objects
	key, id  string
	pos, end int64  // the next byte to fetch, the end of the range
	buf      []byte // fetched, not yet returned
}

// readAhead is how much one RADOS read fetches: io.Copy asks for 32 KiB at
// a time, and a round trip per 32 KiB would cap a GET at a few MB/s.
const readAhead = 1 << 20

func (r *reader) Read(p []byte) (int, error) {
	if len(r.buf) == 0 {
		if err := r.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// fill fetches the next piece of the range, up to readAhead bytes and never
// across a data object's end.
func (r *reader) fill() error {
	if r.pos >= r.end {
		return io.EOF
	}
	if err := r.ctx.Err(); err != nil {
		return err
	}
	i := r.pos / chunk
	in := r.pos - i*chunk
	want := min(readAhead, chunk-in, r.end-r.pos)
	if cap(r.buf) < int(want) {
		r.buf = make([]byte, readAhead)
	}
	b := r.buf[:want]
	n, err := r.o.ioctx.Read(dataOID(r.id, i), b, uint64(in))
	if err != nil && !errors.Is(mapErr("", "", err), storagebackends.ErrNotFound) {
		return mapErr("read", r.key, err)
	}
	if err != nil || n < len(b) {
		// A hole, or the value was replaced and its data deleted: tell
		// them apart by the head.
		h, _, herr := r.o.readHead(r.key)
		if herr != nil || h.ID != r.id {
			return fmt.Errorf("ceph: read %q: value replaced or deleted while reading: %w", r.key, storagebackends.ErrNotFound)
		}
		if err != nil {
			n = 0
		}
		clear(b[n:])
	}
	r.pos += want
	r.buf = b
	return nil
}

func (r *reader) Close() error { return nil }

// WriteAt writes into the value's data objects in place (RADOS writes
// ranges natively), then grows the head's size if the write extended it.
// Like a disk write it is not atomic: a reader during it may see part of it.
func (o *Objects) WriteAt(ctx context.Context, key string, off int64, r io.Reader, length int64) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if off < 0 {
		return fmt.Errorf("ceph: write %q: negative offset: %w", key, storagebackends.ErrInvalid)
	}
	h, _, err := o.readHead(key)
	if err != nil {
		return err
	}
	if length >= 0 {
		r = io.LimitReader(r, length)
	}
	buf := make([]byte, chunk)
	pos := off
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		i := pos / chunk
		in := pos - i*chunk
		m, rerr := io.ReadFull(r, buf[:chunk-in])
		if m > 0 {
			if err := o.ioctx.Write(dataOID(h.ID, i), buf[:m], uint64(in)); err != nil {
				return mapErr("write", key, err)
			}
			pos += int64(m)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("ceph: write %q: reading the new bytes: %w", key, rerr)
		}
	}
	if length >= 0 && pos-off != length {
		return fmt.Errorf("ceph: write %q: got %d bytes, expected %d: %w", key, pos-off, length, storagebackends.ErrInvalid)
	}
	for try := 0; pos > off && pos > h.Size; try++ { // no bytes, no growth
		cur, raw, err := o.readHead(key)
		if err != nil {
			return err
		}
		if cur.ID != h.ID {
			return fmt.Errorf("ceph: write %q: value replaced while writing: %w", key, storagebackends.ErrUnavailable)
		}
		if pos <= cur.Size {
			break
		}
		if err := o.swapHead(key, raw, head{ID: h.ID, Size: pos}); err == nil {
			break
		} else if try == 10 {
			return mapErr("write", key, err)
		}
	}
	return nil
}

// PutRange writes dst as Put does, from src's bytes around the range and
// the new bytes in it: fresh data objects, then one head swap, so dst
// appears whole or not at all and src's data objects are only read. RADOS
// can copy an object inside the cluster, but go-ceph offers no copy-from
// op, so the untouched bytes pass through this process once, one data
// object at a time (a small write into a large value costs a copy of it;
// sharing data objects between heads would need reference counts).
func (o *Objects) PutRange(ctx context.Context, dst, src string, off int64, r io.Reader, length int64) error {
	if err := storagebackends.CheckPutRange(dst, src, off, length); err != nil {
		return fmt.Errorf("ceph: %w", err)
	}
	if err := checkKey(src); err != nil {
		return err
	}
	h, _, err := o.readHead(src)
	if err != nil {
		return err
	}
	// One head for every read of src, so a src replaced meanwhile fails
	// the write instead of mixing versions.
	part := func(from, to int64) io.Reader {
		return &reader{ctx: ctx, o: o, key: src, id: h.ID, pos: from, end: to}
	}
	end := off + length
	parts := []io.Reader{part(0, min(off, h.Size))}
	if off > h.Size {
		parts = append(parts, io.LimitReader(zeros{}, off-h.Size))
	}
	parts = append(parts, &exactReader{r: io.LimitReader(r, length), left: length})
	if end < h.Size {
		parts = append(parts, part(end, h.Size))
	}
	return o.Put(ctx, dst, io.MultiReader(parts...), max(end, h.Size))
}

// zeros reads as an endless run of zero bytes (a hole before a range).
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// exactReader fails when r ends before left bytes: the new bytes of a
// range that stop early must fail the write, not shift the bytes after.
type exactReader struct {
	r    io.Reader
	left int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 {
		return n, fmt.Errorf("the new bytes ended %d bytes early: %w", e.left, storagebackends.ErrInvalid)
	}
	return n, err
}

// Size reads the head.
func (o *Objects) Size(_ context.Context, key string) (int64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	h, _, err := o.readHead(key)
	return h.Size, err
}

// Delete removes the head (the value is gone from then on), then the data.
func (o *Objects) Delete(_ context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	h, _, err := o.readHead(key)
	if err != nil {
		return err
	}
	if err := o.ioctx.Delete(headOID(key)); err != nil {
		return mapErr("delete", key, err)
	}
	o.removeData(h.ID, h.Size)
	return nil
}

// Copy streams src's data objects into fresh ones for dst, then swaps
// dst's head as Put does. RADOS's copy-from op is not in go-ceph, so the
// bytes pass through this process, one data object at a time.
func (o *Objects) Copy(ctx context.Context, dst, src string) error {
	if err := checkKey(dst); err != nil {
		return err
	}
	if err := checkKey(src); err != nil {
		return err
	}
	h, _, err := o.readHead(src)
	if err != nil {
		return err
	}
	// One head for both the length and the data read, so a src replaced
	// meanwhile fails the copy instead of mixing versions.
	rc := &reader{ctx: ctx, o: o, key: src, id: h.ID, end: h.Size}
	return o.Put(ctx, dst, rc, h.Size)
}

// List walks the heads in the namespace.
func (o *Objects) List(ctx context.Context, prefix string, fn func(key string, size int64) error) error {
	var keys []string
	err := o.ioctx.ListObjects(func(oid string) {
		esc, ok := strings.CutPrefix(oid, "h.")
		if !ok {
			return
		}
		if key, err := url.PathUnescape(esc); err == nil && strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
	})
	if err != nil {
		return mapErr("list", prefix, err)
	}
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, _, err := o.readHead(k)
		if errors.Is(err, storagebackends.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return err
		}
		if err := fn(k, h.Size); err != nil {
			return err
		}
	}
	return nil
}
