package occi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// GFD.229 §4.1, and what real clients send: a quoted title may hold ";"
// and ","; class may be unquoted; a trailing ";" (OCCI 1.1 examples) is
// tolerated; header values may be comma-joined or repeated (§7).
func TestParseCategories(t *testing.T) {
	h := http.Header{}
	h.Add("Category", `compute; scheme="http://schemas.ogf.org/occi/infrastructure#"; class=kind;, tag; scheme="http://e.org/t#"; class="mixin"; title="a; b, \"c\""; location="/tags/t/"; attributes="x.y{required immutable} z"`)
	h.Add("X-OCCI-Attribute", `occi.core.title="one, two", occi.compute.cores=2`)
	h.Add("X-OCCI-Attribute", `occi.compute.memory=1.5`)
	p, err := parseTextHeaders(h)
	require.NoError(t, err)
	require.Len(t, p.Categories, 2)
	assert.Equal(t, KindCompute, p.Categories[0].ID())
	assert.Equal(t, ClassKind, p.Categories[0].Class)
	tag := p.Categories[1]
	assert.Equal(t, `a; b, "c"`, tag.Title)
	assert.Equal(t, "/tags/t/", tag.Location)
	require.Len(t, tag.Attributes, 2)
	assert.True(t, tag.Attributes[0].Required)
	assert.False(t, tag.Attributes[0].Mutable)
	require.Len(t, p.Entities, 1)
	e := p.Entities[0]
	assert.Equal(t, KindCompute, e.Kind)
	assert.Equal(t, []string{"http://e.org/t#tag"}, e.Mixins)
	assert.Equal(t, map[string]any{AttrTitle: "one, two", "occi.compute.cores": 2.0, "occi.compute.memory": 1.5}, e.Attrs)

	// The same as a text/plain body, folded like the specification's examples.
	body := "Category: compute; \\\n    scheme=\"http://schemas.ogf.org/occi/infrastructure#\"; \\\n    class=\"kind\"\r\n" +
		"Link: </network/n1>; rel=\"http://schemas.ogf.org/occi/infrastructure#network\"; category=\"http://schemas.ogf.org/occi/infrastructure#networkinterface\"; occi.networkinterface.interface=\"eth1\"\r\n"
	p, err = parseTextBody([]byte(body))
	require.NoError(t, err)
	require.Len(t, p.Entities, 1)
	require.Len(t, p.Entities[0].Links, 1)
	l := p.Entities[0].Links[0]
	assert.Equal(t, "/network/n1", l.Target)
	assert.Equal(t, KindNetworkInterface, l.Kind)
	assert.Equal(t, "eth1", l.Attrs["occi.networkinterface.interface"])
}

func TestParseErrorsNameTheProblem(t *testing.T) {
	for body, want := range map[string]string{
		`Category: compute; scheme=http://x#; class="kind"`:    "scheme must be quoted",
		`Category: compute; class="kind"`:                      "no scheme",
		`Category: compute; scheme="http://x#"; class="thing"`: `class "thing"`,
		`X-OCCI-Attribute: occi.compute.hostname="abc`:         "unterminated",
		"not occi": `"Name: value"`,
		`X-OCCI-Attribute: a=1` + "\n" + `X-OCCI-Attribute: a=2`:                     "given twice",
		`Category: t; scheme="http://x#"; class="mixin"; attributes="a{mutable}"`:    "unknown property",
		`Link: /network/1; rel="http://schemas.ogf.org/occi/infrastructure#network"`: "<URI>",
		`X-OCCI-Attribute: occi.compute.cores=1.2.3`:                                 "not a number",
		`Frobnicate: yes`: "unknown field",
		`Category: compute; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="kind"; color="red"`: "unknown parameter",
	} {
		_, err := parseTextBody([]byte(body))
		if assert.Error(t, err, body) {
			assert.Contains(t, err.Error(), want, body)
		}
	}
	for body, want := range map[string]string{
		`{"kind": 1}`:                             `entity: field "kind" must be a string, got a number`,
		`{"kind": "k", "attributes": []}`:         `entity: field "attributes" must be an object, got an array`,
		`[1,2]`:                                   "not a JSON object: the JSON value must be an object, got an array",
		`{"kind": "k"} {"kind": "k"}`:             "trailing",
		`{"frob": 1}`:                             "none of kind",
		`{"term": "x y", "scheme": "http://e#"}`:  "not a valid term",
		`{"kind": "k", "links": [{"kind": "l"}]}`: "no target",
	} {
		_, err := parseJSON([]byte(body))
		if assert.Error(t, err, body) {
			assert.Contains(t, err.Error(), want, body)
			assert.NotContains(t, err.Error(), "Go ", "the client's terms, not the decoder's types")
		}
	}
}

