package occi

import (
	"context"
	"errors"

	cb "github.com/occicdmi/occicdmi/computebackends"
	"github.com/occicdmi/occicdmi/internal/kind"
)

// osTemplate returns the os_tpl among mixins ("" for none).
func (o *op) osTemplate(mixins []string) string {
	for _, m := range mixins {
		if m != MixinOSTpl && o.m.dependsOn(m, MixinOSTpl) {
			return m
		}
	}
	return ""
}

// rebuild redefines an inactive compute whose os_tpl changes, so the new
// template takes effect on the machine (GFD.224 §3.6.1: the change MUST
// affect the execution environment). The compute contract has no
// "reimage", so the machine is deleted and created again from the new
// spec, and its links are attached again; every step is undone on failure.
// A compute that is not inactive must be stopped first: Conflict.
func (o *op) rebuild(prev, next *Entity) error {
	if !o.m.isA(prev.Kind, KindCompute) || o.osTemplate(prev.Mixins) == o.osTemplate(next.Mixins) {
		return nil
	}
	be := o.s.compute
	if be == nil {
		return errNoCompute
	}
	if st := stateOf(prev); st != "inactive" {
		return kind.Errorf(kind.Conflict, "changing the os_tpl of %s rebuilds it: its state is %s, stop it first", prev.Location, st)
	}
	// Every link of the machine goes back on it, whoever's it is.
	locs, err := o.s.st.links(o.db, everyone, []string{prev.Location}, false)
	if err != nil {
		return dbErr(err)
	}
	links, err := o.s.st.entities(o.db, everyone, locs)
	if err != nil {
		return dbErr(err)
	}
	if err := be.DeleteMachine(o.ctx, prev.ID); err != nil && !errors.Is(err, cb.ErrNotFound) {
		return backendErr("delete machine for rebuild", err)
	}
	o.undo = append(o.undo, func() {
		// Put the old machine back as it was, links included.
		restore := *o
		restore.ctx = context.WithoutCancel(o.ctx)
		restore.undo = nil
		if err := restore.provision(prev, nil); err != nil {
			o.logUndo("recreate machine", err)
			return
		}
		for _, l := range links {
			if err := restore.provision(l, nil); err != nil {
				o.logUndo("reattach link", err)
			}
		}
	})
	for _, e := range append([]*Entity{next}, links...) {
		if err := o.provision(e, nil); err != nil {
			o.rollback()
			return err
		}
	}
	return nil
}

// resize passes new sizes to the backends: occi.storage.size to the
// storage's volume, compute sizes to the compute backend (the contract's
// Resize, GFD.224 §3.6.2: a resource_tpl change or an update of
// occi.compute.cores/memory, on a stopped machine).
func (o *op) resize(prev, next *Entity) error {
	if o.m.isA(prev.Kind, KindStorage) {
		was, now := num64(prev.Attrs["occi.storage.size"]), num64(next.Attrs["occi.storage.size"])
		vols := o.s.volumes
		if was == now || vols == nil {
			return nil
		}
		// Like the 1.1 "resize" action, this resizes the volume behind the
		// storage, whoever made it.
		if err := vols.Resize(o.ctx, prev.ID, int64(now*gib)); err != nil {
			return backendErr("resize volume", err)
		}
		o.later("resize volume back", func(ctx context.Context) error { return vols.Resize(ctx, prev.ID, int64(was*gib)) })
		return nil
	}
	if !o.m.isA(prev.Kind, KindCompute) || o.osTemplate(prev.Mixins) != o.osTemplate(next.Mixins) {
		return nil // not a compute, or rebuilt with the new sizes already
	}
	was, now := o.machine(prev), o.machine(next)
	if was.Cores == now.Cores && was.Memory == now.Memory {
		return nil
	}
	if st := stateOf(prev); st != "inactive" {
		return kind.Errorf(kind.Conflict, "resizing %s needs it inactive: its state is %s, stop it first", prev.Location, st)
	}
	if err := o.s.compute.Resize(o.ctx, prev.ID, now.Cores, now.Memory); err != nil {
		return backendErr("resize machine", err)
	}
	o.later("resize back", func(ctx context.Context) error { return o.s.compute.Resize(ctx, prev.ID, was.Cores, was.Memory) })
	return nil
}
