// Package linkage_test is the black-box suite of where OCCI and CDMI meet:
// CDMI 1.1.1 clause 13 (13.1's four-step flow, 13.6 the OCCI export) and
// OCCI 1.2 Infrastructure 3.4.2 ("Linking to CDMI Managed Storage"), over
// HTTP, against the in-process server or OCCICDMI_URL.
package linkage_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/spec-tests/harness"
)

const (
	infra       = "http://schemas.ogf.org/occi/infrastructure#"
	startAction = `Category: start; scheme="http://schemas.ogf.org/occi/infrastructure/compute/action#"; class="action"`
	stopAction  = `Category: stop; scheme="http://schemas.ogf.org/occi/infrastructure/compute/action#"; class="action"`
	mib64       = 64 << 20
)

func cdmiRoot() string {
	if r := os.Getenv("OCCICDMI_CDMI_ROOT"); r != "" {
		return strings.TrimRight(r, "/")
	}
	return "/cdmi"
}

func uniq(p string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return p + "-" + hex.EncodeToString(b[:])
}

// cdmiPut sends a CDMI container body.
func cdmiPut(t *testing.T, path string, body map[string]any) (*http.Response, map[string]any) {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	h := http.Header{"Content-Type": {"application/cdmi-container"}, "Accept": {"application/cdmi-container"},
		"X-Cdmi-Specification-Version": {"1.1.1"}}
	resp, out := harness.Do(t, http.MethodPut, harness.URL(t)+cdmiRoot()+path, h, bytes.NewReader(b))
	var m map[string]any
	_ = json.Unmarshal(out, &m)
	if m == nil {
		m = map[string]any{"raw": string(out)}
	}
	return resp, m
}

func cdmiGet(t *testing.T, path string) (int, map[string]any) {
	t.Helper()
	h := http.Header{"Accept": {"application/cdmi-container"}, "X-Cdmi-Specification-Version": {"1.1.1"}}
	resp, out := harness.Do(t, http.MethodGet, harness.URL(t)+cdmiRoot()+path, h, nil)
	var m map[string]any
	_ = json.Unmarshal(out, &m)
	return resp.StatusCode, m
}

func cdmiDelete(t *testing.T, path string) (int, string) {
	t.Helper()
	h := http.Header{"X-Cdmi-Specification-Version": {"1.1.1"}}
	resp, out := harness.Do(t, http.MethodDelete, harness.URL(t)+cdmiRoot()+path, h, nil)
	return resp.StatusCode, string(out)
}

// occi sends a text/plain OCCI request to a path.
func occi(t *testing.T, method, path, body string) (*http.Response, string) {
	t.Helper()
	h := http.Header{"Accept": {"text/plain"}}
	if body != "" {
		h.Set("Content-Type", "text/plain")
	}
	resp, out := harness.Do(t, method, harness.URL(t)+path, h, strings.NewReader(body))
	return resp, string(out)
}

// created is the path of a 201's Location.
func created(t *testing.T, resp *http.Response, body string) string {
	return createdAt(t, resp, body)
}

func post(t *testing.T, path, body string) string {
	t.Helper()
	resp, out := occi(t, http.MethodPost, path, body)
	return createdAt(t, resp, out)
}

func createdAt(t *testing.T, resp *http.Response, body string) string {
	t.Helper()
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)
	loc := resp.Header.Get("Location")
	return strings.TrimPrefix(loc, harness.URL(t))
}

// protocol is the first OCCI export protocol the server advertises
// (cdmi_export_occi_<protocol>, §13.2.1.1).
func protocol(t *testing.T) string { return protocols(t)[0] }

// protocols are the OCCI export protocols the server advertises, sorted.
func protocols(t *testing.T) []string {
	t.Helper()
	h := http.Header{"Accept": {"application/cdmi-capability"}, "X-Cdmi-Specification-Version": {"1.1.1"}}
	_, out := harness.Do(t, http.MethodGet, harness.URL(t)+cdmiRoot()+"/cdmi_capabilities/", h, nil)
	var m struct {
		Capabilities map[string]any `json:"capabilities"`
	}
	require.NoError(t, json.Unmarshal(out, &m))
	var served []string
	for name, v := range m.Capabilities {
		if p, ok := strings.CutPrefix(name, "cdmi_export_occi_"); ok && v == "true" {
			served = append(served, strings.ToUpper(p))
		}
	}
	require.NotEmpty(t, served, "§13.2.1.1: the server advertises no OCCI export protocol")
	sort.Strings(served)
	return served
}

func newCompute(t *testing.T) string {
	t.Helper()
	loc := post(t, "/compute/", `Category: compute; scheme="`+infra+`"; class="kind"`)
	t.Cleanup(func() { occi(t, http.MethodDelete, loc, "") })
	return loc
}

