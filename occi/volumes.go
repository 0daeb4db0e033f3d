package occi

import (
	"context"

	cb "github.com/occicdmi/occicdmi/computebackends"
)

// Volumes are the block volumes behind OCCI storage resources. OCCI names
// a volume by its storage resource's occi.core.id; which volume that is
// (a volume of OCCI's own, or the one behind a CDMI container exported to
// OCCI) is the implementation's business. Errors keep their kinds (wrap
// with %w): a backend that is down answers kind.Unavailable, a volume
// that is gone kind.NotFound (Delete of a missing volume is no failure).
type Volumes interface {
	// Create makes the volume of a new storage resource, size bytes. The
	// attributes it answers are recorded on the storage (the linkage
	// names the CDMI container there).
	Create(ctx context.Context, storage string, size int64) (map[string]any, error)
	// Resize gives the storage's volume a new size in bytes.
	Resize(ctx context.Context, storage string, size int64) error
	// Snapshot freezes the volume's current bytes under the name snapshot.
	Snapshot(ctx context.Context, storage, snapshot string) error
	// Delete removes the volume of a storage resource being deleted.
	Delete(ctx context.Context, storage string) error
	// Authorize tells whether link's compute may have the volume attached
	// now (kind.Forbidden when not). OCCI asks when a storagelink is made
	// to a running compute, and for every storagelink of a compute it
	// starts: CDMI 13.1 lets the link come before the permission.
	Authorize(ctx context.Context, link StorageLink) error
	// Attachment tells a compute backend how to attach the volume for
	// link (by default its deviceID is the storage's id).
	Attachment(ctx context.Context, link StorageLink) (cb.VolumeSource, error)
	// Detached says the link's disk is gone from its compute: what
	// served the volume to that compute alone may stop.
	Detached(ctx context.Context, link StorageLink) error
}

// Availability is what Volumes implement when OCCI's online and offline
// actions (GFD.224 §3.3 Table 8) reach the volume: offline takes it out of
// use (it may refuse, kind.Conflict, while a running compute uses it),
// online makes it attachable again. Volumes without it change the state
// in OCCI's model only.
type Availability interface {
	SetOnline(ctx context.Context, storage string, online bool) error
}

// StorageLink is a storagelink as Volumes sees it.
type StorageLink struct {
	ID       string // the link's occi.core.id
	Storage  string // the target storage's occi.core.id
	DeviceID string // occi.storagelink.deviceid: a CDMI objectID, or a guest device hint
	Compute  string // the source compute's location ("/compute/<id>")
}

// gib is the unit of occi.storage.size.
const gib = 1 << 30
