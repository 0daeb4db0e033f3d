package linkage_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const storageActionScheme = "http://schemas.ogf.org/occi/infrastructure/storage/action#"

// storageAction invokes a storage action (OCCI 1.2 HTTP Protocol 3.4.4:
// POST <resource>?action=<term> with the action's category).
func storageAction(t *testing.T, loc, term string, attrs ...string) (int, string) {
	t.Helper()
	body := `Category: ` + term + `; scheme="` + storageActionScheme + `"; class="action"`
	for _, a := range attrs {
		body += "\nX-OCCI-Attribute: " + a
	}
	resp, out := occi(t, http.MethodPost, loc+"?action="+term, body)
	return resp.StatusCode, out
}

// OCCI 1.2 Infrastructure 3.3 (Table 8 and the storage state diagram:
// online <-> offline) on a storage that is a CDMI container: it starts
// online (its volume exists, so clients that never say "online" can attach
// it); offline is refused (409) while a running compute uses the volume;
// an offline storage is attached to no compute (a start is refused with
// 409 and the VM stays as it was) though its CDMI disk stays readable and
// writable; online makes it attachable again.
func TestStorageOfflineRefusesAttaches(t *testing.T) {
	sto := post(t, "/storage/", `Category: storage; scheme="`+infra+`"; class="kind"`+
		"\nX-OCCI-Attribute: occi.storage.size=0.0625")
	defer occi(t, http.MethodDelete, sto, "")
	_, body := occi(t, http.MethodGet, sto, "")
	assert.Contains(t, body, `occi.storage.state="online"`, "a storage whose volume exists is online")
	container := strings.TrimPrefix(attr(body, "occicdmi.cdmi.container"), cdmiRoot())
	require.NotEmpty(t, container, body)

	vm := newCompute(t)
	resp, body := newLink(t, vm, sto, "")
	link := created(t, resp, body)
	defer occi(t, http.MethodDelete, link, "")
	resp, body = occi(t, http.MethodPost, vm+"?action=start", startAction)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)

	code, out := storageAction(t, sto, "offline")
	assert.Equal(t, http.StatusConflict, code, "offline under a running compute: %s", out)
	assert.Contains(t, out, link, "the refusal names the storagelink")
	_, body = occi(t, http.MethodGet, sto, "")
	assert.Contains(t, body, `occi.storage.state="online"`, "a refused offline changes nothing")

	// Suspended, QEMU still holds the disk: refused too.
	resp, body = occi(t, http.MethodPost, vm+"?action=suspend", `Category: suspend; scheme="http://schemas.ogf.org/occi/infrastructure/compute/action#"; class="action"`)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	code, out = storageAction(t, sto, "offline")
	assert.Equal(t, http.StatusConflict, code, "offline under a suspended compute: %s", out)

	resp, body = occi(t, http.MethodPost, vm+"?action=stop", stopAction+"\nX-OCCI-Attribute: method=\"poweroff\"")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	code, out = storageAction(t, sto, "offline")
	require.Equal(t, http.StatusOK, code, out)
	_, body = occi(t, http.MethodGet, sto, "")
	assert.Contains(t, body, `occi.storage.state="offline"`)

	resp, body = occi(t, http.MethodPost, vm+"?action=start", startAction)
	assert.Equal(t, http.StatusConflict, resp.StatusCode, "an offline storage is attached to no compute: %s", body)
	assert.Contains(t, body, "offline", body)
	_, body = occi(t, http.MethodGet, vm, "")
	assert.Contains(t, body, `occi.compute.state="inactive"`, "a refused start leaves the VM as it was")

	// The CDMI side still reads and writes the volume.
	piece := diskBytes(4096, 9)
	resp2, out2 := diskDo(t, http.MethodPut, container+diskName, http.Header{"Content-Range": {"bytes 0-4095/*"},
		"Content-Type": {"application/octet-stream"}}, piece)
	require.Less(t, resp2.StatusCode, 300, "%s", out2)
	resp2, out2 = diskDo(t, http.MethodGet, container+diskName, http.Header{"Range": {"bytes=0-4095"}}, nil)
	require.Equal(t, http.StatusPartialContent, resp2.StatusCode)
	assert.Equal(t, piece, out2, "an offline storage's disk is still the volume's bytes through CDMI")

	code, out = storageAction(t, sto, "online")
	require.Equal(t, http.StatusOK, code, out)
	resp, body = occi(t, http.MethodPost, vm+"?action=start", startAction)
	require.Equal(t, http.StatusOK, resp.StatusCode, "online makes the storage attachable again: %s", body)
	_, body = occi(t, http.MethodGet, link, "")
	assert.Contains(t, body, `occi.storagelink.state="active"`)
	resp, body = occi(t, http.MethodPost, vm+"?action=stop", stopAction+"\nX-OCCI-Attribute: method=\"poweroff\"")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
}

// A storage made on the CDMI side (§13.1 step 1) is online as well.
func TestCDMIFirstStorageIsOnline(t *testing.T) {
	_, id := exportedContainer(t, diskMiB)
	_, body := occi(t, http.MethodGet, "/storage/"+id, "")
	assert.Contains(t, body, `occi.storage.state="online"`, body)
}

// GFD.184 (OCCI 1.1) §3.3 Table 9: resize gives the volume a new size; on
// the CDMI side the container's cdmi_assignedsize and its disk's cdmi_size
// follow.
func TestResizeActionReachesCDMI(t *testing.T) {
	path, id := exportedContainer(t, diskMiB)
	code, out := storageAction(t, "/storage/"+id, "resize", "size=0.0078125") // 8 MiB
	require.Equal(t, http.StatusOK, code, out)
	code, c := cdmiGet(t, path+"?metadata:cdmi_assignedsize")
	require.Equal(t, http.StatusOK, code, c)
	md, _ := c["metadata"].(map[string]any)
	assert.Equal(t, fmt.Sprint(8*diskMiB), md["cdmi_assignedsize"])
	code, m := diskCDMIGet(t, path+diskName, "?metadata:cdmi_size")
	require.Equal(t, http.StatusOK, code, m)
	md, _ = m["metadata"].(map[string]any)
	assert.Equal(t, fmt.Sprint(8*diskMiB), md["cdmi_size"], "the disk is the resized volume")
}
