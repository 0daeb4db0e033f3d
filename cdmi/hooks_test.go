package cdmi

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The test hooks serve OCCI/iSCSI (the spec's own example protocol).
func (hookFunc) OCCIProtocols() []string  { return []string{"iSCSI"} }
func (*fakeHook) OCCIProtocols() []string { return []string{"iSCSI"} }

// CDMI 1.1.1 §13.2.1.1: the OCCI export protocols accepted are the hook's,
// each advertised as cdmi_export_occi_<protocol>; another one is refused
// with 400 naming those that are served, and nothing is created.
func TestOCCIExportProtocolsAreTheHooks(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.ExportHook = &fakeHook{} })
	resp, body := ts.do("GET", "/cdmi/cdmi_capabilities/", "", cdmiHdr("")...)
	require.Equal(t, 200, resp.StatusCode, body)
	caps, _ := decode(t, body)["capabilities"].(map[string]any)
	assert.Equal(t, "true", caps["cdmi_export_occi_iscsi"])
	assert.NotContains(t, caps, "cdmi_export_occi_nbd")

	resp, body = ts.do("PUT", "/cdmi/v/", `{"exports":{"OCCI/NBD":{}}}`, cdmiHdr(ctContainer)...)
	assert.Equal(t, 400, resp.StatusCode, body)
	assert.Contains(t, body, "OCCI/iSCSI")
	resp, _ = ts.do("GET", "/cdmi/v/", "", cdmiHdr("")...)
	assert.Equal(t, 404, resp.StatusCode)

	resp, body = ts.do("PUT", "/cdmi/v/", `{"exports":{"OCCI/iscsi":{}}}`, cdmiHdr(ctContainer)...)
	require.Equal(t, 201, resp.StatusCode, body)
	assert.Contains(t, decode(t, body)["exports"], "OCCI/iscsi", "the export is stored under the key as given")
}
