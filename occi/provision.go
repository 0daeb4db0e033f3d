package occi

import (
	"context"
	"errors"
	"strings"

	cb "github.com/occicdmi/occicdmi/computebackends"
	"github.com/occicdmi/occicdmi/internal/kind"
)

func num64(v any) float64 {
	f, _ := v.(float64)
	return f
}

func strv(v any) string {
	s, _ := v.(string)
	return s
}

var errNoCompute = kind.New(kind.Unavailable, "no compute backend is configured")

// machine is the compute backend's description of a compute resource.
func (o *op) machine(e *Entity) cb.Machine {
	m := cb.Machine{ID: e.ID, Hostname: strv(e.Attrs["occi.compute.hostname"]),
		Architecture: strv(e.Attrs["occi.compute.architecture"]),
		Cores:        int(num64(e.Attrs["occi.compute.cores"])), Share: int(num64(e.Attrs["occi.compute.share"])),
		Memory:   num64(e.Attrs["occi.compute.memory"]),
		UserData: strv(e.Attrs["occi.compute.userdata"]), SSHKey: strv(e.Attrs["occi.credentials.ssh.publickey"])}
	// A machine needs a size: one core and 1 GiB when neither the client
	// nor a resource_tpl said.
	if m.Cores == 0 {
		m.Cores = 1
	}
	if m.Memory == 0 {
		m.Memory = 1
	}
	for _, id := range e.Mixins {
		c := o.m.get(id)
		if c == nil {
			continue
		}
		if c.Template != nil {
			m.DiskSize = c.Template.Disk
		}
		if c.Image != "" {
			m.Image = &cb.Image{Term: c.Term, Title: c.Title, Source: c.Image}
		}
	}
	return m
}

// later registers a compensation, run (detached from the call's
// cancellation) when a later step fails. Under inBackendTx there is none
// to register: the transaction's rollback takes the change back.
func (o *op) later(what string, undo func(ctx context.Context) error) {
	if o.inTx {
		return
	}
	ctx := context.WithoutCancel(o.ctx)
	o.undo = append(o.undo, func() { o.logUndo(what, undo(ctx)) })
}

func (o *op) logUndo(what string, err error) {
	if err != nil {
		o.s.log.Error("undo after a failed request did not complete", "what", what, "err", err)
	}
}

// provision creates the backend side of a new entity, registering undo.
func (o *op) provision(e *Entity, pending map[string]*Entity) error {
	isLink := o.m.isA(e.Kind, KindNetworkInterface) || o.m.isA(e.Kind, KindStorageLink)
	switch {
	case o.m.isA(e.Kind, KindStorage):
		return o.provisionStorage(e)
	case !o.m.isA(e.Kind, KindCompute) && !o.m.isA(e.Kind, KindNetwork) && !isLink:
		return nil
	case o.s.compute == nil:
		return errNoCompute
	case o.m.isA(e.Kind, KindCompute):
		return o.provisionMachine(e)
	case o.m.isA(e.Kind, KindNetwork):
		return o.provisionNetwork(e)
	case o.m.isA(e.Kind, KindNetworkInterface):
		return o.attachInterface(e, pending)
	default:
		return o.attachDisk(e, pending)
	}
}

func (o *op) provisionMachine(e *Entity) error {
	be := o.s.compute
	if err := be.CreateMachine(o.ctx, o.machine(e)); err != nil {
		return backendErr("create machine", err)
	}
	o.later("delete machine", func(ctx context.Context) error { return be.DeleteMachine(ctx, e.ID) })
	o.syncState(e)
	return nil
}

func (o *op) provisionNetwork(e *Entity) error {
	be := o.s.compute
	n := cb.Network{ID: e.ID, Label: strv(e.Attrs["occi.network.label"]), VLAN: int(num64(e.Attrs["occi.network.vlan"])),
		Address: strv(e.Attrs["occi.network.address"]), Gateway: strv(e.Attrs["occi.network.gateway"]),
		Allocation: strv(e.Attrs["occi.network.allocation"])}
	if err := be.CreateNetwork(o.ctx, n); err != nil {
		return backendErr("create network", err)
	}
	o.later("delete network", func(ctx context.Context) error { return be.DeleteNetwork(ctx, e.ID) })
	o.syncState(e)
	return nil
}

