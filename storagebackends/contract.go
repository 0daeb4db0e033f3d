// Package storagebackends defines the storage contract: object values (the
// bytes of CDMI data objects) and block volumes (the disks OCCI attaches to
// virtual machines). Metadata never lives here; it is in the database.
//
// Sub-packages implement the contract: fs (the embedded default), s3 and,
// behind the `ceph` build tag, rbd/rados. They register by name and are
// chosen by configuration.
package storagebackends

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/occicdmi/occicdmi/internal/kind"
)

// Portable failure kinds. Backends wrap their own errors around one of these
// so the protocols can answer 404/409/400/503 without knowing the backend.
var (
	ErrNotFound    = &kind.Error{Kind: kind.NotFound, Msg: "not found"}
	ErrExists      = &kind.Error{Kind: kind.Exists, Msg: "already exists"}
	ErrInvalid     = &kind.Error{Kind: kind.Invalid, Msg: "invalid request"}
	ErrUnavailable = &kind.Error{Kind: kind.Unavailable, Msg: "storage backend unavailable"}
	ErrUnsupported = &kind.Error{Kind: kind.Unsupported, Msg: "not supported by this backend"}
	ErrNoSpace     = &kind.Error{Kind: kind.NoSpace, Msg: "storage backend out of space"}
)

// Objects stores values under opaque keys. Keys are chosen by the caller
// (CDMI uses one fresh key per written value, so a failed write never
// touches the value readers see).
type Objects interface {
	// Put streams r into key. size is the length when known, -1 otherwise.
	// The new value becomes visible only when Put returns nil; on error the
	// previous value (or absence) stays.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Open reads length bytes from offset off (length < 0: to the end).
	// Reading past the end returns what exists; an offset past the end
	// returns ErrInvalid.
	Open(ctx context.Context, key string, off, length int64) (io.ReadCloser, error)
	// WriteAt writes length bytes of r at offset off of the value under
	// key, in place, extending it as needed (a hole reads as zeros). The
	// key must exist. length < 0 writes all of r; writing no bytes changes
	// nothing. A WriteAt is not atomic on every backend (a failed one may
	// leave part of its bytes, a reader may see part of it): use it only on
	// a value no reader sees yet, staged under a key of its own (CDMI's
	// multi-part writes); a range write into a visible value is a PutRange.
	WriteAt(ctx context.Context, key string, off int64, r io.Reader, length int64) error
	// PutRange stages a range write: it writes under dst a new value, the
	// value under src with the length bytes r yields at offset off
	// (extended to off+length as needed; a hole reads as zeros). As with
	// Put, dst appears only whole, when PutRange returns nil, and src never
	// changes: a failed or cut-short write leaves both as they were, and
	// the caller swaps dst in (CDMI: in the commit that also records the
	// value's size and hash). r must yield length >= 0 bytes (fewer is
	// ErrInvalid; bytes beyond them are not read); dst must differ from
	// src. Backends avoid copying the untouched bytes where they can (fs:
	// a reflink; S3: server-side part copies).
	PutRange(ctx context.Context, dst, src string, off int64, r io.Reader, length int64) error
	// Size reports the length of the value.
	Size(ctx context.Context, key string) (int64, error)
	// Delete removes the value; deleting a missing key returns ErrNotFound.
	Delete(ctx context.Context, key string) error
	// Copy duplicates src to dst inside the backend (server-side where possible).
	Copy(ctx context.Context, dst, src string) error
	// List calls fn for every key starting with prefix, in no particular order.
	List(ctx context.Context, prefix string, fn func(key string, size int64) error) error
}

// TempRemover is implemented by backends that stage writes where readers
// do not look (fs's temporary files, S3's multipart uploads). A crash in
// the middle of a write leaves the staged part there; start-up recovery
// calls RemoveTemp to take it away.
type TempRemover interface {
	// RemoveTemp removes staged writes untouched for longer than age and
	// tells how many it removed. age 0 removes all of them: the caller
	// knows no other process is writing.
	RemoveTemp(ctx context.Context, age time.Duration) (int, error)
}

// VolumeAccess tells a hypervisor how to reach a volume.
type VolumeAccess struct {
	Type       string   // "file" or "rbd"
	Path       string   // file: absolute path
	Format     string   // "raw"
	Pool       string   // rbd
	Image      string   // rbd
	Monitors   []string // rbd: host:port
	User       string   // rbd: cephx user, empty when cephx is off
	ConfigFile string   // rbd: ceph.conf
}

