package libvirt

import (
	"context"
	"encoding/binary"
	"encoding/xml"
	"fmt"
	"net"

	golibvirt "github.com/digitalocean/go-libvirt"
	"libvirt.org/go/libvirtxml"

	cb "github.com/occicdmi/occicdmi/computebackends"
)

// networkXML maps an OCCI network to a libvirt one: NAT behind the host,
// the ipnetwork address as the bridge's subnet, the gateway as the host's
// address on it, and (allocation dynamic) a DHCP range of the rest of the
// subnet, served by dnsmasq. Without an address the network is an isolated
// bridge.
func networkXML(n cb.Network) (*libvirtxml.Network, error) {
	out := &libvirtxml.Network{Name: DomainName(n.ID), UUID: domainUUID("network:" + n.ID)}
	if n.VLAN < 0 || n.VLAN > 4095 {
		return nil, fmt.Errorf("VLAN %d is not an 802.1Q tag (0-4095): %w", n.VLAN, cb.ErrInvalid)
	}
	if n.VLAN != 0 {
		// Each libvirt network is its own Linux bridge, i.e. its own L2
		// segment, which is the isolation a VLAN gives. Tagging frames
		// would need Open vSwitch; the tag is recorded, and NetworkStatus
		// says it is not applied.
		out.Metadata = &libvirtxml.NetworkMetadata{XML: fmt.Sprintf(`<occi:network xmlns:occi="%s" vlan="%d"/>`, metadataNS, n.VLAN)}
	}
	switch n.Allocation {
	case "", "dynamic", "static":
	default:
		return nil, fmt.Errorf("allocation %q (want dynamic or static): %w", n.Allocation, cb.ErrInvalid)
	}
	if n.Address == "" {
		if n.Gateway != "" {
			return nil, fmt.Errorf("a gateway needs a network address: %w", cb.ErrInvalid)
		}
		return out, nil
	}
	ip, subnet, err := net.ParseCIDR(n.Address)
	if err != nil || ip.To4() == nil {
		return nil, fmt.Errorf("address %q is not an IPv4 CIDR (e.g. 192.168.100.0/24): %w", n.Address, cb.ErrInvalid)
	}
	ones, _ := subnet.Mask.Size()
	if ones > 29 {
		return nil, fmt.Errorf("address %q: the subnet is too small (at most /29): %w", n.Address, cb.ErrInvalid)
	}
	first := binary.BigEndian.Uint32(subnet.IP.To4()) + 1
	last := binary.BigEndian.Uint32(subnet.IP.To4()) | ^binary.BigEndian.Uint32(net.IP(subnet.Mask).To4()) - 1
	gw := first
	if n.Gateway != "" {
		g := net.ParseIP(n.Gateway).To4()
		if g == nil || !subnet.Contains(g) {
			return nil, fmt.Errorf("gateway %q is not an address inside %s: %w", n.Gateway, subnet, cb.ErrInvalid)
		}
		gw = binary.BigEndian.Uint32(g)
		if gw < first || gw > last {
			return nil, fmt.Errorf("gateway %q is the network or broadcast address of %s: %w", n.Gateway, subnet, cb.ErrInvalid)
		}
	}
	ipNet := libvirtxml.NetworkIP{Address: u32IP(gw).String(), Prefix: uint(ones)}
	if n.Allocation != "static" {
		start, end := first, last
		if gw == start {
			start++
		} else if gw == end {
			end--
		} else if gw-first > last-gw {
			end = gw - 1 // the larger side of the gateway
		} else {
			start = gw + 1
		}
		ipNet.DHCP = &libvirtxml.NetworkDHCP{Ranges: []libvirtxml.NetworkDHCPRange{{Start: u32IP(start).String(), End: u32IP(end).String()}}}
	}
	out.Forward = &libvirtxml.NetworkForward{Mode: "nat"}
	out.IPs = []libvirtxml.NetworkIP{ipNet}
	return out, nil
}

func u32IP(v uint32) net.IP {
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, v)
	return ip
}

