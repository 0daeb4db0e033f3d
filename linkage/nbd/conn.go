package nbd

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/occicdmi/occicdmi/internal/kind"
)

// maxOptionLen bounds the data of one option. The largest option we
// understand (NBD_OPT_GO with a 4096-byte name and every info request) is
// far below it; longer options are read and dropped, and answered
// NBD_REP_ERR_TOO_BIG, up to maxOptionDiscard, past which the client is
// taken for a denial of service and disconnected ("Termination of the
// session during option haggling").
const (
	maxOptionLen     = 64 << 10
	maxOptionDiscard = 16 << 20
)

// shutdownWriteTimeout bounds how long the answers to in-flight requests
// may take to be written once a connection is being ended.
const shutdownWriteTimeout = 10 * time.Second

// conn is one client connection.
type conn struct {
	s          *Server
	nc         net.Conn // the transport: the raw socket, or TLS over it
	raw        net.Conn
	br         *bufio.Reader
	requireTLS bool
	tls        bool
	noZeroes   bool

	exp   *export // set under s.mu when transmission starts
	size  int64   // the export's size, fixed at the handshake
	flags uint16  // transmission flags sent

	ctx    context.Context // cancelled by shutdown
	cancel context.CancelFunc
	once   sync.Once
	done   chan struct{} // closed when serve has returned

	wmu sync.Mutex // one reply at a time on the wire
}

func newConn(s *Server, nc net.Conn, requireTLS bool) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{
		s: s, nc: nc, raw: nc, br: bufio.NewReaderSize(nc, 64<<10),
		requireTLS: requireTLS, ctx: ctx, cancel: cancel,
		done: make(chan struct{}),
	}
}

// shutdown ends the connection: in-flight requests are cancelled, and the
// reader is woken so that serve returns once they are answered.
func (c *conn) shutdown() {
	c.once.Do(func() {
		c.cancel()
		_ = c.raw.SetReadDeadline(time.Unix(1, 0))
		// In-flight requests are still answered, but a client that no
		// longer reads must not hold Remove or Close for ever.
		_ = c.raw.SetWriteDeadline(time.Now().Add(shutdownWriteTimeout))
	})
}

// errHangUp ends a connection on purpose (a hard or soft disconnect).
var errHangUp = errors.New("nbd: disconnect")

func (c *conn) serve() {
	defer close(c.done)
	defer func() { _ = c.nc.Close() }()
	defer c.cancel()
	_ = c.raw.SetDeadline(time.Now().Add(c.s.opts.HandshakeTimeout))
	if c.ctx.Err() != nil { // shut down before the deadline was set
		return
	}
	if err := c.handshake(); err != nil {
		if !errors.Is(err, errHangUp) && !errors.Is(err, io.EOF) && c.ctx.Err() == nil {
			c.s.log.Debug("nbd: handshake ended", "remote", c.raw.RemoteAddr(), "err", err)
		}
		return
	}
	_ = c.raw.SetDeadline(time.Time{})
	if c.ctx.Err() != nil { // shut down before the deadline was cleared
		return
	}
	c.transmit()
}

// --- Handshake (proto.md "Fixed newstyle negotiation", "Option types").

