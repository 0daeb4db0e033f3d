//go:build ceph

// Package rbd keeps volumes as Ceph RBD images and values as RADOS objects,
// through go-ceph (cgo, librados/librbd). It is built only with the `ceph`
// build tag (and `pacific` for Debian 12's Ceph), so the default build needs
// no Ceph libraries.
package rbd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/ceph/go-ceph/rados"

	"github.com/occicdmi/occicdmi/storagebackends"
)

func init() {
	storagebackends.RegisterVolumes("rbd", func(ctx context.Context, o storagebackends.Options) (storagebackends.Volumes, error) {
		c, err := Connect(ctx, o)
		if err != nil {
			return nil, err
		}
		v, err := c.Volumes()
		if err != nil {
			c.Close()
			return nil, err
		}
		v.owned = true
		return v, nil
	})
	storagebackends.RegisterObjects("rados", func(ctx context.Context, o storagebackends.Options) (storagebackends.Objects, error) {
		c, err := Connect(ctx, o)
		if err != nil {
			return nil, err
		}
		objs, err := c.Objects()
		if err != nil {
			c.Close()
			return nil, err
		}
		objs.owned = true
		return objs, nil
	})
}

// Timeouts, in seconds, given to librados: without them an operation on a
// cluster whose OSD or monitor is gone waits forever. With them it fails
// with ETIMEDOUT, which we report as ErrUnavailable; the connection itself
// recovers when the daemons come back.
const (
	mountTimeout = "10"
	opTimeout    = "15"
)

// Cluster is a connection to one pool of a Ceph cluster.
type Cluster struct {
	conn     *rados.Conn
	pool     string
	confFile string
}

// Connect reads o.CephConf (or Ceph's default search when empty) and
// connects to the cluster.
func Connect(ctx context.Context, o storagebackends.Options) (*Cluster, error) {
	pool := o.CephPool
	if pool == "" {
		pool = "rbd"
	}
	conn, err := rados.NewConn()
	if err != nil {
		return nil, mapErr("connect", "", err)
	}
	if o.CephConf != "" {
		err = conn.ReadConfigFile(o.CephConf)
	} else {
		err = conn.ReadDefaultConfigFile()
	}
	if err != nil {
		return nil, fmt.Errorf("ceph: reading %q: %w: %v", o.CephConf, storagebackends.ErrInvalid, err)
	}
	for k, v := range map[string]string{
		"client_mount_timeout": mountTimeout,
		"rados_mon_op_timeout": opTimeout,
		"rados_osd_op_timeout": opTimeout,
	} {
		if err := conn.SetConfigOption(k, v); err != nil {
			return nil, fmt.Errorf("ceph: option %s: %w: %v", k, storagebackends.ErrInvalid, err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- conn.Connect() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		// Connect ends by itself within client_mount_timeout.
		go func() {
			if <-done == nil {
				conn.Shutdown()
			}
		}()
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, mapErr("connect to", o.CephConf, err)
	}
	c := &Cluster{conn: conn, pool: pool, confFile: o.CephConf}
	// Fail now, plainly, if the pool is missing.
	ioctx, err := conn.OpenIOContext(pool)
	if err != nil {
		conn.Shutdown()
		return nil, mapErr("open pool", pool, err)
	}
	ioctx.Destroy()
	return c, nil
}

// Close ends the connection.
func (c *Cluster) Close() { c.conn.Shutdown() }

// monitors lists the monitors' addresses as host:port, the legacy (v1)
// ones where given: that is what QEMU's rbd driver and libvirt's <host>
// elements expect. mon_host looks like "[v2:127.0.0.1:3300,v1:127.0.0.1:6789]"
// or "10.0.0.1,10.0.0.2:6789".
func (c *Cluster) monitors() []string {
	s, err := c.conn.GetConfigOption("mon_host")
	if err != nil {
		return nil
	}
	return parseMonHost(s)
}

func parseMonHost(s string) []string {
	var v1, v2, bare []string
	for _, group := range strings.Fields(strings.NewReplacer("[", " [", "]", "] ").Replace(s)) {
		group = strings.Trim(group, "[],")
		for _, a := range strings.FieldsFunc(group, func(r rune) bool { return r == ',' || r == ';' }) {
			a, _, _ = strings.Cut(a, "/") // drop a "/nonce"
			switch {
			case strings.HasPrefix(a, "v1:"):
				v1 = append(v1, strings.TrimPrefix(a, "v1:"))
			case strings.HasPrefix(a, "v2:"):
				v2 = append(v2, strings.TrimPrefix(a, "v2:"))
			case a != "":
				if !strings.Contains(a, ":") {
					a += ":6789"
				}
				bare = append(bare, a)
			}
		}
	}
	if out := append(v1, bare...); len(out) > 0 {
		return out
	}
	return v2
}

// user is the cephx user hypervisors should use, empty when cephx is off.
func (c *Cluster) user() string {
	auth, _ := c.conn.GetConfigOption("auth_client_required")
	if !strings.Contains(auth, "cephx") {
		return ""
	}
	name, _ := c.conn.GetConfigOption("name")
	return strings.TrimPrefix(name, "client.")
}

// mapErr turns a librados/librbd errno into one of the portable kinds.
func mapErr(op, name string, err error) error {
	if err == nil {
		return nil
	}
	what := fmt.Sprintf("ceph: %s %q", op, name)
	for _, kind := range []error{storagebackends.ErrInvalid, storagebackends.ErrNotFound, storagebackends.ErrExists, storagebackends.ErrUnavailable, storagebackends.ErrUnsupported} {
		if errors.Is(err, kind) {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", what, err)
	}
	if code := errno(err); code != 0 {
		switch code {
		case syscall.ENOENT:
			return fmt.Errorf("%s: %w (%v)", what, storagebackends.ErrNotFound, err)
		case syscall.EEXIST:
			return fmt.Errorf("%s: %w (%v)", what, storagebackends.ErrExists, err)
		case syscall.EINVAL, syscall.ERANGE, syscall.EFBIG, syscall.ENAMETOOLONG:
			return fmt.Errorf("%s: %w (%v)", what, storagebackends.ErrInvalid, err)
		case syscall.ENOTSUP, syscall.ENOSYS:
			return fmt.Errorf("%s: %w (%v)", what, storagebackends.ErrUnsupported, err)
		case syscall.ENOSPC, syscall.EDQUOT:
			// A full cluster or a pool quota: 507, not "unavailable".
			return fmt.Errorf("%s: %w (%v)", what, storagebackends.ErrNoSpace, err)
		}
	}
	// ETIMEDOUT (an OSD or monitor gone past the op timeout), ENOTCONN,
	// ESHUTDOWN, EIO, EBUSY and the rest: the cluster cannot serve us now.
	return fmt.Errorf("%s: %w: %v", what, storagebackends.ErrUnavailable, err)
}

// errno is the errno a librados/librbd error carries, 0 for others.
func errno(err error) syscall.Errno {
	var coded interface{ ErrorCode() int }
	if errors.As(err, &coded) {
		return syscall.Errno(max(coded.ErrorCode(), -coded.ErrorCode()))
	}
	return 0
}

// escape makes a caller's name a safe RADOS/RBD name: RBD's tools read "/"
// and "@" as pool and snapshot separators, so everything but letters,
// digits, ".", "_" and "-" becomes %XX.
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '.' || ch == '_' || ch == '-' {
			b.WriteByte(ch)
		} else {
			fmt.Fprintf(&b, "%%%02X", ch)
		}
	}
	return b.String()
}
