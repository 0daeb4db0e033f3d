package storagetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/storagebackends"
)

// volSize is deliberately not a multiple of 4 MiB (the chunk and object
// size of the block backends) so the last chunk is a short one.
const volSize = 9<<20 + 4096

// RunVolumes runs the block-volume conformance suite against the backend
// that open returns (called once per subtest).
func RunVolumes(t *testing.T, open func(t *testing.T) storagebackends.Volumes) {
	t.Run("CreateReadWrite", func(t *testing.T) { testVolumeIO(t, open(t)) })
	t.Run("Resize", func(t *testing.T) { testResize(t, open(t)) })
	t.Run("SnapshotClone", func(t *testing.T) { testSnapshotClone(t, open(t)) })
	t.Run("FromImage", func(t *testing.T) { testFromImage(t, open(t)) })
	t.Run("ConcurrentWrites", func(t *testing.T) { testVolumeConcurrent(t, open(t)) })
	t.Run("Errors", func(t *testing.T) { testVolumeErrors(t, open(t)) })
	t.Run("List", func(t *testing.T) { testListVolumes(t, open(t)) })
}

func newVolume(t *testing.T, v storagebackends.Volumes, name string, size int64) {
	t.Helper()
	require.NoError(t, v.CreateVolume(ctxT(t), name, size), "create %q", name)
	t.Cleanup(func() { deleteVolume(v, name) })
}

func deleteVolume(v storagebackends.Volumes, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = v.DeleteVolume(ctx, name)
}

func readVol(t *testing.T, v storagebackends.Volumes, name string, off int64, n int) []byte {
	t.Helper()
	p := make([]byte, n)
	got, err := v.ReadAt(ctxT(t), name, p, off)
	if err != io.EOF {
		require.NoError(t, err, "read %q at %d", name, off)
	}
	return p[:got]
}

func writeVol(t *testing.T, v storagebackends.Volumes, name string, off int64, b []byte) {
	t.Helper()
	n, err := v.WriteAt(ctxT(t), name, b, off)
	require.NoError(t, err, "write %q at %d", name, off)
	require.Equal(t, len(b), n)
}

func zeros(n int) []byte { return make([]byte, n) }

func testVolumeIO(t *testing.T, v storagebackends.Volumes) {
	name := Prefix() + "io"
	newVolume(t, v, name, volSize)
	n, err := v.VolumeSize(ctxT(t), name)
	require.NoError(t, err)
	assert.Equal(t, int64(volSize), n)
	assert.Equal(t, zeros(8192), readVol(t, v, name, 4<<20-4096, 8192), "a new volume reads as zeros")

	model := make([]byte, volSize)
	for i, w := range []struct {
		off int64
		n   int
	}{{0, 512}, {4<<20 - 10, 20}, {volSize - 7, 7}, {1 << 20, 5 << 20}, {8<<20 + 1, 100}} {
		b := genBytes(uint64(300+i), int64(w.n))
		writeVol(t, v, name, w.off, b)
		copy(model[w.off:], b)
	}
	for _, r := range []struct {
		off int64
		n   int
	}{{0, 4096}, {4<<20 - 100, 200}, {volSize - 4096, 4096}, {0, volSize}} {
		assert.True(t, bytes.Equal(model[r.off:r.off+int64(r.n)], readVol(t, v, name, r.off, r.n)), "read %d+%d", r.off, r.n)
	}
	// Reading across the end returns what exists and io.EOF.
	p := make([]byte, 100)
	got, err := v.ReadAt(ctxT(t), name, p, volSize-10)
	assert.Equal(t, 10, got)
	assert.ErrorIs(t, err, io.EOF)
	assert.Equal(t, model[volSize-10:], p[:10])
	// Writing across the end is refused and writes nothing.
	_, err = v.WriteAt(ctxT(t), name, []byte("0123456789"), volSize-5)
	assert.ErrorIs(t, err, storagebackends.ErrInvalid)
	assert.Equal(t, model[volSize-5:], readVol(t, v, name, volSize-5, 5))
	_, err = v.WriteAt(ctxT(t), name, []byte("x"), -1)
	assert.ErrorIs(t, err, storagebackends.ErrInvalid)
}

