// Package computebackends defines the compute contract: the small set of
// operations OCCI needs from something that runs virtual machines and
// networks. OCCI never talks to a hypervisor except through Backend.
//
// Sub-packages implement it: sim (an honest state machine with no VMs, the
// embedded default) and libvirt (real QEMU guests). Which machine action is
// allowed from which state is written once, in Rules (state.go); every
// backend follows it and computetest checks that each does. Backends that
// need no more than Options register themselves by name with Register and
// are chosen by configuration; sim, which keeps its state in the server's
// database, is constructed by the caller with sim.New.
package computebackends

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"regexp"
	"sort"
	"sync"

	"github.com/occicdmi/occicdmi/internal/kind"
)

// Portable failure kinds. Backends wrap their own errors around one of these
// (fmt.Errorf("libvirt: start %s: %w: %v", id, ErrUnavailable, err)) so the
// protocol layer can pick a status code without knowing which backend spoke.
var (
	ErrNotFound    = &kind.Error{Kind: kind.NotFound, Msg: "not found"}
	ErrExists      = &kind.Error{Kind: kind.Exists, Msg: "already exists"}
	ErrInvalid     = &kind.Error{Kind: kind.Invalid, Msg: "invalid request"}
	ErrConflict    = &kind.Error{Kind: kind.Conflict, Msg: "not allowed in the current state"}
	ErrUnavailable = &kind.Error{Kind: kind.Unavailable, Msg: "compute backend unavailable"}
	ErrUnsupported = &kind.Error{Kind: kind.Unsupported, Msg: "not supported by this backend"}
)

// State is the lifecycle state of a machine or network as the backend sees
// it. The values are OCCI's (GFD.224 tables 4, 8), so OCCI can show them as is.
type State string

// Machine states (occi.compute.state) and network states (occi.network.state).
const (
	StateInactive  State = "inactive"
	StateActive    State = "active"
	StateSuspended State = "suspended"
	StateError     State = "error"
)

// Status is a state plus a human-readable explanation (occi.*.state.message).
type Status struct {
	State   State
	Message string
}

// Image names a bootable disk image: an OCCI os_tpl. Source is where the
// backend finds the bytes (a file path, a URL, an RBD spec), as written in the
// template catalogue or returned by Save.
type Image struct {
	Term   string
	Title  string
	Source string
}

// Machine is what a backend needs to define a virtual machine. Values are in
// OCCI's units.
type Machine struct {
	ID           string  // stable key: the OCCI entity id
	Hostname     string  // occi.compute.hostname
	Architecture string  // "x86" or "x64"
	Cores        int     // occi.compute.cores
	Share        int     // occi.compute.share
	Memory       float64 // GiB, occi.compute.memory
	DiskSize     float64 // GiB of the root disk from a resource_tpl; 0 means the image's size
	Image        *Image  // the os_tpl to boot, nil for none
	UserData     string  // occi.compute.userdata (base64 cloud-init), may be empty
	SSHKey       string  // occi.credentials.ssh.publickey, may be empty
}

// StopMethod, RestartMethod, SuspendMethod and SaveMethod are the "method"
// parameters of the OCCI compute actions (GFD.224 table 5).
type (
	StopMethod    string
	RestartMethod string
	SuspendMethod string
	SaveMethod    string
)

// Action parameter values.
const (
	StopGraceful     StopMethod    = "graceful"
	StopACPIOff      StopMethod    = "acpioff"
	StopPowerOff     StopMethod    = "poweroff"
	RestartGraceful  RestartMethod = "graceful"
	RestartWarm      RestartMethod = "warm"
	RestartCold      RestartMethod = "cold"
	SuspendHibernate SuspendMethod = "hibernate"
	SuspendSuspend   SuspendMethod = "suspend"
	SaveHot          SaveMethod    = "hot"
	SaveDeferred     SaveMethod    = "deferred"
)

