package linkage

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"

	cb "github.com/occicdmi/occicdmi/computebackends"
	"github.com/occicdmi/occicdmi/internal/kind"
	"github.com/occicdmi/occicdmi/linkage/nbd"
	"github.com/occicdmi/occicdmi/storagebackends"
)

// qemuGroup is the group QEMU runs as under Debian's libvirt: the NBD
// socket is made reachable to it, and to no one else.
const qemuGroup = "libvirt-qemu"

// startNBD listens on the NBD socket and, when configured, on TCP, and
// serves in the background.
func (l *Linkage) startNBD() error {
	l.nbd = nbd.NewServer(nbd.Options{DisableList: true, TLS: l.cfg.NBDTLS, Logger: l.log, Resolve: l.resolveNBD})
	var lns []net.Listener
	fail := func(err error) error {
		for _, ln := range lns {
			_ = ln.Close()
		}
		return err
	}
	if l.cfg.NBDSocket != "" {
		ln, err := l.listenUnix()
		if err != nil {
			return err
		}
		lns = append(lns, ln)
	}
	if l.cfg.NBDListen != "" {
		ln, err := l.nbd.ListenTCP(l.cfg.NBDListen, l.cfg.NBDPrivate)
		if err != nil {
			return fail(fmt.Errorf("linkage: NBD over TCP: %w", err))
		}
		lns = append(lns, ln)
		l.nbdTCP = l.cfg.NBDAddress
		if l.nbdTCP == "" {
			l.nbdTCP = ln.Addr().String()
		}
	}
	for _, ln := range lns {
		go func(ln net.Listener) {
			if err := l.nbd.Serve(ln); err != nil && err != nbd.ErrServerClosed {
				l.log.Error("NBD server stopped", "address", ln.Addr().String(), "err", err)
			}
		}(ln)
	}
	l.log.Info("serving volumes over NBD", "socket", l.cfg.NBDSocket, "tcp", l.cfg.NBDListen, "qemu_dials", l.nbdTCP,
		"tls", l.cfg.NBDTLS != nil, "private", l.cfg.NBDPrivate)
	return nil
}

// listenUnix listens on the NBD socket, reachable to QEMU.
func (l *Linkage) listenUnix() (net.Listener, error) {
	dir := filepath.Dir(l.cfg.NBDSocket)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("linkage: NBD socket folder: %w", err)
	}
	ln, err := nbd.ListenUnix(l.cfg.NBDSocket)
	if err != nil {
		return nil, fmt.Errorf("linkage: NBD socket: %w", err)
	}
	if err := shareWithQEMU(dir, l.cfg.NBDSocket); err != nil {
		_ = ln.Close()
		return nil, err
	}
	return ln, nil
}

// shareWithQEMU gives the socket and its folder to QEMU's group (0660 and
// 0750), and lets it pass through the folders above (o+x), when that group
// exists; without it (no libvirt here) the socket stays the server's own.
func shareWithQEMU(dir, socket string) error {
	g, err := user.LookupGroup(qemuGroup)
	if err != nil {
		return nil
	}
	gid, _ := strconv.Atoi(g.Gid)
	for _, p := range []string{dir, socket} {
		if err := os.Chown(p, -1, gid); err != nil {
			return fmt.Errorf("linkage: give %s to group %s: %w", p, qemuGroup, err)
		}
	}
	if err := os.Chmod(socket, 0o660); err != nil {
		return fmt.Errorf("linkage: NBD socket mode: %w", err)
	}
	for p := filepath.Dir(dir); p != "/" && p != "."; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return nil
		}
		if st.Mode().Perm()&0o001 == 0 {
			_ = os.Chmod(p, st.Mode().Perm()|0o001)
		}
	}
	return nil
}

