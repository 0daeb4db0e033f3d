package s3

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/occicdmi/occicdmi/storagebackends"
)

// Part sizes. S3 wants every part of a multipart upload but the last to be
// at least minPart and at most maxPart; an upload has at most 10000 parts.
const (
	minPart  = 5 << 20
	partSize = 8 << 20 // the bytes buffered per part we upload ourselves
	maxPart  = 5 << 30
	maxParts = 10000
	// concurrency is how many parts of one Put are in flight; with partSize
	// it bounds a Put's memory to about (concurrency+1) * partSize.
	concurrency = 4
)

// Objects keeps each value as one object named prefix+key.
type Objects struct {
	b      *Bucket
	prefix string
	parts  getParts // how big reads are split (get.go)
}

func (o *Objects) name(key string) (string, error) {
	if key == "" {
		return "", fmt.Errorf("s3: empty key: %w", storagebackends.ErrInvalid)
	}
	if len(o.prefix)+len(key) > 1024 {
		return "", fmt.Errorf("s3: key of %d bytes is longer than S3 allows: %w", len(key), storagebackends.ErrInvalid)
	}
	return o.prefix + key, nil
}

// checkedReader passes the caller's stream to the uploader, remembering a
// read error (so it is reported as the caller's, not as the store's) and
// failing the upload when the stream's length differs from the size given.
type checkedReader struct {
	ctx  context.Context
	r    io.Reader
	want int64 // -1: unknown
	n    int64
	err  error
}

func (c *checkedReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		c.err = err
		return 0, err
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.want >= 0 && c.n > c.want {
		c.err = fmt.Errorf("stream longer than the %d bytes announced: %w", c.want, storagebackends.ErrInvalid)
		return n, c.err
	}
	if err == io.EOF && c.want >= 0 && c.n != c.want {
		c.err = fmt.Errorf("got %d bytes, expected %d: %w", c.n, c.want, storagebackends.ErrInvalid)
		return n, c.err
	}
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

// Put streams r with the SDK's upload manager: one PutObject for a small
// value, a multipart upload of partSize parts for a large one. S3 makes an
// object visible only when its PutObject or CompleteMultipartUpload
// succeeds, and the manager aborts the multipart upload on any error, so a
// failed Put leaves the previous value in place.
func (o *Objects) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	name, err := o.name(key)
	if err != nil {
		return err
	}
	ps := int64(partSize)
	if size > ps*maxParts { // big known sizes get bigger parts
		ps = (size + maxParts - 1) / maxParts
	}
	body := &checkedReader{ctx: ctx, r: r, want: size}
	// The manager is deprecated for transfermanager, which is still v0;
	// the project pins the stable manager.
	//lint:ignore SA1019 pinned on purpose (see above)
	up := manager.NewUploader(o.b.client, func(u *manager.Uploader) {
		u.PartSize = ps
		u.Concurrency = concurrency
	})
	//lint:ignore SA1019 pinned on purpose (see above)
	_, err = up.Upload(ctx, &s3.PutObjectInput{Bucket: &o.b.bucket, Key: &name, Body: body})
	if body.err != nil {
		return fmt.Errorf("s3: put %q: reading the value: %w", key, body.err)
	}
	return mapErr("put", key, err)
}

