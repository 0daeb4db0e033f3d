// Package storagetest is the conformance suite every storage backend passes
// unchanged (the pattern of go-cloud's blob/drivertest): a backend's test
// opens it against a real server and calls RunObjects and/or RunVolumes.
package storagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/internal/testsupport"
	"github.com/occicdmi/occicdmi/storagebackends"
)

// LargeEnv names the variable that turns on the 1 GiB round trip (1 on,
// 0 off). It is off by default so `go test ./...` stays fast on a
// developer's machine, and on under CI=true (about 7 s on fs, 10 s on S3,
// 20 s on RADOS here).
const LargeEnv = "OCCICDMI_TEST_LARGE"

// Large reports whether the slow, large-value cases should run.
func Large() bool {
	switch os.Getenv(LargeEnv) {
	case "0":
		return false
	case "":
		return testsupport.InCI()
	}
	return true
}

// NeedService skips a test whose service is not configured, or fails it
// under CI=true, where a missing service is a broken environment.
func NeedService(t testing.TB, what string, ok bool) {
	t.Helper()
	testsupport.NeedService(t, what, ok)
}

// Prefix returns a fresh key/name prefix, so runs sharing a bucket or pool
// never see each other's data.
func Prefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "st-" + hex.EncodeToString(b[:]) + "-"
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// Gen is a deterministic pseudo-random stream of n bytes, so a large value
// can be written and checked without holding it anywhere.
func Gen(seed uint64, n int64) io.Reader {
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	return io.LimitReader(chacha{mrand.NewChaCha8(s)}, n)
}

type chacha struct{ c *mrand.ChaCha8 }

func (c chacha) Read(p []byte) (int, error) { return c.c.Read(p) }

func genBytes(seed uint64, n int64) []byte {
	b, _ := io.ReadAll(Gen(seed, n))
	return b
}

func hashOf(r io.Reader) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

// failingReader yields n bytes of data, then an error: a client that hangs
// up mid-upload.
type failingReader struct{}

var errClientGone = errors.New("storagetest: client went away")

func failAfter(n int64) io.Reader {
	return io.MultiReader(Gen(99, n), failingReader{})
}

func (failingReader) Read([]byte) (int, error) { return 0, errClientGone }

func readAll(t *testing.T, o storagebackends.Objects, key string, off, length int64) []byte {
	t.Helper()
	rc, err := o.Open(ctxT(t), key, off, length)
	require.NoError(t, err, "open %q %d+%d", key, off, length)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	return b
}

func put(t *testing.T, o storagebackends.Objects, key string, b []byte) {
	t.Helper()
	require.NoError(t, o.Put(ctxT(t), key, bytes.NewReader(b), int64(len(b))), "put %q", key)
}

// RunObjects runs the object-value conformance suite against the backend
// that open returns (called once per subtest).
func RunObjects(t *testing.T, open func(t *testing.T) storagebackends.Objects) {
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, open(t)) })
	t.Run("Large", func(t *testing.T) {
		if !Large() {
			t.Skipf("the 1 GiB round trip runs with %s=1 (or CI=true)", LargeEnv)
		}
		testLarge(t, open(t), 1<<30)
	})
	t.Run("Ranges", func(t *testing.T) { testRanges(t, open(t)) })
	t.Run("WriteAt", func(t *testing.T) { testWriteAt(t, open(t)) })
	t.Run("PutRange", func(t *testing.T) { testPutRange(t, open(t)) })
	t.Run("PutRangeAllOrNothing", func(t *testing.T) { testPutRangeFails(t, open(t)) })
	t.Run("Overwrite", func(t *testing.T) { testOverwrite(t, open(t)) })
	t.Run("FailedPutKeepsValue", func(t *testing.T) { testFailedPut(t, open(t)) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, open(t)) })
	t.Run("Copy", func(t *testing.T) { testCopy(t, open(t)) })
	t.Run("List", func(t *testing.T) { testList(t, open(t)) })
	t.Run("ConcurrentWriters", func(t *testing.T) { testConcurrent(t, open(t)) })
	t.Run("ConcurrentSameKey", func(t *testing.T) { testSameKey(t, open(t)) })
	t.Run("OddKeys", func(t *testing.T) { testOddKeys(t, open(t)) })
	t.Run("BadKey", func(t *testing.T) {
		o := open(t)
		err := o.Put(ctxT(t), "", bytes.NewReader(nil), 0)
		assert.ErrorIs(t, err, storagebackends.ErrInvalid, "empty key")
		// Far longer than any store takes: the caller's mistake, not an
		// outage.
		long := Prefix() + strings.Repeat("k/", 2000)
		err = o.Put(ctxT(t), long, bytes.NewReader([]byte("x")), 1)
		assert.ErrorIs(t, err, storagebackends.ErrInvalid, "a 4000-byte key")
	})
}

