package libvirt

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
	"libvirt.org/go/libvirtxml"

	cb "github.com/occicdmi/occicdmi/computebackends"
)

// aliasSafe is what libvirt accepts after "ua-" in a user alias.
var aliasSafe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,60}$`)

// Alias is the libvirt user alias of a disk or interface link id: how the
// device is found again in the domain XML (and QEMU's qdev id).
func Alias(linkID string) string {
	if aliasSafe.MatchString(linkID) {
		return "ua-" + linkID
	}
	sum := sha256.Sum256([]byte(linkID))
	return "ua-" + hex.EncodeToString(sum[:12])
}

// unplugWait bounds how long a detach waits for the guest to release a
// hot-unplugged device (PCI unplug needs the guest OS to acknowledge it).
var unplugWait = 15 * time.Second

// active tells whether the domain has a running QEMU (devices must be
// hot-plugged as well as recorded).
func active(st golibvirt.DomainState) bool {
	switch st {
	case golibvirt.DomainRunning, golibvirt.DomainBlocked, golibvirt.DomainPaused, golibvirt.DomainShutdown, golibvirt.DomainPmsuspended:
		return true
	}
	return false
}

func modifyFlags(st golibvirt.DomainState) uint32 {
	if active(st) {
		return uint32(golibvirt.DomainDeviceModifyLive | golibvirt.DomainDeviceModifyConfig)
	}
	return uint32(golibvirt.DomainDeviceModifyConfig)
}

// diskXML builds the libvirt disk element of a volume.
func diskXML(d cb.Disk, target string) (*libvirtxml.DomainDisk, error) {
	disk := &libvirtxml.DomainDisk{
		Device: "disk",
		Target: &libvirtxml.DomainDiskTarget{Dev: target, Bus: "virtio"},
		Alias:  &libvirtxml.DomainAlias{Name: Alias(d.ID)},
	}
	if d.ReadOnly {
		disk.ReadOnly = &libvirtxml.DomainDiskReadOnly{}
	}
	if err := d.Source.Validate(); err != nil {
		return nil, err
	}
	format := d.Source.Format
	if format == "" {
		format = "raw"
	}
	switch d.Source.Type {
	case "file":
		disk.Driver = &libvirtxml.DomainDiskDriver{Name: "qemu", Type: format}
		disk.Source = &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: d.Source.Path}}
	case "rbd":
		if d.Source.User != "" {
			return nil, fmt.Errorf("rbd volume with cephx user %q: needs a libvirt secret, not supported yet (run Ceph with cephx off): %w", d.Source.User, cb.ErrUnsupported)
		}
		src := &libvirtxml.DomainDiskSourceNetwork{Protocol: "rbd", Name: d.Source.Pool + "/" + d.Source.Image}
		for _, m := range d.Source.Monitors {
			host, port, err := net.SplitHostPort(m)
			if err != nil {
				host, port = m, "6789"
			}
			if _, err := strconv.Atoi(port); err != nil || host == "" {
				return nil, fmt.Errorf("rbd monitor %q is not host:port: %w", m, cb.ErrInvalid)
			}
			src.Hosts = append(src.Hosts, libvirtxml.DomainDiskSourceHost{Name: host, Port: port})
		}
		if d.Source.ConfigFile != "" {
			src.Config = &libvirtxml.DomainDiskSourceNetworkConfig{File: d.Source.ConfigFile}
		}
		disk.Driver = &libvirtxml.DomainDiskDriver{Name: "qemu", Type: format, Cache: "none"}
		disk.Source = &libvirtxml.DomainDiskSource{Network: src}
	case "nbd":
		// QEMU's nbd driver on a Unix socket. QEMU connects as libvirt-qemu
		// and libvirt labels no network source, so the socket's owner
		// must let that user in: the socket writable by it (group
		// libvirt-qemu, mode 0660, as linkage/nbd does) and every folder
		// above searchable by others (o+x; AttachDisk opens the folders
		// of a local daemon as it does for files, see reachable). QEMU
		// connects when it opens the disk: on hot-plug at once, otherwise
		// at the machine's next start, which fails, naming the socket,
		// when nothing answers there.
		disk.Driver = &libvirtxml.DomainDiskDriver{Name: "qemu", Type: format, Cache: "none", Discard: "unmap"}
		disk.Source = &libvirtxml.DomainDiskSource{Network: nbdSource(d.Source)}
	default:
		return nil, fmt.Errorf("volume type %q (want file, rbd or nbd): %w", d.Source.Type, cb.ErrInvalid)
	}
	return disk, nil
}

// devices reads the domain's configured and (when it runs) live XML.
func (b *Backend) devices(ctx context.Context, op, id string) (d golibvirt.Domain, st golibvirt.DomainState, config, live *libvirtxml.Domain, err error) {
	d, st, _, err = b.state(ctx, op, id)
	if err != nil {
		return
	}
	if config, err = b.domainXML(ctx, op, id, d, golibvirt.DomainXMLInactive); err != nil {
		return
	}
	if active(st) {
		live, err = b.domainXML(ctx, op, id, d, 0)
	}
	return
}

func findDisk(dom *libvirtxml.Domain, alias string) *libvirtxml.DomainDisk {
	if dom == nil {
		return nil
	}
	for i := range dom.Devices.Disks {
		if a := dom.Devices.Disks[i].Alias; a != nil && a.Name == alias {
			return &dom.Devices.Disks[i]
		}
	}
	return nil
}

func freeTarget(doms ...*libvirtxml.Domain) string {
	used := map[string]bool{}
	for _, dom := range doms {
		if dom == nil {
			continue
		}
		for _, disk := range dom.Devices.Disks {
			if disk.Target != nil {
				used[disk.Target.Dev] = true
			}
		}
	}
	for c := 'b'; c <= 'z'; c++ {
		if t := "vd" + string(c); !used[t] {
			return t
		}
	}
	return ""
}

// AttachDisk adds a volume to the domain: hot-plugged into a running one
// and recorded in its configuration, or only recorded for a stopped one.
func (b *Backend) AttachDisk(ctx context.Context, machineID string, d cb.Disk) error {
	if d.ID == "" {
		return fmt.Errorf("libvirt: attach disk to %q: empty disk id: %w", machineID, cb.ErrInvalid)
	}
	dom, st, config, live, err := b.devices(ctx, "attach disk", machineID)
	if err != nil {
		return err
	}
	alias := Alias(d.ID)
	if findDisk(config, alias) != nil || findDisk(live, alias) != nil {
		return fmt.Errorf("libvirt: attach disk %q to %q: %w", d.ID, machineID, cb.ErrExists)
	}
	target := d.Target
	if target == "" {
		target = freeTarget(config, live)
	} else if freeTarget(config, live) == "" || findTarget(config, target) || findTarget(live, target) {
		return fmt.Errorf("libvirt: attach disk %q to %q: device %s is taken: %w", d.ID, machineID, target, cb.ErrConflict)
	}
	if target == "" {
		return fmt.Errorf("libvirt: attach disk %q to %q: no free virtio disk name: %w", d.ID, machineID, cb.ErrConflict)
	}
	disk, err := diskXML(d, target)
	if err != nil {
		return fmt.Errorf("libvirt: attach disk %q to %q: %w", d.ID, machineID, err)
	}
	if d.Source.Type == "file" || d.Source.Type == "nbd" && d.Source.Host == "" {
		b.reachable(d.Source.Path)
	}
	doc, err := disk.Marshal()
	if err != nil {
		return fmt.Errorf("libvirt: attach disk %q to %q: %w: %v", d.ID, machineID, cb.ErrInvalid, err)
	}
	return b.call(ctx, "attach disk", machineID, func(l *golibvirt.Libvirt) error {
		return l.DomainAttachDeviceFlags(dom, doc, modifyFlags(st))
	})
}

func findTarget(dom *libvirtxml.Domain, target string) bool {
	if dom == nil {
		return false
	}
	for _, disk := range dom.Devices.Disks {
		if disk.Target != nil && disk.Target.Dev == target {
			return true
		}
	}
	return false
}

// DetachDisk removes a volume. From a running domain the live device goes
// first: the guest must release it (PCI hot-unplug), and if it has not
// within a bounded wait the call fails with ErrConflict and the
// configuration is left as it was, so nothing is half-removed.
func (b *Backend) DetachDisk(ctx context.Context, machineID, diskID string) error {
	alias := Alias(diskID)
	return b.detach(ctx, "detach disk", machineID, diskID, func(dom *libvirtxml.Domain) (string, bool, error) {
		disk := findDisk(dom, alias)
		if disk == nil {
			return "", false, nil
		}
		doc, err := disk.Marshal()
		return doc, true, err
	})
}

// detach removes one device, live then config. find returns the device's
// XML in a domain description, or false when it is not there.
func (b *Backend) detach(ctx context.Context, op, machineID, linkID string, find func(*libvirtxml.Domain) (string, bool, error)) error {
	dom, _, config, live, err := b.devices(ctx, op, machineID)
	if err != nil {
		return err
	}
	liveDoc, inLive, err := find(live)
	if err != nil {
		return fmt.Errorf("libvirt: %s %q: %w: %v", op, linkID, cb.ErrUnavailable, err)
	}
	configDoc, inConfig, err := find(config)
	if err != nil {
		return fmt.Errorf("libvirt: %s %q: %w: %v", op, linkID, cb.ErrUnavailable, err)
	}
	if !inLive && !inConfig {
		return fmt.Errorf("libvirt: %s %q from %q: not attached: %w", op, linkID, machineID, cb.ErrNotFound)
	}
	if inLive {
		if err := b.call(ctx, op, machineID, func(l *golibvirt.Libvirt) error {
			return l.DomainDetachDeviceFlags(dom, liveDoc, uint32(golibvirt.DomainDeviceModifyLive))
		}); err != nil {
			return err
		}
		deadline := time.Now().Add(unplugWait)
		for {
			now, err := b.domainXML(ctx, op, machineID, dom, 0)
			if err != nil {
				return err
			}
			if _, still, _ := find(now); !still {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("libvirt: %s %q from %q: the guest has not released the device within %s (hot-unplug needs a guest OS that answers); it stays attached: %w", op, linkID, machineID, unplugWait, cb.ErrConflict)
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("libvirt: %s %q: %w", op, linkID, ctx.Err())
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	if inConfig {
		return b.call(ctx, op, machineID, func(l *golibvirt.Libvirt) error {
			return l.DomainDetachDeviceFlags(dom, configDoc, uint32(golibvirt.DomainDeviceModifyConfig))
		})
	}
	return nil
}

func findNIC(dom *libvirtxml.Domain, alias string) *libvirtxml.DomainInterface {
	if dom == nil {
		return nil
	}
	for i := range dom.Devices.Interfaces {
		if a := dom.Devices.Interfaces[i].Alias; a != nil && a.Name == alias {
			return &dom.Devices.Interfaces[i]
		}
	}
	return nil
}

// AttachInterface adds a virtio interface on the libvirt network of
// nic.NetworkID, with nic.MAC or a generated one (QEMU's 52:54:00 prefix).
func (b *Backend) AttachInterface(ctx context.Context, machineID string, nic cb.Interface) (cb.Interface, error) {
	if nic.ID == "" {
		return cb.Interface{}, fmt.Errorf("libvirt: attach interface to %q: empty id: %w", machineID, cb.ErrInvalid)
	}
	if nic.MAC == "" {
		nic.MAC = randomMAC()
	} else if hw, err := net.ParseMAC(nic.MAC); err != nil || len(hw) != 6 || hw[0]&1 == 1 {
		return cb.Interface{}, fmt.Errorf("libvirt: attach interface %q: %q is not a unicast MAC-48 address: %w", nic.ID, nic.MAC, cb.ErrInvalid)
	} else {
		nic.MAC = hw.String()
	}
	netName := DomainName(nic.NetworkID)
	var lnet golibvirt.Network
	if err := b.call(ctx, "attach interface", machineID, func(l *golibvirt.Libvirt) (err error) {
		lnet, err = l.NetworkLookupByName(netName)
		return err
	}); err != nil {
		return cb.Interface{}, err
	}
	dom, st, config, live, err := b.devices(ctx, "attach interface", machineID)
	if err != nil {
		return cb.Interface{}, err
	}
	alias := Alias(nic.ID)
	if findNIC(config, alias) != nil || findNIC(live, alias) != nil {
		return cb.Interface{}, fmt.Errorf("libvirt: attach interface %q to %q: %w", nic.ID, machineID, cb.ErrExists)
	}
	iface := &libvirtxml.DomainInterface{
		MAC:    &libvirtxml.DomainInterfaceMAC{Address: nic.MAC},
		Source: &libvirtxml.DomainInterfaceSource{Network: &libvirtxml.DomainInterfaceSourceNetwork{Network: netName}},
		Model:  &libvirtxml.DomainInterfaceModel{Type: "virtio"},
		Alias:  &libvirtxml.DomainAlias{Name: alias},
	}
	doc, err := iface.Marshal()
	if err != nil {
		return cb.Interface{}, fmt.Errorf("libvirt: attach interface %q: %w: %v", nic.ID, cb.ErrInvalid, err)
	}
	if nic.Address != "" {
		// The ipnetworkinterface address becomes a DHCP reservation for
		// the MAC on the network's dnsmasq.
		if err := b.reserve(ctx, lnet, nic); err != nil {
			return cb.Interface{}, err
		}
	}
	err = b.call(ctx, "attach interface", machineID, func(l *golibvirt.Libvirt) error {
		return l.DomainAttachDeviceFlags(dom, doc, modifyFlags(st))
	})
	if err != nil && nic.Address != "" {
		b.unreserve(ctx, lnet, nic.MAC)
	}
	return nic, err
}

// reserve adds a DHCP host entry (MAC -> address) to the network, checking
// that the address lies in its subnet and is not its gateway. On a network
// without a subnet it only checks that the address is IPv4.
func (b *Backend) reserve(ctx context.Context, lnet golibvirt.Network, nic cb.Interface) error {
	ip := net.ParseIP(nic.Address).To4()
	if ip == nil {
		return fmt.Errorf("libvirt: attach interface %q: address %q is not an IPv4 address: %w", nic.ID, nic.Address, cb.ErrInvalid)
	}
	x, on, err := b.networkDoc(ctx, lnet)
	if err != nil {
		return err
	}
	if len(x.IPs) == 0 {
		// A bridge without a subnet has no dnsmasq, so there is no lease to
		// reserve: the guest configures the address statically, and OCCI
		// keeps it on the link.
		return nil
	}
	gw := net.ParseIP(x.IPs[0].Address)
	subnet := &net.IPNet{IP: gw.Mask(net.CIDRMask(int(x.IPs[0].Prefix), 32)), Mask: net.CIDRMask(int(x.IPs[0].Prefix), 32)}
	if !subnet.Contains(ip) || ip.Equal(gw) {
		return fmt.Errorf("libvirt: attach interface %q: address %s is not a free host address of %s: %w", nic.ID, nic.Address, subnet, cb.ErrInvalid)
	}
	host := &libvirtxml.NetworkDHCPHost{MAC: nic.MAC, IP: ip.String()}
	doc, err := host.Marshal()
	if err != nil {
		return fmt.Errorf("libvirt: attach interface %q: %w: %v", nic.ID, cb.ErrInvalid, err)
	}
	return b.call(ctx, "attach interface", nic.ID, func(l *golibvirt.Libvirt) error {
		return l.NetworkUpdate(lnet, uint32(golibvirt.NetworkUpdateCommandAddLast), uint32(golibvirt.NetworkSectionIPDhcpHost), -1, doc, netFlags(on))
	})
}

// unreserve removes the DHCP host entries of a MAC, if any.
func (b *Backend) unreserve(ctx context.Context, lnet golibvirt.Network, mac string) {
	x, on, err := b.networkDoc(ctx, lnet)
	if err != nil || len(x.IPs) == 0 || x.IPs[0].DHCP == nil {
		return
	}
	for _, h := range x.IPs[0].DHCP.Hosts {
		if !strings.EqualFold(h.MAC, mac) {
			continue
		}
		doc, err := h.Marshal()
		if err != nil {
			continue
		}
		if err := b.call(ctx, "detach interface", mac, func(l *golibvirt.Libvirt) error {
			return l.NetworkUpdate(lnet, uint32(golibvirt.NetworkUpdateCommandDelete), uint32(golibvirt.NetworkSectionIPDhcpHost), -1, doc, netFlags(on))
		}); err != nil {
			b.log.Warn("libvirt: could not remove a DHCP reservation", "network", lnet.Name, "mac", mac, "err", err)
		}
	}
}

func netFlags(on bool) golibvirt.NetworkUpdateFlags {
	if on {
		return golibvirt.NetworkUpdateAffectLive | golibvirt.NetworkUpdateAffectConfig
	}
	return golibvirt.NetworkUpdateAffectConfig
}

// networkDoc reads a network's configured XML and whether it runs.
func (b *Backend) networkDoc(ctx context.Context, lnet golibvirt.Network) (*libvirtxml.Network, bool, error) {
	var doc string
	var on int32
	if err := b.call(ctx, "network", lnet.Name, func(l *golibvirt.Libvirt) (err error) {
		if on, err = l.NetworkIsActive(lnet); err != nil {
			return err
		}
		doc, err = l.NetworkGetXMLDesc(lnet, uint32(golibvirt.NetworkXMLInactive))
		return err
	}); err != nil {
		return nil, false, err
	}
	x := &libvirtxml.Network{}
	if err := x.Unmarshal(doc); err != nil {
		return nil, false, fmt.Errorf("libvirt: network %s: %w: unreadable XML: %v", lnet.Name, cb.ErrUnavailable, err)
	}
	return x, on == 1, nil
}

// DetachInterface removes an interface, live first as DetachDisk does, and
// then its DHCP reservation.
func (b *Backend) DetachInterface(ctx context.Context, machineID, nicID string) error {
	alias := Alias(nicID)
	var mac, netName string
	err := b.detach(ctx, "detach interface", machineID, nicID, func(dom *libvirtxml.Domain) (string, bool, error) {
		nic := findNIC(dom, alias)
		if nic == nil {
			return "", false, nil
		}
		if nic.MAC != nil && nic.Source != nil && nic.Source.Network != nil {
			mac, netName = nic.MAC.Address, nic.Source.Network.Network
		}
		doc, err := nic.Marshal()
		return doc, true, err
	})
	if err == nil && mac != "" {
		var lnet golibvirt.Network
		if b.call(ctx, "detach interface", nicID, func(l *golibvirt.Libvirt) (err error) {
			lnet, err = l.NetworkLookupByName(netName)
			return err
		}) == nil {
			b.unreserve(ctx, lnet, mac)
		}
	}
	return err
}

// randomMAC returns 52:54:00 (QEMU's prefix) followed by random bytes.
func randomMAC() string {
	var r [3]byte
	_, _ = rand.Read(r[:])
	return fmt.Sprintf("52:54:00:%02x:%02x:%02x", r[0], r[1], r[2])
}

// nbdSource is the network source of an NBD volume: the Unix socket of a
// local server, or host:port over TCP for a server on another host, with
// tls='yes' when it requires TLS. libvirt then gives QEMU a tls-creds-x509
// object (endpoint=client) made from qemu.conf's nbd_tls_x509_cert_dir
// (default_tls_x509_cert_dir, /etc/pki/qemu, when unset): that folder
// holds ca-cert.pem (the CA of the NBD server's certificate) and, when the
// server verifies its clients, client-cert.pem and client-key.pem.
func nbdSource(s cb.VolumeSource) *libvirtxml.DomainDiskSourceNetwork {
	src := &libvirtxml.DomainDiskSourceNetwork{Protocol: "nbd", Name: s.Image}
	if s.Host == "" {
		src.Hosts = []libvirtxml.DomainDiskSourceHost{{Transport: "unix", Socket: s.Path}}
		return src
	}
	host, port, _ := net.SplitHostPort(s.Host) // Validate checked it
	src.Hosts = []libvirtxml.DomainDiskSourceHost{{Transport: "tcp", Name: host, Port: port}}
	if s.TLS {
		src.TLS = "yes"
	}
	return src
}

// ResizeDisk tells QEMU the RBD disk of a running domain has a new size
// (virDomainBlockResize, QMP block_resize: QEMU's rbd driver resizes the
// image to it, a no-op when the storage backend already did, and the guest
// gets a capacity change). NBD disks are refused: QEMU's NBD client learns
// the size at connect only ("Cannot grow NBD nodes").
func (b *Backend) ResizeDisk(ctx context.Context, machineID, diskID string, size int64) error {
	dom, st, _, live, err := b.devices(ctx, "resize disk", machineID)
	if err != nil {
		return err
	}
	if !active(st) {
		return fmt.Errorf("libvirt: resize disk %q of %q: the machine is not running: %w", diskID, machineID, cb.ErrConflict)
	}
	disk := findDisk(live, Alias(diskID))
	if disk == nil || disk.Target == nil {
		return fmt.Errorf("libvirt: resize disk %q of %q: %w", diskID, machineID, cb.ErrNotFound)
	}
	if disk.Source == nil || disk.Source.Network == nil || disk.Source.Network.Protocol != "rbd" {
		return fmt.Errorf("libvirt: resize disk %q of %q: only RBD disks follow a new size while the machine runs: %w", diskID, machineID, cb.ErrUnsupported)
	}
	return b.call(ctx, "resize disk", machineID, func(l *golibvirt.Libvirt) error {
		return l.DomainBlockResize(dom, disk.Target.Dev, uint64(size), golibvirt.DomainBlockResizeBytes)
	})
}