func (c *conn) handshake() error {
	var hello [18]byte
	binary.BigEndian.PutUint64(hello[0:], magicInit)
	binary.BigEndian.PutUint64(hello[8:], magicOption)
	binary.BigEndian.PutUint16(hello[16:], flagFixedNewstyle|flagNoZeroes)
	if _, err := c.nc.Write(hello[:]); err != nil {
		return err
	}
	var cf [4]byte
	if _, err := io.ReadFull(c.br, cf[:]); err != nil {
		return err
	}
	clientFlags := binary.BigEndian.Uint32(cf[:])
	// "Client flags": the server MUST drop the connection on a flag it
	// does not know.
	if clientFlags&^(clientFlagFixedNewstyle|clientFlagNoZeroes) != 0 {
		return fmt.Errorf("%w: unknown client flags %#x", errHangUp, clientFlags)
	}
	c.noZeroes = clientFlags&clientFlagNoZeroes != 0
	fixed := clientFlags&clientFlagFixedNewstyle != 0
	if c.requireTLS && !fixed {
		// "Server-side requirements": TLS needs fixed newstyle; a client
		// without it can never meet the requirement.
		return fmt.Errorf("%w: TLS required and the client is not fixed newstyle", errHangUp)
	}
	for {
		var h [16]byte
		if _, err := io.ReadFull(c.br, h[:]); err != nil {
			return err
		}
		if binary.BigEndian.Uint64(h[0:]) != magicOption {
			return fmt.Errorf("%w: bad option magic", errHangUp)
		}
		opt := binary.BigEndian.Uint32(h[8:])
		n := binary.BigEndian.Uint32(h[12:])
		if n > maxOptionLen {
			if n > maxOptionDiscard || opt == optExportName {
				return fmt.Errorf("%w: option %d of %d bytes", errHangUp, opt, n)
			}
			if err := discard(c.br, int64(n)); err != nil {
				return err
			}
			if err := c.optReply(opt, repErrTooBig, []byte("option too long")); err != nil {
				return err
			}
			continue
		}
		data := make([]byte, n) // n is bounded above
		if _, err := io.ReadFull(c.br, data); err != nil {
			return err
		}
		done, err := c.option(opt, data)
		if err != nil || done {
			return err
		}
	}
}

// option handles one option; done means transmission starts.
func (c *conn) option(opt uint32, data []byte) (done bool, err error) {
	if opt == optAbort {
		// NBD_OPT_ABORT: "The server MUST reply with NBD_REP_ACK" (data,
		// if any, is ignored); the client then drops the connection.
		_ = c.optReply(opt, repAck, nil)
		return false, errHangUp
	}
	if c.s.isClosed() {
		if opt == optExportName {
			return false, errHangUp
		}
		return false, c.optReply(opt, repErrShut, []byte("server shutting down"))
	}
	if c.requireTLS && !c.tls && opt != optStartTLS {
		// "FORCEDTLS mode": everything but STARTTLS is refused before
		// TLS, and NBD_OPT_EXPORT_NAME, which cannot be refused, ends
		// the session.
		if opt == optExportName {
			return false, fmt.Errorf("%w: NBD_OPT_EXPORT_NAME before TLS", errHangUp)
		}
		return false, c.optReply(opt, repErrTLSReqd, []byte("TLS is required: send NBD_OPT_STARTTLS"))
	}
	switch opt {
	case optExportName:
		return c.exportName(data)
	case optList:
		return false, c.list(data)
	case optStartTLS:
		return false, c.startTLS(data)
	case optInfo, optGo:
		return c.infoGo(opt, data)
	case optStructuredReply:
		// Simple replies only: "clients SHOULD be prepared to also handle
		// NBD_REP_ERR_UNSUP; in this case, no structured replies will be
		// sent."
		return false, c.optReply(opt, repErrUnsup, []byte("structured replies are not supported"))
	default:
		return false, c.optReply(opt, repErrUnsup, nil)
	}
}

func (c *conn) optReply(opt, typ uint32, data []byte) error {
	b := make([]byte, 20+len(data))
	binary.BigEndian.PutUint64(b[0:], magicOptionReply)
	binary.BigEndian.PutUint32(b[8:], opt)
	binary.BigEndian.PutUint32(b[12:], typ)
	binary.BigEndian.PutUint32(b[16:], uint32(len(data)))
	copy(b[20:], data)
	_, err := c.nc.Write(b)
	return err
}

func (c *conn) list(data []byte) error {
	// NBD_OPT_LIST: "the server SHOULD reject a request that includes data
	// with NBD_REP_ERR_INVALID".
	if len(data) != 0 {
		return c.optReply(optList, repErrInvalid, []byte("NBD_OPT_LIST takes no data"))
	}
	if c.s.opts.DisableList {
		return c.optReply(optList, repErrPolicy, []byte("listing exports is disabled"))
	}
	for _, name := range c.s.Exports() {
		b := make([]byte, 4+len(name))
		binary.BigEndian.PutUint32(b, uint32(len(name)))
		copy(b[4:], name)
		if err := c.optReply(optList, repServer, b); err != nil {
			return err
		}
	}
	return c.optReply(optList, repAck, nil)
}

