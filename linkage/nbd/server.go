// Package nbd serves block devices over the NBD protocol (NetworkBlockDevice's
// doc/proto.md), so that QEMU's nbd driver, the kernel's nbd client or
// libnbd tools can attach any volume occicdmi stores (fs, S3, RBD).
//
// It implements the server side of the fixed newstyle handshake with
// NBD_OPT_GO/INFO/EXPORT_NAME/LIST/ABORT/STARTTLS, and the transmission phase
// with simple replies: READ, WRITE (with FUA), FLUSH, TRIM, WRITE_ZEROES and
// DISC. Structured replies, metadata contexts (block status) and extended
// headers are refused with NBD_REP_ERR_UNSUP, which every client handles by
// falling back to simple replies.
//
// A [Server] holds named exports, each made by [Server.Add] for one [Device]
// and removed by [Server.Remove], which ends that export's connections. The
// linkage implements Device over a storagebackends.Volumes volume.
package nbd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/occicdmi/occicdmi/internal/kind"
)

// Device is the block device behind an export. Its methods may be called
// concurrently (several requests of one connection, and several connections
// to one export); they must honour ctx, which is cancelled when the export is
// removed or the server closed. Offsets and lengths are always within the
// size the export had when the client connected.
//
// A short read or write must come with an error. Errors are mapped to NBD
// error values: kind.Invalid to EINVAL, kind.Forbidden and EPERM/EROFS to
// EPERM, ENOSPC/EDQUOT/EFBIG to ENOSPC, anything else (kind.Unavailable
// included) to EIO.
type Device interface {
	ReadAt(ctx context.Context, p []byte, off int64) (int, error)
	WriteAt(ctx context.Context, p []byte, off int64) (int, error)
	Size(ctx context.Context) (int64, error)
}

// Flusher is implemented by a Device with a write cache. Flush makes durable
// every write that has completed on the device, whichever connection made
// it (that is what lets the server advertise NBD_FLAG_CAN_MULTI_CONN). Only
// a Flusher's exports advertise NBD_FLAG_SEND_FLUSH and NBD_FLAG_SEND_FUA;
// a Device that is not a Flusher should make each write durable before
// WriteAt returns.
type Flusher interface {
	Flush(ctx context.Context) error
}

// Trimmer is implemented by a Device that can discard a range (which then
// reads as anything, proto.md NBD_CMD_TRIM). Only a Trimmer's writable
// exports advertise NBD_FLAG_SEND_TRIM.
type Trimmer interface {
	Trim(ctx context.Context, off, length int64) error
}

// Zeroer is implemented by a Device that can zero a range faster than by
// writing zeros. The range must read back as zeros; with noHole it must
// also stay allocated (NBD_CMD_FLAG_NO_HOLE). Without a Zeroer, the server
// writes zero buffers itself, so NBD_CMD_WRITE_ZEROES works on every
// writable export.
type Zeroer interface {
	WriteZeroes(ctx context.Context, off, length int64, noHole bool) error
}

// Options configure a Server. The zero value is usable: no TLS, 32 MiB
// requests, the default handshake timeout.
type Options struct {
	// TLS, when set, lets clients upgrade with NBD_OPT_STARTTLS, and makes
	// TLS mandatory on every listener that is not a Unix socket
	// (proto.md "FORCEDTLS mode": options other than STARTTLS and ABORT
	// are refused with NBD_REP_ERR_TLS_REQD). On a Unix socket TLS is
	// offered but not required. Its MinVersion is raised to TLS 1.2
	// ("TLS versions"). Client authentication is this config's business
	// (ClientAuth, ClientCAs).
	TLS *tls.Config
	// MaxRequest bounds the length of one READ or WRITE (and is advertised
	// as the maximum block size). Zero means 32 MiB, proto.md's largest
	// length that SHOULD NOT be considered a denial of service.
	MaxRequest int
	// MaxInFlight bounds the bytes of request buffers one connection holds
	// at once; zero means 2*MaxRequest. It is at least MaxRequest.
	MaxInFlight int
	// HandshakeTimeout bounds the whole handshake (and the TLS handshake
	// within it); zero means 30 seconds.
	HandshakeTimeout time.Duration
	// DisableList refuses NBD_OPT_LIST with NBD_REP_ERR_POLICY, so that a
	// client must know an export's name to use it.
	DisableList bool
	// Logger receives device errors and refused connections; nil means
	// slog.Default().
	Logger *slog.Logger
	// Resolve, when set, decides every time a client asks for an export
	// (NBD_OPT_GO, NBD_OPT_INFO, NBD_OPT_EXPORT_NAME) whether name may be
	// served now, and with which device: an error refuses it (the client
	// hears "no such export"); a name not exported yet is then exported
	// with the device it returns, as by Add. It lets state kept elsewhere
	// (a database several servers share) say which exports exist. Without
	// it, the exports are those Added.
	Resolve func(ctx context.Context, name string) (dev Device, readOnly bool, err error)
}

