package linkage

// Volumes served over NBD beside the same backends read and written
// directly, in one run (issue 9, item 7):
//
//	eval "$(scripts/testenv.sh env ceph)"   # S3 (radosgw) and Ceph; fs needs nothing
//	go test -run '^$' -bench . -benchtime 3x ./linkage/
//	go test -run '^$' -bench . -benchtime 3x -tags ceph,pacific ./linkage/   # and RBD
//
// Each iteration moves one 256 MiB volume whole, so MB/s (go test's
// column, from b.SetBytes and b.ReportMetric) compares directly:
//
//	BenchmarkNBD/<backend>/{write,read}/{nbdcopy,qemu-img}
//	    the volume served by the linkage's nbd.Server and volumeDevice on a
//	    Unix socket, copied in from a 256 MiB file (page cache) and out to
//	    nothing (nbdcopy's null:, qemu-img's null-co) by the host tools,
//	    each run timed as a whole (process start and NBD handshake
//	    included). Each write is checked once, byte for byte, by copying
//	    the volume back out with nbdcopy (untimed); the two tools write
//	    different bytes, so each check sees its own tool's write.
//	BenchmarkDirect/<backend>/{write,read}/<path>
//	    fs:  file    — os.File on the volume's own file (Access), 4 MiB at
//	                   a time, one fsync at the end of a write;
//	    s3:  sdk     — PutObject/GetObject of the 4 MiB chunk objects with
//	                   the AWS SDK, 8 in flight; reads GET the volume's own
//	                   chunks, writes PUT scratch chunks beside them;
//	    rbd: go-ceph — librbd's image WriteAt/ReadAt, 4 MiB, 8 in flight,
//	                   one flush at the end of a write; reads read the
//	                   volume's own image, writes a scratch image beside it;
//	    all: volumes — the storagebackends.Volumes contract the NBD device
//	                   calls (ReadAt/WriteAt, 4 MiB, one at a time; every
//	                   WriteAt is durable when it returns, as the device's
//	                   writes must be).
//
// S3 volumes are 4 MiB chunk objects: nbdcopy's requests are set to one
// chunk, while qemu-img's 2 MiB writes each rewrite half a chunk (a GET and
// a PUT of the whole chunk), which is what a guest's smaller writes cost.
//
// Without a configured service the backend's benchmarks skip (and fail
// under CI=true, as the backends' own tests do); without a tool, its
// benchmarks skip.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/storagebackends"
	"github.com/occicdmi/occicdmi/storagebackends/fs"
	"github.com/occicdmi/occicdmi/storagebackends/s3"
	"github.com/occicdmi/occicdmi/storagebackends/storagetest"
)

func BenchmarkNBD(b *testing.B) {
	// One source file per tool, with different bytes.
	srcDir := b.TempDir()
	srcs := make([]string, len(nbdTools))
	for i, tool := range nbdTools {
		srcs[i] = filepath.Join(srcDir, tool.name+".img")
		require.NoError(b, os.WriteFile(srcs[i], benchData(b, uint64(i+1)), 0o600))
	}
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) {
			vols, name, _ := be.open(b)
			uri := serveNBD(b, vols, name)
			filled := false
			for i, tool := range nbdTools {
				b.Run("write/"+tool.name, func(b *testing.B) {
					bin := needTool(b, tool)
					b.SetBytes(benchSize)
					for b.Loop() {
						runTool(b, bin, tool.in(srcs[i], uri))
					}
					reportMBs(b)
					checkVolume(b, uri, benchData(b, uint64(i+1)))
					filled = true
				})
			}
			for _, tool := range nbdTools {
				b.Run("read/"+tool.name, func(b *testing.B) {
					bin := needTool(b, tool)
					if !filled {
						fillVolume(b, vols, name, benchData(b, 1))
						filled = true
					}
					b.SetBytes(benchSize)
					for b.Loop() {
						runTool(b, bin, tool.out(uri, ""))
					}
					reportMBs(b)
				})
			}
		})
	}
}

func BenchmarkDirect(b *testing.B) {
	data := benchData(b, 1)
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) {
			vols, name, paths := be.open(b)
			paths = append(paths, contractPath(vols, name))
			ctx := context.Background()
			filled := false
			for _, p := range paths {
				b.Run("write/"+p.name, func(b *testing.B) {
					b.SetBytes(benchSize)
					for b.Loop() {
						require.NoError(b, p.write(ctx, data))
					}
					reportMBs(b)
					filled = filled || p.fillsVolume
				})
			}
			for _, p := range paths {
				b.Run("read/"+p.name, func(b *testing.B) {
					if !filled {
						fillVolume(b, vols, name, data)
						filled = true
					}
					b.SetBytes(benchSize)
					for b.Loop() {
						require.NoError(b, p.read(ctx))
					}
					reportMBs(b)
				})
			}
		})
	}
}

// needTool finds the tool's program or skips.
func needTool(b *testing.B, tool nbdTool) string {
	b.Helper()
	bin := tool.name
	if p, err := exec.LookPath(bin); err == nil {
		return p
	}
	b.Skipf("%s not installed (apt-get install -y %s)", bin, tool.pkg)
	return ""
}