func (c *conn) startTLS(data []byte) error {
	switch {
	case len(data) != 0:
		return c.optReply(optStartTLS, repErrInvalid, []byte("NBD_OPT_STARTTLS takes no data"))
	case c.s.opts.TLS == nil:
		// "NOTLS mode": NBD_REP_ERR_POLICY when TLS is not offered.
		return c.optReply(optStartTLS, repErrPolicy, []byte("TLS is not configured"))
	case c.tls:
		// "FORCEDTLS mode": a second STARTTLS is NBD_REP_ERR_INVALID.
		return c.optReply(optStartTLS, repErrInvalid, []byte("TLS is already running"))
	}
	if err := c.optReply(optStartTLS, repAck, nil); err != nil {
		return err
	}
	if c.br.Buffered() > 0 {
		// The client may not send before our ACK; bytes already here
		// would be plaintext smuggled under the TLS session.
		return fmt.Errorf("%w: data after NBD_OPT_STARTTLS", errHangUp)
	}
	tc := tls.Server(c.raw, c.s.opts.TLS)
	if err := tc.HandshakeContext(c.ctx); err != nil {
		// "If the handshake is unsuccessful ... the server MUST terminate
		// the session".
		return fmt.Errorf("%w: TLS handshake: %v", errHangUp, err)
	}
	c.nc = tc
	c.br = bufio.NewReaderSize(tc, 64<<10)
	c.tls = true
	return nil
}

// lookup finds the export name (asking Options.Resolve first, when set)
// and, when attach is set, registers c on it (under the same lock as
// Remove, so that an export being removed never gains a connection).
func (c *conn) lookup(name string, attach bool) *export {
	for try := 0; ; try++ {
		var (
			dev      Device
			readOnly bool
		)
		c.s.mu.Lock()
		seen := c.s.removals
		c.s.mu.Unlock()
		if c.s.opts.Resolve != nil {
			var err error
			if dev, readOnly, err = c.s.opts.Resolve(c.ctx, name); err != nil {
				c.s.log.Info("nbd: export refused", "export", name, "err", err)
				return nil
			}
		}
		c.s.mu.Lock()
		if c.s.removals != seen && try < 3 {
			c.s.mu.Unlock()
			continue // a Remove came in between: what Resolve read may be stale
		}
		e := c.s.lookupLocked(name, dev, readOnly)
		if e != nil && attach {
			e.conns[c] = struct{}{}
			c.exp = e
		}
		c.s.mu.Unlock()
		return e
	}
}

// lookupLocked is the export name, made from dev when Resolve gave one
// and the name is not exported yet; nil once the server is closed.
func (s *Server) lookupLocked(name string, dev Device, readOnly bool) *export {
	if s.closed {
		return nil
	}
	e := s.exports[name]
	if e == nil && dev != nil && checkName(name) == nil {
		e = &export{name: name, dev: dev, readOnly: readOnly, conns: map[*conn]struct{}{}}
		s.exports[name] = e
	}
	return e
}

// detach undoes lookup's registration when the handshake fails after it.
func (c *conn) detach() {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.exp != nil {
		delete(c.exp.conns, c)
		c.exp = nil
	}
}

// transmissionFlags are the flags advertised for e ("Transmission flags"):
// only what the device really does.
func transmissionFlags(e *export) uint16 {
	f := tflagHasFlags | tflagCanMultiConn
	_, flusher := e.dev.(Flusher)
	if flusher {
		f |= tflagSendFlush
	}
	if e.readOnly {
		return f | tflagReadOnly
	}
	if flusher {
		f |= tflagSendFUA
	}
	if _, ok := e.dev.(Trimmer); ok {
		f |= tflagSendTrim
	}
	return f | tflagSendWriteZeroes
}

func (c *conn) exportSize(e *export) (int64, error) {
	size, err := e.dev.Size(c.ctx)
	if err == nil && size < 0 {
		err = kind.Errorf(kind.Internal, "negative size %d", size)
	}
	return size, err
}

