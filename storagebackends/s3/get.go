package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/occicdmi/occicdmi/storagebackends"
)

// Reads of big values, when --s3-read-ahead asks for it. One GET streams
// at what one connection to the S3 server gives; a read of more than one
// part can instead ask for the next parts with ranged GETs ahead of the
// reader, up to getParts.concurrency answers open at once, and read them
// in order. The parts ahead are not copied into buffers of ours: their
// answers wait in the connections' receive buffers, which the server fills
// while the reader is still on an earlier part, so what a read holds is
// bounded by that many connections' windows (at most concurrency *
// getPartSize), and no byte is copied once more. Every ranged GET after
// the first is conditional on the ETag the first answered with: a value
// replaced during the read fails it (ErrUnavailable) instead of mixing two
// versions.
//
// It is off by default: against the radosgw on the same two cores (the
// test setup), one GET is as fast through the server and faster alone;
// the CPU, not one stream, is what limits it there. A remote S3, where one
// stream is bound by latency, is where reading ahead pays.
const getPartSize = 16 << 20

// getParts tunes the parallel reads (tests make them small).
type getParts struct {
	size        int64
	concurrency int
}

// errReplaced: a later part was refused because the value's ETag changed.
var errReplaced = errors.New("the value was replaced while being read; read it again")

// openParallel reads [off, end) of name: the first part from first (the
// answer to a GET of it), the rest with ranged GETs pinned to etag.
func (o *Objects) openParallel(ctx context.Context, key, name, etag string, first io.ReadCloser, off, firstEnd, end int64) io.ReadCloser {
	ctx, cancel := context.WithCancel(ctx)
	p := &parallelReader{o: o, key: key, name: name, etag: etag, cur: first, curLeft: firstEnd - off,
		ctx: ctx, cancel: cancel, queue: make(chan chan partResult, o.parts.concurrency-1), left: end - off}
	p.wg.Add(1)
	go p.produce(ctx, firstEnd, end)
	return p
}

// parallelReader hands on the parts of a value in order.
type parallelReader struct {
	o               *Objects
	key, name, etag string
	ctx             context.Context
	cancel          context.CancelFunc
	wg              sync.WaitGroup
	// queue holds, in order, where the answer to each part asked for will
	// arrive; its capacity bounds the answers open ahead of the reader.
	queue chan chan partResult

	cur     io.ReadCloser // the answer being read
	curLeft int64         // bytes still due from cur
	left    int64         // bytes still due in all
	err     error         // sticky
}

type partResult struct {
	body io.ReadCloser
	n    int64
	err  error
}

// produce asks for each part after the first, as room in the queue
// allows, until the end or cancellation.
func (p *parallelReader) produce(ctx context.Context, from, end int64) {
	defer p.wg.Done()
	defer close(p.queue)
	for off := from; off < end; off += p.o.parts.size {
		res := make(chan partResult, 1)
		select {
		case p.queue <- res:
		case <-ctx.Done():
			return
		}
		n := min(p.o.parts.size, end-off)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			res <- p.fetch(ctx, off, n)
		}()
	}
}

// fetch asks for the n bytes at off.
func (p *parallelReader) fetch(ctx context.Context, off, n int64) partResult {
	rng := fmt.Sprintf("bytes=%d-%d", off, off+n-1)
	out, err := p.o.b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &p.o.b.bucket, Key: &p.name, Range: &rng, IfMatch: &p.etag})
	switch {
	case err == nil:
		return partResult{body: out.Body, n: n}
	case errors.Is(mapErr("", "", err), errChanged):
		return partResult{err: fmt.Errorf("s3: read %q: %w: %w", p.key, storagebackends.ErrUnavailable, errReplaced)}
	}
	return partResult{err: mapErr("read", p.key, err)}
}

func (p *parallelReader) Read(b []byte) (int, error) {
	for p.err == nil {
		if p.cur != nil {
			return p.readPart(b)
		}
		p.next()
	}
	return 0, p.err
}

// readPart reads from the answer of the current part.
func (p *parallelReader) readPart(b []byte) (int, error) {
	if int64(len(b)) > p.curLeft {
		b = b[:p.curLeft]
	}
	n, err := p.cur.Read(b)
	p.curLeft -= int64(n)
	p.left -= int64(n)
	switch {
	case p.curLeft == 0:
		p.cur.Close()
		p.cur = nil
		return n, nil
	case err == io.EOF:
		p.err = fmt.Errorf("s3: read %q: a part ended %d bytes early: %w", p.key, p.curLeft, storagebackends.ErrUnavailable)
	case err != nil:
		p.err = mapErr("read", p.key, err)
	}
	return n, p.err
}

// next makes the next part's answer the one read, or notes the end.
func (p *parallelReader) next() {
	res, ok := <-p.queue
	switch {
	case !ok && p.left == 0:
		p.err = io.EOF
		return
	case !ok: // the asking stopped early: the context ended
		err := p.ctx.Err()
		if err == nil {
			err = errors.New("parts missing")
		}
		p.err = mapErr("read", p.key, err)
		return
	}
	r := <-res
	if r.err != nil {
		p.err = r.err
		return
	}
	p.cur, p.curLeft = r.body, r.n
}

// Close stops the GETs in flight, closes the answers and waits.
func (p *parallelReader) Close() error {
	p.cancel()
	if p.cur != nil {
		p.cur.Close()
		p.cur = nil
	}
	for res := range p.queue {
		if r := <-res; r.err == nil {
			r.body.Close()
		}
	}
	p.wg.Wait()
	if p.err == nil {
		p.err = errors.New("s3: read after Close")
	}
	return nil
}

// contentRangeTotal is the complete length of a Content-Range answer
// ("bytes 0-99/1234"), -1 when it does not say.
func contentRangeTotal(cr *string) int64 {
	_, total, ok := strings.Cut(aws.ToString(cr), "/")
	if !ok {
		return -1
	}
	n, err := strconv.ParseInt(total, 10, 64)
	if err != nil {
		return -1
	}
	return n
}
