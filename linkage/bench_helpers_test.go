package linkage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/occicdmi/occicdmi/linkage/nbd"
	"github.com/occicdmi/occicdmi/storagebackends"
	"github.com/occicdmi/occicdmi/storagebackends/storagetest"
)

const (
	// benchSize is the volume every benchmark writes and reads whole.
	benchSize = 256 << 20
	// benchChunk is the request size on both sides: nbdcopy's
	// --request-size, the direct paths' chunk, and S3's chunk object size
	// (s3.ChunkSize), so that no side pays partial-chunk rewrites.
	benchChunk = 4 << 20
	// benchParallel is how many chunks the direct network paths (S3 SDK,
	// go-ceph) keep in flight, the S3 backend's own parallelism.
	benchParallel = 8
)

// benchBackend is one volume backend under benchmark. open makes a fresh
// benchSize volume (skipping when the service is not configured) and the
// direct paths measured beside NBD.
type benchBackend struct {
	name string
	open func(b *testing.B) (storagebackends.Volumes, string, []directPath)
}

// directPath reads or writes the whole volume without NBD. write gets
// the bytes to write; read fills buf (benchChunk bytes) chunk by chunk.
// fillsVolume tells whether write writes the volume itself (rather than a
// scratch object or image beside it).
type directPath struct {
	name        string
	fillsVolume bool
	write       func(ctx context.Context, data []byte) error
	read        func(ctx context.Context) error
}

// benchBackends are the backends measured: fs and S3 here, RBD added by
// bench_rbd_test.go under the ceph build tag.
var benchBackends = []benchBackend{
	{name: "fs", open: openFSBench},
	{name: "s3", open: openS3Bench},
}

var (
	benchDataMu sync.Mutex
	benchDatas  = map[uint64][]byte{}
)

// benchData is benchSize pseudo-random bytes from seed (incompressible,
// no zero runs for a client to skip), made once per seed.
func benchData(b *testing.B, seed uint64) []byte {
	benchDataMu.Lock()
	defer benchDataMu.Unlock()
	if d, ok := benchDatas[seed]; ok {
		return d
	}
	d := make([]byte, benchSize)
	_, err := io.ReadFull(storagetest.Gen(seed, benchSize), d)
	require.NoError(b, err)
	benchDatas[seed] = d
	return d
}

// reportMBs reports the throughput of the loop just ended, both as go
// test's own MB/s column (SetBytes) and as a named metric.
func reportMBs(b *testing.B) {
	if s := b.Elapsed().Seconds(); s > 0 && b.N > 0 {
		b.ReportMetric(float64(benchSize)*float64(b.N)/1e6/s, "MB/s")
	}
}

// serveNBD serves the volume as export "vol" with the linkage's own
// pieces (nbd.Server, a Unix socket, volumeDevice) and returns its URI.
func serveNBD(b *testing.B, vols storagebackends.Volumes, name string) string {
	b.Helper()
	s := nbd.NewServer(nbd.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(b, s.Add("vol", volumeDevice{vols: vols, name: name}, false))
	sock := filepath.Join(b.TempDir(), "sock")
	ln, err := nbd.ListenUnix(sock)
	require.NoError(b, err)
	go func() { _ = s.Serve(ln) }()
	b.Cleanup(func() { _ = s.Close() })
	return "nbd+unix:///vol?socket=" + sock
}

// nbdTool is a host-side NBD client: in copies a file into the export,
// out copies the export out to a sink (a file, or nothing when sink is "").
type nbdTool struct {
	name, pkg string
	in        func(src, uri string) []string
	out       func(uri, sink string) []string
}

var nbdTools = []nbdTool{
	{
		// Its defaults otherwise: up to 4 connections (the server
		// advertises multi-conn), requests in flight up to a 16 MiB queue
		// per connection.
		name: "nbdcopy", pkg: "libnbd-bin",
		in: func(src, uri string) []string {
			return []string{"--no-extents", fmt.Sprintf("--request-size=%d", benchChunk), src, uri}
		},
		out: func(uri, sink string) []string {
			if sink == "" {
				sink = "null:"
			}
			return []string{"--no-extents", fmt.Sprintf("--request-size=%d", benchChunk), uri, sink}
		},
	},
	{
		// Its defaults: one connection, 8 coroutines, 2 MiB requests.
		name: "qemu-img", pkg: "qemu-utils",
		in: func(src, uri string) []string {
			return []string{"convert", "-n", "-f", "raw", "-O", "raw", src, uri}
		},
		out: func(uri, sink string) []string {
			if sink == "" {
				return []string{"convert", "-n", "-f", "raw", "--target-image-opts", uri,
					fmt.Sprintf("driver=null-co,size=%d", benchSize)}
			}
			return []string{"convert", "-f", "raw", "-O", "raw", uri, sink}
		},
	},
}

func runTool(b *testing.B, tool string, args []string) {
	b.Helper()
	if out, err := exec.Command(tool, args...).CombinedOutput(); err != nil {
		b.Fatalf("%s %q: %v\n%s", tool, args, err, out)
	}
}

// checkVolume copies the export out to a file with nbdcopy and compares
// it with want.
func checkVolume(b *testing.B, uri string, want []byte) {
	b.Helper()
	out := filepath.Join(b.TempDir(), "out.img")
	runTool(b, "nbdcopy", nbdTools[0].out(uri, out))
	got, err := os.ReadFile(out)
	require.NoError(b, err)
	if !bytes.Equal(got, want) {
		b.Fatalf("the volume read back over NBD differs from what was written: %d bytes, sha256 %x, want %d bytes, sha256 %x",
			len(got), sha256.Sum256(got), len(want), sha256.Sum256(want))
	}
	_ = os.Remove(out)
}

// fillVolume writes data into the volume through the contract, untimed,
// for read benchmarks run without their write benchmark.
func fillVolume(b *testing.B, vols storagebackends.Volumes, name string, data []byte) {
	b.Helper()
	ctx := context.Background()
	require.NoError(b, inParallel(ctx, benchParallel, func(ctx context.Context, off int64) error {
		_, err := vols.WriteAt(ctx, name, data[off:off+benchChunk], off)
		return err
	}))
}

// inParallel calls fn for every chunk offset of the volume, par at a time.
func inParallel(ctx context.Context, par int, fn func(ctx context.Context, off int64) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(par)
	for off := int64(0); off < benchSize; off += benchChunk {
		g.Go(func() error { return fn(ctx, off) })
	}
	return g.Wait()
}

// inSequence calls fn for every chunk offset of the volume, in order.
func inSequence(ctx context.Context, fn func(ctx context.Context, off int64) error) error {
	for off := int64(0); off < benchSize; off += benchChunk {
		if err := fn(ctx, off); err != nil {
			return err
		}
	}
	return nil
}

// contractPath is the Volumes contract itself, benchChunk at a time, one
// request at a time: the backend as the linkage calls it, without NBD.
func contractPath(vols storagebackends.Volumes, name string) directPath {
	buf := make([]byte, benchChunk)
	return directPath{
		name: "volumes", fillsVolume: true,
		write: func(ctx context.Context, data []byte) error {
			return inSequence(ctx, func(ctx context.Context, off int64) error {
				_, err := vols.WriteAt(ctx, name, data[off:off+benchChunk], off)
				return err
			})
		},
		read: func(ctx context.Context) error {
			return inSequence(ctx, func(ctx context.Context, off int64) error {
				n, err := vols.ReadAt(ctx, name, buf, off)
				if err != nil && !(err == io.EOF && n == len(buf)) {
					return err
				}
				return nil
			})
		},
	}
}