func cleanupKeys(t *testing.T, o storagebackends.Objects, prefix string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var keys []string
		_ = o.List(ctx, prefix, func(k string, _ int64) error { keys = append(keys, k); return nil })
		for _, k := range keys {
			_ = o.Delete(ctx, k)
		}
	})
}

func testRoundTrip(t *testing.T, o storagebackends.Objects) {
	p := Prefix()
	cleanupKeys(t, o, p)
	// 9 MiB + 1 crosses the multipart thresholds of object stores (5 and
	// 8 MiB parts) with a short last part.
	for _, n := range []int64{0, 1, 1000, 9<<20 + 1} {
		for _, known := range []bool{true, false} {
			key := fmt.Sprintf("%sv%d-%v", p, n, known)
			size := int64(-1)
			if known {
				size = n
			}
			want, _, _ := hashOf(Gen(uint64(n), n))
			require.NoError(t, o.Put(ctxT(t), key, Gen(uint64(n), n), size), "put %d bytes (size known: %v)", n, known)
			got, err := o.Size(ctxT(t), key)
			require.NoError(t, err)
			assert.Equal(t, n, got, "size of %d-byte value", n)
			rc, err := o.Open(ctxT(t), key, 0, -1)
			require.NoError(t, err)
			h, m, err := hashOf(rc)
			rc.Close()
			require.NoError(t, err)
			assert.Equal(t, n, m, "bytes read back")
			assert.Equal(t, want, h, "hash of %d-byte value", n)
		}
	}
	// A size that does not match the stream is refused and stores nothing.
	key := p + "mismatch"
	err := o.Put(ctxT(t), key, bytes.NewReader([]byte("short")), 10)
	assert.ErrorIs(t, err, storagebackends.ErrInvalid)
	_, err = o.Size(ctxT(t), key)
	assert.ErrorIs(t, err, storagebackends.ErrNotFound, "a refused put leaves no value")
}

func testLarge(t *testing.T, o storagebackends.Objects, n int64) {
	p := Prefix()
	cleanupKeys(t, o, p)
	key := p + "large"
	want, _, _ := hashOf(Gen(7, n))
	peak := watchHeap()
	start := time.Now()
	require.NoError(t, o.Put(ctxT(t), key, Gen(7, n), -1))
	putPeak := peak()
	t.Logf("put %d MiB in %v, heap peak %d MiB", n>>20, time.Since(start).Round(time.Millisecond), putPeak>>20)
	assert.Less(t, putPeak, uint64(maxHeap), "heap while writing 1 GiB")
	peak = watchHeap()
	start = time.Now()
	rc, err := o.Open(ctxT(t), key, 0, -1)
	require.NoError(t, err)
	h, m, err := hashOf(rc)
	rc.Close()
	require.NoError(t, err)
	getPeak := peak()
	t.Logf("got %d MiB in %v, heap peak %d MiB", m>>20, time.Since(start).Round(time.Millisecond), getPeak>>20)
	assert.Less(t, getPeak, uint64(maxHeap), "heap while reading 1 GiB")
	assert.Equal(t, n, m)
	assert.Equal(t, want, h)
	// A range straddling the middle reads the generator's bytes there.
	mid := n/2 - 5
	rc, err = o.Open(ctxT(t), key, mid, 10)
	require.NoError(t, err)
	got, err := io.ReadAll(rc)
	rc.Close()
	require.NoError(t, err)
	exp := make([]byte, 10)
	g := Gen(7, n)
	_, _ = io.CopyN(io.Discard, g, mid)
	_, _ = io.ReadFull(g, exp)
	assert.Equal(t, exp, got)
	testLargePutRange(t, o, key, n)
}

