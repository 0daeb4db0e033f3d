package cdmi_test

import (
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/spec-tests/harness"
)

// CDMI 1.1.1 clause 13 and §9.2.5/§9.4.5 exports field: a container
// accepts an exports object, stores it and returns it; Network/NFSv4 (§13.4,
// §9.4.9 example) and Network/iSCSI (§13.7.2: the client gives only the
// initiators, the server fills portals, target and LUN).
func TestExports(t *testing.T) {
	c := testContainer(t)
	u := c + "exported/"
	nfs := map[string]any{"identifier": "/users", "permissions": "domain"}
	o := mkcontainer(t, u, map[string]any{"exports": map[string]any{"Network/NFSv4": nfs}})
	ex, ok := o["exports"].(map[string]any)
	require.True(t, ok, "create response carries exports (§9.2.7): %v", o["exports"])
	assert.Equal(t, nfs, ex["Network/NFSv4"])
	_, r := get(t, u+"?exports", ctContainer)
	ex, _ = r["exports"].(map[string]any)
	assert.Equal(t, nfs, ex["Network/NFSv4"])

	// Add iSCSI (§13.7.2) by updating the exports field.
	initiators := []any{"iqn.2010-01.com.acme:host1", "iqn.2010-01.com.acme:host2"}
	resp, body := harness.Do(t, http.MethodPut, u, hdr(ctContainer, ""), jsonBody(t, map[string]any{"exports": map[string]any{
		"Network/NFSv4": nfs, "Network/iSCSI": map[string]any{"permissions": initiators},
	}}))
	expect(t, resp, body, http.StatusNoContent, http.StatusOK)
	_, r = get(t, u+"?exports", ctContainer)
	ex, _ = r["exports"].(map[string]any)
	assert.Equal(t, nfs, ex["Network/NFSv4"])
	if is, ok := ex["Network/iSCSI"].(map[string]any); assert.True(t, ok, "iSCSI export stored: %v", ex) {
		assert.Equal(t, initiators, is["permissions"])
	}

	// §13.7.3: updating the initiators keeps the export.
	resp, body = harness.Do(t, http.MethodPut, u+"?exports", hdr(ctContainer, ""), jsonBody(t, map[string]any{"exports": map[string]any{
		"Network/iSCSI": map[string]any{"permissions": []any{"iqn.2010-01.com.acme:host3"}},
	}}))
	expect(t, resp, body, http.StatusNoContent, http.StatusOK)
	_, r = get(t, u+"?exports", ctContainer)
	ex, _ = r["exports"].(map[string]any)
	if is, ok := ex["Network/iSCSI"].(map[string]any); assert.True(t, ok) {
		assert.Equal(t, []any{"iqn.2010-01.com.acme:host3"}, is["permissions"])
	}

	// Exports are advertised (§12.1.1 cdmi_export_nfs / cdmi_export_iscsi,
	// §12.1.5 cdmi_export_container_*): a server that accepts them says so.
	_, sys := get(t, rootURL(t)+"cdmi_capabilities/", ctCapability)
	sc, _ := sys["capabilities"].(map[string]any)
	assert.Equal(t, "true", sc["cdmi_export_nfs"], "NFS exports accepted but cdmi_export_nfs not advertised")
	assert.Equal(t, "true", sc["cdmi_export_iscsi"], "iSCSI exports accepted but cdmi_export_iscsi not advertised")

	// An update without exports leaves them alone (§9.4.5: fields not
	// given are not changed).
	resp, body = harness.Do(t, http.MethodPut, u, hdr(ctContainer, ""), jsonBody(t, map[string]any{"metadata": map[string]any{"a": "b"}}))
	expect(t, resp, body, http.StatusNoContent, http.StatusOK)
	_, r = get(t, u+"?exports", ctContainer)
	ex, _ = r["exports"].(map[string]any)
	assert.Contains(t, ex, "Network/iSCSI")
}

