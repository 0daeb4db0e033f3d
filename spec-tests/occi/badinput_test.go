package occi_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/occicdmi/occicdmi/spec-tests/harness"
)

// raw is a hand-written request, for input no encoder would produce.
type raw struct {
	name    string
	ct      string
	headers map[string]string
	body    string
	codes   []int
}

const computeCat = `Category: compute; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="kind"`

// GFD.229 §4 (ABNF), GFD.221 §5.3.2 (attribute types, required), §5.2
// (mutability), GFD.224 (enums), GFD.226 §3.1: malformed or wrong creation
// requests get a 4xx with a message, and nothing is created.
func TestBadCreate(t *testing.T) {
	missing := location(t, kindNetwork) + uniq("nosuchnet")
	cases := []raw{
		{name: "GFD.229 §4.1 unquoted scheme", body: `Category: compute; scheme=http://schemas.ogf.org/occi/infrastructure#; class="kind"`},
		{name: "GFD.229 §4.1 no scheme", body: `Category: compute; class="kind"`},
		{name: "GFD.229 §4.1 empty category", body: `Category: ;;`},
		{name: "unknown kind", body: `Category: frobnicator; scheme="http://example.com/occi#"; class="kind"`},
		{name: "another kind posted to the compute collection", body: `Category: storage; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="kind"` + "\r\nX-OCCI-Attribute: occi.storage.size=1"},
		{name: "unknown mixin", body: computeCat + "\r\n" + `Category: nope; scheme="http://example.com/occi/none#"; class="mixin"`},
		{name: "GFD.229 §4.3 attribute without =", body: computeCat + "\r\nX-OCCI-Attribute: occi.compute.cores"},
		{name: "GFD.229 §4.3 unterminated quote", body: computeCat + "\r\n" + `X-OCCI-Attribute: occi.compute.hostname="abc`},
		{name: "GFD.229 §6 line without a colon", body: computeCat + "\r\nthis is not OCCI"},
		{name: "GFD.224 Table 2 cores is an integer", body: computeCat + "\r\n" + `X-OCCI-Attribute: occi.compute.cores="two"`},
		{name: "GFD.224 Table 2 cores is an integer, not a float", body: computeCat + "\r\nX-OCCI-Attribute: occi.compute.cores=1.5"},
		{name: "GFD.224 Table 2 memory is a float", body: computeCat + "\r\nX-OCCI-Attribute: occi.compute.memory=true"},
		{name: "GFD.224 Table 2 architecture enum", body: computeCat + "\r\n" + `X-OCCI-Attribute: occi.compute.architecture="sparc"`},
		{name: "attribute no kind or mixin defines", body: computeCat + "\r\n" + `X-OCCI-Attribute: occi.compute.flavour="spicy"`},
		{name: "GFD.221 §5.2 immutable state set by the client", body: computeCat + "\r\n" + `X-OCCI-Attribute: occi.compute.state="active"`, codes: []int{400, 409}},
		{name: "GFD.224 §3.5.2 ssh_key without its required publickey", body: computeCat + "\r\n" + `Category: ssh_key; scheme="http://schemas.ogf.org/occi/infrastructure/credentials#"; class="mixin"`},
		{name: "inline link to a missing network", body: computeCat + "\r\n" + `Link: <` + missing + `>; rel="http://schemas.ogf.org/occi/infrastructure#network"; category="http://schemas.ogf.org/occi/infrastructure#networkinterface"`, codes: []int{400, 404, 409}},
		{name: "GFD.229 §7 malformed text/occi header", ct: "text/occi", headers: map[string]string{"Category": `compute; scheme="http://schemas.ogf.org/occi/infrastructure#; class="kind"`}},
		{name: "GFD.226 invalid JSON", ct: "application/occi+json", body: `{"kind": "http://schemas.ogf.org/occi/infrastructure#compute", "attributes": {`},
		{name: "GFD.226 §3.1.1 kind missing", ct: "application/occi+json", body: `{"attributes": {"occi.compute.cores": 2}}`},
		{name: "GFD.226 §3.1.1 attributes not an object", ct: "application/occi+json", body: `{"kind": "http://schemas.ogf.org/occi/infrastructure#compute", "attributes": ["occi.compute.cores", 2]}`},
		{name: "GFD.226 cores as a string", ct: "application/occi+json", body: `{"kind": "http://schemas.ogf.org/occi/infrastructure#compute", "attributes": {"occi.compute.cores": "2"}}`},
		{name: "GFD.226 §3.1.2 link without target", ct: "application/occi+json", body: `{"kind": "http://schemas.ogf.org/occi/infrastructure#compute", "links": [{"kind": "http://schemas.ogf.org/occi/infrastructure#networkinterface"}]}`},
		{name: "GFD.226 link to a missing network", ct: "application/json", body: `{"kind": "http://schemas.ogf.org/occi/infrastructure#compute", "links": [{"kind": "http://schemas.ogf.org/occi/infrastructure#networkinterface", "target": {"location": "` + missing + `", "kind": "http://schemas.ogf.org/occi/infrastructure#network"}}]}`, codes: []int{400, 404, 409}},
	}
	col := location(t, kindCompute)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			marker := uniq("bad")
			before := list(t, col)
			h := http.Header{}
			ct := c.ct
			if ct == "" {
				ct = "text/plain"
			}
			h.Set("Content-Type", ct)
			body := c.body
			switch {
			case strings.HasPrefix(ct, "application/"):
				// Mark the entity so a wrongly accepted request is found.
				body = strings.Replace(body, `"attributes": {`, `"attributes": {"occi.core.title": "`+marker+`", `, 1)
				if !strings.Contains(body, marker) && strings.HasPrefix(body, "{") {
					body = `{"title": "` + marker + `", ` + body[1:]
				}
			case ct == "text/occi":
				for k, v := range c.headers {
					h.Set(k, v)
				}
				h.Set("X-OCCI-Attribute", "occi.core.title="+quote(marker))
				body = "OK"
			default:
				body += "\r\nX-OCCI-Attribute: occi.core.title=" + quote(marker) + "\r\n"
			}
			codes := c.codes
			if codes == nil {
				codes = []int{400}
			}
			resp, b := do(t, "POST", col, h, []byte(body))
			clientError(t, c.name, resp, b, codes...)
			if resp.StatusCode == 201 {
				cleanup(t, resp.Header.Get("Location"))
			}
			if n := newSince(t, kindCompute, before, marker); len(n) != 0 {
				t.Errorf("a refused request left %v behind", n)
				for _, l := range n {
					cleanup(t, abs(t, l))
				}
			}
		})
	}
	// GFD.224 Table 7: storage size is required.
	before := list(t, location(t, kindStorage))
	marker := uniq("nosize")
	resp, b := send(t, "POST", location(t, kindStorage), textPlain, message{Kind: kindStorage, Attrs: []attr{{"occi.core.title", marker}}})
	clientError(t, "GFD.224 Table 7: storage without occi.storage.size", resp, b, 400)
	if n := newSince(t, kindStorage, before, marker); len(n) != 0 {
		t.Errorf("a refused request left %v behind", n)
	}
	// GFD.221 §5.4.3: a standalone link needs an existing source.
	net := create(t, textPlain, message{Kind: kindNetwork, Attrs: []attr{{"occi.core.title", uniq("bl")}}})
	resp, b = send(t, "POST", location(t, kindNetworkInterface), textPlain, message{Kind: kindNetworkInterface, Attrs: []attr{
		{"occi.core.source", col + uniq("nosuchvm")}, {"occi.core.target", net},
	}})
	clientError(t, "networkinterface from a missing compute", resp, b, 400, 404, 409)
	if resp.StatusCode == 201 {
		cleanup(t, resp.Header.Get("Location"))
	}
}

