package linkage_test

import (
	"fmt"
	"net/http"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Resizing a volume a running compute links (CDMI 1.1.1 §13.6's
// cdmi_assignedsize, OCCI 1.2 Infrastructure 3.3's occi.storage.size):
// over OCCI/RBD on libvirt the volume grows and QEMU is told (the guest
// gets a capacity change); over OCCI/NBD, whose size QEMU learns only at
// connect, and on a backend that cannot tell the hypervisor, it is refused
// with 409 naming the storagelink. Shrinking under a running guest is
// refused everywhere. Once the compute is stopped, any resize goes through.
func TestResizeUnderARunningCompute(t *testing.T) {
	for _, proto := range protocols(t) {
		t.Run(proto, func(t *testing.T) { resizeUnderARunningCompute(t, proto) })
	}
}

func resizeUnderARunningCompute(t *testing.T, proto string) {
	path, id := exportedOver(t, 2*diskMiB, proto)
	vm := newCompute(t)
	resp, body := newLink(t, vm, "/storage/"+id, "")
	link := created(t, resp, body)
	defer occi(t, http.MethodDelete, link, "")
	resp, body = occi(t, http.MethodPost, vm+"?action=start", startAction)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	size := func() string {
		code, m := diskCDMIGet(t, path+diskName, "?metadata:cdmi_size")
		require.Equal(t, http.StatusOK, code, m)
		md, _ := m["metadata"].(map[string]any)
		return fmt.Sprint(md["cdmi_size"])
	}
	resize := func(n int) (*http.Response, map[string]any) {
		return cdmiPut(t, path, map[string]any{"metadata": map[string]any{"cdmi_assignedsize": fmt.Sprint(n)}})
	}

	resp, out := resize(diskMiB)
	assert.Equal(t, http.StatusConflict, resp.StatusCode, "no shrink under a running guest: %v", out)
	assert.Contains(t, fmt.Sprint(out), link, "the refusal names the storagelink")
	live := proto == "RBD" && os.Getenv("OCCICDMI_COMPUTE") == "libvirt"
	resp, out = resize(4 * diskMiB)
	if live {
		assert.Equal(t, http.StatusNoContent, resp.StatusCode, "RBD grows under a running guest: %v", out)
		assert.Equal(t, fmt.Sprint(4*diskMiB), size())
	} else {
		assert.Equal(t, http.StatusConflict, resp.StatusCode, "%v", out)
		assert.Contains(t, fmt.Sprint(out), link, "the refusal names the storagelink")
		assert.Equal(t, fmt.Sprint(2*diskMiB), size(), "a refused resize changes nothing")
	}

	resp, body = occi(t, http.MethodPost, vm+"?action=stop", stopAction)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	resp, out = resize(3 * diskMiB)
	assert.Equal(t, http.StatusNoContent, resp.StatusCode, "a stopped compute sees the new size at its next start: %v", out)
	assert.Equal(t, fmt.Sprint(3*diskMiB), size())
}
