package occi

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The location rule (paths.go), from RFC 3986 §2, §3.3, §5.2.4, §6.2.2.
func TestCheckPath(t *testing.T) {
	for _, ok := range []string{"/compute/vm1", "/a/b:c@d!$&'()*+,;=", "/caf%C3%A9", "/with%20space", "/" + strings.Repeat("a", 255)} {
		assert.NoError(t, checkPath("location", ok, false), ok)
	}
	assert.NoError(t, checkPath("mixin location", "/tags/mine/", true))
	for p, want := range map[string]string{
		"compute/x":                     "absolute path",
		"/x/":                           "must not end in /",
		"/a//b":                         "empty segment",
		"/a/./b":                        "dot segments",
		"/a/../b":                       "dot segments",
		"/a/.%2e/b":                     "unreserved",
		"/a/%2E./b":                     "unreserved",
		"/%63dmi":                       "unreserved",
		"/a%2Fb":                        "'/' inside a segment",
		"/a%00b":                        "control character",
		"/a%0Ab":                        "control character",
		"/a%C0%AFb":                     "not UTF-8",
		"/a%FFb":                        "not UTF-8",
		"/a%ZZ":                         "two hex digits",
		"/a%2":                          "two hex digits",
		"/a b":                          "not allowed in a path",
		"/a\"b":                         "not allowed in a path",
		"/a\xffb":                       "not allowed in a path",
		"/" + strings.Repeat("a", 256):  "at most 255",
		"/" + strings.Repeat("a/", 400): "at most 760",
	} {
		err := checkPath("location", p, false)
		if assert.Error(t, err, p) {
			assert.Contains(t, err.Error(), want, p)
		}
	}
}

// Reserved paths are 409, malformed ones 400, the same for entities (PUT)
// and mixins (POST /-/), and nothing is stored.
func TestLocationRuleOverHTTP(t *testing.T) {
	r := newRig(t, Config{Reserved: []string{"/cdmi"}})
	for path, want := range map[string]int{"/cdmi": 409, "/cdmi/x": 409, "/-/x": 409, "/.well-known/x": 409, "/healthz/x": 409, "/a/%2e%2e/x": 400, "/cdmix": 201} {
		resp, b := r.do("PUT", path, computeCat)
		assert.Equal(t, want, resp.StatusCode, "PUT %s: %s", path, b)
	}
	for loc, want := range map[string]int{"/cdmi/": 409, "/cdmi/probe/": 409, "/a/../compute/": 400, "/ok/": 200} {
		body := `Category: m` + strings.NewReplacer("/", "", ".", "").Replace(loc) + `x; scheme="http://example.com/t#"; class="mixin"; location="` + loc + `"`
		resp, b := r.do("POST", "/-/", body)
		assert.Equal(t, want, resp.StatusCode, "mixin at %s: %s", loc, b)
	}
	assert.Equal(t, int64(1), r.count("occi_entities"), "only /cdmix was created")
	assert.Equal(t, int64(1), r.count("occi_user_mixins"), "only /ok/ was defined")
}

// GFD.226 §3.1: an inline link's "id" is its occi.core.id; the link lives
// at its kind's location under that id.
func TestJSONInlineLinkID(t *testing.T) {
	r := newRig(t, Config{})
	net := r.create("/network/", networkCat)
	body := `{"kind": "http://schemas.ogf.org/occi/infrastructure#compute", "links": [{"kind": "http://schemas.ogf.org/occi/infrastructure#networkinterface",` +
		`"id": "urn:uuid:22fe83ae-a20f-54fc-b436-cec85c94c5e8", "target": {"location": "` + net + `", "kind": "http://schemas.ogf.org/occi/infrastructure#network"}}]}`
	resp, b := r.do("POST", "/compute/", body, "Content-Type: application/occi+json")
	require.Equal(t, 201, resp.StatusCode, b)
	resp, b = r.do("GET", "/networkinterface/22fe83ae-a20f-54fc-b436-cec85c94c5e8", "")
	assert.Equal(t, 200, resp.StatusCode, b)
}
