package cdmi

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/occicdmi/occicdmi/internal/kind"
	"github.com/occicdmi/occicdmi/storagebackends"
)

var errBadValue = kind.New(kind.Invalid, "bad value")

// badValueReader tags decoding errors so they answer 400, not 503, and
// says which encoding the value broke.
type badValueReader struct {
	enc string // "base64", "quoted-printable"
	r   io.Reader
}

func (b badValueReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	switch {
	case err == nil || err == io.EOF:
	case errors.Is(err, io.ErrUnexpectedEOF):
		err = fmt.Errorf("%w: the value is not valid %s: it ends in the middle of a group of characters", errBadValue, b.enc)
	default:
		err = fmt.Errorf("%w: the value is not valid %s: %v", errBadValue, b.enc, err)
	}
	return n, err
}

// checkEncoding validates a valuetransferencoding (§8.2.5, Table 15).
func checkEncoding(enc string) error {
	switch enc {
	case "utf-8", "base64", "json":
		return nil
	}
	return invalidf("valuetransferencoding %q: want \"utf-8\", \"base64\" or \"json\"", enc)
}

// decodedValue turns a body's spooled value into the bytes to store.
func decodedValue(b *cdmiBody, enc string) (io.Reader, error) {
	if !b.ValueIsString && enc != "json" {
		return nil, invalidf("value must be a JSON string unless valuetransferencoding is \"json\"")
	}
	switch enc {
	case "base64":
		return badValueReader{"base64", base64.NewDecoder(base64.StdEncoding, b.Value.Reader())}, nil
	case "json":
		// A JSON value stored as its JSON text (a string value is kept
		// with its quotes so that it reads back as the same JSON).
		if b.ValueIsString {
			return nil, invalidf("with valuetransferencoding \"json\" the value must be a JSON object or array")
		}
		return b.Value.Reader(), nil
	}
	return b.Value.Reader(), nil
}

// decodedLen is the length of the decoded value, read through once
// (streaming) so that range writes know their length up front.
func decodedLen(b *cdmiBody, enc string) (int64, error) {
	r, err := decodedValue(b, enc)
	if err != nil {
		return 0, err
	}
	return io.Copy(io.Discard, r)
}

func newHash(alg string) (hash.Hash, error) {
	switch strings.ToUpper(alg) {
	case "MD5":
		return md5.New(), nil
	case "SHA1":
		return sha1.New(), nil
	case "SHA224":
		return sha256.New224(), nil
	case "SHA256":
		return sha256.New(), nil
	case "SHA384":
		return sha512.New384(), nil
	case "SHA512":
		return sha512.New(), nil
	}
	return nil, invalidf("cdmi_value_hash %q: this server computes %v", alg, valueHashes)
}

// utf8Check tells whether a stream of bytes is valid UTF-8, carrying
// sequences split between writes.
type utf8Check struct {
	carry []byte
	bad   bool
}

func (u *utf8Check) Write(p []byte) (int, error) {
	n := len(p)
	if u.bad {
		return n, nil
	}
	if len(u.carry) > 0 {
		p = append(u.carry, p...)
		u.carry = nil
	}
	for len(p) > 0 {
		if p[0] < utf8.RuneSelf {
			p = p[1:]
			continue
		}
		if !utf8.FullRune(p) {
			u.carry = append([]byte(nil), p...)
			break
		}
		r, size := utf8.DecodeRune(p)
		if r == utf8.RuneError && size == 1 {
			u.bad = true
			return n, nil
		}
		p = p[size:]
	}
	return n, nil
}

func (u *utf8Check) valid() bool { return !u.bad && len(u.carry) == 0 }

