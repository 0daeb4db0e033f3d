package nbd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/occicdmi/occicdmi/internal/kind"
)

const MiB = 1 << 20

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func quietServer(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = discardLogger()
	}
	return NewServer(opts)
}

// Handshake: fixed newstyle greeting, NBD_OPT_INFO and NBD_OPT_GO with
// NBD_INFO_EXPORT, NBD_INFO_BLOCK_SIZE and NBD_INFO_NAME (proto.md "Fixed
// newstyle negotiation", "NBD_OPT_INFO (6) and NBD_OPT_GO (7)").
func TestHandshakeInfoAndGo(t *testing.T) {
	s := quietServer(Options{})
	dev := newMem(4 * MiB)
	if err := s.Add("vol", dev, false); err != nil {
		t.Fatal(err)
	}
	c := dial(t, "unix", startServer(t, s))
	c.hello(clientFlagFixedNewstyle | clientFlagNoZeroes)
	if c.sflags != flagFixedNewstyle|flagNoZeroes {
		t.Fatalf("handshake flags %#x", c.sflags)
	}
	infos, typ := c.infoGo(optInfo, "vol", infoBlockSize, infoName, 999)
	if typ != repAck {
		t.Fatalf("NBD_OPT_INFO: %#x", typ)
	}
	if got := binary.BigEndian.Uint64(infos[infoExport]); got != 4*MiB {
		t.Fatalf("size %d", got)
	}
	want := tflagHasFlags | tflagCanMultiConn | tflagSendFlush | tflagSendFUA | tflagSendTrim | tflagSendWriteZeroes
	if got := binary.BigEndian.Uint16(infos[infoExport][8:]); got != want {
		t.Fatalf("transmission flags %#x, want %#x", got, want)
	}
	bs := infos[infoBlockSize]
	if len(bs) != 12 || binary.BigEndian.Uint32(bs) != 1 || binary.BigEndian.Uint32(bs[4:]) != 4096 || binary.BigEndian.Uint32(bs[8:]) != 32*MiB {
		t.Fatalf("block size % x", bs)
	}
	if string(infos[infoName]) != "vol" {
		t.Fatalf("name %q", infos[infoName])
	}
	// Unknown export: NBD_REP_ERR_UNKNOWN, and negotiation goes on.
	if _, typ := c.infoGo(optGo, "nope"); typ != repErrUnknown {
		t.Fatalf("GO unknown export: %#x", typ)
	}
	if _, typ := c.infoGo(optGo, "vol"); typ != repAck {
		t.Fatalf("GO: %#x", typ)
	}
	if errno := c.write(0, []byte("hello"), 0); errno != 0 {
		t.Fatalf("write errno %d", errno)
	}
	if _, got := c.read(0, 5); string(got) != "hello" {
		t.Fatalf("read %q", got)
	}
}