// Open reads a range: with one GET, or with read-ahead (get.go) one GET
// for what fits in a part, else parallel ranged GETs of parts after the
// first one's answer said the value's length and ETag.
func (o *Objects) Open(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	name, err := o.name(key)
	if err != nil {
		return nil, err
	}
	if off < 0 {
		return nil, fmt.Errorf("s3: open %q: negative offset: %w", key, storagebackends.ErrInvalid)
	}
	if length == 0 {
		size, err := o.Size(ctx, key)
		if err != nil {
			return nil, err
		}
		if off > size {
			return nil, fmt.Errorf("s3: open %q: offset %d outside 0..%d: %w", key, off, size, storagebackends.ErrInvalid)
		}
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	if o.parts.concurrency <= 1 {
		return o.openWhole(ctx, key, name, off, length)
	}
	firstEnd := off + o.parts.size // the first part: [off, firstEnd)
	if length > 0 {
		firstEnd = min(firstEnd, off+length)
	}
	in := &s3.GetObjectInput{Bucket: &o.b.bucket, Key: &name, Range: aws.String(fmt.Sprintf("bytes=%d-%d", off, firstEnd-1))}
	out, err := o.b.client.GetObject(ctx, in)
	if err != nil {
		return o.refused(ctx, key, off, err)
	}
	end := contentRangeTotal(out.ContentRange) // of the value
	if length > 0 && end >= 0 {
		end = min(end, off+length)
	}
	etag := aws.ToString(out.ETag)
	switch {
	case end >= 0 && end <= firstEnd: // one part holds it all
		return out.Body, nil
	case end < 0 || etag == "":
		// No length to split, or no ETag to pin the later parts to: one
		// stream.
		out.Body.Close()
		return o.openWhole(ctx, key, name, off, length)
	}
	return o.openParallel(ctx, key, name, etag, out.Body, off, firstEnd, end), nil
}

// openWhole reads a range with one GET: without read-ahead, and for a
// server that cannot pin parts to a version.
func (o *Objects) openWhole(ctx context.Context, key, name string, off, length int64) (io.ReadCloser, error) {
	in := &s3.GetObjectInput{Bucket: &o.b.bucket, Key: &name}
	switch {
	case length > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", off, off+length-1))
	case off > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", off))
	}
	out, err := o.b.client.GetObject(ctx, in)
	if err != nil {
		return o.refused(ctx, key, off, err)
	}
	return out.Body, nil
}

// refused is what Open answers when the GET at off failed with err. S3
// refuses a range starting at the end (416); the contract reads it as
// empty and only a start beyond the end as invalid.
func (o *Objects) refused(ctx context.Context, key string, off int64, err error) (io.ReadCloser, error) {
	if !isKind(err, storagebackends.ErrInvalid) {
		return nil, mapErr("open", key, err)
	}
	size, serr := o.Size(ctx, key)
	if serr != nil {
		return nil, serr
	}
	if off == size {
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	return nil, fmt.Errorf("s3: open %q: offset %d outside 0..%d: %w", key, off, size, storagebackends.ErrInvalid)
}

func (o *Objects) head(ctx context.Context, key, name string) (size int64, etag string, err error) {
	out, err := o.b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &o.b.bucket, Key: &name})
	if err != nil {
		return 0, "", mapErr("stat", key, err)
	}
	return aws.ToInt64(out.ContentLength), aws.ToString(out.ETag), nil
}

// Size reports the object's length.
func (o *Objects) Size(ctx context.Context, key string) (int64, error) {
	name, err := o.name(key)
	if err != nil {
		return 0, err
	}
	size, _, err := o.head(ctx, key, name)
	return size, err
}

// Delete removes the object. S3 answers a delete of a missing object with
// success, so a HEAD first tells the caller it was not there; a concurrent
// delete between the two can make both callers see success.
func (o *Objects) Delete(ctx context.Context, key string) error {
	name, err := o.name(key)
	if err != nil {
		return err
	}
	if _, _, err := o.head(ctx, key, name); err != nil {
		return err
	}
	_, err = o.b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &o.b.bucket, Key: &name})
	return mapErr("delete", key, err)
}

// Copy is server-side: CopyObject up to 5 GiB, above that a multipart
// upload of UploadPartCopy parts. Either way no byte passes through us.
func (o *Objects) Copy(ctx context.Context, dst, src string) error {
	sname, err := o.name(src)
	if err != nil {
		return err
	}
	dname, err := o.name(dst)
	if err != nil {
		return err
	}
	size, etag, err := o.head(ctx, src, sname)
	if err != nil || dst == src {
		return err // S3 refuses a plain copy onto itself; it is a no-op
	}
	if size <= maxPart {
		_, err = o.b.client.CopyObject(ctx, &s3.CopyObjectInput{
			Bucket: &o.b.bucket, Key: &dname, CopySource: o.b.copySource(sname), CopySourceIfMatch: &etag,
		})
		return mapErr("copy to "+dst+" from", src, err)
	}
	c, err := o.newComposer(ctx, dst, dname, sname, etag)
	if err != nil {
		return err
	}
	return c.run(func() error { return c.addCopy(0, size) })
}

// List pages through ListObjectsV2.
func (o *Objects) List(ctx context.Context, prefix string, fn func(key string, size int64) error) error {
	p := o.prefix + prefix
	pages := s3.NewListObjectsV2Paginator(o.b.client, &s3.ListObjectsV2Input{Bucket: &o.b.bucket, Prefix: &p})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return mapErr("list", prefix, err)
		}
		for _, obj := range page.Contents {
			if err := fn(aws.ToString(obj.Key)[len(o.prefix):], aws.ToInt64(obj.Size)); err != nil {
				return err
			}
		}
	}
	return nil
}

