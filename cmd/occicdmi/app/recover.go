package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/occicdmi/occicdmi/computebackends"
	"github.com/occicdmi/occicdmi/computebackends/sim"
	"github.com/occicdmi/occicdmi/occi"
	"github.com/occicdmi/occicdmi/storagebackends"
	"github.com/occicdmi/occicdmi/storagebackends/fs"
)

// Start-up recovery (issue 12 item 11): what a crash (kill -9, power loss)
// leaves behind is removed before the server serves. What may belong to
// another live process is kept: a temporary file touched in the last hour,
// a value younger than an hour (cdmi's sweep), a machine without an OCCI
// compute until it has stayed so for orphanGrace. A process knows it is
// alone when it holds the lock of its data folder (temporary files) and of
// its SQLite file (values and machines, whose references live there).

// tempAge is how long a temporary file must be untouched before a process
// that is not alone on its data folder takes it for a crash's leftover.
const tempAge = time.Hour

// orphanGrace is how long a machine without an OCCI compute must stay so
// before a process sharing its database removes it: a create in flight in
// another process commits its entity well within it.
var orphanGrace = 10 * time.Minute

// ownership is what this process has to itself.
type ownership struct {
	dataDir  bool // no other process uses the data folder
	database bool // no other process uses the database (SQLite only)
}

// valuesAlone says no other process writes values where this one does:
// only when they are files in this process's own data folder and their
// references in its own SQLite file. A bucket or a pool may be shared by
// servers of other databases, whose values this database does not know:
// sweeping every value it does not name there would delete theirs.
func (o ownership) valuesAlone(cfg Config) bool {
	return o.dataDir && o.database && cfg.Objects == fs.Name
}

// machinesAlone says no other process makes machines where this one does:
// the simulated backend keeps them in this process's own database; libvirt
// considers only the domains of this server's image folder, which is ours
// alone when it lies in our locked data folder. A shared image folder (one
// libvirtd, servers of other databases) is not.
func (o ownership) machinesAlone(cfg Config) bool {
	if !o.database {
		return false
	}
	if cfg.Compute == sim.Name {
		return true
	}
	rel, err := filepath.Rel(cfg.DataDir, cfg.ImageDir)
	return o.dataDir && err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// lockFile takes an exclusive advisory lock on path for the life of the
// app; held is false when another process has it.
func (a *App) lockFile(path string) (held bool, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return false, fmt.Errorf("open the lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return false, nil
		}
		return false, fmt.Errorf("lock %s: %w", path, err)
	}
	a.closers = append(a.closers, f.Close) // closing releases the lock
	return true, nil
}

func (a *App) takeOwnership(cfg Config, log *slog.Logger) (ownership, error) {
	var own ownership
	var err error
	if own.dataDir, err = a.lockFile(filepath.Join(cfg.DataDir, "occicdmi.lock")); err != nil {
		return own, err
	}
	if !IsPostgres(cfg.Database) {
		if own.database, err = a.lockFile(cfg.Database + ".lock"); err != nil {
			return own, err
		}
	}
	if !own.dataDir || (!IsPostgres(cfg.Database) && !own.database) {
		log.Warn("another occicdmi process uses this data folder or SQLite file: start-up recovery keeps what may be its work in progress",
			"data", cfg.DataDir, "database", redact(cfg.Database))
	}
	return own, nil
}

// removeTemp removes the temporary files of the data folder and of the
// storage backends that a crashed write left.
func (a *App) removeTemp(ctx context.Context, cfg Config, own ownership, log *slog.Logger) {
	age := func(embedded bool) time.Duration {
		if own.dataDir && embedded {
			return 0
		}
		return tempAge
	}
	n, err := fs.RemoveOlder(ctx, filepath.Join(cfg.DataDir, "tmp"), age(true))
	for _, b := range []struct {
		name string
		v    any
		fs   bool
	}{{"objects", a.Objects, cfg.Objects == fs.Name}, {"volumes", a.Volumes, cfg.Volumes == fs.Name}} {
		if r, ok := b.v.(storagebackends.TempRemover); ok {
			m, rerr := r.RemoveTemp(ctx, age(b.fs))
			n += m
			err = errors.Join(err, rerr)
		}
	}
	if err != nil {
		log.Warn("start-up recovery: could not remove every temporary file", "err", err)
	}
	if n > 0 {
		log.Info("start-up recovery: removed temporary files of interrupted writes", "count", n)
	}
}

