package occi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func computeMsg(hostname string, extra ...attr) message {
	return message{Kind: kindCompute, Attrs: append([]attr{
		{"occi.core.title", hostname},
		{"occi.compute.hostname", hostname},
		{"occi.compute.cores", 2},
		{"occi.compute.memory", 1.5},
		{"occi.compute.architecture", "x64"},
	}, extra...)}
}

// checkCompute verifies what a rendering of the compute created by
// computeMsg(hostname) must say.
func checkCompute(t *testing.T, r rendering, e entity, hostname string) {
	t.Helper()
	if e.Kind != kindCompute {
		t.Errorf("%s: kind %q, want %s (GFD.224 §3.1)", r.name, e.Kind, kindCompute)
	}
	if e.str("occi.compute.hostname") != hostname || e.str("occi.core.title") != hostname {
		t.Errorf("%s: hostname %q title %q, want %q", r.name, e.str("occi.compute.hostname"), e.str("occi.core.title"), hostname)
	}
	if v, ok := num(e.Attrs["occi.compute.cores"]); !ok || v != 2 {
		t.Errorf("%s: occi.compute.cores = %v, want 2", r.name, e.Attrs["occi.compute.cores"])
	}
	if v, ok := num(e.Attrs["occi.compute.memory"]); !ok || v != 1.5 {
		t.Errorf("%s: occi.compute.memory = %v, want 1.5", r.name, e.Attrs["occi.compute.memory"])
	}
	if e.str("occi.compute.architecture") != "x64" {
		t.Errorf("%s: architecture %v, want x64", r.name, e.Attrs["occi.compute.architecture"])
	}
	if e.str("occi.core.id") == "" {
		t.Errorf("GFD.221 §5.4.1: %s rendering has no occi.core.id", r.name)
	}
	switch s := e.str("occi.compute.state"); s {
	case "active", "inactive", "suspended", "error":
	default:
		t.Errorf("GFD.224 §3.1: occi.compute.state %q (multiplicity 1) not in the enum", s)
	}
}

// GFD.223 §11.3.1 (create by POST to the kind location: 201 + Location),
// §10.1 (GET), §10.4 (DELETE, then 404), in every rendering both ways.
func TestCreateReadDelete(t *testing.T) {
	for _, in := range renderings {
		t.Run(in.name, func(t *testing.T) {
			host := uniq("crd")
			loc := create(t, in, computeMsg(host))
			for _, out := range renderings {
				checkCompute(t, out, read(t, out, loc), host)
			}
			// The entity is listed in its kind collection.
			if !contains(list(t, location(t, kindCompute)), loc) {
				t.Errorf("GFD.223 §11.1: %s not listed in the compute collection", loc)
			}
			resp, body := do(t, "DELETE", loc, accept(in.mediaType), nil)
			if resp.StatusCode != 200 && resp.StatusCode != 204 {
				t.Fatalf("GFD.223 §10.4: DELETE: %d, want 200 or 204: %.300s", resp.StatusCode, body)
			}
			if s := status(t, loc); s != 404 {
				t.Errorf("GFD.223 §10.4: GET after DELETE: %d, want 404", s)
			}
			if contains(list(t, location(t, kindCompute)), loc) {
				t.Errorf("GFD.223 §11.1: deleted %s still listed", loc)
			}
			resp, _ = do(t, "DELETE", loc, nil, nil)
			if resp.StatusCode != 404 {
				t.Errorf("GFD.223 §10.4: second DELETE: %d, want 404", resp.StatusCode)
			}
		})
	}
}

// GFD.223 §10.2.1: PUT at a client-chosen path creates the entity there.
func TestCreateByPut(t *testing.T) {
	for _, r := range renderings {
		t.Run(r.name, func(t *testing.T) {
			host := uniq("put")
			loc := location(t, kindCompute) + host
			cleanup(t, loc)
			resp, body := send(t, "PUT", loc, r, computeMsg(host))
			switch resp.StatusCode {
			case 201:
				l := resp.Header.Get("Location")
				requireAbsolute(t, "GFD.223 §10.2.1 Location", l)
				if !samePath(l, loc) {
					t.Errorf("GFD.223 §10.2.1: created at %s, asked for %s", l, loc)
				}
			case 200:
				e, err := decodeEntity(r, resp.Header, body)
				if err != nil {
					t.Fatalf("GFD.223 §10.2.1: 200 must carry the entity rendering: %v", err)
				}
				checkCompute(t, r, e, host)
			default:
				t.Fatalf("GFD.223 §10.2.1: PUT create: %d, want 201 or 200: %.300s", resp.StatusCode, body)
			}
			checkCompute(t, r, read(t, r, loc), host)
		})
	}
}