// CreateNetwork defines an inactive libvirt network.
func (b *Backend) CreateNetwork(ctx context.Context, n cb.Network) error {
	if n.ID == "" {
		return fmt.Errorf("libvirt: create network: empty id: %w", cb.ErrInvalid)
	}
	x, err := networkXML(n)
	if err != nil {
		return fmt.Errorf("libvirt: create network %q: %w", n.ID, err)
	}
	doc, err := x.Marshal()
	if err != nil {
		return fmt.Errorf("libvirt: create network %q: %w: %v", n.ID, cb.ErrInvalid, err)
	}
	return b.call(ctx, "create network", n.ID, func(l *golibvirt.Libvirt) error {
		if _, err := l.NetworkLookupByName(x.Name); err == nil {
			return golibvirt.Error{Code: uint32(golibvirt.ErrNetworkExist), Message: "network " + x.Name + " already exists"}
		}
		_, err := l.NetworkDefineXML(doc)
		return err
	})
}

func (b *Backend) network(ctx context.Context, op, id string) (nw golibvirt.Network, isActive bool, err error) {
	err = b.call(ctx, op, id, func(l *golibvirt.Libvirt) error {
		n, err := l.NetworkLookupByName(DomainName(id))
		if err != nil {
			return err
		}
		a, err := l.NetworkIsActive(n)
		nw, isActive = n, a == 1
		return err
	})
	return nw, isActive, err
}

// StartNetwork starts the network (bridge, NAT rules, dnsmasq); starting an
// active network changes nothing.
func (b *Backend) StartNetwork(ctx context.Context, id string) error {
	nw, on, err := b.network(ctx, "start network", id)
	if err != nil || on {
		return err
	}
	return b.call(ctx, "start network", id, func(l *golibvirt.Libvirt) error { return l.NetworkCreate(nw) })
}

// StopNetwork stops the network; stopping an inactive one changes nothing.
func (b *Backend) StopNetwork(ctx context.Context, id string) error {
	nw, on, err := b.network(ctx, "stop network", id)
	if err != nil || !on {
		return err
	}
	return b.call(ctx, "stop network", id, func(l *golibvirt.Libvirt) error { return l.NetworkDestroy(nw) })
}

// DeleteNetwork stops and undefines the network.
func (b *Backend) DeleteNetwork(ctx context.Context, id string) error {
	nw, on, err := b.network(ctx, "delete network", id)
	if err != nil {
		return err
	}
	return b.call(ctx, "delete network", id, func(l *golibvirt.Libvirt) error {
		if on {
			if err := l.NetworkDestroy(nw); err != nil {
				return err
			}
		}
		return l.NetworkUndefine(nw)
	})
}

// metadataNS names occicdmi's element in libvirt <metadata>.
const metadataNS = "https://occicdmi.example/libvirt/1"

// networkMeta is what CreateNetwork records in a network's <metadata>.
type networkMeta struct {
	VLAN int `xml:"vlan,attr"`
}

// recordedVLAN reads the VLAN tag CreateNetwork recorded, 0 if none.
func recordedVLAN(x *libvirtxml.Network) int {
	if x.Metadata == nil || x.Metadata.XML == "" {
		return 0
	}
	var m networkMeta
	if err := xml.Unmarshal([]byte(x.Metadata.XML), &m); err != nil {
		return 0
	}
	return m.VLAN
}

// NetworkStatus reports whether libvirt has the network running, and for a
// network created with a VLAN tag says plainly what was done with it.
func (b *Backend) NetworkStatus(ctx context.Context, id string) (cb.Status, error) {
	nw, _, err := b.network(ctx, "network status", id)
	if err != nil {
		return cb.Status{}, err
	}
	x, on, err := b.networkDoc(ctx, nw)
	if err != nil {
		return cb.Status{}, err
	}
	st := cb.Status{State: cb.StateInactive, Message: "down"}
	if on {
		st = cb.Status{State: cb.StateActive, Message: "up"}
	}
	if v := recordedVLAN(x); v != 0 {
		st.Message += fmt.Sprintf("; isolated on its own bridge (its own L2 segment): the 802.1Q tag %d is recorded but not applied to frames", v)
	}
	return st, nil
}
