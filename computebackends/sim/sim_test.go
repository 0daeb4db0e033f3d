package sim_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	cb "github.com/occicdmi/occicdmi/computebackends"
	"github.com/occicdmi/occicdmi/computebackends/computetest"
	"github.com/occicdmi/occicdmi/computebackends/sim"
	"github.com/occicdmi/occicdmi/internal/testsupport"
)

var _ cb.Backend = (*sim.Backend)(nil)

// TestConformance runs the compute conformance suite against sim, on a
// fresh database per subtest (PostgreSQL with OCCICDMI_TEST_DB=postgres).
func TestConformance(t *testing.T) {
	var db *gorm.DB
	var b *sim.Backend
	computetest.Run(t, func(t *testing.T) cb.Backend {
		db = testsupport.DB(t)
		b = sim.New(db)
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