// exportName handles NBD_OPT_EXPORT_NAME: an export that does not exist or
// cannot be sized ends the session, as the option has no error reply.
func (c *conn) exportName(data []byte) (bool, error) {
	e := c.lookup(string(data), true)
	if e == nil {
		return false, fmt.Errorf("%w: NBD_OPT_EXPORT_NAME: no export %q", errHangUp, data)
	}
	size, err := c.exportSize(e)
	if err != nil {
		c.detach()
		c.s.log.Warn("nbd: export size", "export", e.name, "err", err)
		return false, fmt.Errorf("%w: %v", errHangUp, err)
	}
	c.size, c.flags = size, transmissionFlags(e)
	b := make([]byte, 10, 10+zeroPad)
	binary.BigEndian.PutUint64(b[0:], uint64(size))
	binary.BigEndian.PutUint16(b[8:], c.flags)
	if !c.noZeroes {
		b = b[:10+zeroPad]
	}
	if _, err := c.nc.Write(b); err != nil {
		c.detach()
		return false, err
	}
	return true, nil
}

// infoGo handles NBD_OPT_INFO and NBD_OPT_GO (proto.md "NBD_OPT_INFO (6) and
// NBD_OPT_GO (7)"): NBD_INFO_EXPORT always, NBD_INFO_BLOCK_SIZE always (our
// maximum is not the default, so it MUST be sent when asked, and MAY be
// sent unasked), NBD_INFO_NAME when asked, then NBD_REP_ACK.
func (c *conn) infoGo(opt uint32, data []byte) (bool, error) {
	if len(data) < 6 {
		return false, c.optReply(opt, repErrInvalid, []byte("option data too short"))
	}
	nameLen := binary.BigEndian.Uint32(data)
	if uint64(nameLen) > uint64(len(data)-6) {
		return false, c.optReply(opt, repErrInvalid, []byte("name length beyond the option"))
	}
	name := string(data[4 : 4+nameLen])
	rest := data[4+nameLen:]
	nreq := int(binary.BigEndian.Uint16(rest))
	if len(rest) != 2+2*nreq {
		return false, c.optReply(opt, repErrInvalid, []byte("information requests do not match the option length"))
	}
	wantName := false
	for i := 0; i < nreq; i++ {
		if binary.BigEndian.Uint16(rest[2+2*i:]) == infoName {
			wantName = true
		}
	}
	e := c.lookup(name, opt == optGo)
	if e == nil {
		return false, c.optReply(opt, repErrUnknown, []byte("no such export"))
	}
	fail := func(err error) (bool, error) {
		if opt == optGo {
			c.detach()
		}
		return false, err
	}
	size, err := c.exportSize(e)
	if err != nil {
		c.s.log.Warn("nbd: export size", "export", e.name, "err", err)
		// NBD_REP_ERR_UNKNOWN: "The requested export is not available."
		return fail(c.optReply(opt, repErrUnknown, []byte("export not available: "+kind.Message(err))))
	}
	flags := transmissionFlags(e)
	var info [14]byte
	binary.BigEndian.PutUint16(info[0:], infoExport)
	binary.BigEndian.PutUint64(info[2:], uint64(size))
	binary.BigEndian.PutUint16(info[10:], flags)
	if err := c.optReply(opt, repInfo, info[:12]); err != nil {
		return fail(err)
	}
	// "Block size constraints": minimum 1, preferred 4096 (the defaults),
	// maximum MaxRequest.
	binary.BigEndian.PutUint16(info[0:], infoBlockSize)
	binary.BigEndian.PutUint32(info[2:], 1)
	binary.BigEndian.PutUint32(info[6:], preferredBlock)
	binary.BigEndian.PutUint32(info[10:], uint32(c.s.opts.MaxRequest))
	if err := c.optReply(opt, repInfo, info[:14]); err != nil {
		return fail(err)
	}
	if wantName {
		b := make([]byte, 2+len(name))
		binary.BigEndian.PutUint16(b, infoName)
		copy(b[2:], name)
		if err := c.optReply(opt, repInfo, b); err != nil {
			return fail(err)
		}
	}
	if err := c.optReply(opt, repAck, nil); err != nil {
		return fail(err)
	}
	if opt == optInfo {
		return false, nil
	}
	c.size, c.flags = size, flags
	return true, nil
}

// --- Transmission (proto.md "Transmission", "Request types").

// request is one parsed request header.
type request struct {
	flags  uint16
	typ    uint16
	handle uint64
	off    uint64
	length uint32
}

