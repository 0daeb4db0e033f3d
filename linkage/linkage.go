// Package linkage joins the two protocols where both standards point: an
// OCCI storage resource and a CDMI container exported to OCCI (CDMI 1.1.1
// §13.6, export type "OCCI/<protocol>") are one object, with one block
// volume behind them, named by the container's objectID; an OCCI
// StorageLink to it (or whose occi.storagelink.deviceid is that objectID,
// OCCI Infrastructure "Linking to CDMI Managed Storage") attaches the
// volume to the compute, over the export's protocol.
//
// It is the only package that knows both protocols: it implements
// cdmi.ExportHook (the CDMI-first flow of §13.1) and occi.Volumes (the
// OCCI-first flow), and calls each protocol's Service for the other side.
//
// Transports (the protocol after "OCCI/") are what QEMU really uses:
//   - NBD: this server serves the volume over the NBD protocol on a Unix
//     socket (package linkage/nbd), for every volume backend;
//   - RBD: QEMU's rbd driver opens the Ceph image itself, when the
//     volumes live in Ceph.
package linkage

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/cdmi"
	cb "github.com/occicdmi/occicdmi/computebackends"
	"github.com/occicdmi/occicdmi/internal/kind"
	"github.com/occicdmi/occicdmi/linkage/nbd"
	"github.com/occicdmi/occicdmi/occi"
	"github.com/occicdmi/occicdmi/storagebackends"
)

// The linkage's OCCI mixin: a storage that is a CDMI container carries it,
// with the container's objectID and URI, so a client can go from one side
// to the other.
const (
	MixinScheme   = "http://schemas.occicdmi.org/occi/linkage#"
	MixinCDMI     = MixinScheme + "cdmi"
	AttrObjectID  = "occicdmi.cdmi.objectid"
	AttrContainer = "occicdmi.cdmi.container"
)

// DefaultSize is the size of a volume made for a CDMI container exported
// to OCCI without cdmi_assignedsize: 1 GiB.
const DefaultSize = 1 << 30

// Config is what the linkage needs.
type Config struct {
	DB      *gorm.DB
	Volumes storagebackends.Volumes
	// DiskResizer is the compute backend OCCI uses, when it can give a
	// running machine a new disk size: a running compute whose RBD disk
	// grows is told through it. Nil: a resize of a volume a running
	// compute links is refused.
	DiskResizer cb.DiskResizer
	// RBD says the volumes live in Ceph, so QEMU can open them itself
	// (OCCI/RBD) beside NBD.
	RBD bool
	// NBDSocket is the Unix socket the NBD server listens on (QEMU
	// connects to it); "" serves no NBD.
	NBDSocket string
	// NBDListen is a TCP address (host:port) the NBD server listens on
	// for a hypervisor on another host; QEMU is then told to dial it
	// (NBDAddress) instead of the socket. TCP needs NBDTLS (STARTTLS is
	// then required, NBD's FORCEDTLS mode) unless NBDPrivate says the
	// operator named the address private.
	NBDListen string
	// NBDAddress is the host:port QEMU dials (default: the address
	// NBDListen is bound to).
	NBDAddress string
	NBDTLS     *tls.Config
	NBDPrivate bool
	// StoragePath is the CDMI path (below the root, ending in "/") of the
	// containers made for OCCI-first storage: "/occi-storage/" by default.
	StoragePath string
	Logger      *slog.Logger
	// Principal says who an OCCI request acts for in CDMI terms (CDMI
	// 1.1.1 §16.1): the owner of the containers of the storage it creates,
	// and whose ACL access to a container a storagelink naming it by
	// deviceid is checked against. Nil: the server's administrator
	// (no authentication).
	Principal func(context.Context) cdmi.Principal
}

// Linkage is the OCCI–CDMI linkage. Make it with New, hand it to OCCI (as
// occi.Config.Volumes, with Categories) and CDMI (as cdmi.Config.ExportHook),
// then Connect the two services.
type Linkage struct {
	cfg  Config
	log  *slog.Logger
	occi *occi.Service
	cdmi *cdmi.Service
	nbd  *nbd.Server
	// nbdTCP is the address QEMU dials when NBD is served over TCP ("":
	// the socket).
	nbdTCP string

	connected     atomic.Bool // set once occi and cdmi are (the NBD server runs before)
	mu            sync.Mutex
	exported      map[string]bool // NBD exports being served, by container ID
	storagePathMu sync.Mutex      // one maker of StoragePath's container at a time (ensureStoragePath)
}

