// Package computetest is the conformance suite of the compute contract
// (computebackends.Backend), in the pattern of go-cloud's blob/drivertest and
// storagebackends/storagetest: every backend runs the same Run, with a real
// hypervisor behind it where it has one.
//
// The suite checks the lifecycle (create, start, stop with each method,
// restart, suspend and hibernate, save, delete), the state machine row by row
// and state by state against computebackends.Rules (an allowed action
// reaches its state, a refused one is ErrConflict and leaves the machine as
// it was), conflicts between concurrent callers, bad input (refused with
// ErrInvalid, nothing made or changed), attaching and detaching volumes and
// network interfaces, resizing, and the network lifecycle.
//
// Where backends honestly differ the difference is an Option, documented
// there; an option changes what a case expects, never whether it runs.
package computetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	cb "github.com/occicdmi/occicdmi/computebackends"
)

// Options tells the suite what it needs to know about a backend.
type Options struct {
	// Machine returns the machine the suite creates under id: the smallest
	// the backend can run. Required.
	Machine func(id string) cb.Machine
	// Volume returns a volume that exists and the backend can attach (a file
	// QEMU can open, say), removed with t. Required.
	Volume func(t *testing.T) cb.VolumeSource
	// NBDVolume returns a volume of type "nbd" (computebackends.VolumeSource)
	// the backend can attach: an export served on a Unix socket its
	// hypervisor may open (sim: any absolute path will do), stopped with t.
	// It gets the same attach and detach cases as Volume. Nil says the
	// backend cannot attach NBD volumes: the suite then expects a
	// well-formed nbd source to be refused with ErrUnsupported, attaching
	// nothing.
	NBDVolume func(t *testing.T) cb.VolumeSource
	// Sizes reads back, from the backend's own records (not from its
	// answers), the cores and memory (GiB) a machine has now. Required: it is
	// how Resize is checked.
	Sizes func(t *testing.T, id string) (cores int, memoryGiB float64)
	// Break puts an active machine into state error the way a real failure
	// does (libvirt: QEMU killed; sim: the failure recorded). Required: the
	// error row of Rules is checked like every other.
	Break func(t *testing.T, id string)
	// DeleteImage removes an image Save made (nil when Save makes no files).
	DeleteImage func(t *testing.T, img cb.Image)
	// UncooperativeGuest says the machines run no guest OS (libvirt's empty
	// disk): nothing answers the ACPI power button or acknowledges a PCI
	// hot-unplug. The suite then expects stop with method acpioff of a
	// machine whose guest runs (active, or suspended without hibernating)
	// to fail with ErrConflict and leave it as it was, and a
	// detach from an active machine to fail with ErrConflict and leave the
	// device attached, both after the backend's bounded wait; stop graceful
	// must still stop (by powering off once the wait is over). Without it
	// (sim simulates a guest that answers) both must succeed.
	UncooperativeGuest bool
}

// Run runs the suite against the backend newBackend returns (called once per
// subtest; it closes the backend with t).
func Run(t *testing.T, newBackend func(t *testing.T) cb.Backend, o Options) {
	require.NotNil(t, o.Machine, "computetest.Options.Machine")
	require.NotNil(t, o.Volume, "computetest.Options.Volume")
	require.NotNil(t, o.Sizes, "computetest.Options.Sizes")
	require.NotNil(t, o.Break, "computetest.Options.Break")
	s := &suite{o: o}
	t.Run("Rules", func(t *testing.T) { testRules(t) })
	t.Run("Lifecycle", func(t *testing.T) { s.testLifecycle(t, newBackend(t)) })
	t.Run("StateMachine", func(t *testing.T) { s.testStateMachine(t, newBackend(t)) })
	t.Run("Concurrent", func(t *testing.T) { s.testConcurrent(t, newBackend(t)) })
	t.Run("BadInput", func(t *testing.T) { s.testBadInput(t, newBackend(t)) })
	t.Run("NotFound", func(t *testing.T) { s.testNotFound(t, newBackend(t)) })
	t.Run("Resize", func(t *testing.T) { s.testResize(t, newBackend(t)) })
	t.Run("Disks", func(t *testing.T) { s.testDisks(t, newBackend(t)) })
	t.Run("Interfaces", func(t *testing.T) { s.testInterfaces(t, newBackend(t)) })
	t.Run("Networks", func(t *testing.T) { s.testNetworks(t, newBackend(t)) })
	t.Run("Machines", func(t *testing.T) { s.testMachines(t, newBackend(t)) })
}

