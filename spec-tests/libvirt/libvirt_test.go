// Package libvirt_test drives the OCCI lifecycle over HTTP against the
// in-process server (spec-tests/harness) running on the libvirt compute
// backend, and checks every state against libvirt itself with virsh.
//
// Needs the environment of scripts/testenv.sh env libvirt
// (OCCICDMI_TEST_LIBVIRT, OCCICDMI_LIBVIRT_URI, OCCICDMI_IMAGE_DIR,
// OCCICDMI_TEST_LIBVIRT_CATALOGUE); skips without it, fails under CI=true.
package libvirt_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	lv "github.com/occicdmi/occicdmi/computebackends/libvirt"
	"github.com/occicdmi/occicdmi/internal/testsupport"
	"github.com/occicdmi/occicdmi/spec-tests/harness"
)

const (
	infra         = "http://schemas.ogf.org/occi/infrastructure#"
	computeAction = "http://schemas.ogf.org/occi/infrastructure/compute/action#"
	networkAction = "http://schemas.ogf.org/occi/infrastructure/network/action#"
	osTpl         = "https://occicdmi.org/occi/infrastructure/os_tpl#"
	resTpl        = "https://occicdmi.org/occi/infrastructure/resource_tpl#"
	ipNetwork     = "http://schemas.ogf.org/occi/infrastructure/network#ipnetwork"
	jsonType      = "application/occi+json"
)

func TestMain(m *testing.M) {
	// The in-process server is built from OCCICDMI_* (harness): point it at
	// libvirt and at the catalogue that offers the test images.
	if os.Getenv("OCCICDMI_TEST_LIBVIRT") != "" && os.Getenv("OCCICDMI_URL") == "" {
		os.Setenv("OCCICDMI_COMPUTE", "libvirt")
		if c := os.Getenv("OCCICDMI_TEST_LIBVIRT_CATALOGUE"); c != "" {
			os.Setenv("OCCICDMI_CATALOGUE", c)
		}
	}
	os.Exit(m.Run())
}

func need(t *testing.T) string {
	t.Helper()
	testsupport.Need(t, "libvirtd", "OCCICDMI_TEST_LIBVIRT")
	require.NotEmpty(t, os.Getenv("OCCICDMI_IMAGE_DIR"))
	return harness.URL(t)
}

func libvirtURI() string {
	if uri := os.Getenv("OCCICDMI_LIBVIRT_URI"); uri != "" {
		return uri
	}
	return "qemu:///system"
}

