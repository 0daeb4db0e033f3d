package occi_test

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/occicdmi/occicdmi/spec-tests/harness"
)

// userMixin defines a user mixin on the query interface (GFD.223 §9.3,
// GFD.185 §3.4.2 "Adding a Mixin Definition") and removes it at the end.
func userMixin(t *testing.T, r rendering) category {
	t.Helper()
	term := uniq("tag")
	c := category{Term: term, Scheme: "http://example.com/occi/tags#", Class: "mixin", Title: "tag " + term, Location: "/tags/" + term + "/"}
	resp, body := send(t, "POST", base(t)+"/-/", r, message{Category: &c})
	if resp.StatusCode != 200 {
		t.Fatalf("GFD.223 §9.3: POST user mixin on /-/ (%s): %d, want 200: %.300s", r.name, resp.StatusCode, body)
	}
	forgetModel()
	t.Cleanup(func() {
		h, b := textPlain.encode(message{Category: &category{Term: c.Term, Scheme: c.Scheme, Class: "mixin"}})
		do(t, "DELETE", base(t)+"/-/", h, b)
		forgetModel()
	})
	return c
}

func tagged(t *testing.T, c category) []string {
	t.Helper()
	return list(t, abs(t, c.Location))
}

// GFD.223 §9.3/§9.4 and GFD.185 §3.4.2: user mixins are added and removed on
// the query interface in every rendering; removal drops the associations.
func TestUserMixinLifecycle(t *testing.T) {
	for _, r := range renderings {
		t.Run(r.name, func(t *testing.T) {
			c := userMixin(t, r)
			got, ok := model(t)[c.ID()]
			if !ok {
				t.Fatalf("GFD.223 §9.3: user mixin %s not in the query interface", c.ID())
			}
			if got.Class != "mixin" || !samePath(abs(t, got.Location), abs(t, c.Location)) {
				t.Errorf("user mixin rendered as %+v", got)
			}
			if l := tagged(t, c); len(l) != 0 {
				t.Errorf("new mixin collection lists %v", l)
			}
			m := computeMsg(uniq("um"))
			m.Mixins = []string{c.ID()}
			loc := create(t, textPlain, m)
			if !read(t, r, loc).hasMixin(c.ID()) {
				t.Errorf("GFD.221 §5.4.1: compute created with the mixin does not carry it (%s)", r.name)
			}
			if !contains(tagged(t, c), loc) {
				t.Errorf("GFD.223 §11.1: mixin collection does not list %s", loc)
			}
			resp, body := send(t, "DELETE", base(t)+"/-/", r, message{Category: &category{Term: c.Term, Scheme: c.Scheme, Class: "mixin"}})
			if resp.StatusCode != 200 {
				t.Fatalf("GFD.223 §9.4: DELETE user mixin (%s): %d, want 200: %.300s", r.name, resp.StatusCode, body)
			}
			forgetModel()
			if _, ok := model(t)[c.ID()]; ok {
				t.Errorf("GFD.223 §9.4: deleted mixin still in the query interface")
			}
			if read(t, textPlain, loc).hasMixin(c.ID()) {
				t.Errorf("GFD.185 §3.4.2: removing a user mixin must remove its associations")
			}
			if s := status(t, abs(t, c.Location)); s != 404 {
				t.Errorf("deleted mixin's location answers %d, want 404", s)
			}
		})
	}
}

// GFD.185 §3.4.2: provider mixins cannot be removed: 403.
func TestProviderMixinDelete403(t *testing.T) {
	ids := []string{mixinIPNetwork, mixinOSTpl}
	for _, tpl := range templates(t, mixinOSTpl) {
		ids = append(ids, tpl.ID())
		break
	}
	for _, r := range renderings {
		for _, id := range ids {
			s, term := splitID(id)
			resp, body := send(t, "DELETE", base(t)+"/-/", r, message{Category: &category{Term: term, Scheme: s, Class: "mixin"}})
			clientError(t, "DELETE provider mixin "+id+" ("+r.name+")", resp, body, 403)
		}
	}
	forgetModel()
	for _, id := range ids {
		if _, ok := model(t)[id]; !ok {
			t.Errorf("provider mixin %s vanished after a refused DELETE", id)
		}
	}
}