type suite struct{ o Options }

// NewID returns a fresh id with prefix, unique across runs.
func NewID(prefix string) string {
	r := make([]byte, 4)
	_, _ = rand.Read(r)
	return prefix + "-" + hex.EncodeToString(r)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// machine creates a machine, deleted again with t.
func (s *suite) machine(t *testing.T, b cb.Backend, prefix string) string {
	t.Helper()
	id := NewID(prefix)
	require.NoError(t, b.CreateMachine(ctxT(t), s.o.Machine(id)), "create %s", id)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := b.DeleteMachine(ctx, id); err != nil && !errors.Is(err, cb.ErrNotFound) {
			t.Errorf("delete %s: %v", id, err)
		}
	})
	return id
}

// testMachines checks a Lister: every machine is listed by its id (one
// that is not a plain name too), a deleted one no longer.
func (s *suite) testMachines(t *testing.T, b cb.Backend) {
	l, ok := b.(cb.Lister)
	if !ok {
		t.Skip("the backend does not list its machines (computebackends.Lister)")
	}
	plain := s.machine(t, b, "list")
	odd := NewID("list/odd id")
	require.NoError(t, b.CreateMachine(ctxT(t), s.o.Machine(odd)))
	listed := func() map[string]bool {
		seen := map[string]bool{}
		require.NoError(t, l.Machines(ctxT(t), func(id string) error { seen[id] = true; return nil }))
		return seen
	}
	seen := listed()
	assert.True(t, seen[plain], "%s listed", plain)
	assert.True(t, seen[odd], "%s listed", odd)
	require.NoError(t, b.DeleteMachine(ctxT(t), odd))
	assert.False(t, listed()[odd], "a deleted machine is not listed")
}

func state(t *testing.T, b cb.Backend, id string) cb.State {
	t.Helper()
	st, err := b.MachineStatus(ctxT(t), id)
	require.NoError(t, err, "status of %s", id)
	return st.State
}

func (s *suite) save(t *testing.T, b cb.Backend, id string, m cb.SaveMethod, name string) (cb.Image, error) {
	t.Helper()
	img, err := b.Save(ctxT(t), id, m, name)
	if err == nil && s.o.DeleteImage != nil {
		t.Cleanup(func() { s.o.DeleteImage(t, img) })
	}
	return img, err
}

// testRules checks the table itself: every action has a row for each of
// its methods, rows name known states, and Next agrees with the rows.
func testRules(t *testing.T) {
	for _, a := range cb.Actions {
		for _, m := range cb.Methods(a) {
			allowed := 0
			for _, from := range cb.MachineStates {
				to, err := cb.Next(a, m, from)
				if err != nil {
					require.ErrorIs(t, err, cb.ErrConflict, "%s %s from %s", a, m, from)
					continue
				}
				allowed++
				assert.Contains(t, cb.MachineStates, to, "%s %s from %s", a, m, from)
			}
			assert.NotZero(t, allowed, "%s %s is allowed from some state", a, m)
		}
		_, err := cb.Next(a, "no-such-method", cb.StateActive)
		require.ErrorIs(t, err, cb.ErrInvalid, "%s with an unknown method", a)
	}
	got, err := cb.CheckMethod(cb.ActionStop, "")
	require.NoError(t, err)
	assert.Equal(t, string(cb.StopGraceful), got, "the default stop is graceful")
}