// GFD.221 §5.2: immutable attributes cannot be changed by clients, by partial
// update or by replacement; a bad update is refused and leaves the entity as
// it was (GFD.223 §10.2, §10.3.1).
func TestBadUpdate(t *testing.T) {
	loc := create(t, textPlain, computeMsg(uniq("bu")))
	before := read(t, textPlain, loc)
	cases := []struct {
		name  string
		m     string
		msg   message
		codes []int
	}{
		{"GFD.221 §5.2 POST immutable state", "POST", message{Kind: kindCompute, Attrs: []attr{{"occi.compute.state", "suspended"}}}, []int{400, 409}},
		{"GFD.221 §5.2 POST immutable state.message", "POST", message{Kind: kindCompute, Attrs: []attr{{"occi.compute.state.message", "hacked"}}}, []int{400, 409}},
		{"GFD.221 §5.4.1 POST another occi.core.id", "POST", message{Kind: kindCompute, Attrs: []attr{{"occi.core.id", "urn:uuid:00000000-0000-4000-8000-000000000000"}}}, []int{400, 409}},
		{"GFD.224 POST wrong type", "POST", message{Kind: kindCompute, Attrs: []attr{{"occi.compute.cores", "many"}, {"occi.core.title", "half-applied"}}}, []int{400}},
		{"GFD.224 POST enum", "POST", message{Kind: kindCompute, Attrs: []attr{{"occi.compute.architecture", "arm"}, {"occi.core.title", "half-applied"}}}, []int{400}},
		{"GFD.224 §3 kind is immutable (PUT another kind)", "PUT", message{Kind: kindStorage, Attrs: []attr{{"occi.storage.size", 1.0}}}, []int{400, 409}},
		{"GFD.221 §5.2 PUT immutable state", "PUT", computeMsg(before.str("occi.compute.hostname"), attr{"occi.compute.state", "suspended"}), []int{400, 409}},
	}
	for _, c := range cases {
		for _, r := range renderings {
			resp, b := send(t, c.m, loc, r, c.msg)
			clientError(t, c.name+" ("+r.name+")", resp, b, c.codes...)
		}
	}
	after := read(t, textPlain, loc)
	if after.Kind != before.Kind {
		t.Errorf("kind changed to %s", after.Kind)
	}
	for k, v := range before.Attrs {
		if !equalValue(v, after.Attrs[k]) {
			t.Errorf("a refused update changed %s from %v to %v", k, v, after.Attrs[k])
		}
	}
	for k := range after.Attrs {
		if _, ok := before.Attrs[k]; !ok {
			t.Errorf("a refused update added %s=%v", k, after.Attrs[k])
		}
	}
}