// testLargePutRange stages a small range into the middle of the large
// value: the result holds the patch and every byte around it, and the
// heap stays bounded (backends copy or compose, never buffer the value).
func testLargePutRange(t *testing.T, o storagebackends.Objects, key string, n int64) {
	patch := []byte("a range in the middle of a large value")
	off := n/2 + 3
	tail := Gen(7, n)
	_, _ = io.CopyN(io.Discard, tail, off+int64(len(patch)))
	want, _, _ := hashOf(io.MultiReader(Gen(7, off), bytes.NewReader(patch), tail))
	peak := watchHeap()
	start := time.Now()
	dst := key + "+range"
	require.NoError(t, o.PutRange(ctxT(t), dst, key, off, bytes.NewReader(patch), int64(len(patch))))
	rangePeak := peak()
	t.Logf("put range of %d bytes into %d MiB in %v, heap peak %d MiB", len(patch), n>>20, time.Since(start).Round(time.Millisecond), rangePeak>>20)
	assert.Less(t, rangePeak, uint64(maxHeap), "heap while staging a range of 1 GiB")
	rc, err := o.Open(ctxT(t), dst, 0, -1)
	require.NoError(t, err)
	defer rc.Close()
	h, m, err := hashOf(rc)
	require.NoError(t, err)
	assert.Equal(t, n, m)
	assert.Equal(t, want, h, "the staged value is the old one with the range")
}

// maxHeap bounds the heap while a 1 GiB value streams: values must never
// be held whole in memory (DESIGN.md, "Values stream").
const maxHeap = 256 << 20