// testLifecycle walks one machine through every action (GFD.224 table 5).
func (s *suite) testLifecycle(t *testing.T, b cb.Backend) {
	ctx := ctxT(t)
	id := s.machine(t, b, "life")
	assert.Equal(t, cb.StateInactive, state(t, b, id), "a new machine is inactive")
	require.ErrorIs(t, b.CreateMachine(ctx, s.o.Machine(id)), cb.ErrExists)
	assert.Equal(t, cb.StateInactive, state(t, b, id), "a refused create changes nothing")

	require.NoError(t, b.Start(ctx, id))
	assert.Equal(t, cb.StateActive, state(t, b, id))
	for _, m := range []cb.RestartMethod{cb.RestartGraceful, cb.RestartWarm, cb.RestartCold, ""} {
		require.NoError(t, b.Restart(ctx, id, m), "restart %q", m)
		assert.Equal(t, cb.StateActive, state(t, b, id), "after restart %q", m)
	}
	for _, m := range []cb.SuspendMethod{cb.SuspendSuspend, cb.SuspendHibernate, ""} {
		require.NoError(t, b.Suspend(ctx, id, m), "suspend %q", m)
		assert.Equal(t, cb.StateSuspended, state(t, b, id), "after suspend %q", m)
		require.NoError(t, b.Start(ctx, id), "start after suspend %q", m)
		assert.Equal(t, cb.StateActive, state(t, b, id), "start resumes after suspend %q", m)
	}

	img, err := s.save(t, b, id, cb.SaveHot, "Lifecycle Saved")
	require.NoError(t, err)
	assert.NotEmpty(t, img.Term, "a saved image has a term")
	assert.Regexp(t, `^[a-z][a-z0-9_-]*$`, img.Term, "an OCCI term (GFD.221)")
	assert.NotEmpty(t, img.Source, "a saved image says where it is")
	assert.Equal(t, cb.StateActive, state(t, b, id), "a hot save leaves the machine running")

	for _, m := range []cb.StopMethod{cb.StopPowerOff, cb.StopGraceful, "", cb.StopACPIOff} {
		if m == cb.StopACPIOff && s.o.UncooperativeGuest {
			require.ErrorIs(t, b.Stop(ctx, id, m), cb.ErrConflict, "no guest answers the ACPI power button")
			assert.Equal(t, cb.StateActive, state(t, b, id), "a refused stop leaves the machine running")
			require.NoError(t, b.Stop(ctx, id, cb.StopPowerOff))
		} else {
			require.NoError(t, b.Stop(ctx, id, m), "stop %q", m)
		}
		assert.Equal(t, cb.StateInactive, state(t, b, id), "after stop %q", m)
		if m != cb.StopACPIOff {
			require.NoError(t, b.Start(ctx, id))
		}
	}
	img2, err := s.save(t, b, id, cb.SaveDeferred, "")
	require.NoError(t, err, "a deferred save of a stopped machine")
	assert.NotEqual(t, img.Term, img2.Term, "two saves make two images")

	require.NoError(t, b.DeleteMachine(ctx, id))
	_, err = b.MachineStatus(ctx, id)
	require.ErrorIs(t, err, cb.ErrNotFound, "a deleted machine is gone")
	require.ErrorIs(t, b.DeleteMachine(ctx, id), cb.ErrNotFound)
	require.NoError(t, b.CreateMachine(ctx, s.o.Machine(id)), "its id can be used again")
	assert.Equal(t, cb.StateInactive, state(t, b, id))
}

// phase is a state the suite can put a machine into, with how.
type phase struct {
	name      string
	state     cb.State
	guestRuns bool // the guest is in memory (running or paused)
	enter     func(t *testing.T, b cb.Backend, id string)
}