// GFD.224 Table 9: a networkinterface's interface is immutable.
func TestImmutableLinkAttribute(t *testing.T) {
	c := newCompute(t, "imm")
	net := create(t, textPlain, message{Kind: kindNetwork, Attrs: []attr{{"occi.core.title", uniq("immn")}}})
	ni := create(t, textPlain, message{Kind: kindNetworkInterface, Attrs: []attr{{"occi.core.source", c}, {"occi.core.target", net}, {"occi.networkinterface.mac", "02:00:00:00:00:02"}}})
	before := read(t, textPlain, ni)
	resp, b := send(t, "POST", ni, textPlain, message{Kind: kindNetworkInterface, Attrs: []attr{{"occi.networkinterface.interface", "hacked0"}}})
	clientError(t, "GFD.224 Table 9: change the immutable interface", resp, b, 400, 409)
	if got := read(t, textPlain, ni).Attrs["occi.networkinterface.interface"]; got != before.Attrs["occi.networkinterface.interface"] {
		t.Errorf("interface changed from %v to %v", before.Attrs["occi.networkinterface.interface"], got)
	}
}

// GFD.223 §5.4 (413 Request Entity Too Large): an oversized body is refused
// with 413, and nothing is created.
func TestOversizedBody(t *testing.T) {
	col := location(t, kindCompute)
	before := list(t, col)
	marker := uniq("big")
	var b bytes.Buffer
	b.WriteString(computeCat + "\r\nX-OCCI-Attribute: occi.core.title=" + quote(marker) + "\r\n")
	b.WriteString(`X-OCCI-Attribute: occi.core.summary="`)
	b.Write(bytes.Repeat([]byte("x"), 64<<20))
	b.WriteString("\"\r\n")
	h := http.Header{}
	h.Set("Content-Type", "text/plain")
	resp, body := do(t, "POST", col, h, b.Bytes())
	clientError(t, "GFD.223 §5.4: 64 MiB body", resp, body, 413)
	if resp.StatusCode == 201 {
		cleanup(t, resp.Header.Get("Location"))
	}
	if n := newSince(t, kindCompute, before, marker); len(n) != 0 {
		t.Errorf("the oversized request left %v behind", n)
	}
}

