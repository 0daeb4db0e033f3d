package s3

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"

	"github.com/occicdmi/occicdmi/storagebackends"
)

// ChunkSize is the size of one volume chunk object, RBD's default object
// size: small enough that a 4 KiB write rewrites little, large enough that
// a sequential read is few requests.
const ChunkSize = 4 << 20

// parallel is how many chunk requests one call runs at once.
const parallel = 8

// Volumes keeps a volume as a sparse set of chunk objects:
//
//	volumes/<name>/meta              {"size": N}: the volume exists
//	volumes/<name>/c/<index>         chunk index (16 hex digits); absent = zeros
//	volumes/<name>/s/<snapshot>/...  a snapshot: the same layout, frozen
//
// Names are path-escaped, so no name can reach into another's folder. The
// meta object is written last on creation and deleted first on deletion:
// a volume exists exactly when its meta does, and half-made or half-deleted
// chunks are never visible (CreateVolume clears leftovers first).
//
// A write touching part of a chunk reads, changes and rewrites the chunk,
// under a lock per chunk in this process; two processes writing inside the
// same chunk at once can lose one's update, so a volume has one writer
// process at a time (as an attached disk has one VM). A snapshot copies the
// chunk objects server-side and is not point-in-time against concurrent
// writes; snapshot a quiesced volume.
type Volumes struct {
	b      *Bucket
	prefix string
	locks  [256]sync.Mutex // chunk keys hash onto these: bounded memory, rare false sharing
}

func newVolumes(b *Bucket, prefix string) *Volumes { return &Volumes{b: b, prefix: prefix} }

type meta struct {
	Size int64 `json:"size"`
}

func (v *Volumes) dir(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("s3: empty volume name: %w", storagebackends.ErrInvalid)
	}
	return v.prefix + url.PathEscape(name) + "/", nil
}

func snapDir(dir, snap string) (string, error) {
	if snap == "" {
		return "", fmt.Errorf("s3: empty snapshot name: %w", storagebackends.ErrInvalid)
	}
	return dir + "s/" + url.PathEscape(snap) + "/", nil
}

func chunkKey(dir string, i int64) string { return fmt.Sprintf("%sc/%016x", dir, i) }

func checkSize(name string, size int64) error {
	if size <= 0 {
		return fmt.Errorf("s3: volume %q: size %d must be positive: %w", name, size, storagebackends.ErrInvalid)
	}
	return nil
}

func (v *Volumes) readMeta(ctx context.Context, what, dir string) (meta, error) {
	key := dir + "meta"
	out, err := v.b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &v.b.bucket, Key: &key})
	if err != nil {
		return meta{}, mapErr("volume", what, err)
	}
	defer out.Body.Close()
	var m meta
	if err := json.NewDecoder(io.LimitReader(out.Body, 4096)).Decode(&m); err != nil {
		return meta{}, fmt.Errorf("s3: volume %q: bad meta object %s: %w: %v", what, key, storagebackends.ErrUnavailable, err)
	}
	return m, nil
}

func (v *Volumes) writeMeta(ctx context.Context, what, dir string, m meta) error {
	b, _ := json.Marshal(m)
	return v.putObject(ctx, what, dir+"meta", b)
}

func (v *Volumes) putObject(ctx context.Context, what, key string, b []byte) error {
	_, err := v.b.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &v.b.bucket, Key: &key, Body: bytes.NewReader(b), ContentLength: aws.Int64(int64(len(b))),
	})
	return mapErr("volume", what, err)
}

func (v *Volumes) exists(ctx context.Context, what, dir string) (bool, error) {
	key := dir + "meta"
	_, err := v.b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &v.b.bucket, Key: &key})
	if err == nil {
		return true, nil
	}
	if isKind(err, storagebackends.ErrNotFound) {
		return false, nil
	}
	return false, mapErr("volume", what, err)
}

// list calls fn for every object key under prefix.
func (v *Volumes) list(ctx context.Context, what, prefix string, fn func(key string) error) error {
	pages := s3.NewListObjectsV2Paginator(v.b.client, &s3.ListObjectsV2Input{Bucket: &v.b.bucket, Prefix: &prefix})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return mapErr("list volume", what, err)
		}
		for _, o := range page.Contents {
			if err := fn(aws.ToString(o.Key)); err != nil {
				return err
			}
		}
	}
	return nil
}