// Read-only and minimal devices advertise only what they do ("Transmission
// flags": the server MUST NOT set the flag for features it does not
// support).
func TestTransmissionFlagsFollowDevice(t *testing.T) {
	s := quietServer(Options{})
	m := newMem(MiB)
	if err := s.Add("ro", m, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("plain", plainDevice{m}, false); err != nil {
		t.Fatal(err)
	}
	sock := startServer(t, s)
	for name, want := range map[string]uint16{
		"ro":    tflagHasFlags | tflagCanMultiConn | tflagSendFlush | tflagReadOnly,
		"plain": tflagHasFlags | tflagCanMultiConn | tflagSendWriteZeroes,
	} {
		c := dial(t, "unix", sock)
		c.connect(name)
		if c.tflags != want {
			t.Errorf("%s: flags %#x, want %#x", name, c.tflags, want)
		}
	}
}

// NBD_OPT_EXPORT_NAME: size, flags and the 124 zero bytes unless
// NBD_FLAG_C_NO_ZEROES ("Newstyle negotiation").
func TestExportName(t *testing.T) {
	s := quietServer(Options{})
	if err := s.Add("", newMem(MiB), false); err != nil { // the default export
		t.Fatal(err)
	}
	sock := startServer(t, s)
	for _, noZeroes := range []bool{false, true} {
		c := dial(t, "unix", sock)
		flags := clientFlagFixedNewstyle
		if noZeroes {
			flags |= clientFlagNoZeroes
		}
		c.hello(flags)
		c.option(optExportName, nil)
		b := make([]byte, 10)
		if _, err := io.ReadFull(c.br, b); err != nil {
			t.Fatal(err)
		}
		if binary.BigEndian.Uint64(b) != MiB {
			t.Fatalf("size % x", b)
		}
		if !noZeroes {
			pad := make([]byte, zeroPad)
			if _, err := io.ReadFull(c.br, pad); err != nil || !bytes.Equal(pad, make([]byte, zeroPad)) {
				t.Fatalf("padding: %v % x", err, pad)
			}
		}
		if errno, got := c.read(0, 512); errno != 0 || len(got) != 512 {
			t.Fatalf("read after EXPORT_NAME: %d", errno)
		}
	}
	// An unknown name cannot be refused: the session ends.
	c := dial(t, "unix", sock)
	c.hello(clientFlagFixedNewstyle)
	c.option(optExportName, []byte("missing"))
	if !c.closed() {
		t.Fatal("connection open after EXPORT_NAME of a missing export")
	}
}

// Options other than GO: LIST, ABORT, STRUCTURED_REPLY, STARTTLS without
// TLS, unknown options, malformed data ("Option types", "Option reply
// types").
func TestOptions(t *testing.T) {
	s := quietServer(Options{})
	for _, n := range []string{"b", "a"} {
		if err := s.Add(n, newMem(MiB), false); err != nil {
			t.Fatal(err)
		}
	}
	sock := startServer(t, s)
	c := dial(t, "unix", sock)
	c.hello(clientFlagFixedNewstyle | clientFlagNoZeroes)

	c.option(optList, nil)
	var names []string
	for {
		r := c.mustOptReply(optList)
		if r.typ == repAck {
			break
		}
		if r.typ != repServer || binary.BigEndian.Uint32(r.data) != uint32(len(r.data)-4) {
			t.Fatalf("LIST reply %#x % x", r.typ, r.data)
		}
		names = append(names, string(r.data[4:]))
	}
	sort.Strings(names)
	if len(names) != 2 || names[0] != "a" || names[1] != "b" {
		t.Fatalf("LIST: %q", names)
	}
	for _, tc := range []struct {
		name string
		opt  uint32
		data []byte
		want uint32
	}{
		{"list with data", optList, []byte{1}, repErrInvalid},
		{"structured reply", optStructuredReply, nil, repErrUnsup},
		{"starttls without TLS", optStartTLS, nil, repErrPolicy},
		{"unknown option", 4242, []byte("xyz"), repErrUnsup},
		{"meta context", 10, infoData("a"), repErrUnsup},
		{"info too short", optInfo, []byte{0, 0}, repErrInvalid},
		{"info name too long", optInfo, []byte{0, 0, 0, 9, 'a', 0, 0}, repErrInvalid},
		{"info count mismatch", optInfo, append(infoData("a"), 0), repErrInvalid},
		{"info huge name length", optInfo, []byte{0xff, 0xff, 0xff, 0xff, 0, 0}, repErrInvalid},
		{"option too big", optInfo, make([]byte, maxOptionLen+1), repErrTooBig},
	} {
		c.option(tc.opt, tc.data)
		if r := c.mustOptReply(tc.opt); r.typ != tc.want {
			t.Errorf("%s: reply %#x, want %#x", tc.name, r.typ, tc.want)
		}
	}
	// Still negotiating after all that: GO works.
	if _, typ := c.infoGo(optGo, "a"); typ != repAck {
		t.Fatalf("GO after errors: %#x", typ)
	}

	// ABORT: ACK, then the server closes.
	c = dial(t, "unix", sock)
	c.hello(clientFlagFixedNewstyle)
	c.option(optAbort, nil)
	if r := c.mustOptReply(optAbort); r.typ != repAck {
		t.Fatalf("ABORT: %#x", r.typ)
	}
	if !c.closed() {
		t.Fatal("open after ABORT")
	}

	// DisableList: NBD_REP_ERR_POLICY.
	s2 := quietServer(Options{DisableList: true})
	c = dial(t, "unix", startServer(t, s2))
	c.hello(clientFlagFixedNewstyle)
	c.option(optList, nil)
	if r := c.mustOptReply(optList); r.typ != repErrPolicy {
		t.Fatalf("LIST disabled: %#x", r.typ)
	}
}

// Every command, FUA included ("Request types", "Command flags").
func TestCommands(t *testing.T) {
	s := quietServer(Options{})
	dev := newMem(8 * MiB)
	plain := newMem(MiB)
	if err := s.Add("vol", dev, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("plain", plainDevice{plain}, false); err != nil {
		t.Fatal(err)
	}
	sock := startServer(t, s)
	c := dial(t, "unix", sock)
	c.connect("vol")

	data := bytes.Repeat([]byte("0123456789abcdef"), 65536) // 1 MiB
	if errno := c.write(MiB, data, 0); errno != 0 {
		t.Fatalf("write: %d", errno)
	}
	if errno, got := c.read(MiB, MiB); errno != 0 || !bytes.Equal(got, data) {
		t.Fatalf("read back: errno %d equal %v", errno, bytes.Equal(got, data))
	}
	f := dev.flushes.Load()
	if errno := c.write(0, []byte("fua"), cmdFlagFUA); errno != 0 || dev.flushes.Load() != f+1 {
		t.Fatalf("FUA write: errno %d flushes %d", errno, dev.flushes.Load()-f)
	}
	if errno, _ := c.do(cmdFlush, 0, 0, 0, nil); errno != 0 || dev.flushes.Load() != f+2 {
		t.Fatalf("flush: errno %d", errno)
	}
	if errno, _ := c.do(cmdTrim, 0, MiB, 4096, nil); errno != 0 || dev.trims.Load() != 1 {
		t.Fatalf("trim: errno %d trims %d", errno, dev.trims.Load())
	}
	if errno, _ := c.do(cmdWriteZeroes, cmdFlagNoHole, MiB+4096, 4096, nil); errno != 0 || dev.zeroes.Load() != 1 {
		t.Fatalf("write zeroes: errno %d", errno)
	}
	if _, got := c.read(MiB, 8192); !bytes.Equal(got, make([]byte, 8192)) {
		t.Fatal("trimmed and zeroed range is not zero")
	}
	if errno, got := c.read(0, 0); errno != 0 || len(got) != 0 {
		t.Fatalf("zero-length read: %d", errno)
	}
	// FUA on a read is accepted and ignored.
	if errno, _ := c.do(cmdRead, cmdFlagFUA, 0, 3, nil); errno != 0 {
		t.Fatalf("read with FUA: %d", errno)
	}

	// Pipelined requests: many in flight, every reply whole and matched
	// by handle.
	const n = 64
	want := map[uint64][]byte{}
	for i := range n {
		chunk := bytes.Repeat([]byte{byte(i)}, 64<<10)
		c.request(cmdWrite, 0, uint64(i)*64<<10, uint32(len(chunk)), chunk)
	}
	for range n {
		if errno, _, err := c.replyHeader(); err != nil || errno != 0 {
			t.Fatalf("pipelined write: %v %d", err, errno)
		}
	}
	for i := range n {
		h := c.request(cmdRead, 0, uint64(i)*64<<10, 64<<10, nil)
		want[h] = bytes.Repeat([]byte{byte(i)}, 64<<10)
	}
	for range n {
		errno, h, err := c.replyHeader()
		if err != nil || errno != 0 {
			t.Fatalf("pipelined read: %v %d", err, errno)
		}
		got := make([]byte, 64<<10)
		if _, err := io.ReadFull(c.br, got); err != nil || !bytes.Equal(got, want[h]) {
			t.Fatalf("pipelined read %d: wrong data", h)
		}
		delete(want, h)
	}

	// DISC: no reply, the server closes.
	c.request(cmdDisc, 0, 0, 0, nil)
	if !c.closed() {
		t.Fatal("open after DISC")
	}

	// A device without Zeroer: WRITE_ZEROES writes zero buffers.
	p := dial(t, "unix", sock)
	p.connect("plain")
	copy(plain.data, bytes.Repeat([]byte{0xff}, MiB))
	if errno, _ := p.do(cmdWriteZeroes, 0, 1000, 3*MiB/4, nil); errno != 0 {
		t.Fatalf("emulated write zeroes: %d", errno)
	}
	got := plain.bytes()
	if !bytes.Equal(got[1000:1000+3*MiB/4], make([]byte, 3*MiB/4)) || got[999] != 0xff || got[1000+3*MiB/4] != 0xff {
		t.Fatal("emulated write zeroes wrote the wrong range")
	}
}

// Bad requests are answered with errors and the connection goes on ("Error
// values"); nothing touches the device outside its bounds.
func TestBadRequests(t *testing.T) {
	s := quietServer(Options{MaxRequest: MiB})
	dev := newMem(4 * MiB)
	ro := newMem(MiB)
	plain := newMem(MiB)
	for name, d := range map[string]Device{"vol": dev, "plain": plainDevice{plain}} {
		if err := s.Add(name, d, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Add("ro", ro, true); err != nil {
		t.Fatal(err)
	}
	sock := startServer(t, s)
	c := dial(t, "unix", sock)
	c.connect("vol")
	size := uint64(4 * MiB)
	for _, tc := range []struct {
		name   string
		typ    uint16
		flags  uint16
		off    uint64
		length uint32
		data   []byte
		want   uint32
	}{
		{"read past the end", cmdRead, 0, size - 10, 11, nil, errInval},
		{"read offset overflow", cmdRead, 0, math.MaxUint64 - 1, 4, nil, errInval},
		{"read oversized", cmdRead, 0, 0, MiB + 1, nil, errInval},
		{"read huge", cmdRead, 0, 0, math.MaxUint32, nil, errInval},
		{"write past the end", cmdWrite, 0, size - 1, 2, []byte{1, 2}, errNoSpc},
		{"write oversized", cmdWrite, 0, 0, MiB + 1, make([]byte, MiB+1), errInval},
		{"write unknown flag", cmdWrite, 1 << 7, 0, 1, []byte{1}, errInval},
		{"write fast zero flag", cmdWrite, cmdFlagFastZero, 0, 1, []byte{1}, errInval},
		{"zeroes fast zero", cmdWriteZeroes, cmdFlagFastZero, 0, 1, nil, errInval},
		{"zeroes past the end", cmdWriteZeroes, 0, size, 1, nil, errNoSpc},
		{"trim past the end", cmdTrim, 0, size - 1, 2, nil, errInval},
		{"flush with offset", cmdFlush, 0, 1, 0, nil, errInval},
		{"unknown command", 99, 0, 0, 0, nil, errInval},
		{"block status unnegotiated", 7, 0, 0, 512, nil, errInval},
		{"cache (not advertised)", 5, 0, 0, 512, nil, errInval},
	} {
		if errno, _ := c.do(tc.typ, tc.flags, tc.off, tc.length, tc.data); errno != tc.want {
			t.Errorf("%s: errno %d, want %d", tc.name, errno, tc.want)
		}
	}
	if dev.outside.Load() != 0 || dev.calls.Load() != 0 {
		t.Fatalf("device touched by bad requests: %d calls, %d outside", dev.calls.Load(), dev.outside.Load())
	}
	if errno, got := c.read(size-1, 1); errno != 0 || len(got) != 1 {
		t.Fatalf("connection unusable after bad requests: %d", errno)
	}

	// Read-only export: EPERM for every write ("SHOULD return EPERM if it
	// receives a write or trim request on a read-only export").
	r := dial(t, "unix", sock)
	r.connect("ro")
	for _, typ := range []uint16{cmdWrite, cmdTrim, cmdWriteZeroes} {
		var data []byte
		if typ == cmdWrite {
			data = []byte{1}
		}
		if errno, _ := r.do(typ, 0, 0, 1, data); errno != errPerm {
			t.Errorf("read-only command %d: errno %d", typ, errno)
		}
	}
	// Without Flusher/Trimmer, FLUSH and TRIM were not advertised.
	p := dial(t, "unix", sock)
	p.connect("plain")
	for _, typ := range []uint16{cmdFlush, cmdTrim} {
		if errno, _ := p.do(typ, 0, 0, 0, nil); errno != errInval {
			t.Errorf("unadvertised command %d: errno %d", typ, errno)
		}
	}
	if errno := p.write(0, []byte{1}, cmdFlagFUA); errno != errInval {
		t.Errorf("FUA unadvertised: errno %d", errno)
	}

	// A request with a bad magic cannot be answered: hard disconnect.
	c.send(make([]byte, requestHeaderLen))
	if !c.closed() {
		t.Fatal("open after a bad request magic")
	}
}

// Device errors map to NBD error values: kind.Unavailable to EIO,
// kind.Invalid to EINVAL, ENOSPC to ENOSPC, Forbidden to EPERM.
func TestDeviceErrors(t *testing.T) {
	s := quietServer(Options{})
	dev := newMem(MiB)
	if err := s.Add("vol", dev, false); err != nil {
		t.Fatal(err)
	}
	c := dial(t, "unix", startServer(t, s))
	c.connect("vol")
	for _, tc := range []struct {
		err  error
		want uint32
	}{
		{kind.New(kind.Unavailable, "s3 down"), errIO},
		{kind.Errorf(kind.Invalid, "bad: %w", errors.New("x")), errInval},
		{&os.PathError{Op: "write", Path: "f", Err: syscall.ENOSPC}, errNoSpc},
		{kind.New(kind.Forbidden, "no"), errPerm},
		{errors.New("plain"), errIO},
	} {
		dev.setErr(tc.err)
		if errno, _ := c.read(0, 10); errno != tc.want {
			t.Errorf("read with %v: errno %d, want %d", tc.err, errno, tc.want)
		}
		if errno := c.write(0, []byte{1}, 0); errno != tc.want {
			t.Errorf("write with %v: errno %d, want %d", tc.err, errno, tc.want)
		}
		dev.setErr(nil)
	}
	// A device that cannot tell its size: NBD_REP_ERR_UNKNOWN with a message.
	dev.setErr(kind.New(kind.Unavailable, "backend down"))
	d := dial(t, "unix", startServer(t, s))
	d.hello(clientFlagFixedNewstyle)
	d.option(optGo, infoData("vol"))
	if r := d.mustOptReply(optGo); r.typ != repErrUnknown || !bytes.Contains(r.data, []byte("backend down")) {
		t.Fatalf("GO on an unavailable device: %#x %q", r.typ, r.data)
	}
}

// A malformed handshake closes the connection, without a panic.
func TestGarbageHandshake(t *testing.T) {
	s := quietServer(Options{})
	if err := s.Add("vol", newMem(MiB), false); err != nil {
		t.Fatal(err)
	}
	sock := startServer(t, s)
	for name, send := range map[string][]byte{
		"unknown client flags": {0, 0, 0, 4},
		"bad option magic":     append([]byte{0, 0, 0, 1}, []byte("NOTMAGICxxxxxxxx")...),
		"truncated option":     append([]byte{0, 0, 0, 1}, 0x49, 0x48),
		"huge option":          append(append([]byte{0, 0, 0, 1}, binary.BigEndian.AppendUint64(nil, magicOption)...), 0, 0, 0, 6, 0xff, 0xff, 0xff, 0xff),
		"garbage":              []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
	} {
		c := dial(t, "unix", sock)
		var greet [18]byte
		if _, err := io.ReadFull(c.br, greet[:]); err != nil {
			t.Fatal(err)
		}
		c.send(send)
		if name == "truncated option" {
			_ = c.nc.(*net.UnixConn).CloseWrite()
		}
		if !c.closed() {
			t.Errorf("%s: connection still open", name)
		}
	}
	// The server still serves.
	c := dial(t, "unix", sock)
	c.connect("vol")
}

// Remove ends the export's connections; in-flight requests are answered
// ESHUTDOWN; the name no longer resolves; the device is not touched again.
func TestRemove(t *testing.T) {
	s := quietServer(Options{})
	dev := &blockingDevice{memDevice: newMem(MiB), entered: make(chan struct{}, 1)}
	if err := s.Add("vol", dev, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("vol", newMem(1), false); !errors.Is(err, kind.Exists) {
		t.Fatalf("Add twice: %v", err)
	}
	if err := s.Add("bad\x00name", newMem(1), false); !errors.Is(err, kind.Invalid) {
		t.Fatalf("Add NUL name: %v", err)
	}
	other := newMem(MiB)
	if err := s.Add("other", other, false); err != nil {
		t.Fatal(err)
	}
	sock := startServer(t, s)
	c := dial(t, "unix", sock)
	c.connect("vol")
	o := dial(t, "unix", sock)
	o.connect("other")
	dev.block.Store(true)
	h := c.request(cmdRead, 0, 0, 512, nil)
	<-dev.entered // the read is in the device
	s.Remove("vol")
	errno, handle, err := c.replyHeader()
	if err != nil || handle != h || errno != errShutdown {
		t.Fatalf("in-flight read after Remove: errno %d handle %d err %v", errno, handle, err)
	}
	if !c.closed() {
		t.Fatal("connection open after Remove")
	}
	calls := dev.calls.Load()
	d := dial(t, "unix", sock)
	d.hello(clientFlagFixedNewstyle)
	if _, typ := d.infoGo(optGo, "vol"); typ != repErrUnknown {
		t.Fatalf("GO to a removed export: %#x", typ)
	}
	// The other export is unaffected, and a new device under the old name
	// is a new export.
	if errno := o.write(0, []byte("x"), 0); errno != 0 {
		t.Fatalf("other export after Remove: %d", errno)
	}
	fresh := newMem(2 * MiB)
	if err := s.Add("vol", fresh, false); err != nil {
		t.Fatal(err)
	}
	if _, typ := d.infoGo(optGo, "vol"); typ != repAck || d.size != 2*MiB {
		t.Fatalf("GO to the new export: %#x size %d", typ, d.size)
	}
	if errno := d.write(0, []byte("new"), 0); errno != 0 || string(fresh.bytes()[:3]) != "new" {
		t.Fatalf("write to the new export: %d", errno)
	}
	if dev.calls.Load() != calls {
		t.Fatal("the removed device was touched")
	}
	s.Remove("never-added")
}

// blockingDevice blocks reads until their context is cancelled, once block
// is set.
type blockingDevice struct {
	*memDevice
	block   atomic.Bool
	entered chan struct{}
}

func (d *blockingDevice) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	if d.block.Load() {
		d.calls.Add(1)
		d.entered <- struct{}{}
		<-ctx.Done()
		return 0, ctx.Err()
	}
	return d.memDevice.ReadAt(ctx, p, off)
}

// Close ends connections and Serve; a later Add is refused.
func TestClose(t *testing.T) {
	s := quietServer(Options{})
	if err := s.Add("vol", newMem(MiB), false); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "s")
	ln, err := ListenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	c := dial(t, "unix", path)
	c.connect("vol")
	h := dial(t, "unix", path) // still in the handshake
	h.hello(clientFlagFixedNewstyle)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Close: %v", err)
	}
	if !c.closed() || !h.closed() {
		t.Fatal("connections open after Close")
	}
	if err := s.Add("x", newMem(1), false); !errors.Is(err, kind.Unavailable) {
		t.Fatalf("Add after Close: %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("socket left behind: %v", err)
	}
}

// TCP without TLS needs the operator's word that the address is private.
func TestTCPNeedsTLSOrPrivate(t *testing.T) {
	s := quietServer(Options{})
	if _, err := s.ListenTCP("127.0.0.1:0", false); !errors.Is(err, kind.Invalid) {
		t.Fatalf("ListenTCP without TLS: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	if err := s.Serve(ln); !errors.Is(err, kind.Invalid) {
		t.Fatalf("Serve on plain TCP: %v", err)
	}
	if err := s.Add("vol", newMem(MiB), false); err != nil {
		t.Fatal(err)
	}
	pl, err := s.ListenTCP("127.0.0.1:0", true)
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, s, pl)
	c := dial(t, "tcp", pl.Addr().String())
	c.connect("vol")
	if errno, _ := c.read(0, 512); errno != 0 {
		t.Fatalf("read over private TCP: %d", errno)
	}
}

// ListenUnix replaces a stale socket, refuses a live one and other files.
func TestListenUnix(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s")
	ln, err := ListenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", fi.Mode(), err)
	}
	if _, err := ListenUnix(path); !errors.Is(err, kind.Exists) {
		t.Fatalf("ListenUnix on a live socket: %v", err)
	}
	ln.SetUnlinkOnClose(false)
	_ = ln.Close() // leaves a stale socket file
	ln, err = ListenUnix(path)
	if err != nil {
		t.Fatalf("ListenUnix on a stale socket: %v", err)
	}
	_ = ln.Close()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ListenUnix(file); !errors.Is(err, kind.Exists) {
		t.Fatalf("ListenUnix on a regular file: %v", err)
	}
}