func (s *suite) phases() []phase {
	return []phase{
		{"inactive", cb.StateInactive, false, func(*testing.T, cb.Backend, string) {}},
		{"active", cb.StateActive, true, func(t *testing.T, b cb.Backend, id string) {
			require.NoError(t, b.Start(ctxT(t), id))
		}},
		{"suspended", cb.StateSuspended, true, func(t *testing.T, b cb.Backend, id string) {
			require.NoError(t, b.Start(ctxT(t), id))
			require.NoError(t, b.Suspend(ctxT(t), id, cb.SuspendSuspend))
		}},
		{"hibernated", cb.StateSuspended, false, func(t *testing.T, b cb.Backend, id string) {
			require.NoError(t, b.Start(ctxT(t), id))
			require.NoError(t, b.Suspend(ctxT(t), id, cb.SuspendHibernate))
		}},
		{"error", cb.StateError, false, func(t *testing.T, b cb.Backend, id string) {
			require.NoError(t, b.Start(ctxT(t), id))
			s.o.Break(t, id)
		}},
	}
}

// do runs action a with method m on machine id.
func (s *suite) do(t *testing.T, b cb.Backend, a cb.Action, m, id string) error {
	ctx := ctxT(t)
	switch a {
	case cb.ActionStart:
		return b.Start(ctx, id)
	case cb.ActionStop:
		return b.Stop(ctx, id, cb.StopMethod(m))
	case cb.ActionRestart:
		return b.Restart(ctx, id, cb.RestartMethod(m))
	case cb.ActionSuspend:
		return b.Suspend(ctx, id, cb.SuspendMethod(m))
	case cb.ActionSave:
		_, err := s.save(t, b, id, cb.SaveMethod(m), "")
		return err
	case cb.ActionResize:
		cores, mem := s.o.Sizes(t, id)
		return b.Resize(ctx, id, cores+1, mem*2)
	}
	t.Fatalf("computetest: no way to run action %q", a)
	return nil
}

// testStateMachine puts a fresh machine in each state the suite can reach
// and runs every action with every method on it: what Rules allows must
// succeed and reach its state, what it refuses must fail with ErrConflict
// and leave the machine in its state with its sizes.
func (s *suite) testStateMachine(t *testing.T, b cb.Backend) {
	for _, p := range s.phases() {
		for _, a := range cb.Actions {
			for _, m := range cb.Methods(a) {
				name := p.name + "/" + string(a)
				if m != "" {
					name += "-" + m
				}
				t.Run(name, func(t *testing.T) {
					id := s.machine(t, b, "sm")
					p.enter(t, b, id)
					require.Equal(t, p.state, state(t, b, id), "the machine is %s before the action", p.name)
					cores, mem := s.o.Sizes(t, id)
					want, rule := cb.Next(a, m, p.state)
					err := s.do(t, b, a, m, id)
					switch {
					case rule != nil:
						require.ErrorIs(t, err, cb.ErrConflict, "Rules refuse %s %s from %s: %v", a, m, p.name, rule)
						want = p.state
					case a == cb.ActionStop && m == string(cb.StopACPIOff) && p.guestRuns && s.o.UncooperativeGuest:
						require.ErrorIs(t, err, cb.ErrConflict, "no guest answers the ACPI power button")
						want = p.state
					default:
						require.NoError(t, err, "Rules allow %s %s from %s", a, m, p.name)
					}
					assert.Equal(t, want, state(t, b, id), "state after %s %s from %s", a, m, p.name)
					c, mm := s.o.Sizes(t, id)
					if a == cb.ActionResize && err == nil {
						assert.Equal(t, cores+1, c, "cores after resize")
						assert.InDelta(t, mem*2, mm, 1e-9, "memory after resize")
					} else {
						assert.Equal(t, cores, c, "cores unchanged")
						assert.InDelta(t, mem, mm, 1e-9, "memory unchanged")
					}
				})
			}
		}
	}
}

// testConcurrent: several callers start one machine at once; exactly one
// wins, the others are told the state no longer allows it.
func (s *suite) testConcurrent(t *testing.T, b cb.Backend) {
	id := s.machine(t, b, "race")
	const n = 4
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = b.Start(ctxT(t), id)
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
			continue
		}
		assert.ErrorIs(t, err, cb.ErrConflict, "a losing start")
	}
	assert.Equal(t, 1, won, "exactly one concurrent start succeeds: %v", errs)
	assert.Equal(t, cb.StateActive, state(t, b, id))
}

