// Package libvirt is the compute backend that runs real QEMU guests through
// libvirtd, spoken to with github.com/digitalocean/go-libvirt (pure Go, no
// cgo). It connects to a local socket (qemu:///system) or a remote daemon
// (qemu+tcp://host/system, qemu+tls://host/system) named by Options.URI.
//
// The backend keeps no state of its own: every machine is a libvirt domain
// and every network a libvirt network whose name is derived from the OCCI id
// ("occi-<id>"), so a restarted server, or one that lost its connection to
// libvirtd, finds them again by name. Disks and interfaces are recognised by
// their libvirt user alias ("ua-<link id>").
//
// Images: an Image.Source names a qcow2 base image (a path under
// Options.ImageDir, or absolute). Each machine boots from its own qcow2
// overlay backed by it (qemu-img create -b), kept in ImageDir/machines. When
// files "<base>.vmlinuz" and "<base>.initrd" lie beside the base image, the
// domain uses direct kernel boot with them (the test guest built by
// scripts/guest-image.sh is such an image); otherwise it boots the disk.
// Overlays and saved images are made with qemu-img on the machine running
// occicdmi, so ImageDir must be the same path for libvirtd (a local daemon, or
// a shared folder mounted at the same place).
package libvirt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	cb "github.com/occicdmi/occicdmi/computebackends"
)

// Name is how the backend is chosen (--compute libvirt).
const Name = "libvirt"

func init() {
	cb.Register(Name, func(ctx context.Context, o cb.Options) (cb.Backend, error) {
		return Open(ctx, o)
	})
}

// Defaults for the bounded waits. Backend fields override them.
const (
	DefaultCallTimeout     = 30 * time.Second
	DefaultShutdownTimeout = 60 * time.Second
	dialTimeout            = 5 * time.Second
)

// Backend is the libvirt compute backend. It is safe for concurrent use.
type Backend struct {
	uri      *url.URL
	imageDir string
	log      *slog.Logger

	// CallTimeout bounds every libvirt call, so a daemon that hangs makes
	// calls fail with ErrUnavailable instead of blocking OCCI requests.
	CallTimeout time.Duration
	// ShutdownTimeout bounds how long Stop and Restart wait for a guest to
	// answer the ACPI power button.
	ShutdownTimeout time.Duration

	mu   sync.Mutex
	conn *golibvirt.Libvirt
}