// New prepares the linkage and starts its NBD server when configured.
func New(cfg Config) (*Linkage, error) {
	if cfg.DB == nil || cfg.Volumes == nil {
		return nil, fmt.Errorf("linkage: a database and a volume backend are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.StoragePath == "" {
		cfg.StoragePath = "/occi-storage/"
	}
	l := &Linkage{cfg: cfg, log: cfg.Logger, exported: map[string]bool{}}
	if cfg.NBDSocket != "" || cfg.NBDListen != "" {
		if err := l.startNBD(); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Connect gives the linkage the two services it calls, sweeps what a crash
// left half made, and serves the NBD exports of the volumes attached
// before a restart.
func (l *Linkage) Connect(ctx context.Context, o *occi.Service, c *cdmi.Service) error {
	l.occi, l.cdmi = o, c
	l.connected.Store(true)
	if err := l.sweep(ctx); err != nil {
		return err
	}
	return l.reexport(ctx)
}

// Close stops the NBD server.
func (l *Linkage) Close() error {
	if l.nbd == nil {
		return nil
	}
	return l.nbd.Close()
}

// Categories are the linkage's OCCI mixins (for occi.Config.Categories).
func Categories() []*occi.Category {
	return []*occi.Category{{
		Term: "cdmi", Scheme: MixinScheme, Class: occi.ClassMixin,
		Title:    "Storage that is a CDMI container exported to OCCI (CDMI 1.1.1 13.6)",
		Applies:  []string{occi.KindStorage},
		Location: "/linkage/cdmi/",
		Attributes: []occi.Attribute{
			{Name: AttrObjectID, Type: occi.TypeString, Description: "objectID of the CDMI container", Server: true},
			{Name: AttrContainer, Type: occi.TypeString, Description: "path of the CDMI container", Server: true},
		},
	}}
}

// OCCIProtocols are the transports served end to end (cdmi.ExportHook).
func (l *Linkage) OCCIProtocols() []string {
	var out []string
	if l.nbd != nil {
		out = append(out, "NBD")
	}
	if l.cfg.RBD {
		out = append(out, "RBD")
	}
	return out
}

// defaultProtocol is the transport of OCCI-first storage: Ceph's own when
// the volumes are in Ceph, else NBD.
func (l *Linkage) defaultProtocol() (string, error) {
	switch {
	case l.cfg.RBD:
		return "RBD", nil
	case l.nbd != nil:
		return "NBD", nil
	}
	return "", kind.New(kind.Unsupported, "no transport can attach these volumes (no NBD socket configured, and they are not in Ceph)")
}

// Origin markers: a call one side of the linkage makes into the other
// carries one, so the hook it triggers on the way back does not redo what
// the caller does itself.
type (
	fromOCCIKey struct{}
	fromCDMIKey struct{}
)

// fromOCCI is an OCCI-first storage on its way through CDMI.
type fromOCCI struct {
	storage string
	size    int64
}

func withFromOCCI(ctx context.Context, f fromOCCI) context.Context {
	return context.WithValue(ctx, fromOCCIKey{}, f)
}

func originOCCI(ctx context.Context) (fromOCCI, bool) {
	f, ok := ctx.Value(fromOCCIKey{}).(fromOCCI)
	return f, ok
}

// fromCDMI is a CDMI container on its way through OCCI.
type fromCDMI struct {
	objectID, path string
}

func withFromCDMI(ctx context.Context, f fromCDMI) context.Context {
	return context.WithValue(ctx, fromCDMIKey{}, f)
}

func originCDMI(ctx context.Context) (fromCDMI, bool) {
	f, ok := ctx.Value(fromCDMIKey{}).(fromCDMI)
	return f, ok
}

// asAdmin is ctx for the linkage's OCCI calls: they keep the two sides of
// one object together whoever's it is, so they see every project, and what
// they create (the OCCI storage of a CDMI-first container) belongs to the
// project of the request that made the container (occi.CallerFrom: the
// server puts the caller in every request's context, CDMI's too).
func asAdmin(ctx context.Context) context.Context {
	c, _ := occi.CallerFrom(ctx)
	c.Admin = true
	return occi.WithCaller(ctx, c)
}

// linkAttrs are the attributes a storage backed by a container starts
// with: the linkage mixin's, and occi.storage.state "online", since its
// volume exists and can be attached from the start (OCCI 1.2
// Infrastructure 3.3: the state is the server's to set).
func linkAttrs(objectID, path string) map[string]any {
	return map[string]any{AttrObjectID: objectID, AttrContainer: path, "occi.storage.state": "online"}
}

// sweepAge is how old an OCCI-first container without its OCCI storage
// must be before the start-up sweep takes it for a crash's leftover, not
// a create still under way in another server process.
const sweepAge = 10 * time.Minute

// sweep removes what a crash between the two commits of an OCCI-first
// storage left: a container exported to OCCI (and its volume) whose OCCI
// storage never committed; then the volumes no row names (sweepVolumes).
func (l *Linkage) sweep(ctx context.Context) error {
	var rows []export
	err := l.cfg.DB.WithContext(ctx).Where("origin = ? AND created_at < ?", originOfOCCI, time.Now().Add(-sweepAge)).Find(&rows).Error
	if err != nil {
		return fmt.Errorf("linkage: sweep: %w", err)
	}
	for _, row := range rows {
		if _, err := l.occi.Get(asAdmin(ctx), storageLocation(row.StorageID)); kind.Of(err) != kind.NotFound {
			continue
		}
		l.log.Warn("removing a CDMI container whose OCCI storage never committed", "container", row.Path, "storage", row.StorageID)
		if err := l.cdmi.Delete(withFromOCCI(ctx, fromOCCI{storage: row.StorageID}), cdmi.Administrator(), row.Path); err != nil && kind.Of(err) != kind.NotFound {
			return fmt.Errorf("linkage: sweep %s: %w", row.Path, err)
		}
	}
	return l.sweepVolumes(ctx)
}