func virsh(t testing.TB, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command("virsh", append([]string{"-c", libvirtURI()}, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func mustVirsh(t testing.TB, args ...string) string {
	t.Helper()
	out, err := virsh(t, args...)
	require.NoError(t, err, "virsh %v: %s", args, out)
	return out
}

func do(t testing.TB, method, url string, body any) (*http.Response, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	req.Header.Set("Accept", jsonType)
	if body != nil {
		req.Header.Set("Content-Type", jsonType)
	}
	resp, err := harness.Client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	if out == nil {
		out = map[string]any{"_raw": string(raw)}
	}
	return resp, out
}

func create(t testing.TB, base, collection string, body map[string]any) string {
	t.Helper()
	resp, out := do(t, "POST", base+collection, body)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "GFD.223 §11.3.1 create: %v", out)
	loc := resp.Header.Get("Location")
	require.NotEmpty(t, loc)
	if !strings.HasPrefix(loc, "http") {
		loc = base + loc
	}
	t.Cleanup(func() { do(t, "DELETE", loc, nil) })
	return loc
}

func attrs(t testing.TB, loc string) map[string]any {
	t.Helper()
	resp, out := do(t, "GET", loc, nil)
	require.Equal(t, 200, resp.StatusCode, "GET %s: %v", loc, out)
	a, _ := out["attributes"].(map[string]any)
	require.NotNil(t, a, "JSON rendering has attributes: %v", out)
	return a
}

// entityID is the entity's id: "id" in the JSON rendering (GFD.226 §3.1.1).
func entityID(t testing.TB, loc string) string {
	t.Helper()
	_, out := do(t, "GET", loc, nil)
	id, _ := out["id"].(string)
	require.NotEmpty(t, id, "GFD.226: the entity has an id: %v", out)
	// A server-chosen id renders as urn:uuid:<uuid> (GFD.226 §3.1.1);
	// the backend knows the UUID.
	return strings.TrimPrefix(id, "urn:uuid:")
}

func action(t testing.TB, loc, id string, params map[string]any) {
	t.Helper()
	term := id[strings.LastIndex(id, "#")+1:]
	body := map[string]any{"action": id}
	if params != nil {
		body["attributes"] = params
	}
	resp, out := do(t, "POST", loc+"?action="+term, body)
	require.Equal(t, 200, resp.StatusCode, "GFD.223 §10.3.2 action %s: %v", term, out)
}

// state polls occi.compute.state (GFD.224 §3.1 table 3) for a bounded time
// and returns the last value read.
func state(t *testing.T, loc, attr, want string) string {
	t.Helper()
	var got string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		got, _ = attrs(t, loc)[attr].(string)
		if got == want || time.Now().After(deadline) {
			return got
		}
	}
}

// TestComputeLifecycle: GFD.224 §3.1 compute actions through HTTP, each
// resulting state checked in libvirt (virsh domstate).
func TestComputeLifecycle(t *testing.T) {
	base := need(t)
	loc := create(t, base, "/compute/", map[string]any{
		"kind":       infra + "compute",
		"mixins":     []string{osTpl + "empty", resTpl + "tiny"},
		"attributes": map[string]any{"occi.core.title": "libvirt spec", "occi.compute.hostname": "spec1"},
	})
	a := attrs(t, loc)
	id := entityID(t, loc)
	dom := lv.DomainName(id)
	assert.Equal(t, "shut off", mustVirsh(t, "domstate", dom), "GFD.224 §3.1: a new compute is defined, not running")
	info := mustVirsh(t, "dominfo", dom)
	assert.Regexp(t, `Max memory:\s+131072 KiB`, info, "resource_tpl tiny: 0.125 GiB")
	assert.Regexp(t, `CPU\(s\):\s+1`, info)
	if s, _ := a["occi.compute.state"].(string); s == "active" {
		action(t, loc, computeAction+"stop", nil)
	}

	steps := []struct {
		action, method, occi, virsh string
	}{
		{"start", "", "active", "running"},
		{"suspend", "suspend", "suspended", "paused"},
		{"start", "", "active", "running"},
		{"restart", "warm", "active", "running"},
		{"restart", "cold", "active", "running"},
		{"stop", "poweroff", "inactive", "shut off"},
		{"start", "", "active", "running"},
		{"suspend", "hibernate", "suspended", "shut off"},
		{"start", "", "active", "running"},
	}
	for _, s := range steps {
		var params map[string]any
		if s.method != "" {
			params = map[string]any{"method": s.method}
		}
		action(t, loc, computeAction+s.action, params)
		assert.Equal(t, s.occi, state(t, loc, "occi.compute.state", s.occi), "after %s %s", s.action, s.method)
		assert.Equal(t, s.virsh, mustVirsh(t, "domstate", dom), "libvirt after %s %s", s.action, s.method)
	}

	// A change made outside occicdmi shows (the state follows libvirt).
	mustVirsh(t, "destroy", dom)
	assert.Equal(t, "inactive", state(t, loc, "occi.compute.state", "inactive"), "destroyed with virsh")

	// save: a new image in the image folder.
	action(t, loc, computeAction+"start", nil)
	action(t, loc, computeAction+"save", map[string]any{"method": "hot", "name": "specsaved"})
	matches, _ := filepath.Glob(filepath.Join(os.Getenv("OCCICDMI_IMAGE_DIR"), "specsaved*.qcow2"))
	assert.NotEmpty(t, matches, "GFD.224 §3.1 save made an image")
	for _, m := range matches {
		t.Cleanup(func() { os.Remove(m) })
	}
	assert.Equal(t, "running", mustVirsh(t, "domstate", dom))

	resp, _ := do(t, "DELETE", loc, nil)
	require.Contains(t, []int{200, 204}, resp.StatusCode)
	_, err := virsh(t, "dominfo", dom)
	assert.Error(t, err, "the domain is gone after DELETE")
}

// TestNetworkAndInterface: GFD.224 §3.2/§3.5 network with the ipnetwork
// mixin becomes a libvirt NAT network; a networkinterface link becomes a
// domain interface with the rendered MAC.
func TestNetworkAndInterface(t *testing.T) {
	base := need(t)
	netLoc := create(t, base, "/network/", map[string]any{
		"kind":   infra + "network",
		"mixins": []string{ipNetwork},
		"attributes": map[string]any{"occi.core.title": "spec net", "occi.network.address": "10.213.99.0/24",
			"occi.network.gateway": "10.213.99.1", "occi.network.allocation": "dynamic"},
	})
	netID := entityID(t, netLoc)
	netName := lv.DomainName(netID)
	x := mustVirsh(t, "net-dumpxml", netName)
	assert.Contains(t, x, "<ip address='10.213.99.1' prefix='24'>")
	assert.Contains(t, x, "<range start='10.213.99.2' end='10.213.99.254'/>")
	action(t, netLoc, networkAction+"up", nil)
	assert.Equal(t, "active", state(t, netLoc, "occi.network.state", "active"))
	assert.Regexp(t, `Active:\s+yes`, mustVirsh(t, "net-info", netName))

	compLoc := create(t, base, "/compute/", map[string]any{
		"kind":   infra + "compute",
		"mixins": []string{osTpl + "empty", resTpl + "tiny"},
	})
	compID := entityID(t, compLoc)
	linkLoc := create(t, base, "/networkinterface/", map[string]any{
		"kind":   infra + "networkinterface",
		"source": map[string]any{"location": strings.TrimPrefix(compLoc, base), "kind": infra + "compute"},
		"target": map[string]any{"location": strings.TrimPrefix(netLoc, base), "kind": infra + "network"},
	})
	mac, _ := attrs(t, linkLoc)["occi.networkinterface.mac"].(string)
	require.NotEmpty(t, mac, "GFD.224 §3.4: the backend filled in the MAC")
	assert.Contains(t, mustVirsh(t, "domiflist", lv.DomainName(compID)), mac)
	assert.Contains(t, mustVirsh(t, "domiflist", lv.DomainName(compID)), netName)

	resp, out := do(t, "DELETE", linkLoc, nil)
	require.Contains(t, []int{200, 204}, resp.StatusCode, "%v", out)
	assert.NotContains(t, mustVirsh(t, "domiflist", lv.DomainName(compID)), mac)

	action(t, netLoc, networkAction+"down", nil)
	assert.Equal(t, "inactive", state(t, netLoc, "occi.network.state", "inactive"))
	assert.Regexp(t, `Active:\s+no`, mustVirsh(t, "net-info", netName))
}

// TestStorageLink: GFD.224 §3.4.2 a storagelink from a compute to a storage
// becomes a disk of the domain (recorded while stopped), which QEMU opens
// when the compute starts, and goes away with the link.
func TestStorageLink(t *testing.T) {
	base := need(t)
	compLoc := create(t, base, "/compute/", map[string]any{
		"kind":   infra + "compute",
		"mixins": []string{osTpl + "empty", resTpl + "tiny"},
	})
	dom := lv.DomainName(entityID(t, compLoc))
	stoLoc := create(t, base, "/storage/", map[string]any{
		"kind":       infra + "storage",
		"attributes": map[string]any{"occi.core.title": "spec disk", "occi.storage.size": 0.015625},
	})
	linkLoc := create(t, base, "/storagelink/", map[string]any{
		"kind":   infra + "storagelink",
		"source": map[string]any{"location": strings.TrimPrefix(compLoc, base), "kind": infra + "compute"},
		"target": map[string]any{"location": strings.TrimPrefix(stoLoc, base), "kind": infra + "storage"},
	})
	disks := mustVirsh(t, "domblklist", "--inactive", dom)
	assert.Contains(t, disks, "vdb", "the volume is recorded as a second disk")

	action(t, compLoc, computeAction+"start", nil)
	assert.Equal(t, "active", state(t, compLoc, "occi.compute.state", "active"))
	assert.Equal(t, "running", mustVirsh(t, "domstate", dom), "QEMU opened the volume")
	assert.Contains(t, mustVirsh(t, "domblklist", dom), "vdb")
	action(t, compLoc, computeAction+"stop", map[string]any{"method": "poweroff"})

	resp, out := do(t, "DELETE", linkLoc, nil)
	require.Contains(t, []int{200, 204}, resp.StatusCode, "%v", out)
	assert.NotContains(t, mustVirsh(t, "domblklist", "--inactive", dom), "vdb")
}
