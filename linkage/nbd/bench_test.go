package nbd

// Sequential read and write of 256 MiB through NBD beside the same bytes
// read and written directly on the device, in one run:
//
//	go test -run '^$' -bench Sequential -benchtime 3x ./linkage/nbd/
//
// MB/s is go test's own column (b.SetBytes). "nbd" is the Go test client
// over a Unix socket (1 MiB requests, 8 in flight); "nbdcopy" is libnbd's
// nbdcopy over the same socket (its defaults: 4 connections, 64 requests
// in flight), from or to a file in the page cache (in) or null: (out).

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

const (
	benchSize  = 256 << 20
	benchChunk = 1 << 20
	benchDepth = 8
)

// fileDevice is a Device over a file, flushed with fsync.
type fileDevice struct {
	f    *os.File
	size int64
}

func newFileDevice(t testing.TB, size int64) *fileDevice {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "vol.img"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return &fileDevice{f: f, size: size}
}

func (d *fileDevice) ReadAt(_ context.Context, p []byte, off int64) (int, error) {
	return d.f.ReadAt(p, off)
}
func (d *fileDevice) WriteAt(_ context.Context, p []byte, off int64) (int, error) {
	return d.f.WriteAt(p, off)
}
func (d *fileDevice) Size(context.Context) (int64, error) { return d.size, nil }
func (d *fileDevice) Flush(context.Context) error         { return d.f.Sync() }

func BenchmarkSequential(b *testing.B) {
	for _, backing := range []string{"mem", "file"} {
		var dev Device
		if backing == "mem" {
			dev = newMem(benchSize)
		} else {
			dev = newFileDevice(b, benchSize)
		}
		// Warm up: fault the memory in, allocate the file's blocks, so
		// that the first measured pass pays no more than the others.
		warm := make([]byte, benchChunk)
		for off := int64(0); off < benchSize; off += benchChunk {
			if _, err := dev.WriteAt(context.Background(), warm, off); err != nil {
				b.Fatal(err)
			}
		}
		s := quietServer(Options{})
		if err := s.Add("vol", dev, false); err != nil {
			b.Fatal(err)
		}
		sock := startServer(b, s)
		for _, op := range []uint16{cmdWrite, cmdRead} {
			name := map[uint16]string{cmdWrite: "write", cmdRead: "read"}[op]
			b.Run(name+"/direct/"+backing, func(b *testing.B) {
				b.SetBytes(benchSize)
				buf := make([]byte, benchChunk)
				ctx := context.Background()
				for b.Loop() {
					for off := int64(0); off < benchSize; off += benchChunk {
						var err error
						if op == cmdWrite {
							_, err = dev.WriteAt(ctx, buf, off)
						} else {
							_, err = dev.ReadAt(ctx, buf, off)
						}
						if err != nil {
							b.Fatal(err)
						}
					}
				}
			})
			b.Run(name+"/nbd/"+backing, func(b *testing.B) {
				c := dial(b, "unix", sock)
				c.connect("vol")
				b.SetBytes(benchSize)
				for b.Loop() {
					if err := pipeline(c, op); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(name+"/nbdcopy/"+backing, func(b *testing.B) {
				nbdcopy, err := exec.LookPath("nbdcopy")
				if err != nil {
					b.Skip("nbdcopy (libnbd-bin) not installed")
				}
				src, dst := filepath.Join(b.TempDir(), "in.img"), "null:"
				if err := os.WriteFile(src, make([]byte, benchSize), 0o600); err != nil {
					b.Fatal(err)
				}
				args := []string{nbdURI("vol", sock), dst}
				if op == cmdWrite {
					// --no-extents: copy every byte, not only allocated ones.
					args = []string{"--no-extents", src, nbdURI("vol", sock)}
				}
				b.SetBytes(benchSize)
				for b.Loop() {
					if out, err := exec.Command(nbdcopy, args...).CombinedOutput(); err != nil {
						b.Fatalf("nbdcopy: %v\n%s", err, out)
					}
				}
			})
		}
	}
}

// pipeline reads or writes the whole export in benchChunk requests with
// benchDepth in flight.
func pipeline(c *client, op uint16) error {
	payload := make([]byte, benchChunk)
	n := benchSize / benchChunk
	errc := make(chan error, 1)
	window := make(chan struct{}, benchDepth)
	go func() {
		errc <- readReplies(c.br, op, n, window)
	}()
	w := bufio.NewWriterSize(c.nc, 64<<10)
	hdr := make([]byte, requestHeaderLen)
	for i := range n {
		window <- struct{}{}
		binary.BigEndian.PutUint32(hdr[0:], magicRequest)
		binary.BigEndian.PutUint16(hdr[4:], 0)
		binary.BigEndian.PutUint16(hdr[6:], op)
		binary.BigEndian.PutUint64(hdr[8:], uint64(i))
		binary.BigEndian.PutUint64(hdr[16:], uint64(i)*benchChunk)
		binary.BigEndian.PutUint32(hdr[24:], benchChunk)
		if _, err := w.Write(hdr); err != nil {
			return err
		}
		if op == cmdWrite {
			if _, err := w.Write(payload); err != nil {
				return err
			}
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	return <-errc
}

func readReplies(r io.Reader, op uint16, n int, window chan struct{}) error {
	var h [16]byte
	data := make([]byte, benchChunk)
	for range n {
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return err
		}
		if binary.BigEndian.Uint32(h[0:]) != magicSimpleReply {
			return errors.New("bad reply magic")
		}
		if e := binary.BigEndian.Uint32(h[4:]); e != 0 {
			return fmt.Errorf("errno %d", e)
		}
		if op == cmdRead {
			if _, err := io.ReadFull(r, data); err != nil {
				return err
			}
		}
		<-window
	}
	return nil
}
