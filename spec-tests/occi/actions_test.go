package occi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// newCompute creates a compute and brings it to inactive, since GFD.224
// does not say in which state a new compute starts.
func newCompute(t *testing.T, prefix string) string {
	t.Helper()
	loc := create(t, textPlain, computeMsg(uniq(prefix)))
	e := read(t, textPlain, loc)
	if e.str("occi.compute.state") == "active" {
		resp, body := act(t, textPlain, loc, computeAction+"stop")
		if resp.StatusCode != 200 {
			t.Fatalf("GFD.223 §10.3.2: stop a new active compute: %d: %.300s", resp.StatusCode, body)
		}
	}
	waitAttr(t, loc, "occi.compute.state", "inactive")
	return loc
}

// checkApplicable: GFD.229 §5.1.1 — the rendering lists the actions that can
// be invoked now (as absolute action URIs, GFD.229 §4.2 action-uri = URI
// "?action=" term), and not the ones the state machine forbids.
func checkApplicable(t *testing.T, loc string, want, notWant []string) {
	t.Helper()
	for _, r := range renderings {
		e := read(t, r, loc)
		for _, a := range want {
			if !e.hasAction(a) {
				t.Errorf("GFD.229 §5.1.1 (%s): state %s, action %s not listed (have %v)", r.name, e.str("occi.compute.state"), a, e.Actions)
			}
		}
		for _, a := range notWant {
			if e.hasAction(a) {
				t.Errorf("(%s): state %s, action %s listed though not applicable", r.name, e.str("occi.compute.state"), a)
			}
		}
		for id, href := range e.ActionHref {
			requireAbsolute(t, "GFD.229 §4.2 action URI", href)
			_, term := splitID(id)
			if !strings.HasSuffix(href, "?action="+term) || !samePath(href, loc) {
				t.Errorf("GFD.229 §4.2: action %s href %q, want %s?action=%s", id, href, loc, term)
			}
		}
	}
}

func invoke(t *testing.T, r rendering, loc, action string, attrs ...attr) {
	t.Helper()
	resp, body := act(t, r, loc, action, attrs...)
	if resp.StatusCode != 200 {
		t.Fatalf("GFD.223 §10.3.2: %s (%s): %d, want 200: %.300s", action, r.name, resp.StatusCode, body)
	}
}

// GFD.224 §3.1, Table 3 and Figure 2: start, stop, restart, suspend on a
// compute, invoked with POST ?action=term (GFD.223 §10.3.2) in every
// rendering; the state follows the table (polled for a bounded time).
func TestComputeStateMachine(t *testing.T) {
	for _, r := range renderings {
		t.Run(r.name, func(t *testing.T) {
			loc := newCompute(t, "sm")
			checkApplicable(t, loc, []string{computeAction + "start"}, []string{computeAction + "stop", computeAction + "suspend", computeAction + "restart"})

			invoke(t, r, loc, computeAction+"start")
			waitAttr(t, loc, "occi.compute.state", "active")
			checkApplicable(t, loc, []string{computeAction + "stop", computeAction + "restart", computeAction + "suspend", computeAction + "save"}, []string{computeAction + "start"})

			invoke(t, r, loc, computeAction+"restart", attr{"method", "warm"})
			waitAttr(t, loc, "occi.compute.state", "active")

			invoke(t, r, loc, computeAction+"suspend", attr{"method", "suspend"})
			waitAttr(t, loc, "occi.compute.state", "suspended")
			checkApplicable(t, loc, []string{computeAction + "start"}, []string{computeAction + "suspend"})

			invoke(t, r, loc, computeAction+"start")
			waitAttr(t, loc, "occi.compute.state", "active")

			invoke(t, r, loc, computeAction+"stop", attr{"method", "poweroff"})
			waitAttr(t, loc, "occi.compute.state", "inactive")
		})
	}
}

// GFD.224 §3.1 Figure 2 with GFD.223 §5.4 (409 Conflict: "conflict with the
// current state of the resource"): an action the state machine does not
// allow now is refused and changes nothing.
func TestActionNotAllowedInState(t *testing.T) {
	loc := newCompute(t, "deny")
	before := read(t, textPlain, loc)
	for _, r := range renderings {
		for _, a := range []string{computeAction + "suspend", computeAction + "stop"} {
			resp, body := act(t, r, loc, a)
			clientError(t, "suspend/stop an inactive compute ("+r.name+")", resp, body, http.StatusConflict)
		}
	}
	after := read(t, textPlain, loc)
	if after.str("occi.compute.state") != "inactive" {
		t.Errorf("refused actions changed state to %q", after.str("occi.compute.state"))
	}
	for k, v := range before.Attrs {
		if !equalValue(v, after.Attrs[k]) {
			t.Errorf("refused action changed %s from %v to %v", k, v, after.Attrs[k])
		}
	}
}

// GFD.223 §10.3.2: the action term in the query and the action category in
// the body must agree; unknown actions are refused (GFD.224 lists a kind's
// actions).
func TestActionMismatchAndUnknown(t *testing.T) {
	loc := newCompute(t, "mis")
	for _, r := range renderings {
		resp, body := send(t, "POST", loc+"?action=start", r, message{Action: computeAction + "stop"})
		clientError(t, "?action=start with a stop category ("+r.name+")", resp, body, 400)
		resp, body = send(t, "POST", loc+"?action=fly", r, message{Action: computeAction + "fly"})
		clientError(t, "unknown action fly ("+r.name+")", resp, body, 400, 404)
		resp, body = act(t, r, loc, networkAction+"up")
		clientError(t, "a network action on a compute ("+r.name+")", resp, body, 400, 404)
	}
	if s := read(t, textPlain, loc).str("occi.compute.state"); s != "inactive" {
		t.Errorf("refused actions changed state to %q", s)
	}
}