func (o *op) provisionStorage(e *Entity) error {
	vols := o.s.volumes
	if vols == nil {
		return nil
	}
	size := int64(num64(e.Attrs["occi.storage.size"]) * gib)
	attrs, err := vols.Create(o.ctx, e.ID, size)
	if err != nil {
		return backendErr("create volume", err)
	}
	o.later("delete volume", func(ctx context.Context) error { return vols.Delete(ctx, e.ID) })
	for k, v := range attrs {
		e.Attrs[k] = v
		o.addMixinDefining(e, k)
	}
	return nil
}

func (o *op) attachInterface(e *Entity, pending map[string]*Entity) error {
	be := o.s.compute
	src, _ := o.resolveAny(e.Source, pending)
	tgt, _ := o.resolveAny(e.Target, pending)
	nic := cb.Interface{ID: e.ID, NetworkID: tgt.ID, MAC: strv(e.Attrs["occi.networkinterface.mac"]),
		Address: strv(e.Attrs["occi.networkinterface.address"])}
	got, err := be.AttachInterface(o.ctx, src.ID, nic)
	if err != nil {
		return backendErr("attach network interface", err)
	}
	o.later("detach interface", func(ctx context.Context) error { return be.DetachInterface(ctx, src.ID, e.ID) })
	if got.MAC != "" {
		e.Attrs["occi.networkinterface.mac"] = got.MAC
	}
	e.Attrs["occi.networkinterface.state"] = "active"
	return nil
}

func (o *op) attachDisk(e *Entity, pending map[string]*Entity) error {
	be := o.s.compute
	src, _ := o.resolveAny(e.Source, pending)
	tgt, _ := o.resolveAny(e.Target, pending)
	disk := cb.Disk{ID: e.ID}
	if mp := strv(e.Attrs["occi.storagelink.mountpoint"]); strings.HasPrefix(mp, "/dev/") {
		disk.Target = strings.TrimPrefix(mp, "/dev/")
	}
	link := StorageLink{ID: e.ID, Storage: tgt.ID, DeviceID: strv(e.Attrs["occi.storagelink.deviceid"]), Compute: src.Location}
	vols := o.s.volumes
	if vols != nil {
		o.syncState(src)
		if stateOf(src) == "active" {
			// A hot-plug attaches now: the permission must be there now.
			if err := vols.Authorize(o.ctx, link); err != nil {
				return backendErr("attach "+tgt.Location+" to "+src.Location, err)
			}
		}
		source, err := vols.Attachment(o.ctx, link)
		if err != nil {
			return backendErr("find the storage's volume", err)
		}
		o.later("release the volume", func(ctx context.Context) error { return vols.Detached(ctx, link) })
		disk.Source = source
	}
	if err := be.AttachDisk(o.ctx, src.ID, disk); err != nil {
		return backendErr("attach disk", err)
	}
	o.later("detach disk", func(ctx context.Context) error { return be.DetachDisk(ctx, src.ID, e.ID) })
	o.syncState(src)
	e.Attrs["occi.storagelink.state"] = diskState(src)
	return nil
}

// syncState copies the backend's state of a compute or network into the
// entity (so a change made behind OCCI's back shows).
func (o *op) syncState(e *Entity) {
	be := o.s.compute
	if be == nil {
		return
	}
	var st cb.Status
	var err error
	prefix := ""
	switch {
	case o.m.isA(e.Kind, KindCompute):
		st, err = be.MachineStatus(o.ctx, e.ID)
		prefix = "occi.compute.state"
	case o.m.isA(e.Kind, KindNetwork):
		st, err = be.NetworkStatus(o.ctx, e.ID)
		prefix = "occi.network.state"
	default:
		return
	}
	if errors.Is(err, cb.ErrNotFound) {
		st = cb.Status{State: cb.StateError, Message: "the compute backend no longer knows this resource"}
	} else if err != nil {
		o.s.log.Warn("backend status", "id", e.ID, "err", err)
		return
	}
	e.Attrs[prefix] = string(st.State)
	if st.Message != "" {
		e.Attrs[prefix+".message"] = st.Message
	} else {
		delete(e.Attrs, prefix+".message")
	}
}