// GFD.223 §11.3.2, §11.2, §11.4.2 (GFD.185 §3.4.3): a mixin collection works
// as a tag: POST adds entities, PUT replaces the membership, DELETE removes.
func TestMixinCollectionAsTag(t *testing.T) {
	for _, r := range textRenderings {
		t.Run(r.name, func(t *testing.T) {
			c := userMixin(t, textPlain)
			col := abs(t, c.Location)
			a := create(t, textPlain, computeMsg(uniq("tg")))
			b := create(t, textPlain, computeMsg(uniq("tg")))
			n := create(t, textPlain, message{Kind: kindNetwork, Attrs: []attr{{"occi.core.title", uniq("tgn")}}})

			resp, body := send(t, "POST", col, r, message{Locations: []string{a, n}})
			if resp.StatusCode != 200 {
				t.Fatalf("GFD.223 §11.3.2: POST to mixin collection: %d, want 200: %.300s", resp.StatusCode, body)
			}
			if l := tagged(t, c); !contains(l, a) || !contains(l, n) || contains(l, b) || len(l) != 2 {
				t.Errorf("after POST {a, n}: %v", l)
			}
			if !read(t, textPlain, a).hasMixin(c.ID()) {
				t.Errorf("tagged compute does not carry the mixin")
			}

			resp, body = send(t, "PUT", col, r, message{Locations: []string{b}})
			if resp.StatusCode != 200 {
				t.Fatalf("GFD.223 §11.2: PUT mixin collection: %d, want 200: %.300s", resp.StatusCode, body)
			}
			if l := tagged(t, c); !contains(l, b) || len(l) != 1 {
				t.Errorf("after PUT {b}: %v", l)
			}
			if read(t, textPlain, a).hasMixin(c.ID()) {
				t.Errorf("GFD.223 §11.2: PUT must remove entities not listed")
			}

			resp, body = send(t, "DELETE", col, r, message{Locations: []string{b}})
			if resp.StatusCode != 200 {
				t.Fatalf("GFD.223 §11.4.2: DELETE from mixin collection: %d, want 200: %.300s", resp.StatusCode, body)
			}
			if l := tagged(t, c); len(l) != 0 {
				t.Errorf("after DELETE {b}: %v", l)
			}
			// Disassociation never deletes the entities.
			for _, l := range []string{a, b, n} {
				if s := status(t, l); s != 200 {
					t.Errorf("GFD.223 §11.4.2: %s answers %d after disassociation", l, s)
				}
			}
		})
	}
}

// GFD.223 §11.3.2 with GFD.226 §3.3.1: in JSON the entity collection posted
// to a mixin collection is {"resources": [...]}, entries as read.
func TestMixinCollectionJSON(t *testing.T) {
	c := userMixin(t, occiJSON)
	a := create(t, textPlain, computeMsg(uniq("tgj")))
	resp, body := do(t, "GET", a, accept("application/occi+json"), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET: %d", resp.StatusCode)
	}
	resp, body = send(t, "POST", abs(t, c.Location), occiJSON, message{Resources: []json.RawMessage{body}})
	if resp.StatusCode != 200 {
		t.Fatalf("GFD.223 §11.3.2: POST {resources} to a mixin collection: %d: %.300s", resp.StatusCode, body)
	}
	if !contains(tagged(t, c), a) {
		t.Errorf("JSON association did not tag %s", a)
	}
}

// GFD.223 §11.3.3: an action on a mixin collection applies to its members
// only.
func TestMixinCollectionAction(t *testing.T) {
	c := userMixin(t, textPlain)
	a := newCompute(t, "tga")
	b := newCompute(t, "tgb")
	resp, body := send(t, "POST", abs(t, c.Location), textPlain, message{Locations: []string{a}})
	if resp.StatusCode != 200 {
		t.Fatalf("tag: %d: %.200s", resp.StatusCode, body)
	}
	for _, r := range renderings {
		invoke(t, r, abs(t, c.Location), computeAction+"start")
		waitAttr(t, a, "occi.compute.state", "active")
		invoke(t, r, abs(t, c.Location), computeAction+"stop")
		waitAttr(t, a, "occi.compute.state", "inactive")
	}
	if s := read(t, textPlain, b).str("occi.compute.state"); s != "inactive" {
		t.Errorf("GFD.223 §11.3.3: an untagged compute went %q", s)
	}
}