// VolumeSource tells a hypervisor how to reach a block volume. The storage
// backend describes its volume; linkage copies that description here so that
// compute backends never import storage backends.
//
// Types:
//   - "file": a local file or block device at Path.
//   - "rbd": a Ceph RBD image Pool/Image, reached through Monitors or
//     ConfigFile.
//   - "nbd": an NBD export (the linkage serves volumes this way, package
//     linkage/nbd) on a Unix socket: Path is the socket's absolute path,
//     Image the export name. The hypervisor connects as its own user
//     (QEMU under libvirt runs as libvirt-qemu), so whoever serves the
//     socket must let that user in: the socket writable by it (the
//     linkage gives it group libvirt-qemu, mode 0660) and every folder
//     above searchable (o+x). NBD over TCP (with TLS) would add a host
//     and port here; it is not supported yet.
type VolumeSource struct {
	Type       string   // "file", "rbd" or "nbd"
	Path       string   // file: absolute path; nbd: absolute path of the Unix socket (or Host)
	Format     string   // "raw" (default) or "qcow2"
	Pool       string   // rbd: pool name
	Image      string   // rbd: image name; nbd: export name
	Monitors   []string // rbd: "host:port" of the monitors
	User       string   // rbd: cephx user, empty when cephx is off
	ConfigFile string   // rbd: ceph.conf path, if the hypervisor should read it
	Host       string   // nbd over TCP, for a remote hypervisor: "host:port" (instead of Path)
	TLS        bool     // nbd over TCP: the hypervisor starts TLS (NBD_OPT_STARTTLS) with its own certificates
}

// Disk is a volume attached to a machine (an OCCI storagelink).
type Disk struct {
	ID       string // the storagelink id
	Target   string // device hint inside the guest ("vdb"), may be empty
	Source   VolumeSource
	ReadOnly bool
}

// Interface is a network interface of a machine (an OCCI networkinterface).
type Interface struct {
	ID        string // the networkinterface link id
	NetworkID string // id of the network the interface joins
	MAC       string // occi.networkinterface.mac; backends fill it in when empty
	Address   string // ipnetworkinterface address, may be empty
}

// Network is a virtual network (an OCCI network with the ipnetwork mixin).
type Network struct {
	ID         string
	Label      string // occi.network.label
	VLAN       int    // occi.network.vlan, 0 for none
	Address    string // CIDR, e.g. 192.168.100.0/24, may be empty
	Gateway    string
	Allocation string // "dynamic" or "static"
}

// Lister is implemented by backends that can name every machine they
// hold. Start-up recovery compares the list with OCCI's computes: a crash
// between a machine's creation and its entity's commit leaves a machine
// nobody sees (with libvirt, a real VM).
type Lister interface {
	// Machines calls fn with the id (Machine.ID) of every machine.
	Machines(ctx context.Context, fn func(id string) error) error
}

// DiskResizer is implemented by backends that can bring a volume's new
// size to a running machine. The volume itself is resized first (by its
// storage backend); ResizeDisk then tells the hypervisor, whose guest sees
// a capacity change (virtio-blk's config change). Only transports whose
// hypervisor driver can follow a size change take it (libvirt: RBD, where
// QEMU's block resize reaches the image; not NBD, whose size QEMU learns
// only at connect).
type DiskResizer interface {
	// ResizeDisk gives the disk diskID (as AttachDisk named it) of the
	// running machine size bytes. A machine that is not running is
	// ErrConflict, a disk it does not have ErrNotFound, a transport that
	// cannot follow ErrUnsupported.
	ResizeDisk(ctx context.Context, machineID, diskID string, size int64) error
}