// GFD.223 §10.3.1: POST to an entity with a partial rendering updates just
// those attributes.
func TestPartialUpdate(t *testing.T) {
	for _, r := range renderings {
		t.Run(r.name, func(t *testing.T) {
			host := uniq("upd")
			loc := create(t, textPlain, computeMsg(host))
			before := read(t, textPlain, loc)
			resp, body := send(t, "POST", loc, r, message{Kind: kindCompute, Attrs: []attr{{"occi.compute.cores", 4}}})
			if resp.StatusCode != 200 && resp.StatusCode != 201 {
				t.Fatalf("GFD.223 §10.3.1: partial update: %d, want 200: %.300s", resp.StatusCode, body)
			}
			if resp.StatusCode == 200 {
				e, err := decodeEntity(r, resp.Header, body)
				if err != nil {
					t.Fatalf("GFD.223 §10.3.1: 200 must include the entity rendering: %v", err)
				}
				if v, _ := num(e.Attrs["occi.compute.cores"]); v != 4 {
					t.Errorf("GFD.223 §10.3.1: response shows cores %v, want 4", e.Attrs["occi.compute.cores"])
				}
			}
			after := read(t, textPlain, loc)
			if v, _ := num(after.Attrs["occi.compute.cores"]); v != 4 {
				t.Errorf("cores %v after update, want 4", after.Attrs["occi.compute.cores"])
			}
			for _, name := range []string{"occi.core.id", "occi.compute.hostname", "occi.core.title", "occi.compute.memory", "occi.compute.architecture"} {
				if !equalValue(before.Attrs[name], after.Attrs[name]) {
					t.Errorf("GFD.223 §10.3.1: partial update changed %s from %v to %v", name, before.Attrs[name], after.Attrs[name])
				}
			}
		})
	}
}

func equalValue(a, b any) bool {
	if x, ok := num(a); ok {
		y, ok := num(b)
		return ok && x == y
	}
	return a == b
}

// replaceRaw changes one attribute value inside a rendering exactly as read.
func replaceRaw(t *testing.T, r rendering, h http.Header, body []byte, name, oldV, newV string) (http.Header, []byte) {
	t.Helper()
	out := http.Header{}
	out.Set("Content-Type", r.mediaType)
	out.Set("Accept", r.mediaType)
	if r.json {
		var o map[string]any
		if err := json.Unmarshal(body, &o); err != nil {
			t.Fatal(err)
		}
		// GFD.226 §3.1.1 renders title (summary, id) both as members and,
		// by GFD.229's naming, as occi.core.* attributes: change both.
		n := 0
		if attrs, _ := o["attributes"].(map[string]any); attrs != nil && attrs[name] == oldV {
			attrs[name] = newV
			n++
		}
		if member := strings.TrimPrefix(name, "occi.core."); member != name && o[member] == oldV {
			o[member] = newV
			n++
		}
		if n == 0 {
			t.Fatalf("JSON rendering lacks %s=%q: %s", name, oldV, body)
		}
		b, _ := json.Marshal(o)
		return out, b
	}
	old := name + "=" + quote(oldV)
	nw := name + "=" + quote(newV)
	if r.headers {
		n := 0
		for _, k := range []string{"Category", "Link", "X-OCCI-Attribute"} {
			for _, v := range h.Values(k) {
				n += strings.Count(v, old)
				out.Add(k, strings.ReplaceAll(v, old, nw))
			}
		}
		if n != 1 {
			t.Fatalf("text/occi rendering has %s %d times", old, n)
		}
		return out, []byte("OK")
	}
	if strings.Count(string(body), old) != 1 {
		t.Fatalf("text rendering lacks %s: %s", old, body)
	}
	return out, []byte(strings.Replace(string(body), old, nw, 1))
}

