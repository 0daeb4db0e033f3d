package app

// The libvirt compute backend (real QEMU guests): --compute libvirt with
// --libvirt-uri. Pure Go (go-libvirt speaks libvirtd's RPC protocol), so it
// is in every build.
import _ "github.com/occicdmi/occicdmi/computebackends/libvirt"
