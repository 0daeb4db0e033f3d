package libvirt

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	cb "github.com/occicdmi/occicdmi/computebackends"
)

// TestRealGuest boots the tiny Linux guest (scripts/guest-image.sh) on a
// NAT network with DHCP, hot-plugs and hot-unplugs a file volume into it,
// and stops it gracefully: the guest answers the ACPI power button.
func TestRealGuest(t *testing.T) {
	b := openTest(t)
	b.ShutdownTimeout = 30 * time.Second
	ctx := context.Background()
	require.FileExists(t, filepath.Join(b.ImageDir(), "tiny-linux.qcow2.vmlinuz"))

	// GFD.224 §3.5.1 ipnetwork mixin: address, gateway, allocation.
	netID := newID("net")
	require.NoError(t, b.CreateNetwork(ctx, cb.Network{ID: netID, Address: "10.213.77.0/24", Gateway: "10.213.77.1", Allocation: "dynamic"}))
	t.Cleanup(func() { _ = b.DeleteNetwork(context.Background(), netID) })
	assert.Contains(t, virsh(t, "net-dumpxml", DomainName(netID)), "<range start='10.213.77.2' end='10.213.77.254'/>")
	assert.Regexp(t, `Active:\s+no`, virsh(t, "net-info", DomainName(netID)))
	require.NoError(t, b.StartNetwork(ctx, netID))
	assert.Regexp(t, `Active:\s+yes`, virsh(t, "net-info", DomainName(netID)))
	st, err := b.NetworkStatus(ctx, netID)
	require.NoError(t, err)
	assert.Equal(t, cb.StateActive, st.State)

	id := newID("guest")
	machine(t, b, cb.Machine{ID: id, Hostname: "tiny1", Cores: 1, Memory: 0.125,
		Image: &cb.Image{Term: "tiny-linux", Source: "tiny-linux.qcow2"}})
	// Recorded while stopped (config only), there when the guest boots.
	// GFD.224 §3.5.2 ipnetworkinterface address: a DHCP reservation.
	nic, err := b.AttachInterface(ctx, id, cb.Interface{ID: "nic0", NetworkID: netID, Address: "10.213.77.50"})
	require.NoError(t, err)
	assert.Regexp(t, `^52:54:00:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$`, nic.MAC)
	assert.Contains(t, virsh(t, "domiflist", DomainName(id)), nic.MAC)

	require.NoError(t, b.Start(ctx, id))
	var console string
	for deadline := time.Now().Add(60 * time.Second); !strings.Contains(console, "eth0 has"); time.Sleep(250 * time.Millisecond) {
		raw, _ := b.ConsoleLog(id)
		console = string(raw)
		if time.Now().After(deadline) {
			t.Fatalf("the guest did not boot and get a DHCP lease within 60s; console:\n%s", console)
		}
	}
	assert.Contains(t, console, "occicdmi-guest: ready (tiny1)", "hostname from occi.compute.hostname")
	assert.Contains(t, console, "eth0 has 10.213.77.50\r", "the reserved address")
	_, err = b.AttachInterface(ctx, id, cb.Interface{ID: "nic1", NetworkID: netID, Address: "10.213.78.5"})
	require.ErrorIs(t, err, cb.ErrInvalid, "an address outside the network")

	// A raw sparse file volume, hot-plugged (live+config).
	// (QEMU runs as libvirt-qemu: the file must lie where it can reach it.)
	vol := filepath.Join(b.ImageDir(), "machines", id+"-vol.raw")
	require.NoError(t, os.WriteFile(vol, nil, 0o644))
	t.Cleanup(func() { _ = os.Remove(vol) })
	require.NoError(t, os.Truncate(vol, 8<<20))
	require.NoError(t, b.AttachDisk(ctx, id, cb.Disk{ID: "data1", Source: cb.VolumeSource{Type: "file", Path: vol}}))
	assert.Contains(t, virsh(t, "domblklist", DomainName(id)), vol, "live")
	assert.Contains(t, virsh(t, "domblklist", "--inactive", DomainName(id)), vol, "config")
	require.ErrorIs(t, b.AttachDisk(ctx, id, cb.Disk{ID: "data1", Source: cb.VolumeSource{Type: "file", Path: vol}}), cb.ErrExists)
	// The guest acknowledges the PCI unplug.
	require.NoError(t, b.DetachDisk(ctx, id, "data1"))
	assert.NotContains(t, virsh(t, "domblklist", DomainName(id)), vol)
	assert.NotContains(t, virsh(t, "domblklist", "--inactive", DomainName(id)), vol)
	require.ErrorIs(t, b.DetachDisk(ctx, id, "data1"), cb.ErrNotFound)

	// Graceful restart: ACPI power button, libvirt boots the guest again
	// once it powered off (same QEMU process).
	pid := qemuPID(t, id)
	require.NoError(t, b.Restart(ctx, id, cb.RestartGraceful))
	waitFor(t, 60*time.Second, "the guest to come up again", func() bool {
		raw, _ := b.ConsoleLog(id)
		return strings.Count(string(raw), "occicdmi-guest: ready") == 2
	})
	assert.Equal(t, "running", domstate(t, id))
	assert.Equal(t, pid, qemuPID(t, id))

	// Graceful stop: ACPI power button, the guest powers itself off.
	start := time.Now()
	require.NoError(t, b.Stop(ctx, id, cb.StopGraceful))
	assert.Equal(t, "shut off", domstate(t, id))
	assert.Equal(t, cb.Status{State: cb.StateInactive, Message: "powered off by the guest"}, status(t, b, id))
	raw, _ := b.ConsoleLog(id)
	assert.Contains(t, string(raw), "power button, powering off")
	t.Logf("graceful stop took %s", time.Since(start))

	require.NoError(t, b.DetachInterface(ctx, id, "nic0"))
	assert.NotContains(t, virsh(t, "domiflist", DomainName(id)), nic.MAC)
	assert.NotContains(t, virsh(t, "net-dumpxml", "--inactive", DomainName(netID)), nic.MAC, "reservation removed")
	require.NoError(t, b.StopNetwork(ctx, netID))
	assert.Regexp(t, `Active:\s+no`, virsh(t, "net-info", DomainName(netID)))
}