// GFD.223 §10.2.2 and the README interop note: a client PUTs an entity back
// exactly as it read it — links, mixins and immutable attributes included —
// with one attribute changed, and the server accepts it; links are left
// intact.
func TestFullReplaceRoundTrip(t *testing.T) {
	netLoc := create(t, textPlain, message{Kind: kindNetwork, Attrs: []attr{{"occi.core.title", uniq("rtnet")}}})
	tpls := templates(t, mixinOSTpl)
	for _, r := range renderings {
		t.Run(r.name, func(t *testing.T) {
			host := uniq("rt")
			m := computeMsg(host)
			if len(tpls) > 0 {
				m.Mixins = []string{tpls[0].ID()}
			}
			m.Links = []linkSpec{{Target: netLoc, TargetKind: kindNetwork, Kind: kindNetworkInterface}}
			loc := create(t, textPlain, m)
			before := read(t, textPlain, loc)
			if len(before.Links) != 1 {
				t.Fatalf("GFD.229 §5.1.1: compute with one inline link renders %d links", len(before.Links))
			}
			resp, body := do(t, "GET", loc, accept(r.mediaType), nil)
			if resp.StatusCode != 200 {
				t.Fatalf("GET: %d", resp.StatusCode)
			}
			newTitle := uniq("renamed")
			h, b := replaceRaw(t, r, resp.Header, body, "occi.core.title", host, newTitle)
			resp, body = do(t, "PUT", loc, h, b)
			if resp.StatusCode != 200 && resp.StatusCode != 201 {
				t.Fatalf("GFD.223 §10.2.2: PUT back what was read (one attribute changed): %d, want 200: %.400s", resp.StatusCode, body)
			}
			after := read(t, textPlain, loc)
			if after.str("occi.core.title") != newTitle {
				t.Errorf("GFD.223 §10.2.2: title %q after replace, want %q", after.str("occi.core.title"), newTitle)
			}
			for _, name := range []string{"occi.core.id", "occi.compute.hostname", "occi.compute.cores", "occi.compute.state"} {
				if !equalValue(before.Attrs[name], after.Attrs[name]) {
					t.Errorf("%s changed from %v to %v", name, before.Attrs[name], after.Attrs[name])
				}
			}
			if len(after.Links) != 1 || !samePath(after.Links[0].Target, netLoc) || !samePath(after.Links[0].Self, before.Links[0].Self) {
				t.Errorf("GFD.223 §10.2.2: links must be left intact; before %+v, after %+v", before.Links, after.Links)
			}
			if len(tpls) > 0 && !after.hasMixin(tpls[0].ID()) {
				t.Errorf("replace dropped mixin %s", tpls[0].ID())
			}
		})
	}
}

// GFD.224 §3.2, §3.3: network and storage are created, read and deleted like
// compute, with their own attributes; IPNetwork mixin attributes are kept.
func TestNetworkAndStorage(t *testing.T) {
	for _, r := range renderings {
		t.Run(r.name, func(t *testing.T) {
			title := uniq("net")
			n := create(t, r, message{Kind: kindNetwork, Mixins: []string{mixinIPNetwork}, Attrs: []attr{
				{"occi.core.title", title}, {"occi.network.vlan", 42}, {"occi.network.label", "dmz"},
				{"occi.network.address", "10.1.0.0/24"}, {"occi.network.gateway", "10.1.0.1"}, {"occi.network.allocation", "static"},
			}})
			e := read(t, r, n)
			if e.Kind != kindNetwork || !e.hasMixin(mixinIPNetwork) {
				t.Errorf("network kind %q mixins %v", e.Kind, e.Mixins)
			}
			if v, _ := num(e.Attrs["occi.network.vlan"]); v != 42 {
				t.Errorf("vlan %v, want 42", e.Attrs["occi.network.vlan"])
			}
			for k, v := range map[string]string{"occi.core.title": title, "occi.network.label": "dmz", "occi.network.address": "10.1.0.0/24", "occi.network.gateway": "10.1.0.1", "occi.network.allocation": "static"} {
				if e.str(k) != v {
					t.Errorf("GFD.224 §3.2: %s = %v, want %q", k, e.Attrs[k], v)
				}
			}
			if s := e.str("occi.network.state"); s != "active" && s != "inactive" {
				t.Errorf("GFD.224 §3.2: network state %q", s)
			}

			st := create(t, r, message{Kind: kindStorage, Attrs: []attr{{"occi.core.title", uniq("disk")}, {"occi.storage.size", 0.5}}})
			e = read(t, r, st)
			if e.Kind != kindStorage {
				t.Errorf("storage kind %q", e.Kind)
			}
			if v, _ := num(e.Attrs["occi.storage.size"]); v != 0.5 {
				t.Errorf("GFD.224 §3.3: size %v, want 0.5", e.Attrs["occi.storage.size"])
			}
			if s := e.str("occi.storage.state"); s != "online" && s != "offline" {
				t.Errorf("GFD.224 §3.3: storage state %q", s)
			}
		})
	}
}