func testResize(t *testing.T, v storagebackends.Volumes) {
	name := Prefix() + "rs"
	newVolume(t, v, name, volSize)
	head := genBytes(10, 4096)
	tail := genBytes(11, 4096)
	writeVol(t, v, name, 0, head)
	writeVol(t, v, name, volSize-4096, tail)

	require.NoError(t, v.ResizeVolume(ctxT(t), name, 2*volSize))
	n, err := v.VolumeSize(ctxT(t), name)
	require.NoError(t, err)
	assert.Equal(t, int64(2*volSize), n)
	assert.Equal(t, head, readVol(t, v, name, 0, 4096), "growing keeps the bytes")
	assert.Equal(t, tail, readVol(t, v, name, volSize-4096, 4096))
	assert.Equal(t, zeros(8192), readVol(t, v, name, volSize, 8192), "the new space reads as zeros")
	writeVol(t, v, name, 2*volSize-3, []byte("end"))

	// Shrink below the old tail, then grow again: the dropped bytes must not
	// come back.
	require.NoError(t, v.ResizeVolume(ctxT(t), name, 5<<20+100))
	n, err = v.VolumeSize(ctxT(t), name)
	require.NoError(t, err)
	assert.Equal(t, int64(5<<20+100), n)
	assert.Equal(t, head, readVol(t, v, name, 0, 4096), "shrinking keeps the bytes below the new size")
	_, err = v.WriteAt(ctxT(t), name, []byte("x"), 5<<20+100)
	assert.ErrorIs(t, err, storagebackends.ErrInvalid, "write past the shrunk end")
	writeVol(t, v, name, 5<<20+99, []byte("z"))
	require.NoError(t, v.ResizeVolume(ctxT(t), name, 2*volSize))
	assert.Equal(t, []byte("z"), readVol(t, v, name, 5<<20+99, 1))
	assert.Equal(t, zeros(4096), readVol(t, v, name, volSize-4096, 4096), "bytes cut by a shrink read as zeros after growing")
	assert.Equal(t, zeros(3), readVol(t, v, name, 2*volSize-3, 3))
	assert.Equal(t, zeros(1000), readVol(t, v, name, 5<<20+100, 1000))

	assert.ErrorIs(t, v.ResizeVolume(ctxT(t), name, 0), storagebackends.ErrInvalid)
	assert.ErrorIs(t, v.ResizeVolume(ctxT(t), Prefix()+"missing", 1<<20), storagebackends.ErrNotFound)
}