// WriteAt cannot write in place: S3 objects are immutable. It composes a new
// version of the object server-side, as a multipart upload whose parts are
// UploadPartCopy ranges of the untouched bytes plus the new bytes, then
// completes it, which replaces the object atomically (until then readers
// see the old value; on failure the upload is aborted and nothing changed).
//
// S3 wants non-last parts of at least 5 MiB, so untouched bytes next to the
// new ones are downloaded into the part being built until it reaches that
// size (at most partSize per boundary); only the far-away bytes are copied
// server-side. A small write into a 1 GiB value thus moves about 16 MiB, not
// 1 GiB. Every copy and read is conditional on the ETag seen at the start,
// so a value replaced meanwhile fails the write (ErrUnavailable, "changed
// while being rewritten") instead of mixing two versions.
//
// Chunking values instead (a manifest plus fixed chunks) would make a small
// write cheaper still, but a value would no longer be one plain S3 object
// other tools can read, and every read would need the manifest first.
func (o *Objects) WriteAt(ctx context.Context, key string, off int64, r io.Reader, length int64) error {
	name, err := o.name(key)
	if err != nil {
		return err
	}
	if off < 0 {
		return fmt.Errorf("s3: write %q: negative offset: %w", key, storagebackends.ErrInvalid)
	}
	size, etag, err := o.head(ctx, key, name)
	if err != nil {
		return err
	}
	if length == 0 {
		return nil
	}
	c, err := o.newComposer(ctx, key, name, name, etag)
	if err != nil {
		return err
	}
	return c.run(func() error { return c.patch(size, off, r, length) })
}

// PutRange composes the new value under dst exactly as WriteAt composes
// one in place (server-side part copies of the untouched bytes, the new
// bytes uploaded, every read conditional on src's ETag), then completes
// the upload: dst appears whole or not at all, and src is only read.
func (o *Objects) PutRange(ctx context.Context, dst, src string, off int64, r io.Reader, length int64) error {
	if err := storagebackends.CheckPutRange(dst, src, off, length); err != nil {
		return fmt.Errorf("s3: %w", err)
	}
	sname, err := o.name(src)
	if err != nil {
		return err
	}
	dname, err := o.name(dst)
	if err != nil {
		return err
	}
	size, etag, err := o.head(ctx, src, sname)
	if err != nil {
		return err
	}
	if length == 0 && off <= size {
		// Nothing to patch (and a composition needs a byte at least: run
		// takes one without parts for "nothing to do").
		return o.Copy(ctx, dst, src)
	}
	c, err := o.newComposer(ctx, dst, dname, sname, etag)
	if err != nil {
		return err
	}
	return c.run(func() error { return c.patch(size, off, r, length) })
}

var errNothing = fmt.Errorf("nothing to compose")

// patch composes the source (of size bytes) with length bytes of r
// (length < 0: all of r) at off: the source's bytes before off, zeros from
// its end up to off, r's bytes, then the source's bytes after them. An r
// of unknown length that brings nothing composes nothing (errNothing): the
// value stays as it is, not extended.
func (c *composer) patch(size, off int64, r io.Reader, length int64) error {
	if err := c.addCopy(0, min(off, size)); err != nil {
		return err
	}
	if off > size {
		if err := c.addZeros(off - size); err != nil {
			return err
		}
	}
	n, err := c.addData(r, length)
	if err != nil {
		return err
	}
	if length >= 0 && n != length {
		return fmt.Errorf("got %d bytes, expected %d: %w", n, length, storagebackends.ErrInvalid)
	}
	if n == 0 && length < 0 {
		return errNothing
	}
	if end := off + n; end < size {
		return c.addCopy(end, size-end)
	}
	return nil
}

// composer builds one object from ranges of a source object, zeros and new
// bytes, as a multipart upload.
type composer struct {
	ctx       context.Context
	o         *Objects
	key, dst  string // the caller's key (for messages), the object written
	src, etag string // the object ranges are copied from, and its version
	uploadID  *string
	parts     []types.CompletedPart
	buf       []byte // the part being built
	userErr   error  // the caller's stream failed
}

func (o *Objects) newComposer(ctx context.Context, key, dst, src, etag string) (*composer, error) {
	out, err := o.b.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &o.b.bucket, Key: &dst})
	if err != nil {
		return nil, mapErr("write", key, err)
	}
	return &composer{ctx: ctx, o: o, key: key, dst: dst, src: src, etag: etag, uploadID: out.UploadId,
		buf: make([]byte, 0, partSize)}, nil
}

