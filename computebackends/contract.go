// Package computebackends defines the compute contract: the small set of
// operations OCCI needs from something that runs virtual machines and
// networks. OCCI never talks to a hypervisor except through Backend.
//
// Sub-packages implement it: sim (an honest state machine with no VMs, the
// embedded default) and libvirt (real QEMU guests). Backends register
// themselves by name with Register and are chosen by configuration.
package computebackends

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"gorm.io/gorm"

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
type VolumeSource struct {
	Type       string   // "file" or "rbd"
	Path       string   // file: absolute path
	Format     string   // "raw" (default) or "qcow2"
	Pool       string   // rbd: pool name
	Image      string   // rbd: image name
	Monitors   []string // rbd: "host:port" of the monitors
	User       string   // rbd: cephx user, empty when cephx is off
	ConfigFile string   // rbd: ceph.conf path, if the hypervisor should read it
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

// Backend is the compute contract. Every method that changes something either
// takes effect or returns an error wrapping one of the kinds above; a backend
// never reports success for an action it did not perform.
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

// Options carries what a backend may need to open. Backends ignore the
// fields that do not concern them.
type Options struct {
	DataDir  string   // folder for the backend's own files
	DB       *gorm.DB // the server's database, for backends that keep state there
	URI      string   // libvirt connection URI (qemu:///system, qemu+tcp://...)
	ImageDir string   // where the libvirt backend keeps base images and overlays
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