// recoverMachines reports the compute backend's machines that no OCCI
// compute refers to and, with --remove-orphan-vms, deletes them: at once
// when this process is alone on its database, else those still orphaned
// after orphanGrace.
func (a *App) recoverMachines(ctx context.Context, cfg Config, svc *occi.Service, own ownership, log *slog.Logger) {
	l := a.machines
	if l == nil {
		return
	}
	reportLostMachines(ctx, a.Compute, svc, log)
	orphans, err := findOrphans(ctx, l, svc)
	if err != nil {
		log.Warn("start-up recovery: could not compare the compute backend's machines with OCCI's", "err", err)
		return
	}
	for _, id := range orphans {
		log.Warn("start-up recovery: a machine of the compute backend has no OCCI compute (a crash between its creation and its commit)",
			"id", id, "compute", a.Compute.Name(), "removed", cfg.RemoveOrphanVMs && own.machinesAlone(cfg))
	}
	if len(orphans) == 0 || !cfg.RemoveOrphanVMs {
		return
	}
	if own.machinesAlone(cfg) {
		a.removeMachines(ctx, orphans, log)
		return
	}
	rctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	a.closers = append(a.closers, func() error { cancel(); wg.Wait(); return nil })
	go func() {
		defer wg.Done()
		select {
		case <-time.After(orphanGrace):
		case <-rctx.Done():
			return
		}
		still, err := findOrphans(rctx, l, svc)
		if err != nil {
			log.Warn("start-up recovery: could not compare the compute backend's machines with OCCI's", "err", err)
			return
		}
		before := map[string]bool{}
		for _, id := range orphans {
			before[id] = true
		}
		var gone []string
		for _, id := range still {
			if before[id] {
				gone = append(gone, id)
			}
		}
		a.removeMachines(rctx, gone, log)
	}()
}

// reportLostMachines logs the computes whose machine the backend no longer
// has: a crash between a delete's backend call and its commit (the compute
// then shows state error; deleting it again completes the delete), or a
// machine removed outside occicdmi. It stops at the first other failure,
// so a backend that is down costs one timeout, not one per compute.
func reportLostMachines(ctx context.Context, be computebackends.Backend, svc *occi.Service, log *slog.Logger) {
	errStop := errors.New("stop")
	err := svc.Computes(ctx, func(id string) error {
		_, err := be.MachineStatus(ctx, id)
		switch {
		case errors.Is(err, computebackends.ErrNotFound):
			log.Warn("start-up recovery: an OCCI compute has no machine in the compute backend (a crash during its delete, or removed outside occicdmi); delete it again",
				"id", id, "compute", be.Name())
		case err != nil:
			log.Warn("start-up recovery: could not check the computes' machines", "err", err)
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		log.Warn("start-up recovery: could not list the computes", "err", err)
	}
}

func findOrphans(ctx context.Context, l computebackends.Lister, svc *occi.Service) ([]string, error) {
	var orphans []string
	err := l.Machines(ctx, func(id string) error {
		ok, err := svc.HasMachine(ctx, id)
		if err == nil && !ok {
			orphans = append(orphans, id)
		}
		return err
	})
	return orphans, err
}

func (a *App) removeMachines(ctx context.Context, ids []string, log *slog.Logger) {
	for _, id := range ids {
		if err := a.Compute.DeleteMachine(ctx, id); err != nil && !errors.Is(err, computebackends.ErrNotFound) {
			log.Warn("start-up recovery: could not remove an orphaned machine", "id", id, "err", err)
			continue
		}
		log.Info("start-up recovery: removed an orphaned machine", "id", id)
	}
}