// Malformed exports are refused with 400 and change nothing.
func TestExportsBad(t *testing.T) {
	c := testContainer(t)
	u := c + "e/"
	nfs := map[string]any{"identifier": "/users", "permissions": "domain"}
	mkcontainer(t, u, map[string]any{"exports": map[string]any{"Network/NFSv4": nfs}})
	for name, bad := range map[string]any{
		"string":                   "Network/NFSv4",
		"array":                    []any{"Network/NFSv4"},
		"protocol not an object":   map[string]any{"Network/NFSv4": "not an object"},
		"identifier not a string":  map[string]any{"Network/NFSv4": map[string]any{"identifier": 42, "permissions": "domain"}},
		"iSCSI initiators no list": map[string]any{"Network/iSCSI": map[string]any{"permissions": "iqn.not-a-list"}}, // §13.7.2: a list
		"iSCSI initiator a number": map[string]any{"Network/iSCSI": map[string]any{"permissions": []any{7}}},
		// §13.2: each foreign protocol is announced by a cdmi_export_
		// capability; one nobody announces cannot be honoured.
		"unknown protocol": map[string]any{"Carrier/Pigeon": map[string]any{"identifier": "x", "permissions": "domain"}},
	} {
		t.Run(name, func(t *testing.T) {
			resp, body := harness.Do(t, http.MethodPut, u, hdr(ctContainer, ""), jsonBody(t, map[string]any{"exports": bad, "metadata": map[string]any{"half": "applied"}}))
			expect4xx(t, resp, body, http.StatusBadRequest)
			_, r := get(t, u, ctContainer)
			assert.NotContains(t, r.meta(), "half", "a refused update is not half-applied")
			n := c + uniq("n") + "/"
			resp, body = harness.Do(t, http.MethodPut, n, hdr(ctContainer, ctContainer), jsonBody(t, map[string]any{"exports": bad}))
			expect4xx(t, resp, body, http.StatusBadRequest)
			assert.Equal(t, http.StatusNotFound, status(t, n, hdr("", ctContainer)))
			// Put the container back as it was if the server took it.
			harness.Do(t, http.MethodPut, u, hdr(ctContainer, ""), jsonBody(t, map[string]any{"exports": map[string]any{"Network/NFSv4": nfs}, "metadata": map[string]any{}}))
		})
	}
	_, r := get(t, u, ctContainer)
	ex, _ := r["exports"].(map[string]any)
	assert.Equal(t, map[string]any{"Network/NFSv4": nfs}, ex)
}

// CDMI 1.1.1 §13.6 defines OCCI/<protocol> exports (identifier = the
// container's objectID, permissions = OCCI compute URIs); §13.2 has each
// foreign protocol announced by a system capability beginning with
// "cdmi_export_" (§12.1.1's cdmi_export_occi_iscsi), and §12.1.5
// cdmi_export_container_occi says a container may be exported to OCCI. The
// spec demands consistency: a protocol advertised is stored and returned;
// one not advertised is refused with 400 and nothing changes.
func TestExportsOCCI(t *testing.T) {
	_, sys := get(t, rootURL(t)+"cdmi_capabilities/", ctCapability)
	sc, _ := sys["capabilities"].(map[string]any)
	var served []string
	for name, v := range sc {
		if p, ok := strings.CutPrefix(name, "cdmi_export_occi_"); ok && v == "true" {
			served = append(served, p)
		}
	}
	sort.Strings(served)
	c := testContainer(t)
	for _, proto := range append([]string{"iscsi"}, served...) {
		t.Run(proto, func(t *testing.T) {
			u := c + uniq("vol") + "/"
			o := mkcontainer(t, u, nil)
			key := "OCCI/" + strings.ToUpper(proto)
			occi := map[string]any{"identifier": o.str("objectID"), "permissions": []any{harness.URL(t) + "/compute/0/"}}
			resp, body := harness.Do(t, http.MethodPut, u, hdr(ctContainer, ""), jsonBody(t, map[string]any{"exports": map[string]any{key: occi}}))
			defer harness.Do(t, http.MethodDelete, u, hdr("", ""), nil)
			_, r := get(t, u+"?exports", ctContainer)
			ex, _ := r["exports"].(map[string]any)
			if sc["cdmi_export_occi_"+proto] == "true" {
				expect(t, resp, body, http.StatusNoContent, http.StatusOK)
				got, _ := ex[key].(map[string]any)
				assert.Equal(t, o.str("objectID"), got["identifier"], "§13.6: the identifier is the container's objectID")
				return
			}
			t.Logf("%s is not advertised: expecting 400", key)
			expect4xx(t, resp, body, http.StatusBadRequest)
			assert.NotContains(t, ex, key)
		})
	}
}