// Open connects to the libvirt daemon named by o.URI (default
// qemu:///system). A daemon that is down at start is not fatal: the backend
// reconnects on the next call, and calls fail with ErrUnavailable until then.
func Open(ctx context.Context, o cb.Options) (*Backend, error) {
	raw := o.URI
	if raw == "" {
		raw = string(golibvirt.QEMUSystem)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return nil, fmt.Errorf("libvirt: bad URI %q: %w", raw, cb.ErrInvalid)
	}
	imageDir := o.ImageDir
	if imageDir == "" {
		if o.DataDir == "" {
			return nil, fmt.Errorf("libvirt: needs an image folder (--image-dir): %w", cb.ErrInvalid)
		}
		imageDir = filepath.Join(o.DataDir, "images")
	}
	imageDir, err = filepath.Abs(imageDir)
	if err != nil {
		return nil, fmt.Errorf("libvirt: image folder: %w: %v", cb.ErrInvalid, err)
	}
	if err := os.MkdirAll(filepath.Join(imageDir, "machines"), 0o755); err != nil {
		return nil, fmt.Errorf("libvirt: image folder: %w: %v", cb.ErrUnavailable, err)
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	b := &Backend{uri: u, imageDir: imageDir, log: log,
		CallTimeout: DefaultCallTimeout, ShutdownTimeout: DefaultShutdownTimeout}
	b.reachable(filepath.Join(imageDir, "machines", "x"))
	if _, err := b.connect(); err != nil {
		log.Warn("libvirt: daemon not reachable at start; will retry on each call", "uri", raw, "err", err)
	} else if v, err := b.version(ctx); err == nil {
		log.Info("libvirt: connected", "uri", raw, "libvirt", v, "image_dir", imageDir)
	}
	return b, nil
}

// Name implements computebackends.Backend.
func (b *Backend) Name() string { return "libvirt (" + b.uri.Redacted() + ")" }

// Simulated implements computebackends.Backend: real QEMU guests run.
func (b *Backend) Simulated() bool { return false }

// ImageDir is the folder of base images, overlays and saved images.
func (b *Backend) ImageDir() string { return b.imageDir }

// Close implements computebackends.Backend.
func (b *Backend) Close() error {
	b.mu.Lock()
	c := b.conn
	b.conn = nil
	b.mu.Unlock()
	if c != nil && c.IsConnected() {
		done := make(chan error, 1)
		go func() { done <- c.Disconnect() }()
		select {
		case err := <-done:
			return err
		case <-time.After(dialTimeout):
		}
	}
	return nil
}

// connect returns the live connection, dialing a new one when there is none
// or the old one was lost (libvirtd restarted, network cut).
func (b *Backend) connect() (*golibvirt.Libvirt, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn != nil && b.conn.IsConnected() {
		return b.conn, nil
	}
	c, err := dial(b.uri)
	if err != nil {
		return nil, err
	}
	if b.conn != nil {
		b.log.Info("libvirt: reconnected", "uri", b.uri.Redacted())
	}
	b.conn = c
	return c, nil
}

// drop forgets a connection that stopped answering, so the next call dials
// again. The old one is closed in the background: Disconnect may block on a
// daemon that hangs.
func (b *Backend) drop(c *golibvirt.Libvirt) {
	b.mu.Lock()
	if b.conn == c {
		b.conn = nil
	}
	b.mu.Unlock()
	go func() { _ = c.Disconnect() }()
}

// dial opens a connection with a bounded dial time. go-libvirt's own
// ConnectToURI picks the transport from the URI (unix socket, tcp, tls,
// ssh); the handshake runs in a goroutine so that a daemon that accepts but
// never answers cannot hold the caller.
func dial(u *url.URL) (*golibvirt.Libvirt, error) {
	type result struct {
		c   *golibvirt.Libvirt
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := golibvirt.ConnectToURI(u)
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		return r.c, r.err
	case <-time.After(dialTimeout):
		go func() {
			if r := <-ch; r.c != nil {
				_ = r.c.Disconnect()
			}
		}()
		return nil, fmt.Errorf("no answer from libvirtd within %s", dialTimeout)
	}
}

// call runs fn against the connection within the call timeout (and ctx).
// op and id name what failed in the error. Connection problems and timeouts
// come back as ErrUnavailable; libvirt's own errors map to contract kinds.
func (b *Backend) call(ctx context.Context, op, id string, fn func(l *golibvirt.Libvirt) error) error {
	c, err := b.connect()
	if err != nil {
		return fmt.Errorf("libvirt: %s %q: %w: cannot reach libvirtd at %s: %v", op, id, cb.ErrUnavailable, b.uri.Redacted(), err)
	}
	timeout := b.CallTimeout
	if timeout <= 0 {
		timeout = DefaultCallTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- fn(c) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			// A daemon that does not answer in time is treated as gone:
			// the next call dials afresh.
			b.drop(c)
			return fmt.Errorf("libvirt: %s %q: %w: libvirtd at %s did not answer within %s", op, id, cb.ErrUnavailable, b.uri.Redacted(), timeout)
		}
		return fmt.Errorf("libvirt: %s %q: %w", op, id, ctx.Err())
	}
	if err == nil {
		return nil
	}
	var lerr golibvirt.Error
	if !errors.As(err, &lerr) {
		// Not an answer from libvirtd: the connection broke mid-call.
		// Forget it, also when go-libvirt has not noticed yet (a write
		// that failed with EPIPE leaves IsConnected true for a while), so
		// that the next call dials afresh instead of failing again.
		if !c.IsConnected() || brokenConn(err) {
			b.drop(c)
		}
		return fmt.Errorf("libvirt: %s %q: %w: lost libvirtd at %s: %v", op, id, cb.ErrUnavailable, b.uri.Redacted(), err)
	}
	return fmt.Errorf("libvirt: %s %q: %w: %s", op, id, kindOf(lerr), lerr.Message)
}

// brokenConn tells a transport failure of the connection itself (the
// daemon went away under it) from other errors of a call.
func brokenConn(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}

// kindOf maps a libvirt error code to a contract kind.
func kindOf(e golibvirt.Error) error {
	switch golibvirt.ErrorNumber(e.Code) {
	case golibvirt.ErrNoDomain, golibvirt.ErrNoNetwork, golibvirt.ErrNoStorageVol, golibvirt.ErrDeviceMissing:
		return cb.ErrNotFound
	case golibvirt.ErrDomExist, golibvirt.ErrNetworkExist:
		return cb.ErrExists
	case golibvirt.ErrOperationInvalid:
		return cb.ErrConflict
	case golibvirt.ErrXMLError, golibvirt.ErrInvalidArg, golibvirt.ErrConfigUnsupported:
		return cb.ErrInvalid
	case golibvirt.ErrNoSupport, golibvirt.ErrOperationUnsupported:
		return cb.ErrUnsupported
	default:
		// Internal, system, RPC, timeout and operation-failed errors are
		// the daemon's or the hypervisor's trouble, not the client's.
		return cb.ErrUnavailable
	}
}

// Ping asks libvirtd its version over the connection (dialing one when
// there is none): a daemon that is down or hangs fails it
// (computebackends.Pinger). A connection that broke while the daemon was
// away fails its first call; Ping then asks once more, on a fresh one, so
// that a daemon that is back reads as up.
func (b *Backend) Ping(ctx context.Context) error {
	_, err := b.version(ctx)
	if errors.Is(err, cb.ErrUnavailable) && ctx.Err() == nil {
		_, err = b.version(ctx)
	}
	return err
}

func (b *Backend) version(ctx context.Context) (string, error) {
	var v uint64
	err := b.call(ctx, "version", "", func(l *golibvirt.Libvirt) (err error) {
		v, err = l.ConnectGetLibVersion()
		return err
	})
	return fmt.Sprintf("%d.%d.%d", v/1000000, v/1000%1000, v%1000), err
}