// written describes a value just stored.
type written struct {
	Size int64
	Hash string
	UTF8 bool
	Key  string
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// putValue streams r into a fresh key, counting, hashing (when alg is set)
// and checking UTF-8 on the way.
func (s *Service) putValue(ctx context.Context, objectID string, r io.Reader, size int64, alg string) (written, error) {
	var h hash.Hash
	if alg != "" {
		var err error
		if h, err = newHash(alg); err != nil {
			return written{}, err
		}
	}
	var cnt countWriter
	u := &utf8Check{}
	ws := []io.Writer{&cnt, u}
	if h != nil {
		ws = append(ws, h)
	}
	key := s.newValueKey(objectID)
	src := &sourceReader{r: io.TeeReader(r, io.MultiWriter(ws...))}
	if err := s.putNew(ctx, key, src, size); err != nil {
		if src.err != nil {
			// The source failed (bad encoding, client gone, too large):
			// say that rather than what the backend made of it.
			return written{}, src.err
		}
		return written{}, err
	}
	out := written{Size: cnt.n, UTF8: u.valid(), Key: key}
	if h != nil {
		out.Hash = strings.ToUpper(alg) + ":" + strings.ToUpper(hex.EncodeToString(h.Sum(nil)))
	}
	return out, nil
}

// newPutter is a backend that stores a value under a fresh key faster
// than Put can (storagebackends/fs: no temporary file and rename, the
// folder's fsync beside the file's), as durably; or a wrapper
// (internal/metrics) that passes it on, else calls Put.
type newPutter interface {
	PutNew(ctx context.Context, key string, r io.Reader, size int64) error
}

// putNew stores a value under key, which newValueKey just made: no row
// names it and no one reads it before this returns.
func (s *Service) putNew(ctx context.Context, key string, r io.Reader, size int64) error {
	if p, ok := s.objs.(newPutter); ok {
		return p.PutNew(ctx, key, r, size)
	}
	return s.objs.Put(ctx, key, r, size)
}

// rehash reads a stored value again to compute its hash after a range
// write changed part of it.
func (s *Service) rehash(ctx context.Context, key, alg string) (string, error) {
	h, err := newHash(alg)
	if err != nil {
		return "", err
	}
	rc, err := s.objs.Open(ctx, key, 0, -1)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	if _, err := io.Copy(h, rc); err != nil {
		return "", err
	}
	return strings.ToUpper(alg) + ":" + strings.ToUpper(hex.EncodeToString(h.Sum(nil))), nil
}

// sourceReader remembers the first error of the reader it wraps, so that a
// failure of the request body is not mistaken for one of the backend (which
// wraps whatever it reads into its own error kinds).
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

func base64Decoder(r io.Reader) io.Reader { return base64.NewDecoder(base64.StdEncoding, r) }

// rangeSeeker is an io.ReadSeeker over a backend value that opens the
// backend at the offset of each read run, so http.ServeContent's range
// handling reads only the ranges asked for.
type rangeSeeker struct {
	ctx  context.Context
	s    *Service
	key  string
	size int64
	off  int64
	rc   io.ReadCloser
	rcAt int64 // where rc reads next
	err  error
}

// Seek only moves the offset: http.ServeContent seeks to the end and back
// before reading, and the value opened at 0 serves a read from 0.
func (r *rangeSeeker) Seek(offset int64, whence int) (int64, error) {
	abs, err := seekOffset(r.off, r.size, offset, whence)
	if err != nil {
		return 0, err
	}
	r.off = abs
	return abs, nil
}

func (r *rangeSeeker) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	if err := r.openAtOffset(); err != nil {
		return 0, err
	}
	n, err := r.rc.Read(p)
	r.off += int64(n)
	r.rcAt = r.off
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// openAtOffset makes rc read from the offset, opening the value there
// when rc reads elsewhere (a seek moved it) or nothing is open yet.
func (r *rangeSeeker) openAtOffset() error {
	if r.rc != nil && r.rcAt != r.off {
		r.rc.Close()
		r.rc = nil
	}
	if r.rc == nil {
		rc, err := r.s.objs.Open(r.ctx, r.key, r.off, -1)
		if err != nil {
			r.err = err
			return err
		}
		r.rc, r.rcAt = rc, r.off
	}
	return nil
}

// failure is the backend's error that cut a read short, if any.
func (r *rangeSeeker) failure() error { return r.err }

// fileSeeker is a rangeSeeker over a backend whose open values have a
// file descriptor (fs): net/http then sends the value with sendfile, the
// kernel copying file to socket, instead of reading it into this process.
// It is a type of its own because having SyscallConn at all is what makes
// net/http (and the app's response writer) choose the kernel's copy.
type fileSeeker struct{ *rangeSeeker }

func (f fileSeeker) SyscallConn() (syscall.RawConn, error) {
	r := f.rangeSeeker
	if err := r.openAtOffset(); err != nil {
		return nil, err
	}
	sc, ok := r.rc.(syscall.Conn)
	sk, seeks := r.rc.(io.Seeker)
	if !ok || !seeks {
		return nil, errors.ErrUnsupported
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	return seekerConn{RawConn: raw, r: r, at: sk}, nil
}

// seekerConn moves the seeker's offset on by what a send took.
type seekerConn struct {
	syscall.RawConn
	r  *rangeSeeker
	at io.Seeker // the open value, whose position the send moves
}

func (c seekerConn) Read(fn func(fd uintptr) bool) error {
	before, err := c.at.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	err = c.RawConn.Read(fn)
	after, serr := c.at.Seek(0, io.SeekCurrent)
	if serr != nil {
		c.r.rc.Close() // position unknown: the next read opens afresh
		c.r.rc = nil
		return errors.Join(err, serr)
	}
	c.r.off += after - before
	c.r.rcAt = c.r.off
	return err
}

func (r *rangeSeeker) Close() error {
	if r.rc != nil {
		return r.rc.Close()
	}
	return nil
}

// writeRange stages a range write (§8.4.1, §6.3; issue 12 item 3):
// a fresh key gets the value under key (an empty one when there is none
// yet) with r's bytes at rng, and the hash of the result is computed from
// it. The value under key never changes; the caller's commit swaps the
// new key in together with its size and hash, so a body that stops early
// changes nothing and the hash always agrees with the bytes readers get.
func (s *Service) writeRange(ctx context.Context, objectID, key string, rng Range, r io.Reader, alg string) (w written, err error) {
	var empty string
	if key == "" {
		e, err := s.putValue(ctx, objectID, strings.NewReader(""), 0, "")
		if err != nil {
			return written{}, err
		}
		empty, key = e.Key, e.Key
		defer s.deleteKeys(ctx, []string{empty})
	}
	w.Key = s.newValueKey(objectID)
	piece := &utf8Check{}
	src := &sourceReader{r: io.TeeReader(r, piece)}
	if err := s.objs.PutRange(ctx, w.Key, key, rng.First, src, rng.Len()); err != nil {
		if src.err != nil {
			return written{}, src.err
		}
		if empty == "" && errors.Is(err, storagebackends.ErrNotFound) {
			// Another write replaced the value (and removed this one)
			// while this range was staged from it.
			return written{}, kind.Errorf(kind.Conflict, "the value changed while this range write was staged; retry")
		}
		return written{}, err
	}
	staged := w.Key
	defer func() {
		if err != nil {
			s.deleteKeys(ctx, []string{staged})
		}
	}()
	if w.Size, err = s.objs.Size(ctx, w.Key); err != nil {
		return written{}, err
	}
	w.UTF8 = piece.valid()
	if alg != "" {
		if w.Hash, err = s.rehash(ctx, w.Key, alg); err != nil {
			return written{}, err
		}
	}
	return w, nil
}

// copyValue duplicates src's value under a fresh key in the backend (none
// when src has no value), keeping its hash when it is of the algorithm
// wanted.
func (s *Service) copyValue(ctx context.Context, objectID string, src *object, alg string) (written, error) {
	w := written{Size: src.Size}
	if alg != "" {
		w.Hash = src.Hash
	}
	if src.ValueKey == "" {
		return w, nil
	}
	w.Key = s.newValueKey(objectID)
	if err := s.objs.Copy(ctx, w.Key, src.ValueKey); err != nil {
		return written{}, err
	}
	if alg != "" && !strings.HasPrefix(src.Hash, strings.ToUpper(alg)+":") {
		var err error
		if w.Hash, err = s.rehash(ctx, w.Key, alg); err != nil {
			s.deleteKeys(ctx, []string{w.Key})
			return written{}, err
		}
	}
	return w, nil
}

// openRange opens the bytes rng of the value under key.
func (s *Service) openRange(ctx context.Context, key string, rng Range) (io.ReadCloser, error) {
	return s.objs.Open(ctx, key, rng.First, rng.Len())
}

// valueSize is the size of the value under key as the backend has it; it
// tells a backend failure apart before a response starts.
func (s *Service) valueSize(ctx context.Context, key string) (int64, error) {
	return s.objs.Size(ctx, key)
}

// valueSeeker is a value for http.ServeContent: it reads only the ranges
// asked for, and tells the backend failure that cut a read short.
type valueSeeker interface {
	io.ReadSeekCloser
	failure() error
}

// seekableValue is o's value as a valueSeeker; one the kernel can send
// (fileSeeker) when the backend's open values have a file descriptor.
func (s *Service) seekableValue(ctx context.Context, o *object) (valueSeeker, error) {
	if so, ok := s.objs.(sizedOpener); ok {
		// One call instead of a Size and an Open (fs).
		rc, size, err := so.OpenSized(ctx, o.ValueKey, 0, -1)
		if err == nil {
			r := &rangeSeeker{ctx: ctx, s: s, key: o.ValueKey, size: size, rc: rc}
			if _, fd := rc.(syscall.Conn); fd {
				return fileSeeker{r}, nil
			}
			return r, nil
		}
		if !errors.Is(err, errors.ErrUnsupported) {
			return nil, err
		}
		// A wrapper (metrics) over a backend without it.
	}
	size, err := s.objs.Size(ctx, o.ValueKey)
	if err != nil {
		return nil, err
	}
	return &rangeSeeker{ctx: ctx, s: s, key: o.ValueKey, size: size}, nil
}

// sizedOpener is a backend that opens a value and tells its whole size in
// one call (storagebackends/fs); errors.ErrUnsupported from a wrapper
// (internal/metrics) whose backend cannot.
type sizedOpener interface {
	OpenSized(ctx context.Context, key string, off, length int64) (io.ReadCloser, int64, error)
}

// seekOffset is where an io.Seeker at cur in a value of size bytes moves
// for Seek(offset, whence).
func seekOffset(cur, size, offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = cur + offset
	case io.SeekEnd:
		abs = size + offset
	}
	if abs < 0 {
		return 0, errors.New("seek before start")
	}
	return abs, nil
}