// run calls build, then completes the upload, or aborts it on any error.
func (c *composer) run(build func() error) error {
	err := build()
	if err == nil {
		err = c.flush()
	}
	if err == nil && len(c.parts) == 0 {
		// Nothing to write (an empty stream into an empty value): S3
		// refuses to complete an upload without parts, and the value is
		// already what it should be.
		err = errNothing
	}
	if err == nil {
		_, err = c.o.b.client.CompleteMultipartUpload(c.ctx, &s3.CompleteMultipartUploadInput{
			Bucket: &c.o.b.bucket, Key: &c.dst, UploadId: c.uploadID,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: c.parts},
		})
	}
	if err != nil {
		// Not the caller's context: it may be the one that ended.
		actx, cancel := context.WithTimeout(context.Background(), headerTimeout)
		defer cancel()
		_, _ = c.o.b.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
			Bucket: &c.o.b.bucket, Key: &c.dst, UploadId: c.uploadID,
		})
		if err == errNothing {
			return nil
		}
		if c.userErr != nil {
			return fmt.Errorf("s3: write %q: reading the new bytes: %w", c.key, c.userErr)
		}
		return mapErr("write", c.key, err)
	}
	return nil
}

func (c *composer) partNumber() *int32 { return aws.Int32(int32(len(c.parts) + 1)) }

// flush uploads the part being built, if any.
func (c *composer) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	if len(c.parts) >= maxParts {
		return fmt.Errorf("more than %d parts: %w", maxParts, storagebackends.ErrInvalid)
	}
	pn := c.partNumber()
	out, err := c.o.b.client.UploadPart(c.ctx, &s3.UploadPartInput{
		Bucket: &c.o.b.bucket, Key: &c.dst, UploadId: c.uploadID, PartNumber: pn,
		Body: bytes.NewReader(c.buf), ContentLength: aws.Int64(int64(len(c.buf))),
	})
	if err != nil {
		return err
	}
	c.parts = append(c.parts, types.CompletedPart{ETag: out.ETag, PartNumber: pn})
	c.buf = c.buf[:0]
	return nil
}

// room is how many bytes the part being built still takes before it is
// flushed.
func (c *composer) room() int { return partSize - len(c.buf) }

// addCopy appends the source's bytes [off, off+n): server-side copy parts
// where they can stand alone, downloaded bytes where they must join a part.
func (c *composer) addCopy(off, n int64) error {
	for n > 0 {
		if len(c.buf) == 0 && n >= minPart {
			m := min(n, maxPart)
			if rest := n - m; rest > 0 && rest < minPart {
				m = n - minPart // leave a remainder big enough to be a part
			}
			pn := c.partNumber()
			rng := fmt.Sprintf("bytes=%d-%d", off, off+m-1)
			out, err := c.o.b.client.UploadPartCopy(c.ctx, &s3.UploadPartCopyInput{
				Bucket: &c.o.b.bucket, Key: &c.dst, UploadId: c.uploadID, PartNumber: pn,
				CopySource: c.o.b.copySource(c.src), CopySourceRange: &rng, CopySourceIfMatch: &c.etag,
			})
			if err != nil {
				return err
			}
			c.parts = append(c.parts, types.CompletedPart{ETag: out.CopyPartResult.ETag, PartNumber: pn})
			off, n = off+m, n-m
			continue
		}
		take := min(n, int64(c.room()))
		if err := c.download(off, take); err != nil {
			return err
		}
		off, n = off+take, n-take
		if c.room() == 0 {
			if err := c.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// download appends the source's bytes [off, off+n) to the part being built.
func (c *composer) download(off, n int64) error {
	rng := fmt.Sprintf("bytes=%d-%d", off, off+n-1)
	out, err := c.o.b.client.GetObject(c.ctx, &s3.GetObjectInput{
		Bucket: &c.o.b.bucket, Key: &c.src, Range: &rng, IfMatch: &c.etag,
	})
	if err != nil {
		return err
	}
	defer out.Body.Close()
	start := len(c.buf)
	c.buf = c.buf[:start+int(n)]
	if _, err := io.ReadFull(out.Body, c.buf[start:]); err != nil {
		return fmt.Errorf("reading bytes %d..%d: %w", off, off+n, err)
	}
	return nil
}

func (c *composer) addZeros(n int64) error {
	for n > 0 {
		take := min(n, int64(c.room()))
		start := len(c.buf)
		c.buf = c.buf[:start+int(take)]
		clear(c.buf[start:])
		n -= take
		if c.room() == 0 {
			if err := c.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// addData appends up to length bytes of r (length < 0: all of it) and
// reports how many there were.
func (c *composer) addData(r io.Reader, length int64) (int64, error) {
	if length >= 0 {
		r = io.LimitReader(r, length)
	}
	var total int64
	for {
		if err := c.ctx.Err(); err != nil {
			return total, err
		}
		start := len(c.buf)
		n, err := io.ReadFull(r, c.buf[start:cap(c.buf)])
		c.buf = c.buf[:start+n]
		total += int64(n)
		if c.room() == 0 {
			if ferr := c.flush(); ferr != nil {
				return total, ferr
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return total, nil
		}
		if err != nil {
			c.userErr = err
			return total, err
		}
	}
}