const defaultMaxRequest = 32 << 20

// Server serves named exports over NBD. Its methods are safe for concurrent
// use.
type Server struct {
	opts Options
	log  *slog.Logger

	mu        sync.Mutex
	exports   map[string]*export
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closed    bool
	removals  uint64         // Removes so far: a Resolve that raced one is redone
	wg        sync.WaitGroup // connection goroutines
}

// export is one name bound to one device, for as long as it exists.
type export struct {
	name     string
	dev      Device
	readOnly bool
	conns    map[*conn]struct{} // connections in transmission on it
	removed  bool
}

// NewServer returns a Server with no exports.
func NewServer(opts Options) *Server {
	if opts.MaxRequest <= 0 {
		opts.MaxRequest = defaultMaxRequest
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 2 * opts.MaxRequest
	}
	if opts.MaxInFlight < opts.MaxRequest {
		opts.MaxInFlight = opts.MaxRequest
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = 30 * time.Second
	}
	if opts.TLS != nil {
		cfg := opts.TLS.Clone()
		if cfg.MinVersion < tls.VersionTLS12 {
			cfg.MinVersion = tls.VersionTLS12
		}
		opts.TLS = cfg
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Server{
		opts:      opts,
		log:       log,
		exports:   map[string]*export{},
		listeners: map[net.Listener]struct{}{},
		conns:     map[*conn]struct{}{},
	}
}

// Add exports dev under name (a string of at most 4096 bytes of UTF-8
// without NUL, proto.md "Conventions"; the empty name is the default
// export). A read-only export advertises NBD_FLAG_READ_ONLY and answers
// writes with EPERM. A name already exported is kind.Exists: Remove it first,
// so that no client of the old device is handed the new one.
func (s *Server) Add(name string, dev Device, readOnly bool) error {
	if err := checkName(name); err != nil {
		return err
	}
	if dev == nil {
		return kind.New(kind.Invalid, "nbd: nil device")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return kind.New(kind.Unavailable, "nbd: server closed")
	}
	if _, ok := s.exports[name]; ok {
		return kind.Errorf(kind.Exists, "nbd: export %q already exists", name)
	}
	s.exports[name] = &export{name: name, dev: dev, readOnly: readOnly, conns: map[*conn]struct{}{}}
	return nil
}

func checkName(name string) error {
	switch {
	case len(name) > maxString:
		return kind.Errorf(kind.Invalid, "nbd: export name of %d bytes is longer than %d", len(name), maxString)
	case !utf8.ValidString(name):
		return kind.New(kind.Invalid, "nbd: export name is not UTF-8")
	}
	for i := 0; i < len(name); i++ {
		if name[i] == 0 {
			return kind.New(kind.Invalid, "nbd: export name contains NUL")
		}
	}
	return nil
}

// Remove withdraws the export name: new clients no longer find it, and its
// open connections are ended (in-flight requests have their context
// cancelled and are answered ESHUTDOWN when they fail, proto.md
// "Terminating the transmission phase"). Remove returns once no request of
// those connections can touch the device any more. Removing a name that is
// not exported does nothing.
func (s *Server) Remove(name string) {
	s.mu.Lock()
	s.removals++ // also when not exported here: a Resolve under way must look again
	e, ok := s.exports[name]
	if !ok {
		s.mu.Unlock()
		return
	}
	delete(s.exports, name)
	e.removed = true
	conns := make([]*conn, 0, len(e.conns))
	for c := range e.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.shutdown()
	}
	for _, c := range conns {
		<-c.done
	}
}