// watchHeap samples the heap until the returned function is called, which
// reports the peak and fails the test past maxHeap.
func watchHeap() func() uint64 {
	done := make(chan struct{})
	result := make(chan uint64)
	go func() {
		var peak uint64
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-done:
				result <- peak
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() uint64 {
		close(done)
		return <-result
	}
}

func testRanges(t *testing.T, o storagebackends.Objects) {
	p := Prefix()
	cleanupKeys(t, o, p)
	key := p + "r"
	const n = 1000
	v := genBytes(1, n)
	put(t, o, key, v)
	cases := []struct {
		off, length int64
		want        []byte
	}{
		{0, -1, v},
		{0, 0, []byte{}},
		{0, 1, v[:1]},
		{n - 1, 1, v[n-1:]},
		{n - 1, -1, v[n-1:]},
		{n - 1, 50, v[n-1:]}, // past the end: what exists
		{500, 10000, v[500:]},
		{123, 456, v[123 : 123+456]},
		{n, -1, []byte{}}, // at the end: empty, not an error
		{n, 10, []byte{}},
	}
	for _, c := range cases {
		got := readAll(t, o, key, c.off, c.length)
		assert.Equal(t, c.want, got, "range %d+%d", c.off, c.length)
	}
	_, err := o.Open(ctxT(t), key, n+1, 1)
	assert.ErrorIs(t, err, storagebackends.ErrInvalid, "offset past the end")
	_, err = o.Open(ctxT(t), p+"missing", 0, -1)
	assert.ErrorIs(t, err, storagebackends.ErrNotFound)
	empty := p + "empty"
	put(t, o, empty, nil)
	assert.Empty(t, readAll(t, o, empty, 0, -1))
	assert.Empty(t, readAll(t, o, empty, 0, 5))
}

func testWriteAt(t *testing.T, o storagebackends.Objects) {
	p := Prefix()
	cleanupKeys(t, o, p)
	ctx := ctxT(t)
	write := func(key string, off int64, b []byte) {
		t.Helper()
		require.NoError(t, o.WriteAt(ctx, key, off, bytes.NewReader(b), int64(len(b))), "write %q at %d", key, off)
	}
	// Small value: inside, at the end (extends), past the end (hole).
	key := p + "small"
	put(t, o, key, []byte("0123456789"))
	write(key, 2, []byte("ab"))
	assert.Equal(t, []byte("01ab456789"), readAll(t, o, key, 0, -1))
	write(key, 8, []byte("XYZ"))
	assert.Equal(t, []byte("01ab4567XYZ"), readAll(t, o, key, 0, -1))
	write(key, 14, []byte("!"))
	assert.Equal(t, []byte("01ab4567XYZ\x00\x00\x00!"), readAll(t, o, key, 0, -1))
	write(key, 0, nil)
	assert.Equal(t, []byte("01ab4567XYZ\x00\x00\x00!"), readAll(t, o, key, 0, -1), "an empty write changes nothing")
	require.NoError(t, o.WriteAt(ctx, key, 100, bytes.NewReader(nil), -1))
	assert.Equal(t, []byte("01ab4567XYZ\x00\x00\x00!"), readAll(t, o, key, 0, -1), "an empty stream past the end does not extend the value")

	// Larger value, writes near and across 5/8 MiB boundaries, where an
	// object store composes parts.
	const n = 12<<20 + 17
	v := genBytes(2, n)
	big := p + "big"
	put(t, o, big, v)
	for i, w := range []struct {
		off int64
		n   int
	}{{5<<20 - 3, 10}, {0, 7}, {n - 4, 4}, {8<<20 - 1, 3 << 20}, {3 << 20, 6 << 20}, {n - 2, 9}} {
		b := genBytes(uint64(100+i), int64(w.n))
		write(big, w.off, b)
		if end := int(w.off) + w.n; end > len(v) {
			v = append(v, make([]byte, end-len(v))...)
		}
		copy(v[w.off:], b)
		got := readAll(t, o, big, 0, -1)
		require.Equal(t, len(v), len(got), "length after write %d", i)
		require.True(t, bytes.Equal(v, got), "bytes after write %d at %d (+%d)", i, w.off, w.n)
	}
	// A hole several MiB long (whole data objects or parts never written).
	hole := p + "hole"
	put(t, o, hole, []byte("abc"))
	write(hole, 9<<20, []byte("end"))
	want := append(append([]byte("abc"), make([]byte, 9<<20-3)...), "end"...)
	assert.True(t, bytes.Equal(want, readAll(t, o, hole, 0, -1)), "a long hole reads as zeros")
	assert.Equal(t, make([]byte, 10), readAll(t, o, hole, 5<<20-5, 10))

	err := o.WriteAt(ctx, p+"missing", 0, bytes.NewReader([]byte("x")), 1)
	assert.ErrorIs(t, err, storagebackends.ErrNotFound, "WriteAt needs an existing key")
	err = o.WriteAt(ctx, key, -1, bytes.NewReader([]byte("x")), 1)
	assert.ErrorIs(t, err, storagebackends.ErrInvalid, "negative offset")
}

// putRange stages a range write of b at off from src into a fresh key
// and returns that key.
func putRange(t *testing.T, o storagebackends.Objects, src string, off int64, b []byte) string {
	t.Helper()
	dst := src + fmt.Sprintf("+%d.%d", off, len(b))
	require.NoError(t, o.PutRange(ctxT(t), dst, src, off, bytes.NewReader(b), int64(len(b))), "put range %q at %d", src, off)
	return dst
}

func testPutRange(t *testing.T, o storagebackends.Objects) {
	p := Prefix()
	cleanupKeys(t, o, p)
	// Small value: inside, at the end (extends), past the end (hole), and
	// empty ranges (a copy; past the end, an extension).
	key := p + "small"
	put(t, o, key, []byte("0123456789"))
	for _, c := range []struct {
		off  int64
		b    string
		want string
	}{
		{2, "ab", "01ab456789"},
		{8, "XYZ", "01234567XYZ"},
		{14, "!", "0123456789\x00\x00\x00\x00!"},
		{0, "", "0123456789"},
		{12, "", "0123456789\x00\x00"},
	} {
		dst := putRange(t, o, key, c.off, []byte(c.b))
		assert.Equal(t, []byte(c.want), readAll(t, o, dst, 0, -1), "%q at %d", c.b, c.off)
	}
	assert.Equal(t, []byte("0123456789"), readAll(t, o, key, 0, -1), "the source never changes")
	empty := p + "empty"
	put(t, o, empty, nil)
	assert.Empty(t, readAll(t, o, putRange(t, o, empty, 0, nil), 0, -1), "an empty range of an empty value")

	// Larger value, writes near and across 5/8 MiB boundaries, where an
	// object store composes parts; each builds on the one before.
	const n = 12<<20 + 17
	v := genBytes(2, n)
	src := p + "big"
	put(t, o, src, v)
	for i, w := range []struct {
		off int64
		n   int
	}{{5<<20 - 3, 10}, {0, 7}, {n - 4, 4}, {8<<20 - 1, 3 << 20}, {3 << 20, 6 << 20}, {n - 2, 9}} {
		b := genBytes(uint64(100+i), int64(w.n))
		dst := putRange(t, o, src, w.off, b)
		if end := int(w.off) + w.n; end > len(v) {
			v = append(v, make([]byte, end-len(v))...)
		}
		copy(v[w.off:], b)
		got := readAll(t, o, dst, 0, -1)
		require.Equal(t, len(v), len(got), "length after write %d", i)
		require.True(t, bytes.Equal(v, got), "bytes after write %d at %d (+%d)", i, w.off, w.n)
		src = dst
	}
	// A hole several MiB long (whole data objects or parts never written).
	hole := p + "hole"
	put(t, o, hole, []byte("abc"))
	dst := putRange(t, o, hole, 9<<20, []byte("end"))
	want := append(append([]byte("abc"), make([]byte, 9<<20-3)...), "end"...)
	assert.True(t, bytes.Equal(want, readAll(t, o, dst, 0, -1)), "a long hole reads as zeros")
	assert.Equal(t, make([]byte, 10), readAll(t, o, dst, 5<<20-5, 10))

	ctx := ctxT(t)
	err := o.PutRange(ctx, p+"x", p+"missing", 0, bytes.NewReader([]byte("x")), 1)
	assert.ErrorIs(t, err, storagebackends.ErrNotFound, "PutRange needs an existing source")
	err = o.PutRange(ctx, p+"x", key, -1, bytes.NewReader([]byte("x")), 1)
	assert.ErrorIs(t, err, storagebackends.ErrInvalid, "negative offset")
	err = o.PutRange(ctx, key, key, 0, bytes.NewReader([]byte("x")), 1)
	assert.ErrorIs(t, err, storagebackends.ErrInvalid, "the staged value needs a key of its own")
}

// A range write whose new bytes stop early (fewer than declared, or the
// client gone) leaves no staged value and the source as it was: issue 12
// item 3, all or nothing.
func testPutRangeFails(t *testing.T, o storagebackends.Objects) {
	p := Prefix()
	cleanupKeys(t, o, p)
	ctx := ctxT(t)
	for _, size := range []int64{100, 9<<20 + 5} {
		src := p + fmt.Sprint("src", size)
		v := genBytes(7, size)
		put(t, o, src, v)
		for name, r := range map[string]io.Reader{
			"short": Gen(8, 40),
			"cut":   failAfter(40),
			// More than a part or a data object before the cut.
			"cut late": failAfter(6 << 20),
		} {
			dst := p + "dst-" + strings.ReplaceAll(name, " ", "") + fmt.Sprint(size)
			err := o.PutRange(ctx, dst, src, 10, r, 7<<20)
			require.Error(t, err, "%s into %d bytes", name, size)
			if name == "short" {
				assert.ErrorIs(t, err, storagebackends.ErrInvalid, "%s: fewer bytes than declared", name)
			}
			_, err = o.Size(ctx, dst)
			assert.ErrorIs(t, err, storagebackends.ErrNotFound, "%s into %d bytes: nothing staged", name, size)
			assert.True(t, bytes.Equal(v, readAll(t, o, src, 0, -1)), "%s into %d bytes: the source unchanged", name, size)
		}
	}
}

func testOverwrite(t *testing.T, o storagebackends.Objects) {
	p := Prefix()
	cleanupKeys(t, o, p)
	key := p + "o"
	put(t, o, key, genBytes(3, 5000))
	put(t, o, key, []byte("short"))
	assert.Equal(t, []byte("short"), readAll(t, o, key, 0, -1))
	n, err := o.Size(ctxT(t), key)
	require.NoError(t, err)
	assert.Equal(t, int64(5), n)
}

func testFailedPut(t *testing.T, o storagebackends.Objects) {
	p := Prefix()
	cleanupKeys(t, o, p)
	key := p + "f"
	old := []byte("the previous value")
	put(t, o, key, old)
	// Failing early (inside one part) and late (after several parts of a
	// multipart upload have gone out).
	for _, n := range []int64{0, 100 << 10, 19 << 20} {
		err := o.Put(ctxT(t), key, failAfter(n), -1)
		require.Error(t, err, "a put whose reader fails after %d bytes", n)
		assert.Equal(t, old, readAll(t, o, key, 0, -1), "value after a put failing at %d bytes", n)
		err = o.Put(ctxT(t), key, failAfter(n), n+100)
		require.Error(t, err)
		assert.Equal(t, old, readAll(t, o, key, 0, -1), "value after a sized put failing at %d bytes", n)
	}
	fresh := p + "fresh"
	require.Error(t, o.Put(ctxT(t), fresh, failAfter(1000), -1))
	_, err := o.Size(ctxT(t), fresh)
	assert.ErrorIs(t, err, storagebackends.ErrNotFound, "a failed put of a new key leaves nothing")
	// A cancelled context is a failure too.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.Error(t, o.Put(ctx, key, Gen(5, 1<<20), -1))
	assert.Equal(t, old, readAll(t, o, key, 0, -1))
}

func testDelete(t *testing.T, o storagebackends.Objects) {
	p := Prefix()
	cleanupKeys(t, o, p)
	key := p + "d"
	put(t, o, key, []byte("x"))
	require.NoError(t, o.Delete(ctxT(t), key))
	_, err := o.Open(ctxT(t), key, 0, -1)
	assert.ErrorIs(t, err, storagebackends.ErrNotFound)
	_, err = o.Size(ctxT(t), key)
	assert.ErrorIs(t, err, storagebackends.ErrNotFound)
	assert.ErrorIs(t, o.Delete(ctxT(t), key), storagebackends.ErrNotFound, "deleting a deleted key")
	assert.ErrorIs(t, o.Delete(ctxT(t), p+"never"), storagebackends.ErrNotFound, "deleting a key never written")
}

func testCopy(t *testing.T, o storagebackends.Objects) {
	p := Prefix()
	cleanupKeys(t, o, p)
	src, dst := p+"src", p+"dst"
	v := genBytes(4, 6<<20+5)
	put(t, o, src, v)
	require.NoError(t, o.Copy(ctxT(t), dst, src))
	put(t, o, src, []byte("changed"))
	assert.True(t, bytes.Equal(v, readAll(t, o, dst, 0, -1)), "the copy keeps the bytes of the source at copy time")
	put(t, o, p+"small", []byte("tiny"))
	require.NoError(t, o.Copy(ctxT(t), dst, p+"small"), "copy over an existing key")
	assert.Equal(t, []byte("tiny"), readAll(t, o, dst, 0, -1))
	assert.ErrorIs(t, o.Copy(ctxT(t), p+"x", p+"missing"), storagebackends.ErrNotFound)
}

func testList(t *testing.T, o storagebackends.Objects) {
	p := Prefix()
	cleanupKeys(t, o, p)
	want := map[string]int64{p + "a/1": 1, p + "a/2": 22, p + "a/3/x y%": 0}
	for k, n := range want {
		put(t, o, k, genBytes(5, n))
	}
	put(t, o, p+"b", []byte("other"))
	got := map[string]int64{}
	require.NoError(t, o.List(ctxT(t), p+"a/", func(k string, n int64) error { got[k] = n; return nil }))
	assert.Equal(t, want, got)
	stop := errors.New("stop")
	calls := 0
	err := o.List(ctxT(t), p, func(string, int64) error { calls++; return stop })
	assert.ErrorIs(t, err, stop, "List returns fn's error")
	assert.Equal(t, 1, calls, "List stops at fn's error")
}

func testConcurrent(t *testing.T, o storagebackends.Objects) {
	p := Prefix()
	cleanupKeys(t, o, p)
	const writers = 8
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = o.Put(ctxT(t), fmt.Sprintf("%sc%d", p, i), Gen(uint64(200+i), int64(64<<10+i)), -1)
		}()
	}
	wg.Wait()
	for i := range writers {
		require.NoError(t, errs[i])
		want := genBytes(uint64(200+i), int64(64<<10+i))
		assert.True(t, bytes.Equal(want, readAll(t, o, fmt.Sprintf("%sc%d", p, i), 0, -1)), "value of writer %d", i)
	}
}