func (c *conn) transmit() {
	e := c.exp
	inFlight := semaphore.NewWeighted(int64(c.s.opts.MaxInFlight))
	var wg sync.WaitGroup
	defer wg.Wait() // every in-flight request is answered before the close
	var h [requestHeaderLen]byte
	for {
		if _, err := io.ReadFull(c.br, h[:]); err != nil {
			return
		}
		if binary.BigEndian.Uint32(h[0:]) != magicRequest {
			// Not a request: the stream cannot be resynchronised, so a
			// hard disconnect ("Terminating the transmission phase").
			return
		}
		r := request{
			flags:  binary.BigEndian.Uint16(h[4:]),
			typ:    binary.BigEndian.Uint16(h[6:]),
			handle: binary.BigEndian.Uint64(h[8:]),
			off:    binary.BigEndian.Uint64(h[16:]),
			length: binary.BigEndian.Uint32(h[24:]),
		}
		if r.typ == cmdDisc {
			// NBD_CMD_DISC: answer what is outstanding (the deferred
			// Wait), then close; it has no reply.
			return
		}
		errno := c.check(e, r)
		var buf []byte
		if r.typ == cmdWrite {
			if errno != 0 || r.length == 0 {
				// The payload follows whatever we think of it; read it
				// off the wire without allocating from its length.
				if err := discard(c.br, int64(r.length)); err != nil {
					return
				}
			} else {
				if err := inFlight.Acquire(c.ctx, int64(r.length)); err != nil {
					return
				}
				buf = getBuf(int(r.length))
				if _, err := io.ReadFull(c.br, buf); err != nil {
					putBuf(buf)
					inFlight.Release(int64(r.length))
					return
				}
			}
		}
		if errno != 0 {
			if c.reply(r.handle, errno, nil) != nil {
				return
			}
			continue
		}
		weight := int64(1)
		if r.typ == cmdRead || r.typ == cmdWrite {
			weight = max(int64(r.length), 1)
		}
		if r.typ != cmdWrite || r.length == 0 {
			if err := inFlight.Acquire(c.ctx, weight); err != nil {
				return
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer inFlight.Release(weight)
			c.do(e, r, buf)
		}()
	}
}

// check validates a request against the export, giving the error value to
// answer it with, or 0 ("Error values").
func (c *conn) check(e *export, r request) uint32 {
	allowed := uint16(0)
	if c.flags&tflagSendFUA != 0 {
		// NBD_CMD_FLAG_FUA "is valid for all commands, provided
		// NBD_FLAG_SEND_FUA has been negotiated".
		allowed |= cmdFlagFUA
	}
	end := r.off + uint64(r.length)
	inRange := end >= r.off && end <= uint64(c.size)
	switch r.typ {
	case cmdRead:
		switch {
		case r.flags&^allowed != 0:
			return errInval
		case r.length > uint32(c.s.opts.MaxRequest):
			return errInval // "Block size constraints": beyond the maximum
		case !inRange:
			return errInval
		}
	case cmdWrite, cmdWriteZeroes, cmdTrim:
		if r.typ == cmdWriteZeroes {
			allowed |= cmdFlagNoHole // FAST_ZERO is not advertised
		}
		if r.typ == cmdTrim && c.flags&tflagSendTrim == 0 && !e.readOnly {
			return errInval // not advertised
		}
		switch {
		case r.flags&^allowed != 0:
			return errInval
		case e.readOnly:
			return errPerm // "SHOULD return EPERM ... on a read-only export"
		case r.typ == cmdWrite && r.length > uint32(c.s.opts.MaxRequest):
			return errInval
		case !inRange && r.typ == cmdTrim:
			return errInval
		case !inRange:
			return errNoSpc // "SHOULD return ENOSPC if it receives a write request ... beyond the size"
		}
	case cmdFlush:
		switch {
		case c.flags&tflagSendFlush == 0:
			return errInval
		case r.flags&^allowed != 0:
			return errInval
		case r.off != 0 || r.length != 0:
			return errInval // "length and offset are reserved, and MUST be set to all-zero"
		}
	default:
		return errInval // "SHOULD return EINVAL if it receives an unknown command"
	}
	return 0
}

// do performs a checked request and answers it.
func (c *conn) do(e *export, r request, buf []byte) {
	off := int64(r.off)
	var err error
	switch r.typ {
	case cmdRead:
		if r.length == 0 {
			_ = c.reply(r.handle, 0, nil)
			return
		}
		buf = getBuf(int(r.length))
		defer putBuf(buf)
		if err = c.live(); err == nil {
			err = readFull(c.ctx, e.dev, buf, off)
		}
		if err != nil {
			_ = c.reply(r.handle, c.errno(e, err), nil)
			return
		}
		_ = c.reply(r.handle, 0, buf)
		return
	case cmdWrite:
		if buf != nil {
			defer putBuf(buf)
		}
		if err = c.live(); err == nil && len(buf) > 0 {
			var n int
			n, err = e.dev.WriteAt(c.ctx, buf, off)
			if err == nil && n < len(buf) {
				err = io.ErrShortWrite
			}
		}
	case cmdWriteZeroes:
		if err = c.live(); err == nil && r.length > 0 {
			err = writeZeroes(c.ctx, e.dev, off, int64(r.length), r.flags&cmdFlagNoHole != 0, c.s.opts.MaxRequest)
		}
	case cmdTrim:
		if err = c.live(); err == nil && r.length > 0 {
			err = e.dev.(Trimmer).Trim(c.ctx, off, int64(r.length))
		}
	case cmdFlush:
		if err = c.live(); err == nil {
			err = e.dev.(Flusher).Flush(c.ctx)
		}
	}
	// NBD_CMD_FLAG_FUA: no reply before the write is persisted ("Ordering
	// of messages and writes").
	if err == nil && r.flags&cmdFlagFUA != 0 && r.typ != cmdFlush && r.typ != cmdRead {
		if f, ok := e.dev.(Flusher); ok {
			err = f.Flush(c.ctx)
		}
	}
	errno := uint32(0)
	if err != nil {
		errno = c.errno(e, err)
	}
	_ = c.reply(r.handle, errno, nil)
}

// live is errShutdown once the connection is being ended, so that requests
// read before then do not touch the device.
func (c *conn) live() error {
	if c.ctx.Err() != nil {
		return errShuttingDown
	}
	return nil
}

var errShuttingDown = errors.New("nbd: export removed or server closing")

func (c *conn) errno(e *export, err error) uint32 {
	if errors.Is(err, errShuttingDown) || c.ctx.Err() != nil {
		return errShutdown
	}
	c.s.log.Warn("nbd: device error", "export", e.name, "err", err)
	return errnoOf(err)
}

// reply sends a simple reply ("Simple reply message"); replies never
// interleave. A write error shuts the connection down.
func (c *conn) reply(handle uint64, errno uint32, data []byte) error {
	var h [16]byte
	binary.BigEndian.PutUint32(h[0:], magicSimpleReply)
	binary.BigEndian.PutUint32(h[4:], errno)
	binary.BigEndian.PutUint64(h[8:], handle)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	bufs := net.Buffers{h[:]}
	if len(data) > 0 {
		bufs = append(bufs, data)
	}
	_, err := bufs.WriteTo(c.nc)
	if err != nil {
		c.shutdown()
	}
	return err
}

func readFull(ctx context.Context, d Device, p []byte, off int64) error {
	n, err := d.ReadAt(ctx, p, off)
	if n == len(p) {
		return nil // io.ReaderAt may give io.EOF with a full read at the end
	}
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// zeroBuf is the source of emulated WRITE_ZEROES (io.WriterAt's contract:
// WriteAt must not modify p).
var zeroBuf = make([]byte, 1<<20)

// writeZeroes zeroes a range with the device's Zeroer, or by writing zero
// buffers of at most chunk bytes.
func writeZeroes(ctx context.Context, d Device, off, length int64, noHole bool, chunk int) error {
	if z, ok := d.(Zeroer); ok {
		return z.WriteZeroes(ctx, off, length, noHole)
	}
	step := min(int64(chunk), int64(len(zeroBuf)))
	for length > 0 {
		p := zeroBuf[:min(length, step)]
		n, err := d.WriteAt(ctx, p, off)
		if err == nil && n < len(p) {
			err = io.ErrShortWrite
		}
		if err != nil {
			return err
		}
		off += int64(n)
		length -= int64(n)
	}
	return nil
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}
