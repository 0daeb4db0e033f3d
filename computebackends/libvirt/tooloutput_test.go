package libvirt

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// A tool's output in a message keeps file names, not the server's folders.
func TestToolOutputHidesFolders(t *testing.T) {
	got := toolOutput([]byte("qemu-img: Could not open '/var/lib/occicdmi/images/vm-1.qcow2': No such file\n"))
	assert.Equal(t, "qemu-img: Could not open 'vm-1.qcow2': No such file", got)
	assert.Equal(t, "genisoimage: seed.iso: Permission denied", toolOutput([]byte("genisoimage: /tmp/x/y/seed.iso: Permission denied")))
	assert.Equal(t, "no path here", toolOutput([]byte("no path here")))
}