// GFD.224 §3.1: save creates an OS template of the compute; the response
// renders the new os_tpl mixin, which the query interface then lists.
func TestComputeSave(t *testing.T) {
	for _, r := range renderings {
		t.Run(r.name, func(t *testing.T) {
			loc := newCompute(t, "save")
			invoke(t, textPlain, loc, computeAction+"start")
			waitAttr(t, loc, "occi.compute.state", "active")
			name := uniq("snap")
			resp, body := act(t, r, loc, computeAction+"save", attr{"method", "hot"}, attr{"name", name})
			if resp.StatusCode != 200 {
				t.Fatalf("GFD.223 §10.3.2: save: %d, want 200: %.300s", resp.StatusCode, body)
			}
			if !r.acceptable(resp.Header.Get("Content-Type")) {
				t.Errorf("save answered Content-Type %q to Accept %s", resp.Header.Get("Content-Type"), r.mediaType)
			}
			var tpl category
			if r.json {
				var o map[string]any
				if err := json.Unmarshal(body, &o); err != nil {
					t.Fatalf("GFD.226 §3.2.2: save response is not a JSON mixin: %v: %.300s", err, body)
				}
				if ms, ok := o["mixins"].([]any); ok && len(ms) == 1 {
					o, _ = ms[0].(map[string]any)
				}
				tpl = parseJSONCategory(o, "mixin")
			} else {
				cats, err := decodeCategories(r, resp.Header, body)
				if err != nil || len(cats) != 1 {
					t.Fatalf("GFD.229 §5.2.2: save response must render one mixin: %v %+v: %.300s", err, cats, body)
				}
				tpl = cats[0]
			}
			if tpl.Class != "mixin" || !containsStr(tpl.Rel, mixinOSTpl) || tpl.Location == "" || tpl.Term == "" {
				t.Fatalf("GFD.224 §3.1: save must render an os_tpl mixin with a location; got %+v", tpl)
			}
			t.Cleanup(func() {
				h, b := textPlain.encode(message{Category: &category{Term: tpl.Term, Scheme: tpl.Scheme, Class: "mixin"}})
				do(t, "DELETE", base(t)+"/-/", h, b)
				forgetModel()
			})
			forgetModel()
			if _, ok := model(t)[tpl.ID()]; !ok {
				t.Errorf("saved template %s is not in the query interface", tpl.ID())
			}
			if s := status(t, abs(t, tpl.Location)); s != 200 {
				t.Errorf("GFD.223 §11.1: the saved template's collection %s answers %d", tpl.Location, s)
			}
			// save returns the compute to active (Table 3).
			waitAttr(t, loc, "occi.compute.state", "active")
			// The new template can be used to create a compute.
			m := computeMsg(uniq("fromsave"))
			m.Mixins = []string{tpl.ID()}
			c := create(t, textPlain, m)
			if !read(t, textPlain, c).hasMixin(tpl.ID()) {
				t.Errorf("compute created from saved template does not carry it")
			}
		})
	}
}

// GFD.224 §3.2 Table 5: network up/down.
func TestNetworkUpDown(t *testing.T) {
	for _, r := range renderings {
		t.Run(r.name, func(t *testing.T) {
			loc := create(t, textPlain, message{Kind: kindNetwork, Attrs: []attr{{"occi.core.title", uniq("updown")}}})
			invoke(t, r, loc, networkAction+"down")
			waitAttr(t, loc, "occi.network.state", "inactive")
			invoke(t, r, loc, networkAction+"up")
			waitAttr(t, loc, "occi.network.state", "active")
			e := read(t, r, loc)
			if !e.hasAction(networkAction + "down") {
				t.Errorf("active network does not list down: %v", e.Actions)
			}
		})
	}
}

// GFD.224 §3.3 Table 8: storage online/offline; GFD.184 (OCCI 1.1) §3.3
// Table 9: backup, snapshot and resize are still accepted from 1.1 clients.
func TestStorageActions(t *testing.T) {
	for _, r := range renderings {
		t.Run(r.name, func(t *testing.T) {
			loc := create(t, textPlain, message{Kind: kindStorage, Attrs: []attr{{"occi.core.title", uniq("sto")}, {"occi.storage.size", 1.0}}})
			invoke(t, r, loc, storageAction+"offline")
			waitAttr(t, loc, "occi.storage.state", "offline")
			invoke(t, r, loc, storageAction+"online")
			waitAttr(t, loc, "occi.storage.state", "online")
			invoke(t, r, loc, storageAction+"backup")
			invoke(t, r, loc, storageAction+"snapshot")
			invoke(t, r, loc, storageAction+"resize", attr{"size", 2.0})
			waitAttr(t, loc, "occi.storage.state", "online")
			if v, _ := num(read(t, textPlain, loc).Attrs["occi.storage.size"]); v != 2 {
				t.Errorf("GFD.184 §3.3: resize size=2.0 left occi.storage.size %v", v)
			}
		})
	}
}