// GFD.224 §3.5.2: credentials (ssh_key) and contextualization (user_data)
// mixins on creation; their attributes are exposed by the compute.
func TestCredentialsAndUserData(t *testing.T) {
	for _, r := range renderings {
		t.Run(r.name, func(t *testing.T) {
			key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBy8Y0b5oYh4bW8t1kq test@example"
			// Quotes, commas and semicolons must survive every rendering's quoting.
			data := `#!/bin/sh; echo "hello, world"; exit 0`
			m := computeMsg(uniq("ctx"), attr{"occi.credentials.ssh.publickey", key}, attr{"occi.compute.userdata", data})
			m.Mixins = []string{mixinSSHKey, mixinUserData}
			loc := create(t, r, m)
			e := read(t, r, loc)
			if !e.hasMixin(mixinSSHKey) || !e.hasMixin(mixinUserData) {
				t.Errorf("mixins %v, want ssh_key and user_data", e.Mixins)
			}
			if e.str("occi.credentials.ssh.publickey") != key {
				t.Errorf("GFD.224 §3.5.2: publickey %q, want %q", e.str("occi.credentials.ssh.publickey"), key)
			}
			if e.str("occi.compute.userdata") != data {
				t.Errorf("GFD.224 §3.5.2: userdata %q, want %q", e.str("occi.compute.userdata"), data)
			}
		})
	}
}

// GFD.223 §4 and §10.2.1: the provider binds kinds to locations, but a client
// may PUT an entity at a path of its choosing outside them (GFD.185's
// /vms/foo/vm1); the entity is then listed in its kind collection.
func TestCreateByPutUnboundPath(t *testing.T) {
	host := uniq("vm")
	loc := base(t) + "/" + uniq("users") + "/compute/" + host
	cleanup(t, loc)
	resp, body := send(t, "PUT", loc, textPlain, computeMsg(host))
	if resp.StatusCode != 201 && resp.StatusCode != 200 {
		t.Fatalf("GFD.223 §10.2.1: PUT at %s: %d, want 201: %.300s", loc, resp.StatusCode, body)
	}
	checkCompute(t, textPlain, read(t, textPlain, loc), host)
	if !contains(list(t, location(t, kindCompute)), loc) {
		t.Errorf("GFD.223 §11.1: %s not listed in the compute collection", loc)
	}
}

// GFD.223 §10.2.2: "Any OCCI Links associated with an existing OCCI Resource
// MUST be left intact" by a replacing PUT, even one that lists no links.
func TestReplaceKeepsLinks(t *testing.T) {
	net := create(t, textPlain, message{Kind: kindNetwork, Attrs: []attr{{"occi.core.title", uniq("kl")}}})
	host := uniq("kl")
	m := computeMsg(host)
	m.Links = []linkSpec{{Target: net, TargetKind: kindNetwork, Kind: kindNetworkInterface}}
	loc := create(t, textPlain, m)
	before := read(t, textPlain, loc)
	for _, r := range renderings {
		resp, body := send(t, "PUT", loc, r, computeMsg(host, attr{"occi.core.summary", "replaced in " + r.name}))
		if resp.StatusCode != 200 && resp.StatusCode != 201 {
			t.Fatalf("GFD.223 §10.2.2: PUT replace (%s): %d: %.300s", r.name, resp.StatusCode, body)
		}
		after := read(t, textPlain, loc)
		if after.str("occi.core.summary") != "replaced in "+r.name {
			t.Errorf("replace (%s) did not apply: summary %q", r.name, after.str("occi.core.summary"))
		}
		if len(after.Links) != 1 || after.Links[0].Self != before.Links[0].Self {
			t.Errorf("GFD.223 §10.2.2 (%s): links after a replace without links: %+v, want %+v", r.name, after.Links, before.Links)
		}
		if after.str("occi.core.id") != before.str("occi.core.id") {
			t.Errorf("replace changed occi.core.id")
		}
	}
}

// GFD.223 §10.3.2 / §5.4: an action on an entity that does not exist is 404.
func TestActionOnMissingEntity(t *testing.T) {
	loc := location(t, kindCompute) + uniq("ghost")
	resp, body := act(t, textPlain, loc, computeAction+"start")
	clientError(t, "start a missing compute", resp, body, 404)
	if s := status(t, loc); s != 404 {
		t.Errorf("the action created %s (%d)", loc, s)
	}
}
