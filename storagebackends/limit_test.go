package storagebackends_test

import (
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/internal/kind"
	"github.com/occicdmi/occicdmi/storagebackends"
)

// asked records the sizes a backend was asked for.
type asked struct {
	storagebackends.Volumes
	sizes []int64
}

func (a *asked) CreateVolume(_ context.Context, _ string, size int64) error {
	a.sizes = append(a.sizes, size)
	return nil
}

func (a *asked) ResizeVolume(_ context.Context, _ string, size int64) error {
	a.sizes = append(a.sizes, size)
	return nil
}

func (a *asked) CreateFromImage(_ context.Context, _ string, _ io.Reader, size int64) error {
	a.sizes = append(a.sizes, size)
	return nil
}

// A volume past the configured maximum is refused (Invalid, naming the
// limit) before the backend is asked; one at the maximum passes.
func TestLimitVolumes(t *testing.T) {
	b := &asked{}
	v := storagebackends.LimitVolumes(b, 4<<40)
	ctx := t.Context()
	for _, err := range []error{
		v.CreateVolume(ctx, "a", 100000<<30),
		v.ResizeVolume(ctx, "a", 1000000<<30),
		v.CreateFromImage(ctx, "a", nil, 5<<40),
	} {
		require.Error(t, err)
		assert.Equal(t, kind.Invalid, kind.Of(err))
		assert.Contains(t, err.Error(), "4 TiB; --max-volume-size")
	}
	require.NoError(t, v.CreateVolume(ctx, "a", 4<<40))
	require.NoError(t, v.ResizeVolume(ctx, "a", 1<<30))
	assert.Equal(t, []int64{4 << 40, 1 << 30}, b.sizes, "refused sizes never reach the backend")
	assert.Same(t, storagebackends.Volumes(b), storagebackends.LimitVolumes(b, 0), "0 is no limit")
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1048576": 1 << 20, "512MiB": 512 << 20, "64GiB": 64 << 30, "4 TiB": 4 << 40, "1PiB": 1 << 50, "10B": 10} {
		got, err := storagebackends.ParseSize(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "-1", "4TB", "1.5GiB", "99999999999999999999", "9000000PiB", "GiB"} {
		_, err := storagebackends.ParseSize(bad)
		assert.Error(t, err, bad)
	}
	assert.Equal(t, "4 TiB", storagebackends.HumanSize(4<<40))
	assert.Equal(t, "1536 MiB", storagebackends.HumanSize(1536<<20))
	assert.Equal(t, "10 bytes", storagebackends.HumanSize(10))
}
