//go:build ceph

package linkage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/ceph/go-ceph/rados"
	cephrbd "github.com/ceph/go-ceph/rbd"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/storagebackends"
	"github.com/occicdmi/occicdmi/storagebackends/rbd"
	"github.com/occicdmi/occicdmi/storagebackends/storagetest"
)

// RBD volumes join the benchmarks of bench_test.go in the Ceph build.
func init() {
	benchBackends = append(benchBackends, benchBackend{name: "rbd", open: openRBDBench})
}

// openRBDBench makes an RBD volume in the cluster of CEPH_CONF (as
// storagebackends/rbd's tests reach it) and, for the go-ceph baseline, a
// scratch image of the same size beside it: go-ceph writes there, so that
// its handle never contends with the backend's for the volume's exclusive
// lock; it reads the volume's own image (read-only handles take no lock).
func openRBDBench(b *testing.B) (storagebackends.Volumes, string, []directPath) {
	conf := os.Getenv("CEPH_CONF")
	storagetest.NeedService(b, "a Ceph cluster (CEPH_CONF)", conf != "")
	ctx := context.Background()
	c, err := rbd.Connect(ctx, storagebackends.Options{CephConf: conf, CephPool: os.Getenv("OCCICDMI_CEPH_POOL")})
	require.NoError(b, err)
	b.Cleanup(c.Close)
	vols, err := c.Volumes()
	require.NoError(b, err)
	name := storagetest.Prefix() + "bench"
	require.NoError(b, vols.CreateVolume(ctx, name, benchSize))
	b.Cleanup(func() { _ = vols.DeleteVolume(context.Background(), name) })
	acc, err := vols.Access(ctx, name)
	require.NoError(b, err)

	conn, err := rados.NewConn()
	require.NoError(b, err)
	require.NoError(b, conn.ReadConfigFile(conf))
	require.NoError(b, conn.Connect())
	b.Cleanup(conn.Shutdown)
	ioctx, err := conn.OpenIOContext(acc.Pool)
	require.NoError(b, err)
	b.Cleanup(ioctx.Destroy)
	scratch := "direct-" + acc.Image
	_, err = cephrbd.Create(ioctx, scratch, benchSize, 22, cephrbd.FeatureLayering)
	require.NoError(b, err)
	b.Cleanup(func() { _ = cephrbd.RemoveImage(ioctx, scratch) })

	goceph := directPath{
		name: "go-ceph",
		write: func(ctx context.Context, data []byte) error {
			img, err := cephrbd.OpenImage(ioctx, scratch, cephrbd.NoSnapshot)
			if err != nil {
				return fmt.Errorf("open %s: %w", scratch, err)
			}
			defer img.Close()
			if err := inParallel(ctx, benchParallel, func(_ context.Context, off int64) error {
				_, err := img.WriteAt(data[off:off+benchChunk], off)
				return err
			}); err != nil {
				return err
			}
			return img.Flush()
		},
		read: func(ctx context.Context) error {
			img, err := cephrbd.OpenImageReadOnly(ioctx, acc.Image, cephrbd.NoSnapshot)
			if err != nil {
				return fmt.Errorf("open %s: %w", acc.Image, err)
			}
			defer img.Close()
			bufs := make(chan []byte, benchParallel)
			for range benchParallel {
				bufs <- make([]byte, benchChunk)
			}
			return inParallel(ctx, benchParallel, func(_ context.Context, off int64) error {
				buf := <-bufs
				defer func() { bufs <- buf }()
				n, err := img.ReadAt(buf, off)
				if errors.Is(err, io.EOF) && n == benchChunk {
					err = nil // the volume's last chunk
				}
				if err == nil && n != benchChunk {
					err = fmt.Errorf("read %s at %d: %d bytes, want %d", acc.Image, off, n, benchChunk)
				}
				return err
			})
		},
	}
	return vols, name, []directPath{goceph}
}