// Volumes stores fixed-size block devices. Names are opaque (a backend
// escapes them as it needs); a snapshot name is scoped to its volume.
//
// Errors: a missing volume or snapshot is ErrNotFound, a name already taken
// ErrExists, a size <= 0 or an I/O outside the volume ErrInvalid, a backend
// that cannot be reached ErrUnavailable. Writes to different ranges may run
// concurrently; overlapping concurrent writes leave either one's bytes, as
// on a disk. A write spanning several backend blocks is not atomic (a disk's
// is not either), but nothing outside the written range ever changes.
type Volumes interface {
	// CreateVolume makes a volume of size bytes that reads as zeros.
	CreateVolume(ctx context.Context, name string, size int64) error
	// ResizeVolume grows (new bytes read as zeros) or shrinks the volume.
	ResizeVolume(ctx context.Context, name string, size int64) error
	VolumeSize(ctx context.Context, name string) (int64, error)
	// Snapshot freezes the volume's current bytes under snapshot; later
	// writes to the volume do not change it.
	Snapshot(ctx context.Context, name, snapshot string) error
	// Clone makes dst from a snapshot of src; dst then lives on its own
	// (writes to either never show in the other).
	Clone(ctx context.Context, src, snapshot, dst string) error
	// CreateFromImage makes a volume of size bytes holding the bytes of an
	// image (at most size bytes; the rest reads as zeros). It appears only
	// when complete: a failed read of image leaves no volume behind.
	CreateFromImage(ctx context.Context, name string, image io.Reader, size int64) error
	// DeleteVolume removes the volume and its snapshots.
	DeleteVolume(ctx context.Context, name string) error
	// ReadAt follows io.ReaderAt: a read reaching past the end returns the
	// bytes that exist and io.EOF.
	ReadAt(ctx context.Context, name string, p []byte, off int64) (int, error)
	// WriteAt writes all of p at off; a write reaching past the end is
	// ErrInvalid and writes nothing (a volume's size changes only by
	// ResizeVolume).
	WriteAt(ctx context.Context, name string, p []byte, off int64) (int, error)
	// Access tells a hypervisor how to attach the volume; ErrUnsupported
	// when the backend's volumes cannot be attached.
	Access(ctx context.Context, name string) (VolumeAccess, error)
	// ListVolumes calls fn for every volume (not its snapshots, not a
	// volume still being built), in no particular order, with the time it
	// was made, or later where the backend keeps no creation time (the
	// last change of the file or meta object): a crash's leftover looks
	// younger than it is, never older. Start-up recovery finds by it the
	// volumes no database row names.
	ListVolumes(ctx context.Context, fn func(name string, made time.Time) error) error
}

// Pinger is a backend (Objects or Volumes) that can tell whether it can
// serve now, by a real round trip to its store (a file-system write check,
// a HEAD of the bucket, a pool stat), bounded by ctx. /readyz asks it; a nil
// answer means the backend's store is there and usable, any error that it
// is not. Every backend of this module is one; a wrapper without it is
// probed by a cheap lookup instead.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Options carries a backend's settings; each backend reads the fields that
// concern it.
type Options struct {
	DataDir string // fs: root folder

	S3Endpoint  string // s3: endpoint URL, e.g. http://127.0.0.1:7480
	S3Region    string
	S3Bucket    string
	S3AccessKey string // empty: the SDK's standard credential chain
	S3SecretKey string
	S3ReadAhead int // s3: answers open at once for a read of several parts; 0 or 1: one GET per read

	CephConf string // rbd/rados: path of ceph.conf
	CephPool string // rbd/rados: pool name

	Logger *slog.Logger
}

// ObjectsOpener and VolumesOpener open a backend.
type (
	ObjectsOpener func(ctx context.Context, o Options) (Objects, error)
	VolumesOpener func(ctx context.Context, o Options) (Volumes, error)
)

var (
	mu             sync.Mutex
	objectBackends = map[string]ObjectsOpener{}
	volumeBackends = map[string]VolumesOpener{}
)

// RegisterObjects makes an object backend available under name.
func RegisterObjects(name string, open ObjectsOpener) {
	mu.Lock()
	defer mu.Unlock()
	objectBackends[name] = open
}

// RegisterVolumes makes a volume backend available under name.
func RegisterVolumes(name string, open VolumesOpener) {
	mu.Lock()
	defer mu.Unlock()
	volumeBackends[name] = open
}

// OpenObjects opens the object backend registered under name.
func OpenObjects(ctx context.Context, name string, o Options) (Objects, error) {
	mu.Lock()
	open, ok := objectBackends[name]
	mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("object backend %q: %w (have %v)", name, ErrNotFound, keys(objectBackends))
	}
	return open(ctx, o)
}

// OpenVolumes opens the volume backend registered under name.
func OpenVolumes(ctx context.Context, name string, o Options) (Volumes, error) {
	mu.Lock()
	open, ok := volumeBackends[name]
	mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("volume backend %q: %w (have %v)", name, ErrNotFound, keys(volumeBackends))
	}
	return open(ctx, o)
}

func keys[V any](m map[string]V) []string {
	mu.Lock()
	defer mu.Unlock()
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// CheckPutRange refuses the PutRange arguments no backend takes.
func CheckPutRange(dst, src string, off, length int64) error {
	switch {
	case dst == src:
		return fmt.Errorf("put range: the staged value must have a key of its own, not %q: %w", src, ErrInvalid)
	case off < 0:
		return fmt.Errorf("put range: negative offset %d: %w", off, ErrInvalid)
	case length < 0:
		return fmt.Errorf("put range: negative length %d: %w", length, ErrInvalid)
	}
	return nil
}