// testSameKey races writers on one key: the value ends up exactly one of
// theirs, never a mix (each Put is atomic).
func testSameKey(t *testing.T, o storagebackends.Objects) {
	p := Prefix()
	cleanupKeys(t, o, p)
	key := p + "same"
	const writers = 4
	const n = 6<<20 + 3 // more than one part or data object each
	var wg sync.WaitGroup
	errs := make([]error, writers)
	want := map[string]int{}
	for i := range writers {
		h, _, _ := hashOf(Gen(uint64(500+i), n))
		want[h] = i
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = o.Put(ctxT(t), key, Gen(uint64(500+i), n), n)
		}()
	}
	wg.Wait()
	ok := 0
	for i := range writers {
		if errs[i] == nil {
			ok++
		} else {
			// Losing a race may be reported; it must say the store was busy.
			assert.ErrorIs(t, errs[i], storagebackends.ErrUnavailable, "writer %d", i)
		}
	}
	require.Positive(t, ok, "at least one writer succeeds")
	rc, err := o.Open(ctxT(t), key, 0, -1)
	require.NoError(t, err)
	h, m, err := hashOf(rc)
	rc.Close()
	require.NoError(t, err)
	assert.Equal(t, int64(n), m)
	_, found := want[h]
	assert.True(t, found, "the value is one writer's bytes, not a mix")
}

