package occi_test

import (
	"encoding/json"
	"net/url"
	"sort"
	"strings"
	"testing"
)

// Members the OCCI 1.2 JSON schema (GFD.226 appendix B) allows; every
// object there has "additionalProperties": false.
var schemaMembers = map[string][]string{
	"resource":              {"kind", "mixins", "attributes", "actions", "id", "links", "summary", "title"},
	"link":                  {"kind", "mixins", "attributes", "actions", "id", "source", "target", "rel", "title"},
	"kinded_uri":            {"location", "kind"},
	"kind":                  {"term", "scheme", "title", "attributes", "actions", "parent", "location"},
	"mixin":                 {"term", "scheme", "title", "attributes", "actions", "depends", "applies", "location"},
	"action":                {"term", "scheme", "title", "attributes"},
	"attribute_description": {"mutable", "required", "type", "default", "description", "pattern"},
	"model":                 {"resources", "links", "mixins", "kinds", "actions"},
}

var schemaRequired = map[string][]string{
	"resource":   {"kind", "id"},
	"link":       {"kind", "id", "source", "target"},
	"kinded_uri": {"location"},
	"kind":       {"term", "scheme"},
	"mixin":      {"term", "scheme", "location"},
	"action":     {"term", "scheme"},
}

// checkSchema checks one JSON object against its schema definition: no
// unknown members, required members present, members of the right JSON type.
func checkSchema(t *testing.T, where, def string, o map[string]any) {
	t.Helper()
	allowed := map[string]bool{}
	for _, m := range schemaMembers[def] {
		allowed[m] = true
	}
	var keys []string
	for k := range o {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !allowed[k] {
			t.Errorf("GFD.226 appendix B (%s): %s has member %q the schema does not allow", def, where, k)
		}
	}
	for _, k := range schemaRequired[def] {
		if _, ok := o[k]; !ok {
			t.Errorf("GFD.226 appendix B (%s): %s lacks required member %q", def, where, k)
		}
	}
	for _, k := range keys {
		v := o[k]
		switch k {
		case "mixins", "actions", "depends", "applies":
			if def == "model" {
				continue
			}
			arr, ok := v.([]any)
			if !ok {
				t.Errorf("%s: %s.%s is not an array of strings", where, def, k)
			}
			for _, x := range arr {
				if _, ok := x.(string); !ok {
					t.Errorf("%s: %s.%s holds %T, want strings", where, def, k, x)
				}
			}
		case "kind", "id", "title", "summary", "term", "scheme", "parent", "location", "rel", "description", "type":
			if _, ok := v.(string); !ok {
				t.Errorf("%s: %s.%s is %T, want a string", where, def, k, v)
			}
		case "mutable", "required":
			if _, ok := v.(bool); !ok {
				t.Errorf("%s: %s.%s is %T, want a boolean", where, def, k, v)
			}
		case "pattern":
			if _, ok := v.(map[string]any); !ok {
				t.Errorf("%s: pattern is %T, want an object (a JSON schema)", where, v)
			}
		case "default":
			switch v.(type) {
			case string, float64, bool:
			default:
				t.Errorf("%s: default is %T, want a number, string or boolean", where, v)
			}
		case "source", "target":
			if def == "link" {
				kv, ok := v.(map[string]any)
				if !ok {
					t.Errorf("%s: link.%s is %T, want an object", where, k, v)
					continue
				}
				checkSchema(t, where+"."+k, "kinded_uri", kv)
			}
		case "attributes":
			attrs, ok := v.(map[string]any)
			if !ok {
				t.Errorf("%s: attributes is %T, want an object", where, v)
				continue
			}
			if def == "kind" || def == "mixin" || def == "action" {
				for name, d := range attrs {
					dv, ok := d.(map[string]any)
					if !ok {
						t.Errorf("%s: attribute description %s is %T", where, name, d)
						continue
					}
					checkSchema(t, where+" attribute "+name, "attribute_description", dv)
					if typ, ok := dv["type"].(string); ok {
						switch typ {
						case "string", "number", "boolean", "array", "object":
						default:
							t.Errorf("GFD.226 Table 9: %s attribute %s type %q", where, name, typ)
						}
					}
				}
			}
		case "links":
			arr, _ := v.([]any)
			for i, l := range arr {
				lo, ok := l.(map[string]any)
				if !ok {
					t.Errorf("%s: links[%d] is %T", where, i, l)
					continue
				}
				checkSchema(t, where+".links", "link", lo)
			}
		}
	}
}