// exportNBD serves the volume of an export (if it is not served yet, and
// the export is not offline) and tells QEMU where: the TCP address when
// NBD is served over TCP (with TLS unless private), else the socket; the
// export is named by the container's objectID.
func (l *Linkage) exportNBD(row *export) (cb.VolumeSource, error) {
	if l.nbd == nil {
		return cb.VolumeSource{}, kind.New(kind.Unavailable, "the NBD server is not running")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.exported[row.ContainerID] && !row.Offline { // online serves it again
		dev := volumeDevice{vols: l.cfg.Volumes, name: row.Volume}
		if err := l.nbd.Add(row.ContainerID, dev, false); err != nil && kind.Of(err) != kind.Exists {
			return cb.VolumeSource{}, fmt.Errorf("serve %s over NBD: %w", row.Path, err)
		}
		l.exported[row.ContainerID] = true
	}
	if l.nbdTCP != "" {
		return cb.VolumeSource{Type: "nbd", Host: l.nbdTCP, TLS: l.cfg.NBDTLS != nil, Image: row.ContainerID, Format: "raw"}, nil
	}
	return cb.VolumeSource{Type: "nbd", Path: l.cfg.NBDSocket, Image: row.ContainerID, Format: "raw"}, nil
}

// unexportNBD stops serving a volume: its connections end. (It is called
// also for exports another server process made, which this one may have
// served through resolveNBD.)
func (l *Linkage) unexportNBD(containerID string) {
	if l.nbd == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.nbd.Remove(containerID)
	delete(l.exported, containerID)
}

// resolveNBD is asked before every NBD client is given an export: the
// database, which every server process sharing it sees alike, says
// whether the export exists, is exported over NBD, is online and has a
// storagelink. So any process serves any live export (QEMU may reach
// whichever the operator points it at), and none serves one whose link,
// export or online state another process took away.
func (l *Linkage) resolveNBD(ctx context.Context, name string) (nbd.Device, bool, error) {
	if !l.connected.Load() {
		return nil, false, kind.New(kind.Unavailable, "the linkage is not connected yet")
	}
	row, err := l.byContainer(ctx, nil, name)
	if err != nil {
		return nil, false, err
	}
	switch {
	case row.Protocol != "NBD":
		return nil, false, kind.Errorf(kind.NotFound, "%s is exported over OCCI/%s, not NBD", row.Path, row.Protocol)
	case row.Offline:
		return nil, false, kind.Errorf(kind.Conflict, "%s is offline", row.Path)
	}
	links, err := l.linksTo(ctx, row.StorageID)
	if err != nil {
		return nil, false, err
	}
	if len(links) == 0 {
		return nil, false, kind.Errorf(kind.NotFound, "no storagelink attaches %s", row.Path)
	}
	return volumeDevice{vols: l.cfg.Volumes, name: row.Volume}, false, nil
}

// reexport serves again, after a restart, the NBD volumes that have
// storagelinks (their machines reconnect to the socket).
func (l *Linkage) reexport(ctx context.Context) error {
	if l.nbd == nil {
		return nil
	}
	var rows []export
	if err := l.cfg.DB.WithContext(ctx).Where("protocol = ?", "NBD").Find(&rows).Error; err != nil {
		return fmt.Errorf("linkage: read the exports: %w", err)
	}
	for i := range rows {
		links, err := l.linksTo(ctx, rows[i].StorageID)
		if err != nil {
			return err
		}
		if len(links) > 0 {
			if _, err := l.exportNBD(&rows[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// volumeDevice is a volume as an NBD device.
type volumeDevice struct {
	vols storagebackends.Volumes
	name string
}

func (d volumeDevice) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	return d.vols.ReadAt(ctx, d.name, p, off)
}

func (d volumeDevice) WriteAt(ctx context.Context, p []byte, off int64) (int, error) {
	return d.vols.WriteAt(ctx, d.name, p, off)
}

func (d volumeDevice) Size(ctx context.Context) (int64, error) {
	return d.vols.VolumeSize(ctx, d.name)
}
