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
	// Create makes the volume of a new storage resource, size bytes.
	Create(ctx context.Context, storage string, size int64) error
	// Resize gives the storage's volume a new size in bytes.
	Resize(ctx context.Context, storage string, size int64) error
	// Snapshot freezes the volume's current bytes under the name snapshot.
	Snapshot(ctx context.Context, storage, snapshot string) error
	// Delete removes the volume of a storage resource being deleted.
	Delete(ctx context.Context, storage string) error
	// Attachment tells a compute backend how to attach the storage's
	// volume for a storagelink whose occi.storagelink.deviceid is deviceID
	// (by default the storage's id).
	Attachment(ctx context.Context, storage, deviceID string) (cb.VolumeSource, error)
}

// gib is the unit of occi.storage.size.
const gib = 1 << 30
