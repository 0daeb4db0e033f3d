package nbd

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/occicdmi/occicdmi/internal/kind"
)

// memDevice is an in-memory Device with every optional method, counting
// calls and failing with err when it is set.
type memDevice struct {
	mu      sync.RWMutex
	data    []byte
	errMu   sync.Mutex
	err     error // the error every call fails with, when set (setErr)
	flushes atomic.Int64
	trims   atomic.Int64
	zeroes  atomic.Int64
	calls   atomic.Int64
	// outside records an access beyond the device (never expected).
	outside atomic.Int64
}

func newMem(size int) *memDevice { return &memDevice{data: make([]byte, size)} }

func (m *memDevice) bounds(off, n int64) error {
	m.calls.Add(1)
	if off < 0 || n < 0 || off+n > int64(len(m.data)) || off+n < off {
		m.outside.Add(1)
		return kind.Errorf(kind.Invalid, "access %d+%d beyond %d", off, n, len(m.data))
	}
	return m.getErr()
}

func (m *memDevice) setErr(err error) { m.errMu.Lock(); m.err = err; m.errMu.Unlock() }

func (m *memDevice) getErr() error {
	m.errMu.Lock()
	defer m.errMu.Unlock()
	return m.err
}

func (m *memDevice) ReadAt(_ context.Context, p []byte, off int64) (int, error) {
	if err := m.bounds(off, int64(len(p))); err != nil {
		return 0, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return copy(p, m.data[off:]), nil
}

func (m *memDevice) WriteAt(_ context.Context, p []byte, off int64) (int, error) {
	if err := m.bounds(off, int64(len(p))); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return copy(m.data[off:], p), nil
}

func (m *memDevice) Size(context.Context) (int64, error) { return int64(len(m.data)), m.getErr() }

func (m *memDevice) Flush(context.Context) error { m.flushes.Add(1); return m.getErr() }

func (m *memDevice) Trim(_ context.Context, off, n int64) error {
	m.trims.Add(1)
	return m.zero(off, n)
}

func (m *memDevice) WriteZeroes(_ context.Context, off, n int64, _ bool) error {
	m.zeroes.Add(1)
	return m.zero(off, n)
}

func (m *memDevice) zero(off, n int64) error {
	if err := m.bounds(off, n); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.data[off : off+n])
	return nil
}

func (m *memDevice) bytes() []byte {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return append([]byte(nil), m.data...)
}

// plainDevice has only the three required methods.
type plainDevice struct{ m *memDevice }

func (p plainDevice) ReadAt(ctx context.Context, b []byte, off int64) (int, error) {
	return p.m.ReadAt(ctx, b, off)
}
func (p plainDevice) WriteAt(ctx context.Context, b []byte, off int64) (int, error) {
	return p.m.WriteAt(ctx, b, off)
}
func (p plainDevice) Size(ctx context.Context) (int64, error) { return p.m.Size(ctx) }

// startServer serves s on a Unix socket in a temporary directory and
// returns the socket's path; the server is closed when the test ends.
func startServer(t testing.TB, s *Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nbd.sock")
	ln, err := ListenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, s, ln)
	return path
}

func serveOn(t testing.TB, s *Server, ln net.Listener) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		_ = s.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
}

// client is a test NBD client speaking the protocol by hand.
type client struct {
	t      testing.TB
	nc     net.Conn
	br     *bufio.Reader
	sflags uint16 // handshake flags
	size   uint64
	tflags uint16
	handle uint64
}

func dial(t testing.TB, network, addr string) *client {
	t.Helper()
	nc, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return newClient(t, nc)
}

func newClient(t testing.TB, nc net.Conn) *client {
	return &client{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// hello reads the greeting and answers with the client flags.
func (c *client) hello(flags uint32) {
	c.t.Helper()
	var b [18]byte
	if _, err := io.ReadFull(c.br, b[:]); err != nil {
		c.t.Fatalf("greeting: %v", err)
	}
	if binary.BigEndian.Uint64(b[0:]) != magicInit || binary.BigEndian.Uint64(b[8:]) != magicOption {
		c.t.Fatalf("greeting magic % x", b[:16])
	}
	c.sflags = binary.BigEndian.Uint16(b[16:])
	c.send(binary.BigEndian.AppendUint32(nil, flags))
}

func (c *client) send(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

func (c *client) option(opt uint32, data []byte) {
	c.t.Helper()
	b := binary.BigEndian.AppendUint64(nil, magicOption)
	b = binary.BigEndian.AppendUint32(b, opt)
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	c.send(append(b, data...))
}

type optReply struct {
	opt, typ uint32
	data     []byte
}

func (c *client) optReply() (optReply, error) {
	var h [20]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return optReply{}, err
	}
	if m := binary.BigEndian.Uint64(h[0:]); m != magicOptionReply {
		return optReply{}, fmt.Errorf("option reply magic %#x", m)
	}
	r := optReply{opt: binary.BigEndian.Uint32(h[8:]), typ: binary.BigEndian.Uint32(h[12:])}
	n := binary.BigEndian.Uint32(h[16:])
	if n > 1<<20 {
		return r, fmt.Errorf("option reply of %d bytes", n)
	}
	r.data = make([]byte, n)
	_, err := io.ReadFull(c.br, r.data)
	return r, err
}

func (c *client) mustOptReply(opt uint32) optReply {
	c.t.Helper()
	r, err := c.optReply()
	if err != nil {
		c.t.Fatalf("option %d reply: %v", opt, err)
	}
	if r.opt != opt {
		c.t.Fatalf("reply to option %d, want %d", r.opt, opt)
	}
	return r
}

func infoData(name string, infos ...uint16) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(name)))
	b = append(b, name...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(infos)))
	for _, i := range infos {
		b = binary.BigEndian.AppendUint16(b, i)
	}
	return b
}

