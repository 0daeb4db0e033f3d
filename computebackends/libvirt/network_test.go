package libvirt

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	cb "github.com/occicdmi/occicdmi/computebackends"
)

// TestVLANAndStaticAddress: a network with occi.network.vlan (GFD.224
// §3.2.2) is created as its own isolated bridge, the tag recorded in
// libvirt and the status saying it is not applied; an ipnetworkinterface
// address on a network without a subnet is accepted with no DHCP
// reservation (there is no dnsmasq), an invalid one still refused.
func TestVLANAndStaticAddress(t *testing.T) {
	b := openTest(t)
	ctx := context.Background()
	netID := newID("vlan")
	require.NoError(t, b.CreateNetwork(ctx, cb.Network{ID: netID, VLAN: 42}))
	t.Cleanup(func() { _ = b.DeleteNetwork(context.Background(), netID) })
	doc := virsh(t, "net-dumpxml", "--inactive", DomainName(netID))
	assert.Contains(t, doc, `vlan="42"`)
	assert.NotContains(t, doc, "<forward", "isolated")
	require.NoError(t, b.StartNetwork(ctx, netID))
	st, err := b.NetworkStatus(ctx, netID)
	require.NoError(t, err)
	assert.Equal(t, cb.StateActive, st.State)
	assert.Contains(t, st.Message, "own bridge")
	assert.Contains(t, st.Message, "802.1Q tag 42 is recorded but not applied")
	require.ErrorIs(t, b.CreateNetwork(ctx, cb.Network{ID: newID("vlan"), VLAN: 5000}), cb.ErrInvalid)

	id := newID("static")
	machine(t, b, cb.Machine{ID: id, Memory: 0.0625})
	nic, err := b.AttachInterface(ctx, id, cb.Interface{ID: "nic0", NetworkID: netID, Address: "10.9.0.5"})
	require.NoError(t, err)
	assert.Equal(t, "10.9.0.5", nic.Address)
	assert.Contains(t, virsh(t, "dumpxml", "--inactive", DomainName(id)), nic.MAC)
	assert.NotContains(t, virsh(t, "net-dumpxml", "--inactive", DomainName(netID)), "10.9.0.5", "no DHCP reservation")
	_, err = b.AttachInterface(ctx, id, cb.Interface{ID: "nic1", NetworkID: netID, Address: "not-an-ip"})
	require.ErrorIs(t, err, cb.ErrInvalid)
	require.NoError(t, b.DetachInterface(ctx, id, "nic0"))
}