func testSnapshotClone(t *testing.T, v storagebackends.Volumes) {
	p := Prefix()
	src, c1, c2 := p+"src", p+"clone1", p+"clone2"
	newVolume(t, v, src, volSize)
	t.Cleanup(func() { deleteVolume(v, c1); deleteVolume(v, c2) })
	a := genBytes(20, 6<<20)
	writeVol(t, v, src, 1000, a)
	require.NoError(t, v.Snapshot(ctxT(t), src, "s1"))
	b := genBytes(21, 4096)
	writeVol(t, v, src, 2<<20, b) // changes a chunk the snapshot holds

	assert.ErrorIs(t, v.Snapshot(ctxT(t), src, "s1"), storagebackends.ErrExists, "same snapshot name twice")
	require.NoError(t, v.Clone(ctxT(t), src, "s1", c1))
	n, err := v.VolumeSize(ctxT(t), c1)
	require.NoError(t, err)
	assert.Equal(t, int64(volSize), n)
	assert.True(t, bytes.Equal(a, readVol(t, v, c1, 1000, len(a))), "the clone holds the bytes at snapshot time")
	assert.Equal(t, zeros(1000), readVol(t, v, c1, 0, 1000))

	// The clone lives on its own: writes on either side do not cross.
	writeVol(t, v, c1, 0, []byte("clone"))
	assert.Equal(t, zeros(5), readVol(t, v, src, 0, 5))
	writeVol(t, v, src, 3<<20, []byte("source"))
	assert.Equal(t, a[3<<20-1000:3<<20-1000+6], readVol(t, v, c1, 3<<20, 6))
	require.NoError(t, v.ResizeVolume(ctxT(t), c1, 2*volSize), "a clone can grow")
	assert.Equal(t, zeros(4096), readVol(t, v, c1, volSize+100, 4096))

	assert.ErrorIs(t, v.Clone(ctxT(t), src, "s1", c1), storagebackends.ErrExists, "clone onto an existing volume")
	assert.ErrorIs(t, v.Clone(ctxT(t), src, "nope", c2), storagebackends.ErrNotFound, "clone of a missing snapshot")
	require.NoError(t, v.Snapshot(ctxT(t), src, "s2"))
	require.NoError(t, v.Clone(ctxT(t), src, "s2", c2))
	assert.Equal(t, b, readVol(t, v, c2, 2<<20, 4096))

	// Deleting the source (with its snapshots) leaves the clones readable.
	require.NoError(t, v.DeleteVolume(ctxT(t), src))
	_, err = v.VolumeSize(ctxT(t), src)
	assert.ErrorIs(t, err, storagebackends.ErrNotFound)
	assert.Equal(t, []byte("clone"), readVol(t, v, c1, 0, 5))
	assert.True(t, bytes.Equal(a[5:], readVol(t, v, c1, 1005, len(a)-5)))
	assert.Equal(t, []byte("source"), readVol(t, v, c2, 3<<20, 6))
	// A volume of the deleted one's name starts empty: no old snapshot
	// survives under it.
	newVolume(t, v, src, 1<<20)
	assert.ErrorIs(t, v.Clone(ctxT(t), src, "s1", p+"clone3"), storagebackends.ErrNotFound)
}

// errImage fails after some bytes, as a broken download would.
func testFromImage(t *testing.T, v storagebackends.Volumes) {
	p := Prefix()
	name := p + "img"
	img := genBytes(30, 5<<20+3)
	require.NoError(t, v.CreateFromImage(ctxT(t), name, bytes.NewReader(img), volSize))
	t.Cleanup(func() { deleteVolume(v, name) })
	n, err := v.VolumeSize(ctxT(t), name)
	require.NoError(t, err)
	assert.Equal(t, int64(volSize), n)
	assert.True(t, bytes.Equal(img, readVol(t, v, name, 0, len(img))))
	assert.Equal(t, zeros(4096), readVol(t, v, name, int64(len(img)), 4096), "past the image: zeros")
	assert.ErrorIs(t, v.CreateFromImage(ctxT(t), name, bytes.NewReader(img), volSize), storagebackends.ErrExists)

	big := p + "toobig"
	err = v.CreateFromImage(ctxT(t), big, bytes.NewReader(img), 1<<20)
	assert.ErrorIs(t, err, storagebackends.ErrInvalid, "an image larger than the volume")
	_, err = v.VolumeSize(ctxT(t), big)
	assert.ErrorIs(t, err, storagebackends.ErrNotFound, "a refused image leaves no volume")
	t.Cleanup(func() { deleteVolume(v, big) })

	broken := p + "broken"
	err = v.CreateFromImage(ctxT(t), broken, failAfter(5<<20), volSize)
	assert.Error(t, err)
	_, err = v.VolumeSize(ctxT(t), broken)
	assert.ErrorIs(t, err, storagebackends.ErrNotFound, "a failed image read leaves no volume")
	t.Cleanup(func() { deleteVolume(v, broken) })
}