// testBadInput: what no backend can do is ErrInvalid, before anything is
// made or changed.
func (s *suite) testBadInput(t *testing.T, b cb.Backend) {
	ctx := ctxT(t)
	bad := map[string]func(m *cb.Machine){
		"empty id":        func(m *cb.Machine) { m.ID = "" },
		"arm":             func(m *cb.Machine) { m.Architecture = "arm" },
		"negative memory": func(m *cb.Machine) { m.Memory = -1 },
		"negative cores":  func(m *cb.Machine) { m.Cores = -2 },
		"negative disk":   func(m *cb.Machine) { m.DiskSize = -1 },
		"hostname":        func(m *cb.Machine) { m.Hostname = "no spaces allowed" },
		"hostname too long": func(m *cb.Machine) {
			m.Hostname = fmt.Sprintf("%070d", 0)
		},
	}
	for what, edit := range bad {
		m := s.o.Machine(NewID("bad"))
		edit(&m)
		require.ErrorIs(t, b.CreateMachine(ctx, m), cb.ErrInvalid, what)
		if m.ID != "" {
			_, err := b.MachineStatus(ctx, m.ID)
			require.ErrorIs(t, err, cb.ErrNotFound, "nothing is made for a machine with %s", what)
		}
	}

	id := s.machine(t, b, "badin")
	require.NoError(t, b.Start(ctx, id))
	require.ErrorIs(t, b.Stop(ctx, id, "gently"), cb.ErrInvalid)
	require.ErrorIs(t, b.Restart(ctx, id, "lukewarm"), cb.ErrInvalid)
	require.ErrorIs(t, b.Suspend(ctx, id, "nap"), cb.ErrInvalid)
	_, err := b.Save(ctx, id, "lukewarm", "")
	require.ErrorIs(t, err, cb.ErrInvalid)
	assert.Equal(t, cb.StateActive, state(t, b, id), "refused actions change nothing")
	// A method is checked before the state: an unknown one is invalid even
	// where the action is not allowed.
	require.NoError(t, b.Stop(ctx, id, cb.StopPowerOff))
	require.ErrorIs(t, b.Stop(ctx, id, "gently"), cb.ErrInvalid)
	require.ErrorIs(t, b.Suspend(ctx, id, "nap"), cb.ErrInvalid)
	assert.Equal(t, cb.StateInactive, state(t, b, id))
}

// testNotFound: every call on a machine or network that does not exist is
// ErrNotFound.
func (s *suite) testNotFound(t *testing.T, b cb.Backend) {
	ctx := ctxT(t)
	id := NewID("missing")
	_, err := b.MachineStatus(ctx, id)
	assert.ErrorIs(t, err, cb.ErrNotFound, "status")
	assert.ErrorIs(t, b.Start(ctx, id), cb.ErrNotFound, "start")
	assert.ErrorIs(t, b.Stop(ctx, id, cb.StopPowerOff), cb.ErrNotFound, "stop")
	assert.ErrorIs(t, b.Restart(ctx, id, cb.RestartWarm), cb.ErrNotFound, "restart")
	assert.ErrorIs(t, b.Suspend(ctx, id, cb.SuspendSuspend), cb.ErrNotFound, "suspend")
	_, err = b.Save(ctx, id, cb.SaveHot, "")
	assert.ErrorIs(t, err, cb.ErrNotFound, "save")
	assert.ErrorIs(t, b.Resize(ctx, id, 1, 0.125), cb.ErrNotFound, "resize")
	assert.ErrorIs(t, b.DeleteMachine(ctx, id), cb.ErrNotFound, "delete")
	assert.ErrorIs(t, b.AttachDisk(ctx, id, cb.Disk{ID: "d", Source: s.o.Volume(t)}), cb.ErrNotFound, "attach disk")
	assert.ErrorIs(t, b.DetachDisk(ctx, id, "d"), cb.ErrNotFound, "detach disk")
	assert.ErrorIs(t, b.DetachInterface(ctx, id, "n"), cb.ErrNotFound, "detach interface")
	_, err = b.NetworkStatus(ctx, id)
	assert.ErrorIs(t, err, cb.ErrNotFound, "network status")
	assert.ErrorIs(t, b.StartNetwork(ctx, id), cb.ErrNotFound, "start network")
	assert.ErrorIs(t, b.StopNetwork(ctx, id), cb.ErrNotFound, "stop network")
	assert.ErrorIs(t, b.DeleteNetwork(ctx, id), cb.ErrNotFound, "delete network")
}

