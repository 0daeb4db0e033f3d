package occi

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// Seeds: the GFD.229 and GFD.226 examples and what real clients send.
var textSeeds = []string{
	`Category: compute; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="kind"
Link: </users/foo/compute/b9ff813e?action=start>; rel="http://schemas.ogf.org/occi/infrastructure/compute/action#start"
X-OCCI-Attribute: occi.core.id="urn:uuid:b9ff813e-fee5-4a9d-b839-673f39746096"
X-OCCI-Attribute: occi.core.title="My Dummy VM"
X-OCCI-Attribute: occi.compute.architecture="x86"
X-OCCI-Attribute: occi.compute.memory=2.0
X-OCCI-Attribute: occi.compute.cores=2
`,
	"Category: compute; \\\n    scheme=\"http://schemas.ogf.org/occi/infrastructure#\" \\\n    class=\"kind\";\r\n",
	`Category: my_tag; scheme="http://example.com/tags#"; class="mixin"; title="a; tricky, \"title\""; location="/tags/mine/"; attributes="a.b c.d{required immutable}"`,
	`Link: </network/123>; rel="http://schemas.ogf.org/occi/infrastructure#network"; self="/networkinterface/456"; category="http://schemas.ogf.org/occi/infrastructure#networkinterface http://schemas.ogf.org/occi/infrastructure/networkinterface#ipnetworkinterface"; occi.networkinterface.interface="eth0"; occi.networkinterface.address="10.0.0.2"`,
	`X-OCCI-Attribute: occi.core.title="a", occi.compute.cores=4, occi.compute.memory=1.5, x.y=true`,
	`X-OCCI-Location: http://h/compute/1, http://h/compute/2`,
	`Category: start; scheme="http://schemas.ogf.org/occi/infrastructure/compute/action#"; class=action`,
}

var jsonSeeds = []string{
	`{"kind":"http://schemas.ogf.org/occi/infrastructure#compute","mixins":["http://example.com/occi/infrastructure/os_tpl#debian9"],"attributes":{"occi.compute.memory":4,"occi.compute.cores":2,"com.example.x":{"k":"v"}},"actions":["http://schemas.ogf.org/occi/infrastructure/compute/action#start"],"id":"996ad860","title":"t","links":[{"kind":"http://schemas.ogf.org/occi/infrastructure#networkinterface","attributes":{"occi.networkinterface.interface":"eth0"},"id":"22fe83ae","target":{"location":"/network/b7d55bf4","kind":"http://schemas.ogf.org/occi/infrastructure#network"},"source":{"location":"/compute/996ad860"}}]}`,
	`{"action":"http://schemas.ogf.org/occi/infrastructure/compute/action#stop","attributes":{"method":"graceful"}}`,
	`{"term":"medium","scheme":"http://example.com/template/resource#","depends":["http://schemas.ogf.org/occi/infrastructure#resource_tpl"],"applies":["http://schemas.ogf.org/occi/infrastructure#compute"],"attributes":{"occi.compute.speed":{"type":"number","default":2.8}},"title":"MediumVM","location":"/template/resource/medium/"}`,
	`{"resources":[{"kind":"http://schemas.ogf.org/occi/infrastructure#storage","id":"s1","attributes":{"occi.storage.size":1}}],"links":[]}`,
	`{"mixins":[{"term":"tag","scheme":"http://e/#","location":"/t/"}]}`,
	`{"locations":["/compute/1"]}`,
}

// FuzzParseText: the text parser never panics, and what it accepts
// survives a render/parse round trip unchanged.
func FuzzParseText(f *testing.F) {
	for _, s := range textSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		p, err := parseTextBody([]byte(body))
		if err != nil {
			return
		}
		// The same lines as headers (text/occi) parse the same way.
		h := http.Header{}
		for _, line := range strings.Split(body, "\n") {
			name, value, ok := strings.Cut(line, ":")
			if ok && !strings.ContainsAny(line, "\\\r") && !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "\t") {
				h.Add(strings.TrimSpace(name), strings.TrimSpace(value))
			}
		}
		_, _ = parseTextHeaders(h)
		// Attribute values round trip through the renderer.
		var sb strings.Builder
		for k, v := range p.Attrs {
			sb.WriteString("X-OCCI-Attribute: " + k + "=" + textValue(v) + "\n")
		}
		back, err := parseTextBody([]byte(sb.String()))
		if err != nil {
			t.Fatalf("re-parse of rendered attributes %q: %v", sb.String(), err)
		}
		if !reflect.DeepEqual(back.Attrs, p.Attrs) {
			t.Fatalf("round trip changed attributes: %v -> %v", p.Attrs, back.Attrs)
		}
		// Categories round trip too.
		r := &renderer{base: "http://h", m: &model{registry: newRegistry(nil)}}
		for _, c := range p.Categories {
			line := r.categoryFull(c)
			c2, err := parseCategory(line)
			if err != nil {
				t.Fatalf("re-parse of %q: %v", line, err)
			}
			if c2.ID() != c.ID() || c2.Class != c.Class || c2.Title != c.Title {
				t.Fatalf("category round trip: %+v -> %+v", c, c2)
			}
		}
	})
}

// FuzzParseJSON: the JSON parser never panics; accepted entities render.
func FuzzParseJSON(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		p, err := parseJSON([]byte(body))
		if err != nil {
			return
		}
		r := &renderer{base: "http://h", m: &model{registry: newRegistry(standard())}}
		for _, d := range p.Entities {
			e := &Entity{ID: d.ID, Kind: d.Kind, Mixins: d.Mixins, Attrs: d.Attrs, Source: d.Source, Target: d.Target}
			_ = marshal(r.entityJSON(e))
			var sb strings.Builder
			r.entityText(e).writePlain(&sb)
		}
		for _, c := range p.Categories {
			_ = marshal(r.categoryJSON(c))
		}
	})
}