func getJSON(t *testing.T, u string) map[string]any {
	t.Helper()
	resp, body := do(t, "GET", u, accept("application/occi+json"), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s (JSON): %d: %.200s", u, resp.StatusCode, body)
	}
	var o map[string]any
	if err := json.Unmarshal(body, &o); err != nil {
		t.Fatalf("GFD.226: GET %s: not a JSON object: %v", u, err)
	}
	return o
}

// GFD.226 appendix B: the query interface, entities, links and collections
// rendered in JSON validate against the OCCI 1.2 schema.
func TestJSONSchema(t *testing.T) {
	qi := getJSON(t, base(t)+"/-/")
	checkSchema(t, "/-/", "model", qi)
	for member, def := range map[string]string{"kinds": "kind", "mixins": "mixin", "actions": "action"} {
		arr, ok := qi[member].([]any)
		if !ok {
			t.Errorf("GFD.226 §3.4: /-/ has no %q array", member)
			continue
		}
		for _, c := range arr {
			co, _ := c.(map[string]any)
			checkSchema(t, "/-/ "+member+" "+strings.TrimSpace(co["term"].(string)), def, co)
		}
	}

	net := create(t, textPlain, message{Kind: kindNetwork, Attrs: []attr{{"occi.core.title", uniq("js")}}})
	m := computeMsg(uniq("js"))
	m.Links = []linkSpec{{Target: net, TargetKind: kindNetwork, Kind: kindNetworkInterface}}
	c := create(t, textPlain, m)
	co := getJSON(t, c)
	checkSchema(t, c, "resource", co)
	links, _ := co["links"].([]any)
	if len(links) != 1 {
		t.Fatalf("GFD.226 §3.1.1: compute with one link renders links %v", co["links"])
	}
	self := read(t, textPlain, c).Links[0].Self
	checkSchema(t, self, "link", getJSON(t, abs(t, self)))

	col := getJSON(t, location(t, kindCompute)+"?page=1&number=3")
	if _, ok := col["resources"]; !ok || len(col) != 1 {
		t.Errorf("GFD.226 §3.3.1: a resource collection is {\"resources\": [...]}, got members %v", keysOf(col))
	}
	for _, r := range col["resources"].([]any) {
		checkSchema(t, "compute collection", "resource", r.(map[string]any))
	}
	lcol := getJSON(t, location(t, kindNetworkInterface))
	if _, ok := lcol["links"]; !ok || len(lcol) != 1 {
		t.Errorf("GFD.226 §3.3.2: a link collection is {\"links\": [...]}, got members %v", keysOf(lcol))
	}
}

func keysOf(o map[string]any) []string {
	var k []string
	for x := range o {
		k = append(k, x)
	}
	sort.Strings(k)
	return k
}

// GFD.221 §5.4.1 Table 7: Entity.id is a URI (RFC 3986: with a scheme, as
// in the specs' examples urn:uuid:...), the same in every rendering.
func TestEntityIDIsURI(t *testing.T) {
	loc := create(t, textPlain, computeMsg(uniq("id")))
	var first string
	for _, r := range renderings {
		id := read(t, r, loc).str("occi.core.id")
		u, err := url.Parse(id)
		if err != nil || u.Scheme == "" {
			t.Errorf("GFD.221 Table 7 (%s): occi.core.id %q is not a URI (no scheme)", r.name, id)
		}
		if first == "" {
			first = id
		} else if id != first {
			t.Errorf("occi.core.id %q in %s, %q in text/plain", id, r.name, first)
		}
	}
}