// testResize: an inactive machine takes new sizes; impossible sizes and
// any other state are refused, and a refused resize keeps the old sizes.
func (s *suite) testResize(t *testing.T, b cb.Backend) {
	ctx := ctxT(t)
	id := s.machine(t, b, "resize")
	cores, mem := s.o.Sizes(t, id)
	require.NoError(t, b.Resize(ctx, id, 2, 0.25))
	c, m := s.o.Sizes(t, id)
	assert.Equal(t, 2, c)
	assert.InDelta(t, 0.25, m, 1e-9)
	require.NoError(t, b.Resize(ctx, id, cores, mem), "and back")
	for _, bad := range [][2]float64{{0, 1}, {-1, 1}, {1, 0}, {1, -0.5}} {
		require.ErrorIs(t, b.Resize(ctx, id, int(bad[0]), bad[1]), cb.ErrInvalid, "resize to %v", bad)
		c, m := s.o.Sizes(t, id)
		assert.Equal(t, cores, c, "a refused resize keeps the cores")
		assert.InDelta(t, mem, m, 1e-9, "a refused resize keeps the memory")
	}
	require.NoError(t, b.Start(ctx, id))
	require.ErrorIs(t, b.Resize(ctx, id, 2, 0.25), cb.ErrConflict, "no resize while active")
	c, m = s.o.Sizes(t, id)
	assert.Equal(t, cores, c)
	assert.InDelta(t, mem, m, 1e-9)
	// The new sizes are what the machine boots with.
	require.NoError(t, b.Stop(ctx, id, cb.StopPowerOff))
	require.NoError(t, b.Resize(ctx, id, 2, 0.25))
	require.NoError(t, b.Start(ctx, id))
	c, m = s.o.Sizes(t, id)
	assert.Equal(t, 2, c)
	assert.InDelta(t, 0.25, m, 1e-9)
}

// testDisks attaches volumes to a stopped and to a running machine and
// detaches them again: volumes as the backend's Volume gives them, then
// NBD volumes.
func (s *suite) testDisks(t *testing.T, b cb.Backend) {
	t.Run("Volume", func(t *testing.T) { s.testDiskKind(t, b, s.o.Volume) })
	t.Run("NBD", func(t *testing.T) {
		if s.o.NBDVolume != nil {
			s.testDiskKind(t, b, s.o.NBDVolume)
			return
		}
		ctx := ctxT(t)
		id := s.machine(t, b, "nbd")
		src := cb.VolumeSource{Type: "nbd", Path: "/run/occicdmi/nbd/computetest.sock", Image: "computetest"}
		require.ErrorIs(t, b.AttachDisk(ctx, id, cb.Disk{ID: "nbd", Source: src}), cb.ErrUnsupported,
			"a backend without NBDVolume refuses nbd volumes")
		require.ErrorIs(t, b.DetachDisk(ctx, id, "nbd"), cb.ErrNotFound, "and attaches nothing")
	})
}

