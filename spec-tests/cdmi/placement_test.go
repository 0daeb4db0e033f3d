package cdmi_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/occicdmi/occicdmi/spec-tests/harness"
)

// CDMI 1.1.1 §9.1.2 (reserved container names), §12 and §10: the root
// container and its system children cdmi_capabilities/, cdmi_domains/ and
// cdmi_objectid/ are where clients look for them.
func TestPlacement(t *testing.T) {
	root := rootURL(t)
	_, r := get(t, root, ctContainer)
	assert.Equal(t, ctContainer, r.str("objectType"))
	// §5.13.5: the root omits parentID (its parentURI: TestRootParentURI).
	assert.NotContains(t, r, "parentID")

	resp, caps := get(t, root+"cdmi_capabilities/", ctCapability)
	assert.Equal(t, ctCapability, mediaType(resp))
	assert.Equal(t, ctCapability, caps.str("objectType"))

	resp, d := get(t, root+"cdmi_domains/", ctDomain)
	assert.Equal(t, ctDomain, mediaType(resp))
	assert.Equal(t, ctDomain, d.str("objectType"))

	// cdmi_objectid/ is the by-ID entry point (§5.10); it holds no listing
	// a client may rely on, but it must not be mistaken for an ordinary
	// name: creating something there by name is refused.
	resp, body := harness.Do(t, http.MethodPut, root+"cdmi_objectid/"+uniq("x")+"/", hdr(ctContainer, ctContainer), jsonBody(t, map[string]any{}))
	expect4xx(t, resp, body)

	// §9.1.2: the reserved names cannot be created or deleted by clients.
	resp, body = harness.Do(t, http.MethodDelete, root+"cdmi_capabilities/", hdr("", ""), nil)
	expect4xx(t, resp, body)
	_, caps2 := get(t, root+"cdmi_capabilities/", ctCapability)
	assert.Equal(t, caps.str("objectID"), caps2.str("objectID"))
}