// removeAll deletes every object under prefix, 1000 per request.
func (v *Volumes) removeAll(ctx context.Context, what, prefix string) error {
	var batch []types.ObjectIdentifier
	send := func() error {
		if len(batch) == 0 {
			return nil
		}
		out, err := v.b.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: &v.b.bucket, Delete: &types.Delete{Objects: batch, Quiet: aws.Bool(true)},
		})
		batch = batch[:0]
		if err != nil {
			return mapErr("delete volume", what, err)
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return fmt.Errorf("s3: delete volume %q: %s: %w: %s", what, aws.ToString(e.Key), storagebackends.ErrUnavailable, aws.ToString(e.Message))
		}
		return nil
	}
	err := v.list(ctx, what, prefix, func(key string) error {
		batch = append(batch, types.ObjectIdentifier{Key: aws.String(key)})
		if len(batch) == 1000 {
			return send()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return send()
}

// CreateVolume writes the meta object of a volume with no chunks.
func (v *Volumes) CreateVolume(ctx context.Context, name string, size int64) error {
	return v.create(ctx, name, size, func(string) error { return nil })
}

// create clears any leftovers under the volume's folder, fills it with
// fill, then writes the meta that makes the volume exist.
func (v *Volumes) create(ctx context.Context, name string, size int64, fill func(dir string) error) error {
	dir, err := v.dir(name)
	if err != nil {
		return err
	}
	if err := checkSize(name, size); err != nil {
		return err
	}
	ok, err := v.exists(ctx, name, dir)
	if err != nil {
		return err
	}
	if ok {
		return fmt.Errorf("s3: volume %q: %w", name, storagebackends.ErrExists)
	}
	if err := v.removeAll(ctx, name, dir); err != nil {
		return err
	}
	if err := fill(dir); err != nil {
		cctx, cancel := context.WithTimeout(context.Background(), headerTimeout)
		defer cancel()
		_ = v.removeAll(cctx, name, dir)
		return err
	}
	return v.writeMeta(ctx, name, dir, meta{Size: size})
}

// ResizeVolume rewrites the meta. A shrink first drops the chunks beyond
// the new end and cuts the last one, so growing again reads zeros there.
func (v *Volumes) ResizeVolume(ctx context.Context, name string, size int64) error {
	dir, err := v.dir(name)
	if err != nil {
		return err
	}
	if err := checkSize(name, size); err != nil {
		return err
	}
	m, err := v.readMeta(ctx, name, dir)
	if err != nil {
		return err
	}
	if size < m.Size {
		last := (size - 1) / ChunkSize // the chunk holding the new last byte
		var drop []types.ObjectIdentifier
		err := v.list(ctx, name, dir+"c/", func(key string) error {
			i, err := strconv.ParseInt(key[len(dir)+2:], 16, 64)
			if err == nil && i > last {
				drop = append(drop, types.ObjectIdentifier{Key: aws.String(key)})
			}
			return nil
		})
		if err != nil {
			return err
		}
		for len(drop) > 0 {
			n := min(len(drop), 1000)
			if _, err := v.b.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
				Bucket: &v.b.bucket, Delete: &types.Delete{Objects: drop[:n], Quiet: aws.Bool(true)},
			}); err != nil {
				return mapErr("resize volume", name, err)
			}
			drop = drop[n:]
		}
		if keep := size - last*ChunkSize; keep < ChunkSize {
			if err := v.cutChunk(ctx, name, dir, last, int(keep)); err != nil {
				return err
			}
		}
	}
	return v.writeMeta(ctx, name, dir, meta{Size: size})
}

// cutChunk shortens chunk i to keep bytes.
func (v *Volumes) cutChunk(ctx context.Context, name, dir string, i int64, keep int) error {
	key := chunkKey(dir, i)
	mu := v.lock(key)
	defer mu.Unlock()
	b, err := v.getChunk(ctx, name, key)
	if err != nil || len(b) <= keep {
		return err
	}
	return v.putObject(ctx, name, key, b[:keep])
}

func (v *Volumes) lock(key string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(key))
	mu := &v.locks[h.Sum32()%uint32(len(v.locks))]
	mu.Lock()
	return mu
}

// getChunk reads a whole chunk object; a missing chunk is empty (zeros).
func (v *Volumes) getChunk(ctx context.Context, name, key string) ([]byte, error) {
	out, err := v.b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &v.b.bucket, Key: &key})
	if err != nil {
		if isKind(err, storagebackends.ErrNotFound) {
			return nil, nil
		}
		return nil, mapErr("read volume", name, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, ChunkSize))
	if err != nil {
		return nil, mapErr("read volume", name, err)
	}
	return b, nil
}

// VolumeSize reads the meta.
func (v *Volumes) VolumeSize(ctx context.Context, name string) (int64, error) {
	dir, err := v.dir(name)
	if err != nil {
		return 0, err
	}
	m, err := v.readMeta(ctx, name, dir)
	return m.Size, err
}