func newLink(t *testing.T, compute, storage, deviceID string) (*http.Response, string) {
	t.Helper()
	body := `Category: storagelink; scheme="` + infra + `"; class="kind"` +
		"\nX-OCCI-Attribute: occi.core.source=\"" + compute + "\"\nX-OCCI-Attribute: occi.core.target=\"" + storage + "\""
	if deviceID != "" {
		body += "\nX-OCCI-Attribute: occi.storagelink.deviceid=\"" + deviceID + "\""
	}
	return occi(t, http.MethodPost, "/storagelink/", body)
}

// CDMI 1.1.1 §13.1, its four steps, as the spec writes them: (1) create a
// container exported to OCCI, its objectID comes back; (2) create a VM with
// a storage link to that objectID (OCCI Infrastructure: the deviceid is the
// container's objectID); (3) update the export's permissions with the VM;
// (4) start the VM. Starting before step 3 is refused (403) and the VM stays
// as it was. §13.6: the export's identifier is the objectID.
func TestCDMIFirstFlow(t *testing.T) {
	for _, proto := range protocols(t) {
		t.Run(proto, func(t *testing.T) { cdmiFirstFlow(t, proto) })
	}
}

func cdmiFirstFlow(t *testing.T, proto string) {
	path := "/" + uniq("vol") + "/"
	other := harness.URL(t) + "/compute/someone-else"
	resp, c := cdmiPut(t, path, map[string]any{
		"metadata": map[string]any{"cdmi_assignedsize": "67108864"},
		"exports":  map[string]any{"OCCI/" + proto: map[string]any{"permissions": []any{other}}},
	})
	require.Equal(t, http.StatusCreated, resp.StatusCode, c)
	id, _ := c["objectID"].(string)
	require.NotEmpty(t, id)
	defer cdmiDelete(t, path)
	ex, _ := c["exports"].(map[string]any)
	got, _ := ex["OCCI/"+proto].(map[string]any)
	assert.Equal(t, id, got["identifier"], "§13.6: the identifier is the container's objectID")
	// Issue 9 item 1: the response and ?exports show where the OCCI side is.
	assert.Equal(t, harness.URL(t)+"/storage/"+id, got["location"], "the PUT's answer names the OCCI storage: %v", ex)
	code, sel := cdmiGet(t, path+"?exports")
	require.Equal(t, http.StatusOK, code, sel)
	selEx, _ := sel["exports"].(map[string]any)
	selGot, _ := selEx["OCCI/"+proto].(map[string]any)
	assert.Equal(t, harness.URL(t)+"/storage/"+id, selGot["location"], "?exports names the OCCI storage: %v", sel)

	// The same object on the OCCI side, with its size and its container.
	resp, body := occi(t, http.MethodGet, "/storage/"+id, "")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Contains(t, body, "occi.storage.size=0.0625")
	assert.Contains(t, body, `occicdmi.cdmi.objectid="`+id+`"`)

	// Step 2: the link comes before the permission.
	vm := newCompute(t)
	resp, body = newLink(t, vm, "/storage/"+id, id)
	link := created(t, resp, body)
	resp, body = occi(t, http.MethodPost, vm+"?action=start", startAction)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "§13.1: the VM is not yet allowed: %s", body)
	assert.Contains(t, body, path, "the refusal names the container")
	_, body = occi(t, http.MethodGet, vm, "")
	assert.Contains(t, body, `occi.compute.state="inactive"`, "a refused start leaves the VM as it was")

	// Step 3: permit the VM; step 4: start.
	resp, c = cdmiPut(t, path, map[string]any{"exports": map[string]any{"OCCI/" + proto: map[string]any{
		"identifier": id, "permissions": []any{harness.URL(t) + vm}}}})
	require.Contains(t, []int{http.StatusOK, http.StatusNoContent}, resp.StatusCode, c)
	resp, body = occi(t, http.MethodPost, vm+"?action=start", startAction)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	_, body = occi(t, http.MethodGet, link, "")
	assert.Contains(t, body, `occi.storagelink.state="active"`)

	// An attached volume is not deleted from either side.
	code, msg := cdmiDelete(t, path)
	assert.Equal(t, http.StatusConflict, code, msg)
	resp, body = occi(t, http.MethodDelete, "/storage/"+id, "")
	assert.Equal(t, http.StatusConflict, resp.StatusCode, body)

	// Once the link is gone, deleting the container deletes the storage.
	// (The VM is stopped first: a hot-unplug needs a guest OS that
	// answers, and this VM boots none.)
	resp, body = occi(t, http.MethodPost, vm+"?action=stop", stopAction+"\nX-OCCI-Attribute: method=\"poweroff\"")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	resp, body = occi(t, http.MethodDelete, link, "")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	code, msg = cdmiDelete(t, path)
	require.Equal(t, http.StatusNoContent, code, msg)
	resp, _ = occi(t, http.MethodGet, "/storage/"+id, "")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "the OCCI storage went with its container")
}

