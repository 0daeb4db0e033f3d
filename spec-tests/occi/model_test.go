package occi_test

import (
	"net/http"
	"sort"
	"strings"
	"testing"
)

// want describes what GFD.224's tables say about one attribute. required is
// checked only where the tables leave no doubt: a client-supplied value of
// multiplicity 1 (storage size, link source/target, credentials, user data)
// must be required, and an optional (0..1) one must not.
type want struct {
	anyMutability bool // GFD.221 Table 8 says mutable, GFD.226 Table 4 immutable
	mutable       bool
	required      *bool
	jsonType      string
	enum          []string
}

var (
	yes = func() *bool { b := true; return &b }()
	no  = func() *bool { b := false; return &b }()
)

var modelTables = []struct {
	id, class, parent, rel string // rel: the mixin's depends (text rel)
	applies                string
	location               bool
	attrs                  map[string]want
	actions                []string
}{
	// GFD.224 §3.1, Table 2 and Table 3.
	{id: kindCompute, class: "kind", parent: kindResource, location: true, attrs: map[string]want{
		"occi.compute.architecture":  {mutable: true, required: no, jsonType: "string", enum: []string{"x86", "x64"}},
		"occi.compute.cores":         {mutable: true, required: no, jsonType: "number"},
		"occi.compute.hostname":      {mutable: true, required: no, jsonType: "string"},
		"occi.compute.share":         {mutable: true, required: no, jsonType: "number"},
		"occi.compute.memory":        {mutable: true, required: no, jsonType: "number"},
		"occi.compute.state":         {mutable: false, required: no, jsonType: "string", enum: []string{"active", "inactive", "suspended", "error"}},
		"occi.compute.state.message": {mutable: false, required: no, jsonType: "string"},
	}, actions: []string{computeAction + "start", computeAction + "stop", computeAction + "restart", computeAction + "suspend", computeAction + "save"}},
	// GFD.224 §3.2, Tables 4 and 5.
	{id: kindNetwork, class: "kind", parent: kindResource, location: true, attrs: map[string]want{
		"occi.network.vlan":          {mutable: true, required: no, jsonType: "number"},
		"occi.network.label":         {mutable: true, required: no, jsonType: "string"},
		"occi.network.state":         {mutable: false, required: no, jsonType: "string", enum: []string{"active", "inactive", "error"}},
		"occi.network.state.message": {mutable: false, required: no, jsonType: "string"},
	}, actions: []string{networkAction + "up", networkAction + "down"}},
	// GFD.224 §3.2.1, Table 6.
	{id: mixinIPNetwork, class: "mixin", applies: kindNetwork, location: true, attrs: map[string]want{
		"occi.network.address":    {mutable: true, required: no, jsonType: "string"},
		"occi.network.gateway":    {mutable: true, required: no, jsonType: "string"},
		"occi.network.allocation": {mutable: true, required: no, jsonType: "string", enum: []string{"dynamic", "static"}},
	}},
	// GFD.224 §3.3, Tables 7 and 8.
	{id: kindStorage, class: "kind", parent: kindResource, location: true, attrs: map[string]want{
		"occi.storage.size":          {mutable: true, required: yes, jsonType: "number"},
		"occi.storage.state":         {mutable: false, required: no, jsonType: "string", enum: []string{"online", "offline", "error"}},
		"occi.storage.state.message": {mutable: false, required: no, jsonType: "string"},
	}, actions: []string{storageAction + "online", storageAction + "offline"}},
	// GFD.224 §3.4.1, Table 9.
	{id: kindNetworkInterface, class: "kind", parent: kindLink, location: true, attrs: map[string]want{
		"occi.networkinterface.interface":     {mutable: false, jsonType: "string"},
		"occi.networkinterface.mac":           {mutable: true, jsonType: "string"},
		"occi.networkinterface.state":         {mutable: false, required: no, jsonType: "string", enum: []string{"active", "inactive", "error"}},
		"occi.networkinterface.state.message": {mutable: false, required: no, jsonType: "string"},
	}},
	// GFD.224 §3.4.1, Table 10.
	{id: mixinIPNetworkInterface, class: "mixin", applies: kindNetworkInterface, location: true, attrs: map[string]want{
		"occi.networkinterface.address":    {mutable: true, jsonType: "string"},
		"occi.networkinterface.gateway":    {mutable: true, required: no, jsonType: "string"},
		"occi.networkinterface.allocation": {mutable: true, jsonType: "string", enum: []string{"dynamic", "static"}},
	}},
	// GFD.224 §3.4.2, Table 11.
	{id: kindStorageLink, class: "kind", parent: kindLink, location: true, attrs: map[string]want{
		"occi.storagelink.deviceid":      {mutable: true, jsonType: "string"},
		"occi.storagelink.mountpoint":    {mutable: true, required: no, jsonType: "string"},
		"occi.storagelink.state":         {mutable: false, required: no, jsonType: "string", enum: []string{"active", "inactive", "error"}},
		"occi.storagelink.state.message": {mutable: false, required: no, jsonType: "string"},
	}},
	// GFD.224 §3.5.1 and §3.5.2: the two template mixins.
	{id: mixinOSTpl, class: "mixin", location: true},
	{id: mixinResourceTpl, class: "mixin", location: true},
	// GFD.224 §3.5.2, Credentials Mixin, Table 12.
	{id: mixinSSHKey, class: "mixin", applies: kindCompute, location: true, attrs: map[string]want{
		"occi.credentials.ssh.publickey": {mutable: true, required: yes, jsonType: "string"},
	}},
	// GFD.224 §3.5.2, Contextualization Mixin, Table 13.
	{id: mixinUserData, class: "mixin", applies: kindCompute, location: true, attrs: map[string]want{
		"occi.compute.userdata": {mutable: true, required: yes, jsonType: "string"},
	}},
	// GFD.221 §5.4: the core kinds. Entity cannot be instantiated and so has
	// no location (GFD.223 §4).
	{id: kindEntity, class: "kind", attrs: map[string]want{
		"occi.core.id":    {mutable: false, jsonType: "string"},
		"occi.core.title": {mutable: true, required: no, jsonType: "string"},
	}},
	{id: kindResource, class: "kind", parent: kindEntity, attrs: map[string]want{
		"occi.core.summary": {mutable: true, required: no, jsonType: "string"},
	}},
	{id: kindLink, class: "kind", parent: kindEntity, attrs: map[string]want{
		"occi.core.source": {required: yes, anyMutability: true, jsonType: "string"},
		"occi.core.target": {required: yes, anyMutability: true, jsonType: "string"},
	}},
}