// GFD.221 §5.3.4 (Mixin.applies) and GFD.224 §3.5.2: a mixin is refused on a
// kind it does not apply to; associating a missing entity with a mixin
// collection is refused and changes nothing (GFD.223 §11.3.2).
func TestMixinMisuse(t *testing.T) {
	before := list(t, location(t, kindNetwork))
	marker := uniq("mis")
	resp, b := send(t, "POST", location(t, kindNetwork), textPlain, message{Kind: kindNetwork, Mixins: []string{mixinSSHKey}, Attrs: []attr{
		{"occi.core.title", marker}, {"occi.credentials.ssh.publickey", "ssh-ed25519 AAAA x"},
	}})
	clientError(t, "ssh_key (applies to compute) on a network", resp, b, 400)
	if n := newSince(t, kindNetwork, before, marker); len(n) != 0 {
		t.Errorf("refused request left %v", n)
	}
	c := userMixin(t, textPlain)
	a := create(t, textPlain, computeMsg(uniq("mis")))
	for _, r := range textRenderings {
		resp, b = send(t, "POST", abs(t, c.Location), r, message{Locations: []string{a, location(t, kindCompute) + uniq("ghost")}})
		clientError(t, "tag a missing entity ("+r.name+")", resp, b, 400, 404, 409)
	}
	if l := tagged(t, c); len(l) != 0 {
		t.Errorf("GFD.223 §11.3.2: a refused association half-applied: %v", l)
	}
}

// GFD.224 §3.4.1 / §3.4.2: a NetworkInterface links a Compute to a Network, a
// StorageLink a Resource to a Storage: links with the wrong kind at either
// end are refused and nothing is created.
func TestLinkEndKinds(t *testing.T) {
	c := newCompute(t, "lek")
	net := create(t, textPlain, message{Kind: kindNetwork, Attrs: []attr{{"occi.core.title", uniq("lek")}}})
	sto := create(t, textPlain, message{Kind: kindStorage, Attrs: []attr{{"occi.core.title", uniq("lek")}, {"occi.storage.size", 0.1}}})
	for _, tc := range []struct {
		kind, source, target, why string
	}{
		{kindStorageLink, c, net, "storagelink to a network"},
		{kindNetworkInterface, c, sto, "networkinterface to a storage"},
		{kindNetworkInterface, net, net, "networkinterface from a network"},
	} {
		for _, r := range renderings {
			before := list(t, location(t, tc.kind))
			resp, b := send(t, "POST", location(t, tc.kind), r, message{Kind: tc.kind, Attrs: []attr{{"occi.core.source", tc.source}, {"occi.core.target", tc.target}}})
			clientError(t, "GFD.224 §3.4: "+tc.why+" ("+r.name+")", resp, b, 400, 409)
			if resp.StatusCode == 201 {
				cleanup(t, resp.Header.Get("Location"))
			}
			if after := list(t, location(t, tc.kind)); len(after) > len(before) && !harness.External() {
				t.Errorf("%s: a refused link was stored", tc.why)
			}
		}
	}
	if e := read(t, textPlain, c); len(e.Links) != 0 {
		t.Errorf("refused links show on the compute: %+v", e.Links)
	}
}
