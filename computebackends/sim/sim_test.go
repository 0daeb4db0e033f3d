package sim_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	cb "github.com/occicdmi/occicdmi/computebackends"
	"github.com/occicdmi/occicdmi/computebackends/computetest"
	"github.com/occicdmi/occicdmi/computebackends/sim"
	"github.com/occicdmi/occicdmi/internal/database"
	"github.com/occicdmi/occicdmi/internal/testsupport"
)

var _ cb.Backend = (*sim.Backend)(nil)

// TestConformance runs the compute conformance suite against sim, on a
// fresh database per subtest (PostgreSQL with OCCICDMI_TEST_DB=postgres).
// It runs again with the status cache on (CacheStatus, the server being
// the database's only writer): every change the suite makes must show in
// the status it reads next.
func TestConformance(t *testing.T) {
	for _, cached := range []bool{false, true} {
		name := "uncached"
		if cached {
			name = "status-cached"
		}
		t.Run(name, func(t *testing.T) { conformance(t, cached) })
	}
}

func conformance(t *testing.T, cached bool) {
	var db *gorm.DB
	var b *sim.Backend
	computetest.Run(t, func(t *testing.T) cb.Backend {
		db = testsupport.DB(t)
		b = sim.New(db)
		if cached {
			b.CacheStatus()
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}, computetest.Options{
		Machine: func(id string) cb.Machine {
			return cb.Machine{ID: id, Hostname: "sim-test", Cores: 1, Memory: 0.125}
		},
		// sim attaches no bytes: any well-formed description will do.
		Volume: func(*testing.T) cb.VolumeSource {
			return cb.VolumeSource{Type: "file", Path: "/computetest/" + computetest.NewID("vol") + ".raw"}
		},
		NBDVolume: func(*testing.T) cb.VolumeSource {
			return cb.VolumeSource{Type: "nbd", Path: "/computetest/" + computetest.NewID("nbd") + ".sock", Image: "export", Format: "raw"}
		},
		Sizes: func(t *testing.T, id string) (int, float64) {
			m, err := b.Machine(context.Background(), id)
			require.NoError(t, err)
			return m.Cores, m.Memory
		},
		// A failure is what sim records; here it is recorded by hand.
		Break: func(t *testing.T, id string) {
			res := db.Table("sim_machines").Where("id = ?", id).
				Updates(map[string]any{"state": string(cb.StateError), "message": "broken by the test"})
			require.NoError(t, res.Error)
			require.EqualValues(t, 1, res.RowsAffected)
		},
	})
}

// Two backends on one database are one: a machine one starts, the other
// sees started, and the other's refusal follows from it.
func TestSharedDatabase(t *testing.T) {
	db := testsupport.DB(t)
	a, b := sim.New(db), sim.New(db)
	ctx := context.Background()
	require.NoError(t, a.CreateMachine(ctx, cb.Machine{ID: "m1", Cores: 1, Memory: 1}))
	require.NoError(t, a.Start(ctx, "m1"))
	st, err := b.MachineStatus(ctx, "m1")
	require.NoError(t, err)
	require.Equal(t, cb.StateActive, st.State)
	require.ErrorIs(t, b.Start(ctx, "m1"), cb.ErrConflict)
	require.ErrorIs(t, b.Resize(ctx, "m1", 2, 2), cb.ErrConflict)
	require.NoError(t, b.Stop(ctx, "m1", cb.StopGraceful))
	require.NoError(t, b.Resize(ctx, "m1", 2, 2))
	m, err := a.Machine(ctx, "m1")
	require.NoError(t, err)
	require.Equal(t, 2, m.Cores)
}

// An nbd disk is recorded with where it is served (socket and export), as
// the linkage hands it over; one without an export name is refused.
func TestNBDDiskRecorded(t *testing.T) {
	db := testsupport.DB(t)
	b := sim.New(db)
	ctx := context.Background()
	require.NoError(t, b.CreateMachine(ctx, cb.Machine{ID: "m1", Cores: 1, Memory: 1}))
	src := cb.VolumeSource{Type: "nbd", Path: "/run/occicdmi/nbd/vol1.sock", Image: "vol1", Format: "raw"}
	require.NoError(t, b.AttachDisk(ctx, "m1", cb.Disk{ID: "link1", Source: src}))
	var raw string
	require.NoError(t, db.Table("sim_machines").Select("disks").Where("id = ?", "m1").Scan(&raw).Error)
	var disks []cb.Disk
	require.NoError(t, json.Unmarshal([]byte(raw), &disks))
	require.Equal(t, []cb.Disk{{ID: "link1", Source: src}}, disks)
	require.ErrorIs(t, b.AttachDisk(ctx, "m1", cb.Disk{ID: "link2", Source: cb.VolumeSource{Type: "nbd", Path: src.Path}}), cb.ErrInvalid)
	require.NoError(t, b.DetachDisk(ctx, "m1", "link1"))
}

// Under a caller's transaction (database.WithTx) sim's changes are the
// transaction's: seen inside it, gone with its rollback, kept by its
// commit (computebackends.TxJoiner).
func TestJoinsTheCallersTransaction(t *testing.T) {
	db := testsupport.DB(t)
	b := sim.New(db)
	require.True(t, cb.JoinsTransactions(b))
	m := cb.Machine{ID: "joined", Cores: 1, Memory: 0.5}
	errUndo := errors.New("roll back")
	err := db.Transaction(func(tx *gorm.DB) error {
		ctx := database.WithTx(context.Background(), tx)
		require.NoError(t, b.CreateMachine(ctx, m))
		require.NoError(t, b.Start(ctx, m.ID))
		st, err := b.MachineStatus(ctx, m.ID)
		require.NoError(t, err)
		require.Equal(t, cb.StateActive, st.State)
		return errUndo
	})
	require.ErrorIs(t, err, errUndo)
	_, err = b.MachineStatus(context.Background(), m.ID)
	require.ErrorIs(t, err, cb.ErrNotFound, "the rollback took the machine")

	require.NoError(t, db.Transaction(func(tx *gorm.DB) error {
		return b.CreateMachine(database.WithTx(context.Background(), tx), m)
	}))
	st, err := b.MachineStatus(context.Background(), m.ID)
	require.NoError(t, err)
	require.Equal(t, cb.StateInactive, st.State)
	require.ErrorIs(t, b.CreateMachine(context.Background(), m), cb.ErrExists)
}

// With the status cache on, a change made in a caller's transaction is
// seen by the next status read once the transaction commits, and one
// rolled back (a savepoint inside a transaction that commits) is not; a
// status read while the transaction was open is not kept.
func TestStatusCacheFollowsTransactions(t *testing.T) {
	db := testsupport.DB(t)
	b := sim.New(db)
	b.CacheStatus()
	ctx := context.Background()
	require.NoError(t, b.CreateMachine(ctx, cb.Machine{ID: "m1", Cores: 1, Memory: 1}))
	status := func() cb.State {
		t.Helper()
		st, err := b.MachineStatus(ctx, "m1")
		require.NoError(t, err)
		return st.State
	}
	require.Equal(t, cb.StateInactive, status())
	require.Equal(t, cb.StateInactive, status(), "from the cache")
	errUndo := errors.New("roll back")
	require.NoError(t, db.Transaction(func(tx *gorm.DB) error {
		err := tx.Transaction(func(sp *gorm.DB) error {
			require.NoError(t, b.Start(database.WithTx(ctx, sp), "m1"))
			return errUndo
		})
		require.ErrorIs(t, err, errUndo)
		require.Equal(t, cb.StateInactive, status(), "outside the open transaction: what is committed")
		return nil
	}))
	require.Equal(t, cb.StateInactive, status(), "the rolled-back start left nothing")
	require.NoError(t, db.Transaction(func(tx *gorm.DB) error {
		return b.Start(database.WithTx(ctx, tx), "m1")
	}))
	require.Equal(t, cb.StateActive, status(), "the committed start")
	require.NoError(t, b.Stop(ctx, "m1", cb.StopGraceful))
	require.Equal(t, cb.StateInactive, status(), "a change outside a transaction")
	require.NoError(t, b.DeleteMachine(ctx, "m1"))
	_, err := b.MachineStatus(ctx, "m1")
	require.ErrorIs(t, err, cb.ErrNotFound)
}