// actionTables: GFD.224 Tables 3, 5 and 8; the method/name attributes.
var actionTables = map[string]map[string][]string{
	computeAction + "start":   {},
	computeAction + "stop":    {"method": {"graceful", "acpioff", "poweroff"}},
	computeAction + "restart": {"method": {"graceful", "warm", "cold"}},
	computeAction + "suspend": {"method": {"hibernate", "suspend"}},
	computeAction + "save":    {"method": {"hot", "deferred"}, "name": nil},
	networkAction + "up":      {},
	networkAction + "down":    {},
	storageAction + "online":  {},
	storageAction + "offline": {},
}

func queryInterface(t *testing.T, r rendering, path string, h http.Header) []category {
	t.Helper()
	if h == nil {
		h = http.Header{}
	}
	h.Set("Accept", r.mediaType)
	resp, body := do(t, "GET", base(t)+path, h, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GFD.223 §9.1: GET %s (%s): %d, want 200: %.300s", path, r.name, resp.StatusCode, body)
	}
	if !r.acceptable(resp.Header.Get("Content-Type")) {
		t.Errorf("GFD.223 §5.2: GET %s asked for %s, got Content-Type %q", path, r.mediaType, resp.Header.Get("Content-Type"))
	}
	cats, err := decodeCategories(r, resp.Header, body)
	if err != nil {
		t.Fatalf("GET %s (%s): %v", path, r.name, err)
	}
	return cats
}

func byID(cats []category) map[string]category {
	m := map[string]category{}
	for _, c := range cats {
		m[c.ID()] = c
	}
	return m
}