// Exports lists the names exported now.
func (s *Server) Exports() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.exports))
	for n := range s.exports {
		names = append(names, n)
	}
	return names
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("nbd: server closed")

// privateListener marks a TCP listener on an address the operator named
// private, where NBD may run without TLS.
type privateListener struct{ net.Listener }

// Private marks ln as listening on a private address (a host-only network,
// a loopback address), where Serve may speak NBD without TLS. Use it only on
// the operator's explicit word; ListenTCP does it for private=true.
func Private(ln net.Listener) net.Listener { return privateListener{ln} }

// Serve accepts connections on ln and serves them until ln fails or the
// server is closed (then it returns ErrServerClosed). On a Unix socket TLS is
// optional. On any other listener TLS is required, and without Options.TLS
// Serve refuses (kind.Invalid) unless ln was marked with Private.
func (s *Server) Serve(ln net.Listener) error {
	requireTLS := false
	_, unix := ln.(*net.UnixListener)
	if pl, ok := ln.(privateListener); ok {
		_, unix = pl.Listener.(*net.UnixListener)
	}
	switch {
	case unix:
	case s.opts.TLS != nil:
		requireTLS = true
	default:
		if _, ok := ln.(privateListener); !ok {
			return kind.Errorf(kind.Invalid, "nbd: refusing to serve %s %s without TLS: set Options.TLS, or mark the listener Private", ln.Addr().Network(), ln.Addr())
		}
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors and the like: wait and retry, as
			// net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("nbd: accept", "addr", ln.Addr(), "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		if !s.serveConn(nc, requireTLS) {
			return ErrServerClosed
		}
	}
}

// serveConn starts serving nc in its own goroutine; false when the server
// is closed (nc is then closed).
func (s *Server) serveConn(nc net.Conn, requireTLS bool) bool {
	c := newConn(s, nc, requireTLS)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = nc.Close()
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		c.serve()
		s.mu.Lock()
		delete(s.conns, c)
		if c.exp != nil {
			delete(c.exp.conns, c)
		}
		s.mu.Unlock()
	}()
	return true
}

// Close stops every listener and ends every connection (in-flight requests
// are cancelled and answered ESHUTDOWN when they fail), then waits until no
// request can touch a device. Exports are forgotten.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	var errs []error
	for ln := range s.listeners {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	for _, e := range s.exports {
		e.removed = true
	}
	s.exports = map[string]*export{}
	s.mu.Unlock()
	for _, c := range conns {
		c.shutdown()
	}
	s.wg.Wait()
	return errors.Join(errs...)
}

// ListenUnix listens on a Unix socket at path, for a hypervisor on this
// host. A stale socket left at path by a dead server is replaced; any other
// file there is an error. The socket is made with mode 0600 and removed
// when the listener is closed.
//
// QEMU must be able to connect: the caller makes the socket reachable by the
// user QEMU runs as (libvirt-qemu on Debian), for instance by putting it in a
// directory of group libvirt-qemu and mode 0750, and chown/chmod of the
// socket (0660, group libvirt-qemu), or by ACLs. Connecting is all a client
// needs, so whoever can connect can read and write every export: the socket
// is the access control.
func ListenUnix(path string) (*net.UnixListener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, kind.Errorf(kind.Exists, "nbd: %s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			_ = c.Close()
			return nil, kind.Errorf(kind.Exists, "nbd: %s is in use by a running server", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("nbd: removing stale socket: %w", err)
		}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("nbd: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("nbd: %w", err)
	}
	return ln, nil
}

// ListenTCP listens on the TCP address addr for Serve, for a hypervisor on
// another host. Without Options.TLS it refuses (kind.Invalid) unless private
// is true, the operator's word that addr is on a network only trusted hosts
// reach; a private listener is marked with Private.
func (s *Server) ListenTCP(addr string, private bool) (net.Listener, error) {
	if s.opts.TLS == nil && !private {
		return nil, kind.Errorf(kind.Invalid, "nbd: NBD over TCP on %s needs TLS, or the operator's word that the address is private", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("nbd: %w", err)
	}
	if private && s.opts.TLS == nil {
		return Private(ln), nil
	}
	return ln, nil
}

// discard reads and drops n bytes from r without allocating from n.
func discard(r io.Reader, n int64) error {
	_, err := io.CopyN(io.Discard, r, n)
	return err
}