// testDiskKind runs the disk cases with volumes vol makes.
func (s *suite) testDiskKind(t *testing.T, b cb.Backend, vol func(t *testing.T) cb.VolumeSource) {
	ctx := ctxT(t)
	id := s.machine(t, b, "disks")
	d1 := cb.Disk{ID: "data1", Source: vol(t)}
	require.NoError(t, b.AttachDisk(ctx, id, d1), "attach to a stopped machine")
	require.ErrorIs(t, b.AttachDisk(ctx, id, d1), cb.ErrExists, "the same link twice")
	require.ErrorIs(t, b.AttachDisk(ctx, id, cb.Disk{ID: ""}), cb.ErrInvalid, "no id")
	for what, src := range map[string]cb.VolumeSource{
		"unknown type":  {Type: "nfs", Path: "/x"},
		"relative path": {Type: "file", Path: "relative.raw"},
		"bad format":    {Type: "file", Path: "/x.vmdk", Format: "vmdk"},
		"rbd no pool":   {Type: "rbd", Image: "i", Monitors: []string{"127.0.0.1:6789"}},
		"nbd relative":  {Type: "nbd", Path: "nbd.sock", Image: "e"},
		"nbd no export": {Type: "nbd", Path: "/run/nbd.sock"},
	} {
		require.ErrorIs(t, b.AttachDisk(ctx, id, cb.Disk{ID: "bad", Source: src}), cb.ErrInvalid, what)
	}
	require.ErrorIs(t, b.DetachDisk(ctx, id, "bad"), cb.ErrNotFound, "refused attaches attach nothing")

	// The disk recorded while stopped is there when the machine runs.
	require.NoError(t, b.Start(ctx, id))
	require.ErrorIs(t, b.AttachDisk(ctx, id, d1), cb.ErrExists, "still attached after start")
	d2 := cb.Disk{ID: "data2", Source: vol(t)}
	require.NoError(t, b.AttachDisk(ctx, id, d2), "hot-plug into a running machine")
	require.ErrorIs(t, b.AttachDisk(ctx, id, d2), cb.ErrExists)
	if s.o.UncooperativeGuest {
		require.ErrorIs(t, b.DetachDisk(ctx, id, d2.ID), cb.ErrConflict, "no guest releases the device")
		require.ErrorIs(t, b.AttachDisk(ctx, id, d2), cb.ErrExists, "a refused detach leaves the disk attached")
		assert.Equal(t, cb.StateActive, state(t, b, id))
		require.NoError(t, b.Stop(ctx, id, cb.StopPowerOff))
	} else {
		require.NoError(t, b.DetachDisk(ctx, id, d2.ID), "hot-unplug")
		require.NoError(t, b.Stop(ctx, id, cb.StopPowerOff))
	}
	require.NoError(t, b.DetachDisk(ctx, id, d1.ID))
	require.ErrorIs(t, b.DetachDisk(ctx, id, d1.ID), cb.ErrNotFound, "detached twice")
	if s.o.UncooperativeGuest {
		require.NoError(t, b.DetachDisk(ctx, id, d2.ID))
	}
	require.ErrorIs(t, b.DetachDisk(ctx, id, d2.ID), cb.ErrNotFound)
	require.NoError(t, b.AttachDisk(ctx, id, d1), "a detached disk can be attached again")
	require.NoError(t, b.Start(ctx, id), "and the machine starts with it")
}

// network creates a started network without a subnet, deleted with t.
func network(t *testing.T, b cb.Backend) string {
	t.Helper()
	id := NewID("net")
	require.NoError(t, b.CreateNetwork(ctxT(t), cb.Network{ID: id, Label: "computetest"}))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := b.DeleteNetwork(ctx, id); err != nil && !errors.Is(err, cb.ErrNotFound) {
			t.Errorf("delete network %s: %v", id, err)
		}
	})
	require.NoError(t, b.StartNetwork(ctxT(t), id))
	return id
}