// GFD.223 §9 (query interface at /-/ and the RFC 5785 well-known path),
// GFD.224 Tables 1-13: every kind, mixin and action of Core and
// Infrastructure is discoverable, with its attributes, in every rendering.
func TestQueryInterfaceModel(t *testing.T) {
	for _, path := range []string{"/-/", "/.well-known/org/ogf/occi/-/"} {
		for _, r := range renderings {
			t.Run(path+" "+r.name, func(t *testing.T) {
				cats := byID(queryInterface(t, r, path, nil))
				for _, tb := range modelTables {
					c, ok := cats[tb.id]
					if !ok {
						t.Errorf("GFD.224: %s missing from %s", tb.id, path)
						continue
					}
					if c.Class != tb.class {
						t.Errorf("%s: class %q, want %q", tb.id, c.Class, tb.class)
					}
					if tb.class == "kind" && tb.parent != "" && (len(c.Rel) == 0 || c.Rel[0] != tb.parent) {
						t.Errorf("GFD.224 §3 / GFD.221 §5.3.3: %s parent (rel) %v, want %s", tb.id, c.Rel, tb.parent)
					}
					if tb.location && c.Location == "" {
						t.Errorf("GFD.223 §4: %s has no location", tb.id)
					}
					if tb.id == kindEntity && c.Location != "" {
						t.Errorf("GFD.223 §4: Entity cannot be instantiated, must not be bound to a location (has %q)", c.Location)
					}
					if r.json && tb.applies != "" && !containsStr(c.Applies, tb.applies) {
						t.Errorf("GFD.224: %s applies %v, want %s", tb.id, c.Applies, tb.applies)
					}
					for name, w := range tb.attrs {
						d, ok := c.Attrs[name]
						if !ok {
							t.Errorf("GFD.224: %s lacks attribute %s", tb.id, name)
							continue
						}
						if !w.anyMutability && d.Mutable != w.mutable {
							t.Errorf("GFD.224: %s.%s mutable=%v, want %v (immutable in the table: %v)", tb.id, name, d.Mutable, w.mutable, !w.mutable)
						}
						if w.required != nil && d.Required != *w.required {
							t.Errorf("GFD.224/GFD.221 §5.3.2: %s.%s required=%v, want %v", tb.id, name, d.Required, *w.required)
						}
						if r.json {
							if d.Type != w.jsonType {
								t.Errorf("GFD.226 §3.5.1: %s.%s type %q, want %q", tb.id, name, d.Type, w.jsonType)
							}
							checkEnum(t, tb.id+"."+name, d, w.enum)
						}
					}
					for _, a := range tb.actions {
						if !containsStr(c.Actions, a) {
							t.Errorf("GFD.224: %s does not list action %s (has %v)", tb.id, a, c.Actions)
						}
					}
				}
				for id, attrs := range actionTables {
					c, ok := cats[id]
					if !ok {
						t.Errorf("GFD.224: action %s missing from %s", id, path)
						continue
					}
					if c.Class != "action" {
						t.Errorf("%s: class %q, want action", id, c.Class)
					}
					if !r.json {
						continue // GFD.229 renders no attributes for actions' own parameters beyond names
					}
					for name, enum := range attrs {
						d, ok := c.Attrs[name]
						if !ok {
							t.Errorf("GFD.224: action %s lacks attribute %s", id, name)
							continue
						}
						checkEnum(t, id+"."+name, d, enum)
					}
				}
				// Every listed location must be unique (GFD.223 §4).
				seen := map[string]string{}
				for _, c := range cats {
					if c.Location == "" {
						continue
					}
					if other, dup := seen[c.Location]; dup {
						t.Errorf("GFD.223 §4: %s and %s share location %s", other, c.ID(), c.Location)
					}
					seen[c.Location] = c.ID()
				}
			})
		}
	}
}