// copyChunks copies every chunk under from+"c/" to to+"c/", server-side.
func (v *Volumes) copyChunks(ctx context.Context, what, from, to string) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	err := v.list(gctx, what, from+"c/", func(key string) error {
		dst := to + key[len(from):]
		src := v.b.copySource(key)
		g.Go(func() error {
			_, err := v.b.client.CopyObject(gctx, &s3.CopyObjectInput{Bucket: &v.b.bucket, Key: &dst, CopySource: src})
			return mapErr("copy volume", what, err)
		})
		return nil
	})
	if gerr := g.Wait(); err == nil {
		err = gerr
	}
	return err
}

// Snapshot copies the chunks into the snapshot's folder, then writes its
// meta: a snapshot exists only once complete.
func (v *Volumes) Snapshot(ctx context.Context, name, snapshot string) error {
	dir, err := v.dir(name)
	if err != nil {
		return err
	}
	sdir, err := snapDir(dir, snapshot)
	if err != nil {
		return err
	}
	m, err := v.readMeta(ctx, name, dir)
	if err != nil {
		return err
	}
	what := name + "@" + snapshot
	ok, err := v.exists(ctx, what, sdir)
	if err != nil {
		return err
	}
	if ok {
		return fmt.Errorf("s3: snapshot %q of volume %q: %w", snapshot, name, storagebackends.ErrExists)
	}
	if err := v.removeAll(ctx, what, sdir); err != nil {
		return err
	}
	if err := v.copyChunks(ctx, what, dir, sdir); err != nil {
		return err
	}
	return v.writeMeta(ctx, what, sdir, m)
}

// Clone copies a snapshot's chunks into a new volume.
func (v *Volumes) Clone(ctx context.Context, src, snapshot, dst string) error {
	sd, err := v.dir(src)
	if err != nil {
		return err
	}
	sdir, err := snapDir(sd, snapshot)
	if err != nil {
		return err
	}
	m, err := v.readMeta(ctx, src+"@"+snapshot, sdir)
	if err != nil {
		return err
	}
	return v.create(ctx, dst, m.Size, func(dir string) error {
		return v.copyChunks(ctx, dst, sdir, dir)
	})
}

// CreateFromImage uploads the image's non-zero chunks, then the meta.
func (v *Volumes) CreateFromImage(ctx context.Context, name string, image io.Reader, size int64) error {
	return v.create(ctx, name, size, func(dir string) error {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(parallel)
		var off int64
		var rerr error
		for i := int64(0); ; i++ {
			buf := make([]byte, ChunkSize)
			n, err := io.ReadFull(image, buf)
			if n > 0 {
				if off+int64(n) > size {
					rerr = fmt.Errorf("s3: volume %q: image is larger than the volume's %d bytes: %w", name, size, storagebackends.ErrInvalid)
					break
				}
				off += int64(n)
				if !allZero(buf[:n]) {
					key := chunkKey(dir, i)
					g.Go(func() error { return v.putObject(gctx, name, key, buf[:n]) })
				}
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				break
			}
			if err != nil {
				rerr = fmt.Errorf("s3: volume %q: reading the image: %w", name, err)
				break
			}
			if gctx.Err() != nil {
				break
			}
		}
		if err := g.Wait(); rerr == nil {
			rerr = err
		}
		return rerr
	})
}

func allZero(p []byte) bool {
	for _, b := range p {
		if b != 0 {
			return false
		}
	}
	return true
}

// DeleteVolume deletes the meta (the volume is gone from then on), then its
// chunks and snapshots.
func (v *Volumes) DeleteVolume(ctx context.Context, name string) error {
	dir, err := v.dir(name)
	if err != nil {
		return err
	}
	ok, err := v.exists(ctx, name, dir)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("s3: volume %q: %w", name, storagebackends.ErrNotFound)
	}
	key := dir + "meta"
	if _, err := v.b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &v.b.bucket, Key: &key}); err != nil {
		return mapErr("delete volume", name, err)
	}
	return v.removeAll(ctx, name, dir)
}

// span is the part of one chunk an I/O touches.
type span struct {
	chunk    int64
	from, to int   // byte range inside the chunk
	pos      int64 // offset in the caller's buffer
}

func spans(off int64, n int) []span {
	var out []span
	for pos := int64(0); pos < int64(n); {
		abs := off + pos
		c := abs / ChunkSize
		from := int(abs - c*ChunkSize)
		to := min(ChunkSize, from+int(int64(n)-pos))
		out = append(out, span{chunk: c, from: from, to: to, pos: pos})
		pos += int64(to - from)
	}
	return out
}

