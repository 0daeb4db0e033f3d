package libvirt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
	"libvirt.org/go/libvirtxml"

	cb "github.com/occicdmi/occicdmi/computebackends"
)

// safeID is what an OCCI id may look like to be used verbatim in a libvirt
// name; other ids are hashed (a name must not hold "/", and stays short).
var safeID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`)

// DomainName is the libvirt domain (or network) name of an OCCI id. It is a
// pure function of the id, which is how a machine is found again after a
// restart of occicdmi or libvirtd.
func DomainName(id string) string {
	if safeID.MatchString(id) {
		return "occi-" + id
	}
	sum := sha256.Sum256([]byte(id))
	return "occi-" + hex.EncodeToString(sum[:16])
}

var uuidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// domainUUID is the id itself when it is a UUID (OCCI ids usually are), else
// a name-based one, so the domain's UUID too follows from the id.
func domainUUID(id string) string {
	if uuidRe.MatchString(id) {
		return strings.ToLower(id)
	}
	s := sha256.Sum256([]byte("occicdmi:" + id))
	s[6] = s[6]&0x0f | 0x50
	s[8] = s[8]&0x3f | 0x80
	h := hex.EncodeToString(s[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func (b *Backend) lookup(l *golibvirt.Libvirt, id string) (golibvirt.Domain, error) {
	return l.DomainLookupByName(DomainName(id))
}

// CreateMachine defines an inactive domain for m, with its own overlay of
// m.Image when there is one.
func (b *Backend) CreateMachine(ctx context.Context, m cb.Machine) error {
	if err := m.Validate(); err != nil {
		return fmt.Errorf("libvirt: create: %w", err)
	}
	withSeed := m.UserData != "" || m.SSHKey != ""
	if withSeed {
		if err := checkSeedTool(); err != nil {
			return fmt.Errorf("libvirt: create %q: %w", m.ID, err)
		}
	}
	if err := b.checkAbsent(ctx, m.ID); err != nil {
		return err
	}
	name := DomainName(m.ID)
	dom, err := b.domainSkeleton(m, name)
	if err != nil {
		return err
	}
	overlay := b.overlayPath(name)
	if err := b.addRootDisk(ctx, m, dom, overlay); err != nil {
		return fmt.Errorf("libvirt: create %q: %w", m.ID, err)
	}
	seed := ""
	if withSeed {
		seed = b.seedPath(name)
		if err := writeSeed(ctx, m, seed); err != nil {
			_ = os.Remove(overlay)
			return fmt.Errorf("libvirt: create %q: %w", m.ID, err)
		}
		dom.Devices.Disks = append(dom.Devices.Disks, seedDisk(seed))
	}
	if err := b.define(ctx, m.ID, dom); err != nil {
		// nothing half-made stays behind
		_ = os.Remove(overlay)
		if seed != "" {
			_ = os.Remove(seed)
		}
		return err
	}
	return nil
}

// checkAbsent refuses an id whose domain already exists (ErrExists).
func (b *Backend) checkAbsent(ctx context.Context, id string) error {
	exists := false
	err := b.call(ctx, "create", id, func(l *golibvirt.Libvirt) error {
		_, err := b.lookup(l, id)
		if err == nil {
			exists = true
			return nil
		}
		if golibvirt.IsNotFound(err) {
			return nil
		}
		return err
	})
	if err != nil {
		return err
	}
	if exists {
		return fmt.Errorf("libvirt: create %q: domain %s: %w", id, DomainName(id), cb.ErrExists)
	}
	return nil
}

// domainSkeleton is the domain without disks: sizes (1 core and 256 MiB
// when not given), TCG, ACPI, a serial console to a file, no video.
func (b *Backend) domainSkeleton(m cb.Machine, name string) (*libvirtxml.Domain, error) {
	arch := "x86_64"
	if m.Architecture == "x86" {
		arch = "i686"
	}
	cores := uint(m.Cores)
	if cores == 0 {
		cores = 1
	}
	memMiB := uint(m.Memory * 1024)
	if m.Memory == 0 {
		memMiB = 256
	}
	if memMiB < 32 {
		return nil, fmt.Errorf("libvirt: create %q: %g GiB of memory is too little (at least 32 MiB): %w", m.ID, m.Memory, cb.ErrInvalid)
	}
	return &libvirtxml.Domain{
		Type:        "qemu", // TCG: runs without /dev/kvm
		Name:        name,
		UUID:        domainUUID(m.ID),
		Title:       m.Hostname,
		Description: descriptionPrefix + m.ID + descriptionSuffix,
		Memory:      &libvirtxml.DomainMemory{Value: memMiB, Unit: "MiB"},
		VCPU:        &libvirtxml.DomainVCPU{Value: cores},
		OS: &libvirtxml.DomainOS{
			Type:        &libvirtxml.DomainOSType{Arch: arch, Machine: "pc", Type: "hvm"},
			BootDevices: []libvirtxml.DomainBootDevice{{Dev: "hd"}},
		},
		Features:   &libvirtxml.DomainFeatureList{ACPI: &libvirtxml.DomainFeature{}},
		OnPoweroff: "destroy",
		OnReboot:   "restart",
		OnCrash:    "destroy",
		Devices: &libvirtxml.DomainDeviceList{
			Serials: []libvirtxml.DomainSerial{{Source: &libvirtxml.DomainChardevSource{
				File: &libvirtxml.DomainChardevSourceFile{Path: b.consolePath(name)}}}},
			Videos:     []libvirtxml.DomainVideo{{Model: libvirtxml.DomainVideoModel{Type: "none"}}},
			MemBalloon: &libvirtxml.DomainMemBalloon{Model: "none"},
		},
	}, nil
}

// addRootDisk makes the machine's qcow2 root disk at overlay (an overlay
// of the os_tpl's image, or blank without one) and adds it as vda; an
// image with a kernel beside it boots directly.
func (b *Backend) addRootDisk(ctx context.Context, m cb.Machine, dom *libvirtxml.Domain, overlay string) error {
	dom.Devices.Disks = []libvirtxml.DomainDisk{{
		Device: "disk",
		Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "qcow2"},
		Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: overlay}},
		Target: &libvirtxml.DomainDiskTarget{Dev: "vda", Bus: "virtio"},
	}}
	if m.Image == nil || m.Image.Source == "" {
		// No os_tpl: a blank (sparse) root disk, so the machine can be
		// installed onto and saved like any other.
		if err := createBlank(ctx, overlay, m.DiskSize); err != nil {
			return err
		}
		b.reachable(overlay)
		return nil
	}
	base, err := b.resolveImage(m.Image.Source)
	if err != nil {
		return err
	}
	b.reachable(base)
	if err := createOverlay(ctx, base, overlay, m.DiskSize); err != nil {
		return err
	}
	if kernel, initrd, ok := directBoot(base); ok {
		dom.OS.Kernel, dom.OS.Initrd = kernel, initrd
		dom.OS.Cmdline = "console=ttyS0 quiet"
		if m.Hostname != "" {
			dom.OS.Cmdline += " hostname=" + m.Hostname
		}
		dom.OS.BootDevices = nil
	}
	return nil
}

// define hands the domain's XML to libvirtd, which validates it.
func (b *Backend) define(ctx context.Context, id string, dom *libvirtxml.Domain) error {
	doc, err := dom.Marshal()
	if err != nil {
		return fmt.Errorf("libvirt: create %q: %w: %v", id, cb.ErrInvalid, err)
	}
	return b.call(ctx, "create", id, func(l *golibvirt.Libvirt) error {
		_, err := l.DomainDefineXMLFlags(doc, golibvirt.DomainDefineValidate)
		return err
	})
}

// state reads the domain's state and reason.
func (b *Backend) state(ctx context.Context, op, id string) (dom golibvirt.Domain, st golibvirt.DomainState, reason int32, err error) {
	err = b.call(ctx, op, id, func(l *golibvirt.Libvirt) error {
		d, err := b.lookup(l, id)
		if err != nil {
			return err
		}
		s, r, err := l.DomainGetState(d, 0)
		dom, st, reason = d, golibvirt.DomainState(s), r
		return err
	})
	return dom, st, reason, err
}

func (b *Backend) hasManagedSave(ctx context.Context, id string, d golibvirt.Domain) (bool, error) {
	var has int32
	err := b.call(ctx, "status", id, func(l *golibvirt.Libvirt) (err error) {
		has, err = l.DomainHasManagedSaveImage(d, 0)
		return err
	})
	return has == 1, err
}

// allowed applies computebackends.Rules, the state machine every backend
// follows, to the machine's state as MachineStatus reports it: an action
// the table refuses is refused here before libvirt is asked to do anything.
func (b *Backend) allowed(ctx context.Context, a cb.Action, method, id string) error {
	if _, err := cb.CheckMethod(a, method); err != nil {
		return fmt.Errorf("libvirt: %s %q: %w", a, id, err)
	}
	st, err := b.MachineStatus(ctx, id)
	if err != nil {
		return err
	}
	if _, err := cb.Next(a, method, st.State); err != nil {
		return fmt.Errorf("libvirt: %s %q (%s): %w", a, id, st.Message, err)
	}
	return nil
}

func conflict(op, id string, st golibvirt.DomainState) error {
	return fmt.Errorf("libvirt: %s %q: domain is %s: %w", op, id, stateName(st), cb.ErrConflict)
}

func stateName(st golibvirt.DomainState) string {
	switch st {
	case golibvirt.DomainRunning, golibvirt.DomainBlocked:
		return "running"
	case golibvirt.DomainPaused:
		return "paused"
	case golibvirt.DomainShutdown:
		return "shutting down"
	case golibvirt.DomainShutoff:
		return "shut off"
	case golibvirt.DomainCrashed:
		return "crashed"
	case golibvirt.DomainPmsuspended:
		return "suspended by the guest"
	}
	return "in no state"
}

// Start boots a stopped domain (restoring a hibernated one from its managed
// save image) or resumes a paused one.
func (b *Backend) Start(ctx context.Context, id string) error {
	if err := b.allowed(ctx, cb.ActionStart, "", id); err != nil {
		return err
	}
	d, st, _, err := b.state(ctx, "start", id)
	if err != nil {
		return err
	}
	switch st {
	case golibvirt.DomainPaused:
		return b.call(ctx, "start", id, func(l *golibvirt.Libvirt) error { return l.DomainResume(d) })
	case golibvirt.DomainShutoff, golibvirt.DomainCrashed:
		return b.call(ctx, "start", id, func(l *golibvirt.Libvirt) error { return l.DomainCreate(d) })
	case golibvirt.DomainPmsuspended:
		return b.call(ctx, "start", id, func(l *golibvirt.Libvirt) error { return l.DomainPmWakeup(d, 0) })
	}
	return conflict("start", id, st)
}

// Stop stops a domain. graceful (the default) presses the ACPI power button
// and, when the guest has not powered off within ShutdownTimeout, pulls the
// plug (a guest that ignores ACPI still stops, and the log says so); acpioff
// presses the button and fails with ErrConflict if the guest ignores it;
// poweroff destroys at once. Stopping a hibernated machine discards its
// saved memory. Stopping a machine whose QEMU crashed or failed (state
// error) puts it back to a clean stop: libvirt keeps the reason a domain
// shut off until it runs again, so it is started paused and powered off.
func (b *Backend) Stop(ctx context.Context, id string, method cb.StopMethod) error {
	if err := b.allowed(ctx, cb.ActionStop, string(method), id); err != nil {
		return err
	}
	d, st, _, err := b.state(ctx, "stop", id)
	if err != nil {
		return err
	}
	switch st {
	case golibvirt.DomainShutoff, golibvirt.DomainCrashed:
		if has, err := b.hasManagedSave(ctx, id, d); err != nil {
			return err
		} else if has {
			return b.call(ctx, "stop", id, func(l *golibvirt.Libvirt) error { return l.DomainManagedSaveRemove(d, 0) })
		}
		return b.call(ctx, "stop", id, func(l *golibvirt.Libvirt) error {
			if _, err := l.DomainCreateWithFlags(d, uint32(golibvirt.DomainStartPaused)); err != nil {
				return err
			}
			return l.DomainDestroyFlags(d, 0)
		})
	}
	if method == cb.StopPowerOff {
		return b.destroy(ctx, "stop", id, d)
	}
	paused := st == golibvirt.DomainPaused
	// pauseAgain puts a guest resumed for the power button back as it was
	// when the stop does not happen: a failed call changes nothing.
	pauseAgain := func() {
		if !paused {
			return
		}
		if err := b.call(context.WithoutCancel(ctx), "stop", id, func(l *golibvirt.Libvirt) error { return l.DomainSuspend(d) }); err != nil {
			b.log.Error("libvirt: could not pause again a machine resumed for a stop that failed", "id", id, "err", err)
		}
	}
	if paused {
		// A paused guest cannot see the power button.
		if err := b.call(ctx, "stop", id, func(l *golibvirt.Libvirt) error { return l.DomainResume(d) }); err != nil {
			return err
		}
	}
	if err := b.call(ctx, "stop", id, func(l *golibvirt.Libvirt) error {
		return l.DomainShutdownFlags(d, golibvirt.DomainShutdownAcpiPowerBtn)
	}); err != nil {
		pauseAgain()
		return err
	}
	off, err := b.waitShutoff(ctx, id, d, func() {
		// A guest still booting (or busy) can miss a press: press again.
		_ = b.call(ctx, "stop", id, func(l *golibvirt.Libvirt) error {
			return l.DomainShutdownFlags(d, golibvirt.DomainShutdownAcpiPowerBtn)
		})
	})
	if err != nil || off {
		if err != nil {
			pauseAgain()
		}
		return err
	}
	if method == cb.StopACPIOff {
		pauseAgain()
		return fmt.Errorf("libvirt: stop %q: the guest did not power off within %s of the ACPI power button; it is as it was: %w", id, b.shutdownTimeout(), cb.ErrConflict)
	}
	b.log.Warn("libvirt: guest ignored the ACPI power button; powering off", "id", id, "waited", b.shutdownTimeout())
	return b.destroy(ctx, "stop", id, d)
}

func (b *Backend) shutdownTimeout() time.Duration {
	if b.ShutdownTimeout <= 0 {
		return DefaultShutdownTimeout
	}
	return b.ShutdownTimeout
}

// waitShutoff polls until the domain is shut off or ShutdownTimeout passes.
func (b *Backend) waitShutoff(ctx context.Context, id string, d golibvirt.Domain, repress func()) (bool, error) {
	deadline := time.Now().Add(b.shutdownTimeout())
	nextPress := time.Now().Add(repressEvery)
	for {
		if time.Now().After(nextPress) {
			repress()
			nextPress = time.Now().Add(repressEvery)
		}
		var st int32
		err := b.call(ctx, "stop", id, func(l *golibvirt.Libvirt) (err error) {
			st, _, err = l.DomainGetState(d, 0)
			return err
		})
		if err != nil {
			return false, err
		}
		if golibvirt.DomainState(st) == golibvirt.DomainShutoff {
			return true, nil
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("libvirt: stop %q: %w", id, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// repressEvery is how often a graceful stop presses the power button again
// while it waits: a guest that was still booting when the first press came
// (its ACPI handler not yet listening) powers off at the next one.
const repressEvery = 5 * time.Second

func (b *Backend) destroy(ctx context.Context, op, id string, d golibvirt.Domain) error {
	return b.call(ctx, op, id, func(l *golibvirt.Libvirt) error { return l.DomainDestroyFlags(d, 0) })
}

// Restart restarts a running domain: graceful presses the ACPI power button
// and libvirt starts the guest again once it powered off; warm resets the
// virtual hardware; cold destroys the domain and boots it again.
func (b *Backend) Restart(ctx context.Context, id string, method cb.RestartMethod) error {
	if err := b.allowed(ctx, cb.ActionRestart, string(method), id); err != nil {
		return err
	}
	d, st, _, err := b.state(ctx, "restart", id)
	if err != nil {
		return err
	}
	if st != golibvirt.DomainRunning && st != golibvirt.DomainBlocked {
		return conflict("restart", id, st)
	}
	switch method {
	case cb.RestartWarm:
		return b.call(ctx, "restart", id, func(l *golibvirt.Libvirt) error { return l.DomainReset(d, 0) })
	case cb.RestartCold:
		if err := b.destroy(ctx, "restart", id, d); err != nil {
			return err
		}
		return b.call(ctx, "restart", id, func(l *golibvirt.Libvirt) error { return l.DomainCreate(d) })
	}
	return b.call(ctx, "restart", id, func(l *golibvirt.Libvirt) error {
		return l.DomainReboot(d, golibvirt.DomainRebootAcpiPowerBtn)
	})
}

// Suspend pauses a running domain (suspend: the vCPUs stop, memory stays in
// QEMU) or hibernates it (hibernate: libvirt's managed save writes memory to
// disk and QEMU exits; Start restores it). Like every backend (Rules), it
// suspends active machines only: a paused one is started first.
func (b *Backend) Suspend(ctx context.Context, id string, method cb.SuspendMethod) error {
	if err := b.allowed(ctx, cb.ActionSuspend, string(method), id); err != nil {
		return err
	}
	d, st, _, err := b.state(ctx, "suspend", id)
	if err != nil {
		return err
	}
	if st != golibvirt.DomainRunning && st != golibvirt.DomainBlocked {
		return conflict("suspend", id, st)
	}
	if method == cb.SuspendHibernate {
		return b.call(ctx, "suspend", id, func(l *golibvirt.Libvirt) error { return l.DomainManagedSave(d, 0) })
	}
	return b.call(ctx, "suspend", id, func(l *golibvirt.Libvirt) error { return l.DomainSuspend(d) })
}

// DeleteMachine destroys the domain if it runs, undefines it (with any
// managed save image) and removes its overlay and console log.
func (b *Backend) DeleteMachine(ctx context.Context, id string) error {
	d, st, _, err := b.state(ctx, "delete", id)
	if err != nil {
		return err
	}
	if st != golibvirt.DomainShutoff && st != golibvirt.DomainCrashed {
		if err := b.destroy(ctx, "delete", id, d); err != nil {
			return err
		}
	}
	err = b.call(ctx, "delete", id, func(l *golibvirt.Libvirt) error {
		return l.DomainUndefineFlags(d, golibvirt.DomainUndefineManagedSave|golibvirt.DomainUndefineNvram)
	})
	if err != nil {
		return err
	}
	name := DomainName(id)
	for _, f := range []string{b.overlayPath(name), b.consolePath(name), b.seedPath(name)} {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			b.log.Warn("libvirt: could not remove a deleted machine's file", "id", id, "file", f, "err", err)
		}
	}
	return nil
}

// MachineStatus reports the domain's state as libvirt sees it now, so
// changes made outside occicdmi (virsh destroy, a crashed QEMU) show.
func (b *Backend) MachineStatus(ctx context.Context, id string) (cb.Status, error) {
	d, st, reason, err := b.state(ctx, "status", id)
	if err != nil {
		return cb.Status{}, err
	}
	switch st {
	case golibvirt.DomainRunning, golibvirt.DomainBlocked:
		return cb.Status{State: cb.StateActive, Message: "running"}, nil
	case golibvirt.DomainShutdown:
		return cb.Status{State: cb.StateActive, Message: "shutting down"}, nil
	case golibvirt.DomainPaused:
		switch golibvirt.DomainPausedReason(reason) {
		case golibvirt.DomainPausedIoerror:
			return cb.Status{State: cb.StateError, Message: "paused by QEMU after a disk I/O error"}, nil
		case golibvirt.DomainPausedCrashed:
			return cb.Status{State: cb.StateError, Message: "the guest crashed (paused)"}, nil
		case golibvirt.DomainPausedSave:
			return cb.Status{State: cb.StateSuspended, Message: "being hibernated"}, nil
		}
		return cb.Status{State: cb.StateSuspended, Message: "paused"}, nil
	case golibvirt.DomainPmsuspended:
		return cb.Status{State: cb.StateSuspended, Message: "suspended by the guest"}, nil
	case golibvirt.DomainCrashed:
		return cb.Status{State: cb.StateError, Message: "the guest crashed"}, nil
	case golibvirt.DomainShutoff:
		has, err := b.hasManagedSave(ctx, id, d)
		if err != nil {
			return cb.Status{}, err
		}
		if has {
			return cb.Status{State: cb.StateSuspended, Message: "hibernated (memory saved to disk)"}, nil
		}
		switch golibvirt.DomainShutoffReason(reason) {
		case golibvirt.DomainShutoffCrashed:
			return cb.Status{State: cb.StateError, Message: "QEMU stopped unexpectedly (crashed or killed)"}, nil
		case golibvirt.DomainShutoffFailed:
			return cb.Status{State: cb.StateError, Message: "the domain failed to start"}, nil
		case golibvirt.DomainShutoffShutdown:
			return cb.Status{State: cb.StateInactive, Message: "powered off by the guest"}, nil
		case golibvirt.DomainShutoffDestroyed:
			return cb.Status{State: cb.StateInactive, Message: "powered off"}, nil
		}
		return cb.Status{State: cb.StateInactive, Message: "shut off"}, nil
	}
	return cb.Status{State: cb.StateError, Message: "libvirt reports no state"}, nil
}

// Resize changes the cores and memory of an inactive machine (OCCI calls it
// when a resource_tpl or occi.compute.cores/memory change). Any other is
// refused with ErrConflict (Rules): TCG guests here have no memory or CPU
// hot-plug, and a hibernated machine's memory image keeps its old size.
func (b *Backend) Resize(ctx context.Context, id string, cores int, memoryGiB float64) error {
	if cores < 1 || memoryGiB*1024 < 32 {
		return fmt.Errorf("libvirt: resize %q: %d cores, %g GiB: need at least 1 core and 32 MiB: %w", id, cores, memoryGiB, cb.ErrInvalid)
	}
	if err := b.allowed(ctx, cb.ActionResize, "", id); err != nil {
		return err
	}
	d, st, _, err := b.state(ctx, "resize", id)
	if err != nil {
		return err
	}
	if active(st) {
		return conflict("resize", id, st)
	}
	dom, err := b.domainXML(ctx, "resize", id, d, golibvirt.DomainXMLInactive)
	if err != nil {
		return err
	}
	mem := uint(memoryGiB * 1024)
	dom.VCPU = &libvirtxml.DomainVCPU{Value: uint(cores)}
	dom.Memory = &libvirtxml.DomainMemory{Value: mem, Unit: "MiB"}
	dom.CurrentMemory = &libvirtxml.DomainCurrentMemory{Value: mem, Unit: "MiB"}
	doc, err := dom.Marshal()
	if err != nil {
		return fmt.Errorf("libvirt: resize %q: %w: %v", id, cb.ErrInvalid, err)
	}
	return b.call(ctx, "resize", id, func(l *golibvirt.Libvirt) error {
		_, err := l.DomainDefineXMLFlags(doc, golibvirt.DomainDefineValidate)
		return err
	})
}