func containsStr(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// checkEnum: an enumerated attribute (GFD.224's "Enum {...}") described with
// a JSON-schema pattern must allow exactly the table's values; a default must
// be one of them (GFD.226 §3.5.1, Table 9).
func checkEnum(t *testing.T, what string, d attrDef, enum []string) {
	t.Helper()
	if enum == nil {
		return
	}
	if d.HasDefault {
		if s, ok := d.Default.(string); !ok || !containsStr(enum, s) {
			t.Errorf("%s: default %v is not one of %v", what, d.Default, enum)
		}
	}
	if d.Pattern == nil {
		return
	}
	if got, ok := d.Pattern["enum"]; ok {
		g := strings_(got)
		sort.Strings(g)
		w := append([]string(nil), enum...)
		sort.Strings(w)
		if strings.Join(g, ",") != strings.Join(w, ",") {
			t.Errorf("%s: pattern enum %v, want %v", what, g, w)
		}
	}
}

// GFD.224 §3.5: templates are mixins that depend on os_tpl / resource_tpl and
// apply to compute; the provider offers at least one of each.
func TestQueryInterfaceTemplates(t *testing.T) {
	for _, tpl := range []string{mixinOSTpl, mixinResourceTpl} {
		got := templates(t, tpl)
		if len(got) == 0 {
			t.Errorf("GFD.224 §3.5: no mixin depends on %s", tpl)
		}
		for _, c := range got {
			if c.Location == "" {
				t.Errorf("GFD.223 §4: template %s has no location", c.ID())
			}
			if c.Title == "" {
				t.Errorf("GFD.224 §3.5.1: template %s has no descriptive title", c.ID())
			}
		}
	}
	// JSON: the resource_tpl mixins carry attribute defaults (GFD.224 §3.5.2
	// "SHOULD contain relevant attributes and default attribute values").
	cats := byID(queryInterface(t, occiJSON, "/-/", nil))
	for _, c := range templates(t, mixinResourceTpl) {
		j := cats[c.ID()]
		if !containsStr(j.Applies, kindCompute) {
			t.Errorf("GFD.224 §3.5.2: %s applies %v, want compute", c.ID(), j.Applies)
		}
		n := 0
		for _, d := range j.Attrs {
			if d.HasDefault {
				n++
			}
		}
		if n == 0 {
			t.Errorf("GFD.224 §3.5.2: resource template %s carries no attribute defaults", c.ID())
		}
	}
}

// GFD.229 §4.1: the Category ABNF — term; scheme="..."; class="..." with
// "; " between parameters and no trailing ';' (README interop notes).
func TestQueryInterfaceTextSyntax(t *testing.T) {
	resp, body := do(t, "GET", base(t)+"/-/", accept("text/plain"), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /-/: %d", resp.StatusCode)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(body)), "\n") {
		line = strings.TrimRight(line, "\r")
		if !strings.HasPrefix(line, "Category: ") {
			t.Errorf("GFD.229 §5.4: line %q is not a Category", line)
			continue
		}
		if strings.HasSuffix(strings.TrimSpace(line), ";") {
			t.Errorf("GFD.229 §4.1: trailing ';' in %q", line)
		}
		if !strings.Contains(line, `; scheme="`) || !strings.Contains(line, `; class="`) {
			t.Errorf("GFD.229 §4.1: scheme and class must follow as `; scheme=\"...\"; class=\"...\"` in %q", line)
		}
	}
}

// GFD.223 §7.1: filtering the query interface by a Category rendering in the
// request headers returns only the related categories.
func TestQueryInterfaceFilter(t *testing.T) {
	for _, r := range renderings {
		t.Run(r.name, func(t *testing.T) {
			h := http.Header{}
			h.Set("Category", categoryLine(kindCompute, "kind"))
			cats := byID(queryInterface(t, r, "/-/", h))
			if _, ok := cats[kindCompute]; !ok {
				t.Errorf("GFD.223 §7.1: filtering on compute dropped compute itself")
			}
			for _, other := range []string{kindStorage, kindNetwork, kindNetworkInterface, kindStorageLink, networkAction + "up"} {
				if _, ok := cats[other]; ok {
					t.Errorf("GFD.223 §7.1: filtering on compute returned the unrelated %s", other)
				}
			}
		})
	}
}