// ReadAt reads the chunks a range touches, in parallel, with ranged GETs.
func (v *Volumes) ReadAt(ctx context.Context, name string, p []byte, off int64) (int, error) {
	dir, err := v.dir(name)
	if err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, fmt.Errorf("s3: read volume %q: negative offset: %w", name, storagebackends.ErrInvalid)
	}
	m, err := v.readMeta(ctx, name, dir)
	if err != nil {
		return 0, err
	}
	if off >= m.Size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), m.Size-off))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	for _, s := range spans(off, n) {
		g.Go(func() error {
			dst := p[s.pos : s.pos+int64(s.to-s.from)]
			key := chunkKey(dir, s.chunk)
			rng := fmt.Sprintf("bytes=%d-%d", s.from, s.to-1)
			out, err := v.b.client.GetObject(gctx, &s3.GetObjectInput{Bucket: &v.b.bucket, Key: &key, Range: &rng})
			if err != nil {
				if isKind(err, storagebackends.ErrNotFound) || isKind(err, storagebackends.ErrInvalid) {
					clear(dst) // no chunk, or a chunk shorter than from: zeros
					return nil
				}
				return mapErr("read volume", name, err)
			}
			defer out.Body.Close()
			got, err := io.ReadFull(out.Body, dst)
			if err == io.ErrUnexpectedEOF || err == io.EOF {
				clear(dst[got:]) // a short chunk: the rest is zeros
				err = nil
			}
			return mapErr("read volume", name, err)
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt writes whole chunks directly and read-modify-writes partial ones.
func (v *Volumes) WriteAt(ctx context.Context, name string, p []byte, off int64) (int, error) {
	dir, err := v.dir(name)
	if err != nil {
		return 0, err
	}
	m, err := v.readMeta(ctx, name, dir)
	if err != nil {
		return 0, err
	}
	if off < 0 || off+int64(len(p)) > m.Size {
		return 0, fmt.Errorf("s3: write volume %q: bytes %d..%d outside its %d bytes: %w",
			name, off, off+int64(len(p)), m.Size, storagebackends.ErrInvalid)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	for _, s := range spans(off, len(p)) {
		g.Go(func() error {
			src := p[s.pos : s.pos+int64(s.to-s.from)]
			key := chunkKey(dir, s.chunk)
			mu := v.lock(key)
			defer mu.Unlock()
			var b []byte
			if s.from == 0 && s.to == ChunkSize {
				b = src
			} else {
				old, err := v.getChunk(gctx, name, key)
				if err != nil {
					return err
				}
				b = make([]byte, max(len(old), s.to))
				copy(b, old)
				copy(b[s.from:], src)
			}
			if allZero(b) { // keep the volume sparse
				_, err := v.b.client.DeleteObject(gctx, &s3.DeleteObjectInput{Bucket: &v.b.bucket, Key: &key})
				return mapErr("write volume", name, err)
			}
			return v.putObject(gctx, name, key, b)
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Access: no hypervisor attaches a set of S3 chunk objects as a disk
// (QEMU has no driver for this layout), so S3 volumes are for storage,
// snapshots and clones through this server, not for VMs.
func (v *Volumes) Access(_ context.Context, name string) (storagebackends.VolumeAccess, error) {
	return storagebackends.VolumeAccess{}, fmt.Errorf("s3: volume %q: S3 chunk volumes cannot be attached to a VM (use --volumes fs or rbd): %w",
		name, storagebackends.ErrUnsupported)
}

// ListVolumes lists the volume folders (one level, by delimiter, so no
// chunk key is listed) and asks each for its meta object: a folder without
// one is a volume half made or half deleted, none yet or any more. The time
// is the meta's last write (creation, or the last resize).
func (v *Volumes) ListVolumes(ctx context.Context, fn func(name string, made time.Time) error) error {
	pages := s3.NewListObjectsV2Paginator(v.b.client, &s3.ListObjectsV2Input{
		Bucket: &v.b.bucket, Prefix: &v.prefix, Delimiter: aws.String("/")})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return mapErr("list volumes", v.prefix, err)
		}
		for _, p := range page.CommonPrefixes {
			if err := v.listed(ctx, aws.ToString(p.Prefix), fn); err != nil {
				return err
			}
		}
	}
	return nil
}

func (v *Volumes) listed(ctx context.Context, dir string, fn func(name string, made time.Time) error) error {
	name, err := url.PathUnescape(strings.TrimSuffix(strings.TrimPrefix(dir, v.prefix), "/"))
	if err != nil {
		return nil // not a folder this store made
	}
	key := dir + "meta"
	out, err := v.b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &v.b.bucket, Key: &key})
	if isKind(err, storagebackends.ErrNotFound) {
		return nil
	} else if err != nil {
		return mapErr("list volumes", name, err)
	}
	return fn(name, aws.ToTime(out.LastModified))
}