// GFD.226: a storagelink created from JSON, inline and standalone, then a
// client PUTs back exactly what it read (links, id and state included).
func TestJSONStorageLinkAndPutBack(t *testing.T) {
	r := newRig(t, Config{Volumes: newMemVolumes()})
	sto := r.create("/storage/", storageCat+"\nX-OCCI-Attribute: occi.storage.size=1")
	js := `{"kind":"http://schemas.ogf.org/occi/infrastructure#compute","title":"db","attributes":{"occi.compute.cores":2},
	"links":[{"kind":"http://schemas.ogf.org/occi/infrastructure#storagelink","target":{"location":"` + r.url + sto + `","kind":"http://schemas.ogf.org/occi/infrastructure#storage"},"attributes":{"occi.storagelink.mountpoint":"/data"}}]}`
	resp, body := r.do("POST", "/compute/", js, "Content-Type: application/occi+json", "Accept: application/occi+json")
	require.Equal(t, 201, resp.StatusCode, body)
	assert.Contains(t, body, `"occi.storagelink.mountpoint":"/data"`)
	loc := strings.TrimPrefix(resp.Header.Get("Location"), r.url)

	resp, read := r.do("GET", loc, "", "Accept: application/occi+json")
	require.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, read, `"id":"urn:uuid:`)
	put := strings.Replace(read, `"title":"db"`, `"title":"db2"`, 1)
	resp, body = r.do("PUT", loc, put, "Content-Type: application/occi+json", "Accept: application/occi+json")
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Contains(t, body, `"title":"db2"`)
	assert.Contains(t, body, `"occi.storagelink.mountpoint":"/data"`, "links are left intact (GFD.223 §7.2.2)")

	// The same round trip in text/plain.
	_, text := r.do("GET", loc, "")
	resp, body = r.do("PUT", loc, strings.Replace(text, `occi.compute.cores=2`, `occi.compute.cores=4`, 1))
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Contains(t, body, "occi.compute.cores=4")

	// A standalone storagelink from JSON; a second one to a missing storage
	// is a 404, as one to another project's storage is (nothing tells the
	// two apart, see Caller).
	vm := r.create("/compute/", computeCat)
	link := `{"kind":"http://schemas.ogf.org/occi/infrastructure#storagelink","source":{"location":"` + vm + `"},"target":{"location":"` + sto + `"}}`
	resp, body = r.do("POST", "/storagelink/", link, "Content-Type: application/occi+json")
	require.Equal(t, 201, resp.StatusCode, body)
	resp, body = r.do("POST", "/storagelink/", strings.Replace(link, sto, "/storage/missing", 1), "Content-Type: application/occi+json")
	assert.Equal(t, 404, resp.StatusCode, body)
	assert.Contains(t, body, "/storage/missing")
}

// GFD.224 §3.1: save answers the new OS template's rendering; the template
// then serves new computes with the backend's image.
func TestSaveAnswersTheNewTemplate(t *testing.T) {
	r := newRig(t, Config{})
	loc := r.create("/compute/", computeCat)
	resp, body := r.do("POST", loc+"?action=save", `Category: save; scheme="http://schemas.ogf.org/occi/infrastructure/compute/action#"; class="action"
X-OCCI-Attribute: name="golden image"`, "Accept: application/occi+json")
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Contains(t, body, `"term":"golden-image"`)
	assert.Contains(t, body, `"depends":["http://schemas.ogf.org/occi/infrastructure#os_tpl"]`)
	r.create("/compute/", computeCat+"\nCategory: golden-image; scheme=\""+SchemeOSTemplate+"\"; class=\"mixin\"")
	var n int64
	require.NoError(t, r.db.Table("sim_machines").Where("spec LIKE ?", "%sim://saved/%").Count(&n).Error)
	assert.EqualValues(t, 1, n)
}
