package occi

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	cb "github.com/occicdmi/occicdmi/computebackends"
	"github.com/occicdmi/occicdmi/internal/kind"
)

// memCompute keeps machines and disks in memory: it needs no database
// connection of its own, so it works inside a caller's transaction on
// single-connection SQLite.
type memCompute struct {
	cb.Backend
	mu       sync.Mutex
	machines map[string]bool
	disks    map[string]string // disk id -> machine id
}

func newMemCompute() *memCompute {
	return &memCompute{machines: map[string]bool{}, disks: map[string]string{}}
}

func (c *memCompute) CreateMachine(_ context.Context, m cb.Machine) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.machines[m.ID] = true
	return nil
}

func (c *memCompute) DeleteMachine(_ context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.machines[id] {
		return fmt.Errorf("machine %s: %w", id, cb.ErrNotFound)
	}
	delete(c.machines, id)
	return nil
}

func (c *memCompute) MachineStatus(_ context.Context, id string) (cb.Status, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.machines[id] {
		return cb.Status{}, fmt.Errorf("machine %s: %w", id, cb.ErrNotFound)
	}
	return cb.Status{State: cb.StateInactive}, nil
}

func (c *memCompute) AttachDisk(_ context.Context, machine string, d cb.Disk) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.disks[d.ID] = machine
	return nil
}

func (c *memCompute) DetachDisk(_ context.Context, _, disk string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.disks, disk)
	return nil
}

func newTestService(t *testing.T, compute cb.Backend, vols Volumes) (*Service, *gorm.DB) {
	t.Helper()
	db := testDB(t)
	s, err := NewService(context.Background(), Config{DB: db, Compute: compute, Volumes: vols, Logger: discardLogger()})
	require.NoError(t, err)
	return s, db
}

// A caller runs several service calls in its own transaction: a compute,
// a storage and a storagelink between them, created from Go without
// HTTP. Rolled back (and the backend calls undone with Undo), nothing of
// them remains.
func TestServiceJoinsCallerTransaction(t *testing.T) {
	compute, vols := newMemCompute(), newMemVolumes()
	s, db := newTestService(t, compute, vols)
	ctx := context.Background()
	var txCtx context.Context
	errRollback := errors.New("the caller changes its mind")
	err := db.Transaction(func(tx *gorm.DB) error {
		txCtx = WithTx(ctx, tx)
		vm, err := s.Create(txCtx, KindCompute, []EntityInput{{Attrs: map[string]any{AttrTitle: "vm"}}})
		require.NoError(t, err)
		sto, err := s.Create(txCtx, KindStorage, []EntityInput{{Attrs: map[string]any{"occi.storage.size": 1.0}}})
		require.NoError(t, err)
		link, err := s.Create(txCtx, KindStorageLink, []EntityInput{{Source: vm[0].Location, Target: sto[0].Location}})
		require.NoError(t, err)
		assert.Equal(t, sto[0].ID, link[0].Attrs["occi.storagelink.deviceid"])

		// Inside the transaction, the service sees what it made.
		got, err := s.Get(txCtx, vm[0].Location)
		require.NoError(t, err)
		require.Len(t, got.Links, 1)
		assert.Equal(t, link[0].Location, got.Links[0].Location)
		l, err := s.List(txCtx, Query{Collection: KindResource})
		require.NoError(t, err)
		assert.Len(t, l.Locations, 2)
		assert.Len(t, compute.machines, 1)
		assert.Len(t, compute.disks, 1)
		assert.Len(t, vols.names(), 1)
		return errRollback
	})
	require.ErrorIs(t, err, errRollback)
	Undo(txCtx)

	l, err := s.List(ctx, Query{Prefix: "/"})
	require.NoError(t, err)
	assert.Empty(t, l.Locations, "no entity remains in the store")
	for _, table := range []string{"occi_entities", "occi_attributes", "occi_mixin_members"} {
		var n int64
		require.NoError(t, db.Table(table).Count(&n).Error)
		assert.Zero(t, n, table)
	}
	assert.Empty(t, compute.machines, "no machine remains")
	assert.Empty(t, compute.disks, "no disk remains attached")
	assert.Empty(t, vols.names(), "no volume remains")
}

// A failed call inside a caller's transaction leaves the transaction
// usable (its writes were a savepoint) and its own backend calls undone.
func TestServiceFailureInsideCallerTransaction(t *testing.T) {
	compute, vols := newMemCompute(), newMemVolumes()
	s, db := newTestService(t, compute, vols)
	ctx := context.Background()
	require.NoError(t, db.Transaction(func(tx *gorm.DB) error {
		txCtx := WithTx(ctx, tx)
		_, err := s.Create(txCtx, KindCompute, []EntityInput{{ID: "vm1"}})
		require.NoError(t, err)
		_, err = s.Create(txCtx, KindCompute, []EntityInput{{ID: "vm1"}})
		assert.Equal(t, kind.Conflict, kind.Of(err), "%v", err)
		_, err = s.Get(txCtx, "/compute/vm1")
		return err
	}))
	e, err := s.Get(ctx, "/compute/vm1")
	require.NoError(t, err)
	assert.Equal(t, "vm1", e.ID)
	assert.Len(t, compute.machines, 1)
}

// A volume backend that is down answers kind.Unavailable through the
// service (and 503 over HTTP), and nothing is created.
func TestServiceVolumesUnavailable(t *testing.T) {
	vols := newMemVolumes()
	vols.down = fmt.Errorf("ceph: %w", kind.New(kind.Unavailable, "monitors unreachable"))
	s, db := newTestService(t, newMemCompute(), vols)
	ctx := context.Background()
	_, err := s.Create(ctx, KindStorage, []EntityInput{{Attrs: map[string]any{"occi.storage.size": 1.0}}})
	require.Error(t, err)
	assert.Equal(t, kind.Unavailable, kind.Of(err), "%v", err)
	assert.Contains(t, err.Error(), "create volume")
	var n int64
	require.NoError(t, db.Table("occi_entities").Count(&n).Error)
	assert.Zero(t, n)

	r := newRig(t, Config{Volumes: vols})
	resp, body := r.do("POST", "/storage/", storageCat+"\nX-OCCI-Attribute: occi.storage.size=1")
	assert.Equal(t, 503, resp.StatusCode, body)
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))
}

// Errors carry kinds: what is missing, bad input, a refused state.
func TestServiceErrorKinds(t *testing.T) {
	s, _ := newTestService(t, newMemCompute(), nil)
	ctx := context.Background()
	_, err := s.Get(ctx, "/compute/nope")
	assert.Equal(t, kind.NotFound, kind.Of(err))
	_, err = s.Create(ctx, KindCompute, []EntityInput{{Attrs: map[string]any{"occi.compute.cores": "many"}}})
	assert.Equal(t, kind.Invalid, kind.Of(err))
	_, err = s.Create(ctx, "", []EntityInput{{Kind: KindStorageLink, Source: "/compute/nope", Target: "/storage/nope"}})
	assert.Equal(t, kind.NotFound, kind.Of(err), "a missing link end, like another project's")
	assert.Equal(t, kind.Forbidden, kind.Of(s.DeleteMixins(ctx, []string{MixinOSTpl})))
	_, err = s.List(ctx, Query{Prefix: "/nothing/"})
	assert.Equal(t, kind.NotFound, kind.Of(err))
}