// Backend is the compute contract. Every method that changes something either
// takes effect or returns an error wrapping one of the kinds above; a backend
// never reports success for an action it did not perform, and a refused or
// failed call leaves the machine as it was. The machine actions (Start, Stop,
// Restart, Suspend, Save, Resize) are allowed from the states Rules gives and
// refused with ErrConflict from the others; an unknown method is ErrInvalid.
type Backend interface {
	// Name identifies the backend in logs and in the OCCI rendering.
	Name() string
	// Simulated is true when no real machine runs behind the backend.
	Simulated() bool

	CreateMachine(ctx context.Context, m Machine) error
	Start(ctx context.Context, id string) error
	Stop(ctx context.Context, id string, method StopMethod) error
	Restart(ctx context.Context, id string, method RestartMethod) error
	Suspend(ctx context.Context, id string, method SuspendMethod) error
	// Save makes a new image from the machine's disk and returns it so OCCI
	// can offer it as a new os_tpl.
	Save(ctx context.Context, id string, method SaveMethod, name string) (Image, error)
	DeleteMachine(ctx context.Context, id string) error
	MachineStatus(ctx context.Context, id string) (Status, error)
	// Resize gives a machine new sizes (a resource_tpl change or an update
	// of occi.compute.cores/memory, GFD.224 §3.6.2): cores at least 1,
	// memory in GiB. Only an inactive machine can be resized (Rules): an
	// active, suspended (its memory is kept, a hibernated image included)
	// or failed one is refused with ErrConflict and keeps its sizes; sizes
	// a backend cannot give are refused with ErrInvalid.
	Resize(ctx context.Context, id string, cores int, memoryGiB float64) error

	// AttachDisk hot-plugs into a running machine, or records the disk for
	// the next start of a stopped one. DetachDisk likewise.
	AttachDisk(ctx context.Context, machineID string, d Disk) error
	DetachDisk(ctx context.Context, machineID, diskID string) error
	// AttachInterface returns the interface as attached (MAC filled in).
	AttachInterface(ctx context.Context, machineID string, nic Interface) (Interface, error)
	DetachInterface(ctx context.Context, machineID, nicID string) error

	CreateNetwork(ctx context.Context, n Network) error
	StartNetwork(ctx context.Context, id string) error
	StopNetwork(ctx context.Context, id string) error
	DeleteNetwork(ctx context.Context, id string) error
	NetworkStatus(ctx context.Context, id string) (Status, error)

	Close() error
}

// TxJoiner is implemented by a backend that keeps its state in the
// server's own database (sim). When JoinsTransactions answers true, a call
// whose context carries a transaction (internal/database.WithTx) makes its
// changes in that transaction: they commit, or roll back, with the
// caller's, so the caller has nothing to undo and one commit to wait for.
// Wrappers (metrics) forward the answer of the backend they wrap.
type TxJoiner interface {
	JoinsTransactions() bool
}

// JoinsTransactions tells whether b makes its changes in the transaction
// a call's context carries (TxJoiner).
func JoinsTransactions(b Backend) bool {
	j, ok := b.(TxJoiner)
	return ok && j.JoinsTransactions()
}

// StatusCacher is implemented by a backend that keeps its state in the
// server's own database (sim) and can keep its machines' status in memory
// when the server is the only writer of that database: the server (occi,
// Config.SoleWriter) tells it so, and never when other processes write
// the database too. Wrappers (metrics) forward the call.
type StatusCacher interface {
	CacheStatus()
}

// CacheStatus tells b that this process is the only writer of the
// database b keeps its state in (StatusCacher); a backend without a
// status cache ignores it.
func CacheStatus(b Backend) {
	if c, ok := b.(StatusCacher); ok {
		c.CacheStatus()
	}
}

// Pinger is a backend that can tell whether it can serve now, by a real
// round trip to what runs the machines (libvirtd), bounded by ctx. /readyz
// asks it; a nil answer means reachable, any error that it is not.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Options carries what a registered backend may need to open. Backends
// ignore the fields that do not concern them. (The server's database is not
// among them: sim, the backend that keeps its state there, is made with
// sim.New, so this package stays free of any database library.)
type Options struct {
	DataDir  string // folder for the backend's own files
	URI      string // libvirt connection URI (qemu:///system, qemu+tcp://...)
	ImageDir string // where the libvirt backend keeps base images and overlays
	Logger   *slog.Logger
}