func TestNetworkXML(t *testing.T) {
	x, err := networkXML(cb.Network{ID: "n", Address: "192.168.9.0/24", Gateway: "192.168.9.254"})
	require.NoError(t, err)
	require.Len(t, x.IPs, 1)
	assert.Equal(t, "192.168.9.254", x.IPs[0].Address)
	assert.Equal(t, "192.168.9.1", x.IPs[0].DHCP.Ranges[0].Start)
	assert.Equal(t, "192.168.9.253", x.IPs[0].DHCP.Ranges[0].End)
	assert.Equal(t, "nat", x.Forward.Mode)

	x, err = networkXML(cb.Network{ID: "n", Address: "10.0.0.0/16", Gateway: "10.0.100.1"})
	require.NoError(t, err)
	assert.Equal(t, "10.0.100.2", x.IPs[0].DHCP.Ranges[0].Start, "the larger side of the gateway")
	assert.Equal(t, "10.0.255.254", x.IPs[0].DHCP.Ranges[0].End)

	x, err = networkXML(cb.Network{ID: "n", Address: "10.1.0.0/24", Allocation: "static"})
	require.NoError(t, err)
	assert.Equal(t, "10.1.0.1", x.IPs[0].Address)
	assert.Nil(t, x.IPs[0].DHCP, "static allocation: no DHCP range")

	x, err = networkXML(cb.Network{ID: "n"})
	require.NoError(t, err)
	assert.Nil(t, x.Forward, "no address: an isolated bridge")

	for _, bad := range []cb.Network{
		{ID: "n", Address: "10.1.0.0"},
		{ID: "n", Address: "fd00::/64"},
		{ID: "n", Address: "10.1.0.0/30"},
		{ID: "n", Address: "10.1.0.0/24", Gateway: "10.2.0.1"},
		{ID: "n", Address: "10.1.0.0/24", Gateway: "10.1.0.255"},
		{ID: "n", Address: "10.1.0.0/24", Allocation: "sometimes"},
		{ID: "n", Gateway: "10.1.0.1"},
	} {
		_, err := networkXML(bad)
		assert.ErrorIs(t, err, cb.ErrInvalid, "%+v", bad)
	}
	x, err = networkXML(cb.Network{ID: "n", VLAN: 12})
	require.NoError(t, err, "a VLAN is accepted: the network is its own bridge")
	assert.Equal(t, 12, recordedVLAN(x), "and its tag recorded in <metadata>")
	_, err = networkXML(cb.Network{ID: "n", VLAN: 4096})
	assert.ErrorIs(t, err, cb.ErrInvalid)
}

func TestNamesAndDiskXML(t *testing.T) {
	assert.Equal(t, "occi-1b4e28ba-2fa1-11d2-883f-0016d3cca427", DomainName("1b4e28ba-2fa1-11d2-883f-0016d3cca427"))
	assert.Equal(t, "1b4e28ba-2fa1-11d2-883f-0016d3cca427", domainUUID("1b4e28ba-2fa1-11d2-883f-0016d3cca427"))
	odd := DomainName("a/b c")
	assert.Regexp(t, `^occi-[0-9a-f]{32}$`, odd)
	assert.Equal(t, odd, DomainName("a/b c"), "stable")
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, domainUUID("a/b c"))
	assert.Equal(t, "ua-link_1", Alias("link_1"))
	assert.Regexp(t, `^ua-[0-9a-f]{24}$`, Alias("/link/1"))

	d, err := diskXML(cb.Disk{ID: "s1", Source: cb.VolumeSource{Type: "rbd", Pool: "rbd", Image: "vol1",
		Monitors: []string{"127.0.0.1:6789", "[::1]:3300", "mon3"}}}, "vdb")
	require.NoError(t, err)
	doc, err := d.Marshal()
	require.NoError(t, err)
	for _, want := range []string{`type="network"`, `protocol="rbd" name="rbd/vol1"`, `<host name="127.0.0.1" port="6789">`,
		`<host name="::1" port="3300">`, `<host name="mon3" port="6789">`, `cache="none"`, `<alias name="ua-s1">`, `dev="vdb"`} {
		assert.Contains(t, doc, want)
	}
	for _, bad := range []cb.VolumeSource{
		{Type: "nfs"},
		{Type: "file", Path: "relative.raw"},
		{Type: "file", Path: "/x.raw", Format: "vmdk"},
		{Type: "rbd", Pool: "rbd"},
		{Type: "rbd", Pool: "rbd", Image: "x"},
		{Type: "rbd", Pool: "rbd", Image: "x", Monitors: []string{"host:port"}},
	} {
		_, err := diskXML(cb.Disk{ID: "x", Source: bad}, "vdb")
		assert.ErrorIs(t, err, cb.ErrInvalid, "%+v", bad)
	}
	_, err = diskXML(cb.Disk{ID: "x", Source: cb.VolumeSource{Type: "rbd", Pool: "p", Image: "i", Monitors: []string{"m:1"}, User: "admin"}}, "vdb")
	assert.ErrorIs(t, err, cb.ErrUnsupported)
}