// OCCI first: a storage made through OCCI is a CDMI container exported to
// OCCI, found from the storage's attributes; deleting the storage deletes
// the container.
func TestOCCIFirstStorageIsAContainer(t *testing.T) {
	sto := post(t, "/storage/", `Category: storage; scheme="`+infra+`"; class="kind"`+
		"\nX-OCCI-Attribute: occi.storage.size=0.0625")
	resp, body := occi(t, http.MethodGet, sto, "")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	container := attr(body, "occicdmi.cdmi.container")
	id := attr(body, "occicdmi.cdmi.objectid")
	require.NotEmpty(t, container, body)
	require.NotEmpty(t, id, body)

	code, c := cdmiGet(t, strings.TrimPrefix(container, cdmiRoot()))
	require.Equal(t, http.StatusOK, code, c)
	assert.Equal(t, id, c["objectID"])
	ex, _ := c["exports"].(map[string]any)
	var got map[string]any
	for key, v := range ex {
		if strings.HasPrefix(key, "OCCI/") {
			got, _ = v.(map[string]any)
		}
	}
	assert.Equal(t, id, got["identifier"], "§13.6: exported to OCCI, identified by the objectID: %v", ex)
	assert.Equal(t, harness.URL(t)+strings.TrimPrefix(sto, harness.URL(t)), got["location"], "the export names its OCCI storage: %v", ex)
	assert.Equal(t, []any{}, got["permissions"], "no compute is attached yet: %v", ex)
	meta, _ := c["metadata"].(map[string]any)
	assert.Equal(t, "67108864", meta["cdmi_assignedsize"])

	// Issue 9 item 2: without a permissions list, ownership decides, and the
	// export shows the computes attached.
	vm := newCompute(t)
	resp, body = newLink(t, vm, strings.TrimPrefix(sto, harness.URL(t)), "vdb")
	link := created(t, resp, body)
	code, c = cdmiGet(t, strings.TrimPrefix(container, cdmiRoot())+"?exports")
	require.Equal(t, http.StatusOK, code, c)
	for key, v := range c["exports"].(map[string]any) {
		if strings.HasPrefix(key, "OCCI/") {
			got, _ = v.(map[string]any)
		}
	}
	assert.Equal(t, []any{harness.URL(t) + strings.TrimPrefix(vm, harness.URL(t))}, got["permissions"], "the attached compute: %v", c)
	resp, body = occi(t, http.MethodDelete, link, "")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)

	resp, body = occi(t, http.MethodDelete, sto, "")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	code, _ = cdmiGet(t, strings.TrimPrefix(container, cdmiRoot()))
	assert.Equal(t, http.StatusNotFound, code, "the container went with its storage")
}

// OCCI Infrastructure 3.4.2: a deviceid that is no CDMI objectID is a
// guest device hint, kept as given; the link attaches its target.
func TestDeviceIDHint(t *testing.T) {
	sto := post(t, "/storage/", `Category: storage; scheme="`+infra+`"; class="kind"`+
		"\nX-OCCI-Attribute: occi.storage.size=0.0625")
	defer occi(t, http.MethodDelete, sto, "")
	vm := newCompute(t)
	resp, body := newLink(t, vm, sto, "vdb")
	link := created(t, resp, body)
	defer occi(t, http.MethodDelete, link, "")
	_, body = occi(t, http.MethodGet, link, "")
	assert.Contains(t, body, `occi.storagelink.deviceid="vdb"`)
	assert.Contains(t, body, `occi.storagelink.state="inactive"`, "GFD.224 §3.4.2: no disk is in use on a stopped compute")
}

// CDMI 1.1.1 §13.2.1.1: an OCCI export protocol the server does not serve
// is refused (400, naming those it serves), and nothing is created on
// either side.
func TestUnservedProtocolRefused(t *testing.T) {
	path := "/" + uniq("iscsi") + "/"
	resp, c := cdmiPut(t, path, map[string]any{"exports": map[string]any{"OCCI/iSCSI": map[string]any{}}})
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, c)
	msg, _ := json.Marshal(c)
	assert.Contains(t, string(msg), "OCCI/"+protocol(t), "the refusal names the protocols served")
	code, _ := cdmiGet(t, path)
	assert.Equal(t, http.StatusNotFound, code)
}

// attr reads an X-OCCI-Attribute's string value from a text/plain body.
func attr(body, name string) string {
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "X-OCCI-Attribute: "+name+"="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}