// Opener opens a backend.
type Opener func(ctx context.Context, o Options) (Backend, error)

var (
	registryMu sync.Mutex
	registry   = map[string]Opener{}
)

// Register makes a backend available under name. It is called from the
// backend package's init.
func Register(name string, open Opener) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[name]; dup {
		panic("computebackends: Register called twice for " + name)
	}
	registry[name] = open
}

// Names lists the registered backends.
func Names() []string {
	registryMu.Lock()
	defer registryMu.Unlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Open opens the backend registered under name.
func Open(ctx context.Context, name string, o Options) (Backend, error) {
	registryMu.Lock()
	open, ok := registry[name]
	registryMu.Unlock()
	if !ok {
		return nil, fmt.Errorf("compute backend %q: %w (have %v)", name, ErrNotFound, Names())
	}
	return open(ctx, o)
}

// hostnameRe is what a machine's hostname may look like: a DNS name short
// enough for every backend (libvirt puts it on a kernel command line).
var hostnameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$`)

// Validate refuses, with ErrInvalid, a machine no backend can define: an
// empty id, negative sizes, an architecture other than x86 and x64, a
// hostname that is not a DNS name. Backends call it first and add their own
// limits (libvirt's smallest memory, say).
func (m Machine) Validate() error {
	switch {
	case m.ID == "":
		return fmt.Errorf("empty machine id: %w", ErrInvalid)
	case m.Cores < 0 || m.Memory < 0 || m.DiskSize < 0 || m.Share < 0:
		return fmt.Errorf("machine %q: negative cores, share, memory or disk size: %w", m.ID, ErrInvalid)
	case m.Architecture != "" && m.Architecture != "x86" && m.Architecture != "x64":
		return fmt.Errorf("machine %q: architecture %q (want x86 or x64): %w", m.ID, m.Architecture, ErrInvalid)
	case m.Hostname != "" && !hostnameRe.MatchString(m.Hostname):
		return fmt.Errorf("machine %q: hostname %q is not a valid host name: %w", m.ID, m.Hostname, ErrInvalid)
	}
	return nil
}

// Validate refuses, with ErrInvalid, a volume description no backend can
// reach: a type other than file, rbd and nbd, a relative file path, an rbd
// volume without pool, image and a way to its monitors, an nbd volume
// without an absolute socket path and an export name, a format other than
// raw and qcow2.
func (s VolumeSource) Validate() error {
	switch s.Format {
	case "", "raw", "qcow2":
	default:
		return fmt.Errorf("volume format %q (want raw or qcow2): %w", s.Format, ErrInvalid)
	}
	switch s.Type {
	case "file":
		if !filepath.IsAbs(s.Path) {
			return fmt.Errorf("file volume needs an absolute path, got %q: %w", s.Path, ErrInvalid)
		}
	case "rbd":
		if s.Pool == "" || s.Image == "" {
			return fmt.Errorf("rbd volume needs a pool and an image: %w", ErrInvalid)
		}
		if len(s.Monitors) == 0 && s.ConfigFile == "" {
			return fmt.Errorf("rbd volume needs monitors or a ceph.conf: %w", ErrInvalid)
		}
	case "nbd":
		if s.Host != "" {
			if host, port, err := net.SplitHostPort(s.Host); err != nil || host == "" || port == "" {
				return fmt.Errorf("nbd volume over TCP needs host:port, got %q: %w", s.Host, ErrInvalid)
			}
		} else if !filepath.IsAbs(s.Path) {
			return fmt.Errorf("nbd volume needs the absolute path of its Unix socket, got %q: %w", s.Path, ErrInvalid)
		}
		if s.Image == "" {
			return fmt.Errorf("nbd volume needs an export name: %w", ErrInvalid)
		}
	default:
		return fmt.Errorf("volume type %q (want file, rbd or nbd): %w", s.Type, ErrInvalid)
	}
	return nil
}