func testVolumeConcurrent(t *testing.T, v storagebackends.Volumes) {
	name := Prefix() + "cc"
	newVolume(t, v, name, volSize)
	// Writers touch different 4 KiB blocks of the same 4 MiB chunk, so a
	// backend that rewrites whole chunks must not lose any of them.
	const writers = 8
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = v.WriteAt(ctxT(t), name, genBytes(uint64(400+i), 4096), 4<<20+int64(i)*8192)
		}()
	}
	wg.Wait()
	for i := range writers {
		require.NoError(t, errs[i])
		assert.Equal(t, genBytes(uint64(400+i), 4096), readVol(t, v, name, 4<<20+int64(i)*8192, 4096), "block of writer %d", i)
	}
}

func testVolumeErrors(t *testing.T, v storagebackends.Volumes) {
	p := Prefix()
	ctx := ctxT(t)
	name := p + "e"
	newVolume(t, v, name, 1<<20)
	assert.ErrorIs(t, v.CreateVolume(ctx, name, 1<<20), storagebackends.ErrExists)
	assert.ErrorIs(t, v.CreateVolume(ctx, p+"zero", 0), storagebackends.ErrInvalid)
	assert.ErrorIs(t, v.CreateVolume(ctx, "", 1<<20), storagebackends.ErrInvalid)
	missing := p + "missing"
	assert.ErrorIs(t, v.DeleteVolume(ctx, missing), storagebackends.ErrNotFound)
	_, err := v.VolumeSize(ctx, missing)
	assert.ErrorIs(t, err, storagebackends.ErrNotFound)
	_, err = v.ReadAt(ctx, missing, make([]byte, 1), 0)
	assert.ErrorIs(t, err, storagebackends.ErrNotFound)
	_, err = v.WriteAt(ctx, missing, []byte("x"), 0)
	assert.ErrorIs(t, err, storagebackends.ErrNotFound)
	assert.ErrorIs(t, v.Snapshot(ctx, missing, "s"), storagebackends.ErrNotFound)
	_, err = v.Access(ctx, missing)
	if !errors.Is(err, storagebackends.ErrUnsupported) {
		assert.ErrorIs(t, err, storagebackends.ErrNotFound)
	}
	acc, err := v.Access(ctx, name)
	if !errors.Is(err, storagebackends.ErrUnsupported) {
		require.NoError(t, err)
		assert.NotEmpty(t, acc.Type)
		assert.Equal(t, "raw", acc.Format)
	}
}

// testListVolumes: ListVolumes names every volume by the name it was made
// with (escaping undone), not its snapshots, not a deleted one, with a
// time of making; an error of fn stops the listing and is returned.
func testListVolumes(t *testing.T, v storagebackends.Volumes) {
	p := Prefix()
	before := time.Now().Add(-time.Hour) // backend clocks may differ a little from ours
	plain, odd, gone, clone := p+"plain", p+"a/b@c d%", p+"gone", p+"clone"
	newVolume(t, v, plain, 1<<20)
	newVolume(t, v, odd, 1<<20)
	newVolume(t, v, gone, 1<<20)
	require.NoError(t, v.Snapshot(ctxT(t), plain, "snap"))
	require.NoError(t, v.Clone(ctxT(t), plain, "snap", clone))
	t.Cleanup(func() { deleteVolume(v, clone) })
	require.NoError(t, v.DeleteVolume(ctxT(t), gone))

	seen := map[string]time.Time{}
	require.NoError(t, v.ListVolumes(ctxT(t), func(name string, made time.Time) error {
		if strings.HasPrefix(name, p) {
			seen[name] = made
		}
		return nil
	}))
	assert.ElementsMatch(t, []string{plain, odd, clone}, keysOf(seen), "the volumes made, by their names; no snapshot, no deleted volume")
	for name, made := range seen {
		assert.True(t, made.After(before) && made.Before(time.Now().Add(time.Hour)), "%q was made at %v, not near now", name, made)
	}

	stop := errors.New("stop")
	calls := 0
	err := v.ListVolumes(ctxT(t), func(string, time.Time) error { calls++; return stop })
	assert.ErrorIs(t, err, stop)
	assert.Equal(t, 1, calls, "the listing stops at fn's error")
}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
