package occi_test

import (
	"testing"
)

// checkLinkRendering: a link's target (and self) in a resource rendering are
// absolute URIs that resolve, with the right kinds.
func checkLinkRendering(t *testing.T, r rendering, l link, target, targetKind, kind string) {
	t.Helper()
	requireAbsolute(t, "link target ("+r.name+")", l.Target)
	if !samePath(l.Target, target) {
		t.Errorf("%s: link target %s, want %s", r.name, l.Target, target)
	}
	if l.TargetKind != targetKind {
		t.Errorf("GFD.229 §4.2 / GFD.226 §3.1.2.1 (%s): link rel/target kind %q, want %s", r.name, l.TargetKind, targetKind)
	}
	if l.Kind != kind {
		t.Errorf("%s: link category/kind %q, want %s", r.name, l.Kind, kind)
	}
	if l.Self == "" {
		t.Errorf("%s: link rendered without self/id", r.name)
	}
}

// GFD.229 §4.2 (Link header with category and attributes on create, as in
// GFD.185 §3.4.4) and GFD.226 §3.1.1 (links array): a compute created with
// inline networkinterface and storagelink links renders them, and each link
// is an entity of its own (GFD.221 §5.4.3).
func TestInlineLinksOnCreate(t *testing.T) {
	for _, r := range renderings {
		t.Run(r.name, func(t *testing.T) {
			net := create(t, textPlain, message{Kind: kindNetwork, Attrs: []attr{{"occi.core.title", uniq("iln")}}})
			sto := create(t, textPlain, message{Kind: kindStorage, Attrs: []attr{{"occi.core.title", uniq("ils")}, {"occi.storage.size", 0.25}}})
			m := computeMsg(uniq("il"))
			m.Links = []linkSpec{
				{Target: net, TargetKind: kindNetwork, Kind: kindNetworkInterface, Mixins: []string{mixinIPNetworkInterface}, Attrs: []attr{
					{"occi.networkinterface.mac", "02:00:00:aa:bb:cc"},
					{"occi.networkinterface.address", "10.9.0.5"}, {"occi.networkinterface.gateway", "10.9.0.1"},
					{"occi.networkinterface.allocation", "static"},
				}},
				{Target: sto, TargetKind: kindStorage, Kind: kindStorageLink, Attrs: []attr{{"occi.storagelink.mountpoint", "/mnt/data"}}},
			}
			loc := create(t, r, m)
			for _, out := range renderings {
				e := read(t, out, loc)
				if len(e.Links) != 2 {
					t.Fatalf("GFD.229 §5.1.1 (%s): %d links rendered, want 2: %+v", out.name, len(e.Links), e.Links)
				}
				for _, l := range e.Links {
					switch l.Kind {
					case kindNetworkInterface:
						checkLinkRendering(t, out, l, net, kindNetwork, kindNetworkInterface)
						if l.Attrs["occi.networkinterface.mac"] != "02:00:00:aa:bb:cc" || l.Attrs["occi.networkinterface.address"] != "10.9.0.5" {
							t.Errorf("%s: networkinterface attributes %v", out.name, l.Attrs)
						}
						if a := l.Attrs["occi.networkinterface.allocation"]; a != "static" {
							t.Errorf("GFD.224 §3.4.1: allocation %v, want static (multiplicity 1)", a)
						}
						if l.Attrs["occi.networkinterface.interface"] == nil || l.Attrs["occi.networkinterface.interface"] == "" {
							t.Errorf("GFD.224 §3.4.1: interface (multiplicity 1) not set: %v", l.Attrs)
						}
					case kindStorageLink:
						checkLinkRendering(t, out, l, sto, kindStorage, kindStorageLink)
						if l.Attrs["occi.storagelink.mountpoint"] != "/mnt/data" {
							t.Errorf("%s: mountpoint %v", out.name, l.Attrs["occi.storagelink.mountpoint"])
						}
						if d, _ := l.Attrs["occi.storagelink.deviceid"].(string); d == "" {
							t.Errorf("GFD.224 §3.4.2: deviceid (multiplicity 1) not set: %v", l.Attrs)
						}
					default:
						t.Errorf("%s: unexpected link kind %q", out.name, l.Kind)
					}
				}
			}
			// Each link is an entity: GET its self in every rendering.
			e := read(t, textPlain, loc)
			for _, l := range e.Links {
				self := abs(t, l.Self)
				for _, out := range renderings {
					le := read(t, out, self)
					if le.Kind != l.Kind {
						t.Errorf("GET link %s (%s): kind %q, want %q", self, out.name, le.Kind, l.Kind)
					}
					requireAbsolute(t, "occi.core.source ("+out.name+")", le.Source)
					requireAbsolute(t, "occi.core.target ("+out.name+")", le.Target)
					if !samePath(le.Source, loc) || !samePath(le.Target, l.Target) {
						t.Errorf("GFD.221 §5.4.3 (%s): link source %s target %s, want %s -> %s", out.name, le.Source, le.Target, loc, l.Target)
					}
				}
			}
			// GFD.221 §5.4.2: links are compositions; deleting the
			// resource deletes them.
			resp, _ := do(t, "DELETE", loc, nil, nil)
			if resp.StatusCode != 200 && resp.StatusCode != 204 {
				t.Fatalf("DELETE compute: %d", resp.StatusCode)
			}
			for _, l := range e.Links {
				if s := status(t, abs(t, l.Self)); s != 404 {
					t.Errorf("GFD.221 §5.4.2: link %s answers %d after its source was deleted", l.Self, s)
				}
			}
			if s := status(t, net); s != 200 {
				t.Errorf("deleting the compute deleted its network target (%d)", s)
			}
		})
	}
}

