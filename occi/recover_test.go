package occi

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	cb "github.com/occicdmi/occicdmi/computebackends"
	"github.com/occicdmi/occicdmi/computebackends/sim"
	"github.com/occicdmi/occicdmi/internal/kind"
)

// failNthStart fails the nth Start call (1-based) as unavailable.
type failNthStart struct {
	cb.Backend
	mu    sync.Mutex
	n     int
	calls int
}

func (f *failNthStart) Start(ctx context.Context, id string) error {
	f.mu.Lock()
	f.calls++
	fail := f.calls == f.n
	f.mu.Unlock()
	if fail {
		return fmt.Errorf("start %s: %w", id, cb.ErrUnavailable)
	}
	return f.Backend.Start(ctx, id)
}

// A collection action (GFD.223 §7.4.2, an action on a collection acts on
// every member) that fails on one member cannot undo what it did to the
// ones before: the answer says which members it changed, which failed and
// which it never tried (issue 12 item 11), with the failure's kind.
func TestActAllReportsPerMember(t *testing.T) {
	db := testDB(t)
	be := &failNthStart{Backend: sim.New(db), n: 2}
	s, err := NewService(context.Background(), Config{DB: db, Compute: be, Logger: discardLogger()})
	require.NoError(t, err)
	ctx := context.Background()
	var in []EntityInput
	for i := range 3 {
		in = append(in, EntityInput{Attrs: map[string]any{AttrTitle: fmt.Sprint("vm", i)}})
	}
	_, err = s.Create(ctx, KindCompute, in)
	require.NoError(t, err)
	l, err := s.List(ctx, Query{Collection: KindCompute})
	require.NoError(t, err)
	require.Len(t, l.Locations, 3)

	_, err = s.ActAll(ctx, Query{Collection: KindCompute}, Invocation{Term: "start"})
	require.Error(t, err)
	assert.Equal(t, kind.Unavailable, kind.Of(err))
	msg := err.Error()
	assert.Contains(t, msg, "stopped at member 2 of 3")
	states := map[string]any{}
	for _, loc := range l.Locations {
		e, err := s.Get(ctx, loc)
		require.NoError(t, err)
		states[loc] = e.Attrs["occi.compute.state"]
	}
	var done, rest []string
	for loc, st := range states {
		if st == "active" {
			done = append(done, loc)
		} else {
			rest = append(rest, loc)
		}
	}
	require.Len(t, done, 1, "only the first member was started: %v", states)
	assert.Contains(t, msg, "done (changed): "+done[0]+";")
	for _, loc := range rest {
		assert.Contains(t, msg, loc)
	}
}

// HasMachine finds computes of any project by id, and only computes.
func TestHasMachine(t *testing.T) {
	db := testDB(t)
	be := sim.New(db)
	s, err := NewService(context.Background(), Config{DB: db, Compute: be, Logger: discardLogger()})
	require.NoError(t, err)
	ctx := context.Background()
	es, err := s.Create(ctx, KindCompute, []EntityInput{{}})
	require.NoError(t, err)
	ok, err := s.HasMachine(ctx, es[0].ID)
	require.NoError(t, err)
	assert.True(t, ok)
	nets, err := s.Create(ctx, KindNetwork, []EntityInput{{}})
	require.NoError(t, err)
	ok, err = s.HasMachine(ctx, nets[0].ID)
	require.NoError(t, err)
	assert.False(t, ok, "a network is no machine")
	require.NoError(t, be.CreateMachine(ctx, cb.Machine{ID: "orphan"}))
	ok, err = s.HasMachine(ctx, "orphan")
	require.NoError(t, err)
	assert.False(t, ok)

	var ids []string
	require.NoError(t, s.Computes(ctx, func(id string) error { ids = append(ids, id); return nil }))
	assert.Equal(t, []string{es[0].ID}, ids, "Computes names the computes only")
}