// infoGo sends NBD_OPT_INFO or NBD_OPT_GO and collects the infos until the
// final reply, whose type it returns.
func (c *client) infoGo(opt uint32, name string, infos ...uint16) (map[uint16][]byte, uint32) {
	c.t.Helper()
	c.option(opt, infoData(name, infos...))
	got := map[uint16][]byte{}
	for {
		r := c.mustOptReply(opt)
		if r.typ != repInfo {
			if r.typ == repAck {
				if e, ok := got[infoExport]; ok {
					c.size = binary.BigEndian.Uint64(e[0:])
					c.tflags = binary.BigEndian.Uint16(e[8:])
				}
			}
			return got, r.typ
		}
		if len(r.data) < 2 {
			c.t.Fatalf("short NBD_REP_INFO % x", r.data)
		}
		got[binary.BigEndian.Uint16(r.data)] = r.data[2:]
	}
}

// connect does the whole handshake with NBD_OPT_GO.
func (c *client) connect(name string) {
	c.t.Helper()
	c.hello(clientFlagFixedNewstyle | clientFlagNoZeroes)
	if _, typ := c.infoGo(optGo, name, infoBlockSize); typ != repAck {
		c.t.Fatalf("NBD_OPT_GO %q: reply %#x", name, typ)
	}
}

func (c *client) request(typ, flags uint16, off uint64, length uint32, data []byte) uint64 {
	c.t.Helper()
	c.handle++
	b := make([]byte, requestHeaderLen, requestHeaderLen+len(data))
	binary.BigEndian.PutUint32(b[0:], magicRequest)
	binary.BigEndian.PutUint16(b[4:], flags)
	binary.BigEndian.PutUint16(b[6:], typ)
	binary.BigEndian.PutUint64(b[8:], c.handle)
	binary.BigEndian.PutUint64(b[16:], off)
	binary.BigEndian.PutUint32(b[24:], length)
	c.send(append(b, data...))
	return c.handle
}

// replyHeader reads a simple reply's header.
func (c *client) replyHeader() (errno uint32, handle uint64, err error) {
	var h [16]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return 0, 0, err
	}
	if m := binary.BigEndian.Uint32(h[0:]); m != magicSimpleReply {
		return 0, 0, fmt.Errorf("reply magic %#x", m)
	}
	return binary.BigEndian.Uint32(h[4:]), binary.BigEndian.Uint64(h[8:]), nil
}

// do sends one request and waits for its reply (with length bytes of
// data for a successful read).
func (c *client) do(typ, flags uint16, off uint64, length uint32, data []byte) (uint32, []byte) {
	c.t.Helper()
	h := c.request(typ, flags, off, length, data)
	errno, handle, err := c.replyHeader()
	if err != nil {
		c.t.Fatalf("command %d: %v", typ, err)
	}
	if handle != h {
		c.t.Fatalf("reply handle %d, want %d", handle, h)
	}
	if typ != cmdRead || errno != 0 {
		return errno, nil
	}
	buf := make([]byte, length)
	if _, err := io.ReadFull(c.br, buf); err != nil {
		c.t.Fatalf("read data: %v", err)
	}
	return errno, buf
}

func (c *client) read(off uint64, n uint32) (uint32, []byte) { return c.do(cmdRead, 0, off, n, nil) }

func (c *client) write(off uint64, p []byte, flags uint16) uint32 {
	errno, _ := c.do(cmdWrite, flags, off, uint32(len(p)), p)
	return errno
}

// closed reports whether the server has ended the connection.
func (c *client) closed() bool {
	_, err := c.br.ReadByte()
	return err != nil
}