// openFSBench makes an fs volume in a temporary folder (on the disk that
// holds TMPDIR).
func openFSBench(b *testing.B) (storagebackends.Volumes, string, []directPath) {
	vols, err := fs.NewVolumes(b.TempDir())
	require.NoError(b, err)
	ctx := context.Background()
	name := "bench"
	require.NoError(b, vols.CreateVolume(ctx, name, benchSize))
	acc, err := vols.Access(ctx, name)
	require.NoError(b, err)
	f, err := os.OpenFile(acc.Path, os.O_RDWR, 0)
	require.NoError(b, err)
	b.Cleanup(func() { _ = f.Close() })
	buf := make([]byte, benchChunk)
	file := directPath{
		name: "file", fillsVolume: true,
		write: func(ctx context.Context, data []byte) error {
			if err := inSequence(ctx, func(_ context.Context, off int64) error {
				_, err := f.WriteAt(data[off:off+benchChunk], off)
				return err
			}); err != nil {
				return err
			}
			return f.Sync()
		},
		read: func(ctx context.Context) error {
			return inSequence(ctx, func(_ context.Context, off int64) error {
				_, err := f.ReadAt(buf, off)
				return err
			})
		},
	}
	return vols, name, []directPath{file}
}

// s3Options reads the S3 server the way storagebackends/s3's tests do
// (scripts/testenv.sh env ceph prints it for the radosgw it starts).
func s3Options(b *testing.B) storagebackends.Options {
	o := storagebackends.Options{
		S3Endpoint:  os.Getenv("OCCICDMI_S3_ENDPOINT"),
		S3Region:    os.Getenv("OCCICDMI_S3_REGION"),
		S3Bucket:    os.Getenv("OCCICDMI_S3_BUCKET"),
		S3AccessKey: os.Getenv("OCCICDMI_S3_ACCESS_KEY"),
		S3SecretKey: os.Getenv("OCCICDMI_S3_SECRET_KEY"),
	}
	storagetest.NeedService(b, "an S3 endpoint (OCCICDMI_S3_ENDPOINT, _ACCESS_KEY, _SECRET_KEY, _BUCKET)",
		o.S3Endpoint != "" && o.S3Bucket != "")
	return o
}

// s3Client is the SDK used straight, as storagebackends/s3's own
// benchmark baseline does.
func s3Client(b *testing.B, o storagebackends.Options) *awss3.Client {
	region := o.S3Region
	if region == "" {
		region = "us-east-1"
	}
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion(region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(o.S3AccessKey, o.S3SecretKey, "")))
	require.NoError(b, err)
	return awss3.NewFromConfig(cfg, func(so *awss3.Options) {
		so.UsePathStyle = true
		so.BaseEndpoint = aws.String(o.S3Endpoint)
		so.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		so.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
}

// openS3Bench makes a chunked volume in the test bucket.
func openS3Bench(b *testing.B) (storagebackends.Volumes, string, []directPath) {
	o := s3Options(b)
	ctx := context.Background()
	bucket, err := s3.Open(ctx, o)
	require.NoError(b, err)
	vols := bucket.Volumes()
	name := storagetest.Prefix() + "bench"
	require.NoError(b, vols.CreateVolume(ctx, name, benchSize))
	b.Cleanup(func() { _ = vols.DeleteVolume(context.Background(), name) })

	client := s3Client(b, o)
	bk := o.S3Bucket
	if s3.ChunkSize != benchChunk {
		b.Fatalf("s3.ChunkSize is %d, the benchmark's chunk %d", s3.ChunkSize, benchChunk)
	}
	// The volume's chunk objects, as storagebackends/s3 lays them out
	// (volumes/<escaped name>/c/<index, 16 hex digits>).
	chunk := func(off int64) string {
		return fmt.Sprintf("volumes/%s/c/%016x", url.PathEscape(name), off/benchChunk)
	}
	scratch := func(off int64) string { return fmt.Sprintf("direct/%s/c/%016x", name, off/benchChunk) }
	b.Cleanup(func() {
		for off := int64(0); off < benchSize; off += benchChunk {
			k := scratch(off)
			_, _ = client.DeleteObject(context.Background(), &awss3.DeleteObjectInput{Bucket: &bk, Key: &k})
		}
	})
	sdk := directPath{
		name: "sdk",
		write: func(ctx context.Context, data []byte) error {
			return inParallel(ctx, benchParallel, func(ctx context.Context, off int64) error {
				k := scratch(off)
				_, err := client.PutObject(ctx, &awss3.PutObjectInput{
					Bucket: &bk, Key: &k, Body: bytes.NewReader(data[off : off+benchChunk]),
					ContentLength: aws.Int64(benchChunk),
				})
				return err
			})
		},
		read: func(ctx context.Context) error {
			return inParallel(ctx, benchParallel, func(ctx context.Context, off int64) error {
				k := chunk(off)
				out, err := client.GetObject(ctx, &awss3.GetObjectInput{Bucket: &bk, Key: &k})
				if err != nil {
					return fmt.Errorf("GET %s (is the volume filled?): %w", k, err)
				}
				defer out.Body.Close()
				n, err := io.Copy(io.Discard, out.Body)
				if err == nil && n != benchChunk {
					err = fmt.Errorf("GET %s: %d bytes, want %d", k, n, benchChunk)
				}
				return err
			})
		},
	}
	return vols, name, []directPath{sdk}
}