// testOddKeys round-trips keys with characters that URLs, file names and
// object stores treat specially; keys are opaque to the contract.
func testOddKeys(t *testing.T, o storagebackends.Objects) {
	p := Prefix()
	cleanupKeys(t, o, p)
	keys := []string{"a b", "ü/ß/名前", "q?x=1#frag", "100%25", "a+b&c;d=e", "..", "../escape", "/lead", "trail/", "a//b", "@snap", "tab\there"}
	for i, k := range keys {
		put(t, o, p+k, []byte(fmt.Sprint(i)))
	}
	for i, k := range keys {
		assert.Equal(t, []byte(fmt.Sprint(i)), readAll(t, o, p+k, 0, -1), "key %q", k)
	}
	got := map[string]bool{}
	require.NoError(t, o.List(ctxT(t), p, func(k string, _ int64) error { got[k] = true; return nil }))
	for _, k := range keys {
		assert.True(t, got[p+k], "List gives back key %q", k)
	}
	require.NoError(t, o.Copy(ctxT(t), p+"copy of ?#%", p+keys[1]))
	assert.Equal(t, []byte("1"), readAll(t, o, p+"copy of ?#%", 0, -1))
	require.NoError(t, o.Copy(ctxT(t), p+keys[0], p+keys[0]), "a copy onto itself")
	assert.Equal(t, []byte("0"), readAll(t, o, p+keys[0], 0, -1))
	for _, k := range keys {
		require.NoError(t, o.Delete(ctxT(t), p+k), "delete %q", k)
	}
}