// GFD.185 §3.4.4 "Creation of Link resource instances" / GFD.223 §11.3.1: a
// link is created on its own by POST to the link kind's location with
// occi.core.source and occi.core.target; the source then renders it.
func TestStandaloneLinks(t *testing.T) {
	for _, r := range renderings {
		t.Run(r.name, func(t *testing.T) {
			c := newCompute(t, "sl")
			net := create(t, textPlain, message{Kind: kindNetwork, Attrs: []attr{{"occi.core.title", uniq("sln")}}})
			sto := create(t, textPlain, message{Kind: kindStorage, Attrs: []attr{{"occi.core.title", uniq("sls")}, {"occi.storage.size", 0.25}}})
			ni := create(t, r, message{Kind: kindNetworkInterface, Attrs: []attr{
				{"occi.core.source", c}, {"occi.core.target", net}, {"occi.networkinterface.mac", "02:00:00:00:00:01"},
			}})
			sl := create(t, r, message{Kind: kindStorageLink, Attrs: []attr{
				{"occi.core.source", c}, {"occi.core.target", sto}, {"occi.storagelink.mountpoint", "/mnt/x"},
			}})
			for _, out := range renderings {
				le := read(t, out, ni)
				if le.Kind != kindNetworkInterface || !samePath(le.Source, c) || !samePath(le.Target, net) {
					t.Errorf("GET networkinterface (%s): %+v", out.name, le)
				}
				if le.Attrs["occi.networkinterface.mac"] != "02:00:00:00:00:01" {
					t.Errorf("mac %v", le.Attrs["occi.networkinterface.mac"])
				}
				if s := le.str("occi.networkinterface.state"); s != "active" && s != "inactive" {
					t.Errorf("GFD.224 §3.4.1: networkinterface state %q", s)
				}
				le = read(t, out, sl)
				if le.Kind != kindStorageLink || !samePath(le.Source, c) || !samePath(le.Target, sto) {
					t.Errorf("GET storagelink (%s): %+v", out.name, le)
				}
			}
			e := read(t, textPlain, c)
			var selves []string
			for _, l := range e.Links {
				selves = append(selves, abs(t, l.Self))
			}
			if !contains(selves, ni) || !contains(selves, sl) || len(e.Links) != 2 {
				t.Errorf("GFD.185 §3.4.4: the source renders links %+v, want %s and %s", e.Links, ni, sl)
			}
			// The link collections list them.
			if !contains(list(t, location(t, kindNetworkInterface)), ni) || !contains(list(t, location(t, kindStorageLink)), sl) {
				t.Errorf("GFD.223 §11.1: link collections do not list the new links")
			}
			// Deleting a link removes it from its source.
			resp, _ := do(t, "DELETE", sl, nil, nil)
			if resp.StatusCode != 200 && resp.StatusCode != 204 {
				t.Fatalf("DELETE storagelink: %d", resp.StatusCode)
			}
			if e := read(t, textPlain, c); len(e.Links) != 1 {
				t.Errorf("GFD.221 §5.4.2: after deleting the storagelink the compute renders %d links", len(e.Links))
			}
			if s := status(t, sto); s != 200 {
				t.Errorf("deleting a storagelink deleted its storage (%d)", s)
			}
		})
	}
}
