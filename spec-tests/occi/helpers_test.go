package occi_test

import (
	"net/http"
	"testing"
)

// The suite's own parsers must read the spec's examples right; otherwise a
// failure would blame the server for the suite's misreading. These run
// without a server.

// GFD.229 §6 example (line continuations joined), text/plain.
const specPlainExample = `Category: compute; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="kind"
Link: </users/foo/compute/b9ff813e-fee5-4a9d-b839-673f39746096?action=start>; rel="http://schemas.ogf.org/occi/infrastructure/compute/action#start"
X-OCCI-Attribute: occi.core.id="urn:uuid:b9ff813e-fee5-4a9d-b839-673f39746096"
X-OCCI-Attribute: occi.core.title="My Dummy VM"
X-OCCI-Attribute: occi.compute.architecture="x86"
X-OCCI-Attribute: occi.compute.state="inactive"
X-OCCI-Attribute: occi.compute.memory=2.0
X-OCCI-Attribute: occi.compute.cores=2
X-OCCI-Attribute: occi.compute.hostname="dummy"
`

func TestHelpersParseSpecExamples(t *testing.T) {
	e, err := decodeEntity(textPlain, nil, []byte(specPlainExample))
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, e entity) {
		if e.Kind != kindCompute || e.str("occi.core.title") != "My Dummy VM" || e.str("occi.compute.state") != "inactive" {
			t.Errorf("%s: %+v", name, e)
		}
		if v, _ := num(e.Attrs["occi.compute.cores"]); v != 2 {
			t.Errorf("%s: cores %v", name, e.Attrs["occi.compute.cores"])
		}
		if !e.hasAction(computeAction+"start") || len(e.Links) != 0 {
			t.Errorf("%s: actions %v links %v", name, e.Actions, e.Links)
		}
	}
	check("text/plain", e)

	// GFD.229 §7 example: the same in headers, attributes comma-joined.
	h := http.Header{}
	h.Set("Category", `compute; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="kind"`)
	h.Set("Link", `</users/foo/compute/b9ff813e?action=start>; rel="http://schemas.ogf.org/occi/infrastructure/compute/action#start"`)
	h.Set("X-OCCI-Attribute", `occi.core.id="urn:uuid:b9ff813e", occi.core.title="My Dummy VM", occi.compute.architecture="x86", occi.compute.state="inactive", occi.compute.memory=2.0, occi.compute.cores=2, occi.compute.hostname="dummy"`)
	e, err = decodeEntity(textOCCIJoin, h, []byte("OK"))
	if err != nil {
		t.Fatal(err)
	}
	check("text/occi", e)

	// GFD.185 §3.4.4: an inline link with self, category and attributes.
	e, err = decodeEntity(textPlain, nil, []byte(`Category: compute; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="kind"
Link: </network/123>; rel="http://schemas.ogf.org/occi/infrastructure#network"; self="/link/networkinterface/456"; category="http://schemas.ogf.org/occi/infrastructure#networkinterface"; occi.networkinterface.interface="eth0"; occi.networkinterface.mac="00:11:22:33:44:55"
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Links) != 1 || e.Links[0].Target != "/network/123" || e.Links[0].Self != "/link/networkinterface/456" ||
		e.Links[0].Kind != kindNetworkInterface || e.Links[0].TargetKind != kindNetwork || e.Links[0].Attrs["occi.networkinterface.mac"] != "00:11:22:33:44:55" {
		t.Errorf("inline link: %+v", e.Links)
	}

	// GFD.226 appendix A.1 (the location quote erratum fixed).
	e, err = decodeEntity(occiJSON, nil, []byte(`{"kind": "http://schemas.ogf.org/occi/infrastructure#compute",
	 "attributes": {"occi.compute.cores": 2}, "actions": ["http://schemas.ogf.org/occi/infrastructure/compute/action#start"],
	 "id": "urn:uuid:996ad860", "links": [{"kind": "http://schemas.ogf.org/occi/infrastructure#networkinterface", "id": "urn:uuid:22fe",
	 "target": {"location": "/network/b7d5", "kind": "http://schemas.ogf.org/occi/infrastructure#network"},
	 "source": {"location": "/compute/996a", "kind": "http://schemas.ogf.org/occi/infrastructure#compute"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if e.str("occi.core.id") != "urn:uuid:996ad860" || len(e.Links) != 1 || e.Links[0].Target != "/network/b7d5" || e.Links[0].TargetKind != kindNetwork || !e.hasAction(computeAction+"start") {
		t.Errorf("JSON resource: %+v", e)
	}

	// GFD.229 §4.1 category with attributes and actions; a title with ';'.
	c, err := parseTextCategory(`compute; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="kind"; title="Compute; VM"; rel="http://schemas.ogf.org/occi/core#resource"; location="/compute/"; attributes="occi.compute.cores occi.compute.state{immutable} occi.core.id{immutable required}"; actions="http://schemas.ogf.org/occi/infrastructure/compute/action#start http://schemas.ogf.org/occi/infrastructure/compute/action#stop"`)
	if err != nil {
		t.Fatal(err)
	}
	if c.ID() != kindCompute || c.Title != "Compute; VM" || c.Location != "/compute/" || len(c.Actions) != 2 || c.Rel[0] != kindResource ||
		!c.Attrs["occi.compute.cores"].Mutable || c.Attrs["occi.compute.state"].Mutable || !c.Attrs["occi.core.id"].Required {
		t.Errorf("category: %+v", c)
	}
	if _, err := parseTextCategory(`compute; scheme="x#"; class="kind";`); err == nil {
		t.Errorf("a trailing ';' must not parse")
	}
}

// Every rendering's encoder must produce what its decoder reads back.
func TestHelpersRoundTrip(t *testing.T) {
	m := message{Kind: kindCompute, Mixins: []string{mixinSSHKey}, Attrs: []attr{
		{"occi.core.title", `a "quoted", title; with separators`}, {"occi.compute.cores", 2}, {"occi.compute.memory", 1.5},
	}, Links: []linkSpec{{Target: "http://h/network/1", TargetKind: kindNetwork, Kind: kindNetworkInterface, Attrs: []attr{{"occi.networkinterface.mac", "02:00:00:00:00:01"}}}}}
	for _, r := range renderings {
		h, b := r.encode(m)
		e, err := decodeEntity(r, h, b)
		if err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		if e.Kind != kindCompute || !e.hasMixin(mixinSSHKey) || e.str("occi.core.title") != `a "quoted", title; with separators` || len(e.Links) != 1 ||
			e.Links[0].Target != "http://h/network/1" || e.Links[0].Attrs["occi.networkinterface.mac"] != "02:00:00:00:00:01" {
			t.Errorf("%s: round trip gave %+v", r.name, e)
		}
		if v, _ := num(e.Attrs["occi.compute.memory"]); v != 1.5 {
			t.Errorf("%s: memory %v", r.name, e.Attrs["occi.compute.memory"])
		}
	}
}
