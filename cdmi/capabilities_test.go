package cdmi

import (
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
)

// §12: every capability name advertised is one the spec defines (vendor
// names must not start with cdmi_, and this server has none), except the
// OCCI export protocols: §13.2 has every foreign protocol announced by a
// system-wide capability beginning with "cdmi_export_", and the linkage's
// protocols (NBD, RBD) follow §12.1.1's cdmi_export_occi_iscsi.
func TestCapabilityNamesAreStandard(t *testing.T) {
	spec, err := os.ReadFile("/work/shared/specs/cdmi-1.1.1.txt")
	if err != nil {
		t.Skip("the CDMI 1.1.1 reference text is not at hand")
	}
	all := []map[string]any{systemCapabilities(map[string]string{"nbd": "NBD"}), containerCapabilities(true), dataObjectCapabilities(), queueCapabilities(), domainCapabilities()}
	for _, caps := range all {
		for name := range caps {
			assert.Regexp(t, `^cdmi_`, name)
			if regexp.MustCompile(`^cdmi_export_occi_[a-z0-9]+$`).MatchString(name) {
				continue
			}
			assert.Regexp(t, regexp.MustCompile(regexp.QuoteMeta(name)+`\b`), string(spec), "%s is not in CDMI 1.1.1", name)
		}
	}
}