// testInterfaces attaches network interfaces to a stopped and to a
// running machine and detaches them again.
func (s *suite) testInterfaces(t *testing.T, b cb.Backend) {
	ctx := ctxT(t)
	netID := network(t, b)
	id := s.machine(t, b, "nics")
	nic, err := b.AttachInterface(ctx, id, cb.Interface{ID: "nic0", NetworkID: netID, MAC: "52:54:00:AB:CD:EF"})
	require.NoError(t, err)
	assert.Equal(t, "52:54:00:ab:cd:ef", nic.MAC, "the MAC asked for, in canonical form")
	assert.Equal(t, "nic0", nic.ID)
	_, err = b.AttachInterface(ctx, id, cb.Interface{ID: "nic0", NetworkID: netID})
	require.ErrorIs(t, err, cb.ErrExists, "the same link twice")
	for what, bad := range map[string]cb.Interface{
		"no id":         {NetworkID: netID},
		"multicast MAC": {ID: "bad", NetworkID: netID, MAC: "01:00:5e:00:00:01"},
		"no MAC":        {ID: "bad", NetworkID: netID, MAC: "not-a-mac"},
		"no IPv4":       {ID: "bad", NetworkID: netID, Address: "not-an-ip"},
	} {
		_, err := b.AttachInterface(ctx, id, bad)
		require.ErrorIs(t, err, cb.ErrInvalid, what)
	}
	_, err = b.AttachInterface(ctx, id, cb.Interface{ID: "bad", NetworkID: NewID("no-such-net")})
	require.ErrorIs(t, err, cb.ErrNotFound, "an unknown network")
	require.ErrorIs(t, b.DetachInterface(ctx, id, "bad"), cb.ErrNotFound, "refused attaches attach nothing")

	require.NoError(t, b.Start(ctx, id))
	nic1, err := b.AttachInterface(ctx, id, cb.Interface{ID: "nic1", NetworkID: netID})
	require.NoError(t, err, "hot-plug into a running machine")
	assert.Regexp(t, `^[0-9a-f]{2}(:[0-9a-f]{2}){5}$`, nic1.MAC, "the backend chose a MAC")
	assert.NotEqual(t, nic.MAC, nic1.MAC)
	if s.o.UncooperativeGuest {
		require.ErrorIs(t, b.DetachInterface(ctx, id, "nic1"), cb.ErrConflict, "no guest releases the device")
		_, err = b.AttachInterface(ctx, id, cb.Interface{ID: "nic1", NetworkID: netID})
		require.ErrorIs(t, err, cb.ErrExists, "a refused detach leaves the interface attached")
		require.NoError(t, b.Stop(ctx, id, cb.StopPowerOff))
		require.NoError(t, b.DetachInterface(ctx, id, "nic1"))
	} else {
		require.NoError(t, b.DetachInterface(ctx, id, "nic1"), "hot-unplug")
		require.NoError(t, b.Stop(ctx, id, cb.StopPowerOff))
	}
	require.NoError(t, b.DetachInterface(ctx, id, "nic0"))
	require.ErrorIs(t, b.DetachInterface(ctx, id, "nic0"), cb.ErrNotFound, "detached twice")
	require.ErrorIs(t, b.DetachInterface(ctx, id, "nic1"), cb.ErrNotFound)
}

// testNetworks: create, start (up), stop (down), delete.
func (s *suite) testNetworks(t *testing.T, b cb.Backend) {
	ctx := ctxT(t)
	id := NewID("net")
	require.ErrorIs(t, b.CreateNetwork(ctx, cb.Network{}), cb.ErrInvalid, "no id")
	require.NoError(t, b.CreateNetwork(ctx, cb.Network{ID: id, Label: "computetest"}))
	t.Cleanup(func() { _ = b.DeleteNetwork(context.Background(), id) })
	require.ErrorIs(t, b.CreateNetwork(ctx, cb.Network{ID: id}), cb.ErrExists)
	st, err := b.NetworkStatus(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, cb.StateInactive, st.State, "a new network is inactive")
	require.NoError(t, b.StartNetwork(ctx, id))
	st, err = b.NetworkStatus(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, cb.StateActive, st.State)
	require.NoError(t, b.StopNetwork(ctx, id))
	st, err = b.NetworkStatus(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, cb.StateInactive, st.State)
	require.NoError(t, b.DeleteNetwork(ctx, id))
	_, err = b.NetworkStatus(ctx, id)
	require.ErrorIs(t, err, cb.ErrNotFound)
	require.ErrorIs(t, b.DeleteNetwork(ctx, id), cb.ErrNotFound)
}