// GFD.223 §11.3.3 with GFD.224's actions: an action no member of the
// collection could define is refused (400), even when the collection has
// no member to refuse it: an empty mixin collection, and a network action
// on the compute collection (empty or not).
func TestCollectionActionUnknown(t *testing.T) {
	c := userMixin(t, textPlain)
	for _, r := range renderings {
		resp, body := send(t, "POST", abs(t, c.Location)+"?action=fly", r, message{Action: computeAction + "fly"})
		clientError(t, "unknown action fly on an empty mixin collection ("+r.name+")", resp, body, 400)
		resp, body = act(t, r, location(t, kindCompute), networkAction+"up")
		clientError(t, "a network action on the compute collection ("+r.name+")", resp, body, 400)
	}
	resp, body := act(t, textPlain, abs(t, c.Location), computeAction+"start")
	if resp.StatusCode != 200 {
		t.Errorf("GFD.223 §11.3.3: a kind's action on an empty mixin collection: %d: %.200s", resp.StatusCode, body)
	}
}

// GFD.224 §3.5.1/§3.5.2: associating a second os_tpl (resource_tpl) removes
// the first at once; a resource template's defaults are taken on.
func TestTemplateReplacement(t *testing.T) {
	for _, tplKind := range []string{mixinOSTpl, mixinResourceTpl} {
		tpls := templates(t, tplKind)
		if len(tpls) < 2 {
			if harness.External() {
				t.Skipf("the server offers %d %s templates; two are needed", len(tpls), tplKind)
			}
			t.Fatalf("GFD.224 §3.5: the built-in catalogue offers %d %s templates; the suite needs two", len(tpls), tplKind)
		}
		for _, r := range renderings {
			m := computeMsg(uniq("tpl"))
			m.Mixins = []string{tpls[0].ID()}
			loc := create(t, textPlain, m)
			resp, body := send(t, "POST", loc, r, message{Kind: kindCompute, Mixins: []string{tpls[1].ID()}})
			if resp.StatusCode != 200 && resp.StatusCode != 201 {
				t.Fatalf("GFD.224 §3.5 (%s): associate a second template: %d: %.300s", r.name, resp.StatusCode, body)
			}
			e := read(t, textPlain, loc)
			if e.hasMixin(tpls[0].ID()) || !e.hasMixin(tpls[1].ID()) {
				t.Errorf("GFD.224 §3.5 (%s): after associating %s the mixins are %v", r.name, tpls[1].ID(), e.Mixins)
			}
		}
	}
	// Resource template defaults (from the JSON query interface).
	j := byID(queryInterface(t, occiJSON, "/-/", nil))
	for _, tpl := range templates(t, mixinResourceTpl) {
		loc := create(t, textPlain, message{Kind: kindCompute, Mixins: []string{tpl.ID()}, Attrs: []attr{{"occi.core.title", uniq("rtd")}}})
		e := read(t, textPlain, loc)
		for name, d := range j[tpl.ID()].Attrs {
			if d.HasDefault && !equalValue(d.Default, e.Attrs[name]) {
				t.Errorf("GFD.221 §5.3.7: compute with %s has %s=%v, template default %v", tpl.ID(), name, e.Attrs[name], d.Default)
			}
		}
	}
}

// GFD.221 §5.3.1 (scheme+term identify a category) and GFD.223 §4 (locations
// are unique): a user mixin may not take a provider category's identity or a
// kind's location; the query interface is unchanged after the refusal.
func TestUserMixinCollisions(t *testing.T) {
	cl, err := urlPath(location(t, kindCompute))
	if err != nil {
		t.Fatal(err)
	}
	osScheme, osTerm := splitID(mixinOSTpl)
	for _, c := range []category{
		{Term: uniq("tag"), Scheme: "http://example.com/occi/tags#", Class: "mixin", Location: cl},
		{Term: osTerm, Scheme: osScheme, Class: "mixin", Location: "/" + uniq("tags") + "/"},
	} {
		forgetModel()
		n := len(model(t))
		resp, body := send(t, "POST", base(t)+"/-/", textPlain, message{Category: &c})
		clientError(t, "user mixin colliding with "+c.Scheme+c.Term+" at "+c.Location, resp, body, 400, 409)
		forgetModel()
		if len(model(t)) != n {
			t.Errorf("a refused mixin definition changed the query interface")
		}
		if _, ok := model(t)[kindCompute]; !ok {
			t.Fatalf("the compute kind vanished")
		}
	}
	if s := status(t, location(t, kindCompute)); s != 200 {
		t.Errorf("compute collection answers %d", s)
	}
	if got := model(t)[mixinOSTpl]; got.Location == "" {
		t.Errorf("os_tpl lost its location")
	}
}

func urlPath(u string) (string, error) {
	p, err := url.Parse(u)
	if err != nil {
		return "", err
	}
	return p.Path, nil
}
