//go:build ceph

package rbd_test

import (
	"context"
	"os"
	"testing"

	"github.com/ceph/go-ceph/rados"
	"github.com/ceph/go-ceph/rbd"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/storagebackends/storagetest"
)

const benchSize = 128 << 20

// BenchmarkSequential writes then reads 128 MiB of a volume in blocks
// through the contract and, in the same run, through go-ceph directly with
// one open image (the baseline); compare the pairs' MB/s.
func BenchmarkSequential(b *testing.B) {
	c := connect(b)
	v, err := c.Volumes()
	require.NoError(b, err)
	ctx := context.Background()
	name := storagetest.Prefix() + "bench"
	require.NoError(b, v.CreateVolume(ctx, name, benchSize))
	b.Cleanup(func() { _ = v.DeleteVolume(ctx, name) })

	conn, err := rados.NewConn()
	require.NoError(b, err)
	require.NoError(b, conn.ReadConfigFile(os.Getenv("CEPH_CONF")))
	require.NoError(b, conn.Connect())
	b.Cleanup(conn.Shutdown)
	ioctx, err := conn.OpenIOContext("rbd")
	require.NoError(b, err)
	raw := "direct-" + name
	_, err = rbd.Create(ioctx, raw, benchSize, 22, rbd.FeatureLayering)
	require.NoError(b, err)
	b.Cleanup(func() { _ = rbd.RemoveImage(ioctx, raw) })

	for _, bs := range []int{4 << 20, 64 << 10} {
		buf := make([]byte, bs)
		_, _ = storagetest.Gen(3, int64(bs)).Read(buf)
		label := "4MiB"
		if bs == 64<<10 {
			label = "64KiB"
		}
		b.Run("Write/"+label+"/backend", func(b *testing.B) {
			b.SetBytes(benchSize)
			for b.Loop() {
				for off := int64(0); off < benchSize; off += int64(bs) {
					_, err := v.WriteAt(ctx, name, buf, off)
					require.NoError(b, err)
				}
			}
		})
		b.Run("Write/"+label+"/go-ceph", func(b *testing.B) {
			b.SetBytes(benchSize)
			img, err := rbd.OpenImage(ioctx, raw, rbd.NoSnapshot)
			require.NoError(b, err)
			defer img.Close()
			for b.Loop() {
				for off := int64(0); off < benchSize; off += int64(bs) {
					_, err := img.WriteAt(buf, off)
					require.NoError(b, err)
				}
				require.NoError(b, img.Flush())
			}
		})
		// The contract's WriteAt is durable on return (it flushes librbd's
		// cache); this baseline pays the same.
		b.Run("Write/"+label+"/go-ceph-flush-each", func(b *testing.B) {
			b.SetBytes(benchSize)
			img, err := rbd.OpenImage(ioctx, raw, rbd.NoSnapshot)
			require.NoError(b, err)
			defer img.Close()
			for b.Loop() {
				for off := int64(0); off < benchSize; off += int64(bs) {
					_, err := img.WriteAt(buf, off)
					require.NoError(b, err)
					require.NoError(b, img.Flush())
				}
			}
		})
		b.Run("Read/"+label+"/backend", func(b *testing.B) {
			b.SetBytes(benchSize)
			for b.Loop() {
				for off := int64(0); off < benchSize; off += int64(bs) {
					_, err := v.ReadAt(ctx, name, buf, off)
					require.NoError(b, err)
				}
			}
		})
		b.Run("Read/"+label+"/go-ceph", func(b *testing.B) {
			b.SetBytes(benchSize)
			img, err := rbd.OpenImageReadOnly(ioctx, raw, rbd.NoSnapshot)
			require.NoError(b, err)
			defer img.Close()
			for b.Loop() {
				for off := int64(0); off < benchSize; off += int64(bs) {
					_, err := img.ReadAt(buf, off)
					require.NoError(b, err)
				}
			}
		})
	}
}
