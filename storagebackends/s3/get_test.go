package s3_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/storagebackends"
	"github.com/occicdmi/occicdmi/storagebackends/s3"
	"github.com/occicdmi/occicdmi/storagebackends/storagetest"
)

// The contract with reads split into parts of an odd size, so that every
// range of the suite crosses part boundaries.
func TestObjectsSmallParts(t *testing.T) {
	storagetest.RunObjects(t, func(t *testing.T) storagebackends.Objects {
		return s3.WithGetParts(open(t).Objects(), 1<<20+3, 3)
	})
}

func smallParts(t *testing.T) (*s3.Objects, string, []byte) {
	o := s3.WithGetParts(open(t).Objects(), 64<<10, 2)
	key := storagetest.Prefix() + "parts"
	want, err := io.ReadAll(storagetest.Gen(3, 40*64<<10+5))
	require.NoError(t, err)
	require.NoError(t, o.Put(context.Background(), key, bytes.NewReader(want), int64(len(want))))
	t.Cleanup(func() { _ = o.Delete(context.Background(), key) })
	return o, key, want
}

// A value replaced while a read of many parts is under way fails the read
// (ErrUnavailable) rather than handing on bytes of two versions: what came
// before the failure is the old value's.
func TestReadFailsWhenReplacedMidway(t *testing.T) {
	o, key, old := smallParts(t)
	ctx := context.Background()
	rc, err := o.Open(ctx, key, 0, -1)
	require.NoError(t, err)
	defer rc.Close()
	got := make([]byte, 64<<10)
	_, err = io.ReadFull(rc, got)
	require.NoError(t, err)
	require.NoError(t, o.Put(ctx, key, storagetest.Gen(4, int64(len(old))), int64(len(old))))
	rest, err := io.ReadAll(rc)
	require.Error(t, err, "at most 2 parts were asked for before the replace, of 41")
	assert.True(t, errors.Is(err, storagebackends.ErrUnavailable), "%v", err)
	assert.Contains(t, err.Error(), "replaced while being read")
	got = append(got, rest...)
	assert.Equal(t, old[:len(got)], got, "only the old value's bytes, in order")
}

// Ranges across parts read exactly their bytes, and a read closed midway
// or whose context ends stops with an error, not with a short success.
func TestPartedRangesAndCancellation(t *testing.T) {
	o, key, want := smallParts(t)
	for _, r := range []struct{ off, n int64 }{{0, -1}, {1, 64 << 10}, {64<<10 - 1, 2}, {100, 5 * 64 << 10}, {int64(len(want)) - 7, -1}, {3 << 10, int64(len(want))}} {
		rc, err := o.Open(context.Background(), key, r.off, r.n)
		require.NoError(t, err)
		got, err := io.ReadAll(rc)
		rc.Close()
		require.NoError(t, err, "%+v", r)
		end := int64(len(want))
		if r.n >= 0 {
			end = min(end, r.off+r.n)
		}
		assert.True(t, bytes.Equal(want[r.off:end], got), "%+v: %d bytes", r, len(got))
	}

	ctx, cancel := context.WithCancel(context.Background())
	rc, err := o.Open(ctx, key, 0, -1)
	require.NoError(t, err)
	_, err = io.ReadFull(rc, make([]byte, 100<<10))
	require.NoError(t, err)
	cancel()
	_, err = io.ReadAll(rc)
	assert.Error(t, err)
	require.NoError(t, rc.Close())

	rc, err = o.Open(context.Background(), key, 0, -1)
	require.NoError(t, err)
	_, err = io.ReadFull(rc, make([]byte, 100<<10))
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	_, err = rc.Read(make([]byte, 10))
	assert.Error(t, err, "a read after Close")
}