// gone treats "not found" as done: what is deleted may be gone already.
func gone(err error) error {
	if errors.Is(err, kind.NotFound) {
		return nil
	}
	return err
}

// deprovision removes the backend side of entities about to be deleted.
// Links are detached unless their source machine goes too.
func (o *op) deprovision(es []*Entity) error {
	if err := o.detachAll(es); err != nil {
		return err
	}
	be := o.s.compute
	for _, e := range es {
		var err error
		switch {
		case e.IsLink():
		case o.m.isA(e.Kind, KindCompute) && be != nil:
			err = backendErr("delete machine", gone(be.DeleteMachine(o.ctx, e.ID)))
		case o.m.isA(e.Kind, KindNetwork) && be != nil:
			err = backendErr("delete network", gone(be.DeleteNetwork(o.ctx, e.ID)))
		case o.m.isA(e.Kind, KindStorage) && o.s.volumes != nil:
			err = backendErr("delete volume", gone(o.s.volumes.Delete(o.ctx, e.ID)))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// detachAll detaches the links among es from machines that stay.
func (o *op) detachAll(es []*Entity) error {
	be := o.s.compute
	if be == nil {
		return nil
	}
	leaving := map[string]bool{}
	for _, e := range es {
		leaving[e.Location] = true
	}
	for _, e := range es {
		if !e.IsLink() || (leaving[e.Source] && o.m.isA(e.SourceKind, KindCompute)) {
			continue
		}
		src, err := o.s.st.entity(o.db, everyone, e.Source, false)
		if err != nil {
			continue
		}
		switch {
		case o.m.isA(e.Kind, KindNetworkInterface):
			err = backendErr("detach network interface", gone(be.DetachInterface(o.ctx, src.ID, e.ID)))
		case o.m.isA(e.Kind, KindStorageLink):
			err = backendErr("detach disk", gone(be.DetachDisk(o.ctx, src.ID, e.ID)))
			if err == nil {
				err = o.volumeDetached(e, src)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// volumeDetached tells Volumes a storagelink's disk left its compute.
func (o *op) volumeDetached(link, compute *Entity) error {
	vols := o.s.volumes
	if vols == nil {
		return nil
	}
	tgt, err := o.s.st.entity(o.db, everyone, link.Target, false)
	if err != nil {
		return nil // the storage is gone already
	}
	sl := StorageLink{ID: link.ID, Storage: tgt.ID, DeviceID: strv(link.Attrs["occi.storagelink.deviceid"]), Compute: compute.Location}
	return backendErr("release the volume", gone(vols.Detached(o.ctx, sl)))
}

// authorizeDisks asks Volumes whether each storagelink of compute e
// (disks, from diskLinks) may attach its volume, before e starts (CDMI
// 13.1 step 4): a refusal keeps the machine as it was.
func (o *op) authorizeDisks(e *Entity, disks []*Entity) error {
	vols := o.s.volumes
	if vols == nil {
		return nil
	}
	for _, l := range disks {
		tgt, err := o.s.st.entity(o.db, everyone, l.Target, false)
		if err != nil {
			continue
		}
		sl := StorageLink{ID: l.ID, Storage: tgt.ID, DeviceID: strv(l.Attrs["occi.storagelink.deviceid"]), Compute: e.Location}
		if err := vols.Authorize(o.ctx, sl); err != nil {
			return backendErr("start "+e.Location+" with "+tgt.Location, err)
		}
	}
	return nil
}

// addMixinDefining makes e a member of the provider mixin that defines
// attr, when one applies to e's kind and e is not one already.
func (o *op) addMixinDefining(e *Entity, attr string) {
	for _, c := range o.m.order {
		if c.Class != ClassMixin || c.Attr(attr) == nil || !o.applies(c, e.Kind) {
			continue
		}
		for _, id := range e.Mixins {
			if id == c.ID() {
				return
			}
		}
		e.Mixins = append(e.Mixins, c.ID())
		return
	}
}
