package occi_test

// Request shapes real OCCI clients send, each named after the client that
// sends it (read from the clients' own sources): rOCCI-api/rOCCI-cli (the
// Ruby client and command line), the Infrastructure Manager's OCCI
// connector (GRyCAP IM, Python). The server accepts them wherever no MUST
// or shall of the OCCI texts forbids them.

import (
	"fmt"
	"mime"
	"net/http"
	"strings"
	"testing"
)

// rOCCI-api's User-Agent (ClientHttp::DEFAULT_HEADERS): it names OCCI/1.1.
const rOCCIUserAgent = "rOCCI-core/4.3.13 rOCCI-api/4.3.13 OCCI/1.1 ruby-x86_64-linux/2.3.3p222"

// rOCCIHeaders is what rOCCI-cli sends with its default --media-type
// "text/plain,text/occi": the same list as Content-Type and as Accept
// (rOCCI-api's get_media_type forces Accept to the media type it is
// given, and send_coll_request sets Content-Type to it).
func rOCCIHeaders() http.Header {
	h := http.Header{}
	h.Set("Content-Type", "text/plain,text/occi")
	h.Set("Accept", "text/plain,text/occi")
	h.Set("User-Agent", rOCCIUserAgent)
	return h
}

// rOCCICategory renders a Category the way rOCCI-core's to_string does:
// no space after ';', class quoted, the title added when known.
func rOCCICategory(id, class, title string) string {
	scheme, term := splitID(id)
	s := fmt.Sprintf("%s;scheme=%q;class=%q", term, scheme, class)
	if title != "" {
		s += fmt.Sprintf(";title=%q", title)
	}
	return s
}

// rOCCI-cli's `occi --action create --resource compute` with the default
// media type: Content-Type "text/plain,text/occi" (a list, which HTTP does
// not define for Content-Type), a text/plain body. The first listed type
// the server reads is taken (issue 11, item 1). The IM connector sends the
// same Content-Type with Accept: text/plain on its creates and actions.
func TestContentTypeList(t *testing.T) {
	col := location(t, kindCompute)
	title := uniq("rocci")
	body := "Category: " + rOCCICategory(kindCompute, "kind", "Compute Resource") + "\n" +
		"X-OCCI-Attribute: occi.core.title=" + quote(title) + "\n" +
		"X-OCCI-Attribute: occi.compute.cores=1\n" +
		"X-OCCI-Attribute: occi.compute.memory=1.0\n"
	resp, b := do(t, "POST", col, rOCCIHeaders(), []byte(body))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("rOCCI-cli create with Content-Type text/plain,text/occi: %d, want 201: %.300s", resp.StatusCode, b)
	}
	loc := resp.Header.Get("Location")
	cleanup(t, loc)
	requireAbsolute(t, "Location", loc)
	if mt := mediaType(resp); mt != "text/plain" {
		t.Errorf("Accept text/plain,text/occi: answered %q, want text/plain", mt)
	}
	if got := read(t, textPlain, loc).str("occi.core.title"); got != title {
		t.Errorf("title %q, want %q", got, title)
	}

	// IM's action shape: no spaces, a trailing ';', Accept text/plain.
	h := http.Header{}
	h.Set("Accept", "text/plain")
	h.Set("Content-Type", "text/plain,text/occi")
	h.Set("Connection", "close")
	resp, b = do(t, "POST", loc+"?action=start", h, []byte("Category: start;scheme=\"http://schemas.ogf.org/occi/infrastructure/compute/action#\";class=\"action\";\n"))
	if resp.StatusCode != http.StatusOK {
		t.Errorf("IM action with Content-Type text/plain,text/occi: %d, want 200: %.300s", resp.StatusCode, b)
	}

	// The other order reads the body as text/occi: the rendering is in the
	// headers. Types the server does not read are skipped.
	for _, ct := range []string{"text/occi,text/plain", "application/xml, text/occi", "text/html;q=0.5, text/occi"} {
		title := uniq("ctlist")
		h, _ := textOCCIRep.encode(computeMsg(title))
		h.Set("Content-Type", ct)
		resp, b := do(t, "POST", col, h, []byte("OK"))
		if resp.StatusCode != http.StatusCreated {
			t.Errorf("Content-Type %q with a text/occi rendering: %d, want 201: %.300s", ct, resp.StatusCode, b)
			continue
		}
		cleanup(t, resp.Header.Get("Location"))
		if got := read(t, textPlain, resp.Header.Get("Location")).str("occi.core.title"); got != title {
			t.Errorf("Content-Type %q: title %q, want %q", ct, got, title)
		}
	}

	// A list of types none of which is served is still 415; one with no
	// valid type at all is malformed (400). Nothing is created.
	before := list(t, col)
	marker := uniq("ctbad")
	_, plain := textPlain.encode(computeMsg(marker))
	for ct, want := range map[string]int{"application/xml, text/html": 415, ",,": 400, `text/plain; x="unterminated`: 400} {
		h := http.Header{}
		h.Set("Content-Type", ct)
		resp, b := do(t, "POST", col, h, plain)
		clientError(t, fmt.Sprintf("Content-Type %q", ct), resp, b, want)
	}
	if n := newSince(t, kindCompute, before, marker); len(n) != 0 {
		t.Errorf("refused requests created %v", n)
	}
}

// providerCategory tells the provider's own categories (the standard ones
// and the templates of its catalogue) from user mixins other tests add.
func providerCategory(c category) bool {
	if strings.HasPrefix(c.Scheme, "http://schemas.ogf.org/occi/") {
		return true
	}
	for _, r := range c.Rel {
		if r == mixinOSTpl || r == mixinResourceTpl {
			return true
		}
	}
	return false
}

// rOCCI-core reads a text/occi answer by splitting each header value at
// every comma, inside quoted strings too (its text parser's split(',')).
// What the server itself renders keeps commas out of quoted values, so
// that the provider's categories (catalogue titles among them) survive
// that split (issue 11, item 2).
func TestQueryInterfaceSurvivesCommaSplit(t *testing.T) {
	resp, body := do(t, "GET", base(t)+"/-/", accept("text/occi"), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /-/ as text/occi: %d: %.300s", resp.StatusCode, body)
	}
	split := map[string]category{}
	for _, v := range resp.Header.Values("Category") {
		for _, piece := range strings.Split(v, ",") {
			if c, err := parseTextCategory(strings.TrimSpace(piece)); err == nil {
				split[c.ID()] = c
			}
		}
	}
	n := 0
	for id, c := range model(t) {
		if !providerCategory(c) {
			continue
		}
		n++
		got, ok := split[id]
		if !ok || got.Title != c.Title || got.Location != c.Location || len(got.Attrs) != len(c.Attrs) {
			t.Errorf("%s (title %q) does not survive a split at every comma of the text/occi header: got %+v", id, c.Title, got)
		}
	}
	if len(templates(t, mixinResourceTpl)) == 0 || n == 0 {
		t.Errorf("no provider categories or resource templates in the query interface")
	}
}

// acceptedTypes reads the media types an Accept response header lists.
func acceptedTypes(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(p)); err == nil {
			out = append(out, mt)
		}
	}
	return out
}

// rOCCI-api's get_media_type sends HEAD to the endpoint and picks its
// rendering from the answer's Accept header (application/occi+json, then
// text/occi, else text/plain); GFD.185 §3.6.6: "Each Rendering SHOULD
// expose which Accept and Content-type header fields it can handle". GET
// and HEAD on / and on the query interface list what the server renders,
// and every type listed is served there (issue 11, item 3).
func TestAcceptResponseHeader(t *testing.T) {
	for _, path := range []string{"/", "/-/", "/.well-known/org/ogf/occi/-/"} {
		for _, method := range []string{"GET", "HEAD"} {
			h := http.Header{}
			h.Set("User-Agent", rOCCIUserAgent)
			h.Set("Accept", "text/plain,text/occi;q=0.2") // rOCCI-api's DEFAULT_HEADERS
			resp, body := do(t, method, base(t)+path, h, nil)
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s %s: %d: %.200s", method, path, resp.StatusCode, body)
				continue
			}
			types := acceptedTypes(resp.Header.Get("Accept"))
			for _, want := range []string{"text/plain", "text/occi", "application/occi+json"} {
				if !containsStr(types, want) {
					t.Errorf("%s %s: Accept response header %q does not list %s", method, path, resp.Header.Get("Accept"), want)
				}
			}
			if method != "GET" {
				continue
			}
			for _, mt := range types {
				if mt == "text/uri-list" && path != "/" {
					continue // listings only (GFD.229 §8)
				}
				resp, body := do(t, "GET", base(t)+path, accept(mt), nil)
				if got := mediaType(resp); resp.StatusCode != http.StatusOK || (got != mt && !(rendering{mediaType: mt}).acceptable(resp.Header.Get("Content-Type"))) {
					t.Errorf("GET %s Accept %s (listed in Accept): %d %q: %.200s", path, mt, resp.StatusCode, got, body)
				}
			}
		}
	}
}

// GFD.185 §3.4.1 "Adding a Mixin Definition": the text's own example adds
// a mixin whose rel names a category the server has never heard of (and
// is not even an absolute URI: "http:/example.com/..."), and is answered
// 200. The rel is kept as given and rendered back (issue 11, item 4). The
// example travels in headers (text/occi); the same definition in a
// text/plain body and as GFD.226 JSON "depends" is accepted too.
func TestUserMixinUnknownRel(t *testing.T) {
	const rel = "http:/example.com/occi/something_else#mixin"
	for _, r := range []rendering{textOCCIRep, textPlain, occiJSON} {
		t.Run(r.name, func(t *testing.T) {
			term := uniq("my_stuff")
			c := category{Term: term, Scheme: "http://example.com/occi/my_stuff#", Class: "mixin", Rel: []string{rel}, Location: "/" + term + "/"}
			var resp *http.Response
			var body []byte
			if r.headers {
				// Verbatim shape of the example: the Category folded over
				// header lines joined, no body.
				h := http.Header{}
				h.Set("Content-Type", "text/occi")
				h.Set("Category", fmt.Sprintf(`%s; scheme="%s"; class="mixin"; rel="%s"; location="%s"`, term, c.Scheme, rel, c.Location))
				resp, body = do(t, "POST", base(t)+"/-/", h, nil)
			} else {
				resp, body = send(t, "POST", base(t)+"/-/", r, message{Category: &c})
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GFD.185 §3.4.1 example (%s): %d, want 200: %.300s", r.name, resp.StatusCode, body)
			}
			forgetModel()
			t.Cleanup(func() {
				h, b := textPlain.encode(message{Category: &category{Term: c.Term, Scheme: c.Scheme, Class: "mixin"}})
				do(t, "DELETE", base(t)+"/-/", h, b)
				forgetModel()
			})
			got, ok := model(t)[c.ID()]
			if !ok {
				t.Fatalf("mixin %s not in the query interface after 200", c.ID())
			}
			if len(got.Rel) != 1 || got.Rel[0] != rel || !samePath(abs(t, got.Location), abs(t, c.Location)) {
				t.Errorf("mixin rendered with rel %q location %q, want rel %q (as given) and location %s", got.Rel, got.Location, rel, c.Location)
			}
			// It is a usable tag.
			m := computeMsg(uniq("tagged"))
			m.Mixins = []string{c.ID()}
			loc := create(t, textPlain, m)
			if !contains(list(t, abs(t, c.Location)), loc) {
				t.Errorf("the mixin's collection does not list %s", loc)
			}
		})
	}
	// A mixin that names an unknown kind in "applies" (JSON) is still
	// refused: applies decides which entities may carry it.
	resp, body := do(t, "POST", base(t)+"/-/", http.Header{"Content-Type": {"application/occi+json"}},
		[]byte(`{"mixins": [{"term": "`+uniq("app")+`", "scheme": "http://example.com/occi/x#", "location": "/`+uniq("app")+`/", "applies": ["http://example.com/occi/nosuch#kind"]}]}`))
	clientError(t, "mixin applying to an unknown kind", resp, body, 400)
}

// classless renders a Category reference without class, as OCCI 1.0-era
// tools and hand-written scripts send it.
func classless(id string) string {
	scheme, term := splitID(id)
	return fmt.Sprintf("%s; scheme=%q", term, scheme)
}

// A Category without class (GFD.229 §4.1 makes class part of the
// rendering; older tools never send it) takes the class of the registered
// category with the same scheme and term (issue 11, item 5): on create,
// on an action, in a filter, in text/plain and in text/occi headers. One
// the server does not know is refused with a message saying so; on the
// query interface, where only mixins are defined, it is a mixin.
func TestCategoryWithoutClass(t *testing.T) {
	col := location(t, kindCompute)
	tpls := templates(t, mixinOSTpl)
	if len(tpls) == 0 {
		t.Fatal("no os_tpl in the query interface")
	}
	tpl := tpls[0].ID()

	title := uniq("noclass")
	h := http.Header{}
	h.Set("Content-Type", "text/plain")
	body := "Category: " + classless(kindCompute) + "\nCategory: " + classless(tpl) + "\nX-OCCI-Attribute: occi.core.title=" + quote(title) + "\n"
	resp, b := do(t, "POST", col, h, []byte(body))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create with classless categories (text/plain): %d, want 201: %.300s", resp.StatusCode, b)
	}
	loc := resp.Header.Get("Location")
	cleanup(t, loc)
	e := read(t, textPlain, loc)
	if e.Kind != kindCompute || !e.hasMixin(tpl) || e.str("occi.core.title") != title {
		t.Errorf("created from classless categories: kind %q mixins %v title %q", e.Kind, e.Mixins, e.str("occi.core.title"))
	}

	// text/occi: the same in headers.
	title2 := uniq("noclass-h")
	h = http.Header{}
	h.Set("Content-Type", "text/occi")
	h.Set("Category", classless(kindCompute))
	h.Set("X-OCCI-Attribute", "occi.core.title="+quote(title2))
	resp, b = do(t, "POST", col, h, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create with a classless kind (text/occi): %d, want 201: %.300s", resp.StatusCode, b)
	}
	cleanup(t, resp.Header.Get("Location"))

	// An action invocation without class.
	h = http.Header{}
	h.Set("Content-Type", "text/plain")
	resp, b = do(t, "POST", loc+"?action=start", h, []byte("Category: "+classless(computeAction+"start")+"\n"))
	if resp.StatusCode != http.StatusOK {
		t.Errorf("start with a classless action category: %d, want 200: %.300s", resp.StatusCode, b)
	}

	// A query interface filter without class (GFD.223 §6.1).
	fh := http.Header{}
	fh.Set("Category", classless(kindStorage))
	cats := byID(queryInterface(t, textPlain, "/-/", fh))
	if _, ok := cats[kindStorage]; !ok || len(cats) > len(model(t))/2 {
		t.Errorf("filter by a classless storage category gave %d categories, storage among them: %v", len(cats), ok)
	}

	// Unknown and classless: refused, nothing created.
	before := list(t, col)
	marker := uniq("noclass-bad")
	resp, b = do(t, "POST", col, http.Header{"Content-Type": {"text/plain"}}, []byte("Category: "+classless(kindCompute)+
		"\nCategory: nope; scheme=\"http://example.com/occi/none#\"\nX-OCCI-Attribute: occi.core.title="+quote(marker)+"\n"))
	clientError(t, "an unknown category without class", resp, b, 400)
	if n := newSince(t, kindCompute, before, marker); len(n) != 0 {
		t.Errorf("refused request created %v", n)
	}

	// The query interface defines mixins only: a classless new category
	// there is a mixin.
	term := uniq("tagnc")
	scheme := "http://example.com/occi/noclass#"
	resp, b = do(t, "POST", base(t)+"/-/", http.Header{"Content-Type": {"text/plain"}},
		[]byte(fmt.Sprintf("Category: %s; scheme=%q; location=\"/%s/\"\n", term, scheme, term)))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /-/ a classless mixin: %d, want 200: %.300s", resp.StatusCode, b)
	}
	forgetModel()
	t.Cleanup(func() {
		do(t, "DELETE", base(t)+"/-/", http.Header{"Content-Type": {"text/plain"}}, []byte(fmt.Sprintf("Category: %s; scheme=%q\n", term, scheme)))
		forgetModel()
	})
	if c, ok := model(t)[scheme+term]; !ok || c.Class != "mixin" {
		t.Errorf("classless definition on /-/: %+v (found %v), want a mixin", c, ok)
	}
}

// A method on a path where nothing exists answers 404, as a GET there
// does: there is no resource to refuse the method for (RFC 9110 §15.5.5,
// §15.5.6; issue 11, item 6). Where something lies below the path, a
// method it does not serve stays 405 with Allow (GFD.223 §8 Table 1). The
// IM connector's delete_volume reads 404 as "already gone".
func TestMethodsOnMissingPaths(t *testing.T) {
	missing := base(t) + "/" + uniq("nothing") + "/" + uniq("here") + "/"
	h := http.Header{}
	h.Set("Content-Type", "text/plain")
	h.Set("Accept", "text/plain")
	_, plain := textPlain.encode(computeMsg(uniq("nowhere")))
	for _, method := range []string{"GET", "DELETE", "POST", "PUT", "PATCH"} {
		resp, body := do(t, method, missing, h, plain)
		clientError(t, method+" on an unbound path with nothing below", resp, body, 404)
	}
	// A missing entity: 404 for every method but PUT (which creates).
	entity := location(t, kindCompute) + uniq("missing")
	for _, method := range []string{"GET", "DELETE", "POST", "PATCH"} {
		resp, body := do(t, method, entity, h, plain)
		clientError(t, method+" on a missing entity", resp, body, 404)
	}

	// Something below the path: the path exists, and only listing it is
	// allowed.
	dir := base(t) + "/" + uniq("users") + "/"
	loc := dir + uniq("vm")
	cleanup(t, loc)
	if resp, body := send(t, "PUT", loc, textPlain, computeMsg(uniq("below"))); resp.StatusCode != 201 && resp.StatusCode != 200 {
		t.Fatalf("GFD.223 §10.2.1: PUT at %s: %d: %.300s", loc, resp.StatusCode, body)
	}
	for _, method := range []string{"DELETE", "POST", "PUT"} {
		resp, body := do(t, method, dir, h, plain)
		clientError(t, method+" on an unbound path with an entity below", resp, body, 405)
		if !strings.Contains(resp.Header.Get("Allow"), "GET") {
			t.Errorf("%s %s: 405 with Allow %q, want GET listed", method, dir, resp.Header.Get("Allow"))
		}
	}
	resp, body := do(t, "PATCH", loc, h, plain)
	clientError(t, "PATCH on an existing entity", resp, body, 405)
	if status(t, loc) != 200 {
		t.Errorf("the refused methods touched %s", loc)
	}
}

// When Accept gives text/occi and text/plain the same quality, the answer
// is text/plain whatever their order (issue 11, item 7): it is the body
// rendering every client parses (GFD.229 §6), and text/occi headers
// overflow clients' header limits on large answers. A higher q still wins
// (RFC 7231 §5.3.2).
func TestAcceptTiePrefersPlain(t *testing.T) {
	loc := create(t, textPlain, computeMsg(uniq("tie")))
	cases := map[string]string{
		"text/occi, text/plain":             "text/plain",
		"text/occi,text/plain":              "text/plain",
		"text/occi;q=0.5, text/plain;q=0.5": "text/plain",
		"text/occi, text/occi+plain":        "text/occi+plain",
		"text/occi, */*":                    "text/plain",
		"text/plain,text/occi;q=0.2":        "text/plain", // rOCCI-api's default
		"text/plain,text/occi":              "text/plain", // rOCCI-cli's default
		"text/occi, text/plain;q=0.5":       "text/occi",
		"text/occi":                         "text/occi",
	}
	for _, u := range []string{loc, base(t) + "/-/", location(t, kindCompute)} {
		for a, want := range cases {
			resp, body := do(t, "GET", u, accept(a), nil)
			if got := mediaType(resp); resp.StatusCode != http.StatusOK || got != want {
				t.Errorf("GET %s Accept %q: %d %q, want %s: %.200s", u, a, resp.StatusCode, got, want, body)
			}
		}
	}
}

// HEAD is answered wherever GET is, with GET's status and headers and no
// body (RFC 9110 §9.3.2; issue 11, item 8): the query interface (rOCCI-api
// sends HEAD to its endpoint), collections of kinds, provider and user
// mixins, unbound paths, entities, in every rendering; a missing entity
// is 404 to HEAD as to GET.
func TestHeadWhereverGet(t *testing.T) {
	tag := userMixin(t, textPlain)
	m := computeMsg(uniq("head"))
	m.Mixins = []string{tag.ID()}
	dir := base(t) + "/" + uniq("users") + "/"
	loc := dir + uniq("vm")
	cleanup(t, loc)
	if resp, body := send(t, "PUT", loc, textPlain, m); resp.StatusCode != 201 && resp.StatusCode != 200 {
		t.Fatalf("GFD.223 §10.2.1: PUT at %s: %d: %.300s", loc, resp.StatusCode, body)
	}
	tpl := templates(t, mixinOSTpl)
	if len(tpl) == 0 {
		t.Fatal("no os_tpl")
	}
	type target struct {
		url     string
		listing bool
	}
	targets := []target{
		{base(t) + "/", true}, {base(t) + "/-/", false}, {base(t) + "/.well-known/org/ogf/occi/-/", false},
		{location(t, kindCompute), true}, {abs(t, tpl[0].Location), true}, {abs(t, tag.Location), true},
		{dir, true}, {loc, false},
	}
	compared := []string{"Content-Type", "Accept", "Location", "Category", "Link", "X-Occi-Attribute", "X-Occi-Location", "Server"}
	for _, tg := range targets {
		types := []string{"text/plain", "text/occi", "application/occi+json", ""}
		if tg.listing {
			types = append(types, "text/uri-list")
		}
		for _, mt := range types {
			get, gbody := do(t, "GET", tg.url, accept(mt), nil)
			head, hbody := do(t, "HEAD", tg.url, accept(mt), nil)
			what := fmt.Sprintf("HEAD %s Accept %q", tg.url, mt)
			if get.StatusCode != http.StatusOK {
				t.Errorf("GET %s Accept %q: %d: %.200s", tg.url, mt, get.StatusCode, gbody)
				continue
			}
			if head.StatusCode != get.StatusCode {
				t.Errorf("%s: %d, GET answered %d", what, head.StatusCode, get.StatusCode)
			}
			if len(hbody) != 0 {
				t.Errorf("%s: a body of %d bytes", what, len(hbody))
			}
			for _, name := range compared {
				if name == "X-Occi-Attribute" || name == "X-Occi-Location" || name == "Category" || name == "Link" {
					// Listings change as other tests run; compare the
					// presence of the text/occi fields there.
					if tg.listing || tg.url == base(t)+"/-/" || strings.HasSuffix(tg.url, "/occi/-/") {
						if (get.Header.Get(name) == "") != (head.Header.Get(name) == "") {
							t.Errorf("%s: %s present %v, GET %v", what, name, head.Header.Get(name) != "", get.Header.Get(name) != "")
						}
						continue
					}
				}
				if g, h := strings.Join(get.Header.Values(name), ", "), strings.Join(head.Header.Values(name), ", "); g != h {
					t.Errorf("%s: %s %q, GET %q", what, name, h, g)
				}
			}
			if cl := head.Header.Get("Content-Length"); cl != "" && !tg.listing && tg.url == loc && cl != fmt.Sprint(len(gbody)) {
				t.Errorf("%s: Content-Length %s, GET's body has %d bytes", what, cl, len(gbody))
			}
		}
	}
	for _, u := range []string{location(t, kindCompute) + uniq("missing"), base(t) + "/" + uniq("nothing") + "/"} {
		resp, _ := do(t, "HEAD", u, accept("text/plain"), nil)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("HEAD %s: %d, want 404 as GET", u, resp.StatusCode)
		}
	}
	// A 405 names HEAD among the allowed methods.
	resp, body := do(t, "PUT", location(t, kindCompute), http.Header{"Content-Type": {"text/plain"}}, []byte(computeCat+"\n"))
	clientError(t, "PUT on a kind collection", resp, body, 405)
	if !strings.Contains(resp.Header.Get("Allow"), "HEAD") {
		t.Errorf("405 Allow %q does not name HEAD", resp.Header.Get("Allow"))
	}
}

// pOCCI (CESNET's implementation of the ETSI TS 103 142 OCCI tests):
//   - CORE/MISC/001 invokes an action with the action's full Category as
//     the query interface rendered it (title, attributes="method");
//   - CORE/CREATE/001 puts a title on the kind's Category and a
//     client-chosen occi.core.id ("Compute_<time>");
//   - CORE/DISCOVERY/002 filters GET /-/ with Content-Type: text/occi and
//     the Category in a header;
//   - CORE/CREATE/006 sends `location: "..."` and `, rel: "..."` (not
//     GFD.229 §4.1 key=value parameters): refused with a message naming
//     the parameter, as the grammar has it.
func TestPOCCIShapes(t *testing.T) {
	col := location(t, kindCompute)
	id := fmt.Sprintf("Compute_%s", uniq("p"))
	body := "Category: compute; scheme=\"http://schemas.ogf.org/occi/infrastructure#\"; class=\"kind\"; title=\"titulek\"\n" +
		"X-OCCI-Attribute: occi.core.id=" + quote(id) + "\n" +
		"X-OCCI-Attribute: occi.core.title=\"titulek\"\n" +
		"X-OCCI-Attribute: occi.core.summary=\"sumarko\"\n" +
		"X-OCCI-Attribute: occi.compute.architecture=\"x64\"\n"
	resp, b := do(t, "POST", col, http.Header{"Content-Type": {"text/plain"}}, []byte(body))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("pOCCI CORE/CREATE/001 shape: %d, want 201: %.300s", resp.StatusCode, b)
	}
	loc := resp.Header.Get("Location")
	cleanup(t, loc)

	// The start action's Category exactly as GET /-/ rendered it.
	qi, qb := do(t, "GET", base(t)+"/-/", accept("text/plain"), nil)
	var startLine string
	for _, line := range strings.Split(string(qb), "\n") {
		if strings.HasPrefix(line, "Category: start;") && strings.Contains(line, `class="action"`) {
			startLine = strings.TrimRight(line, "\r")
		}
	}
	if qi.StatusCode != http.StatusOK || startLine == "" {
		t.Fatalf("no start action in GET /-/: %d", qi.StatusCode)
	}
	resp, b = do(t, "POST", loc+"?action=start", http.Header{"Content-Type": {"text/plain"}}, []byte(startLine+"\n"))
	if resp.StatusCode != http.StatusOK {
		t.Errorf("pOCCI CORE/MISC/001 shape (%s): %d, want 200: %.300s", startLine, resp.StatusCode, b)
	}

	// CORE/DISCOVERY/002.
	h := http.Header{}
	h.Set("Content-Type", "text/occi")
	h.Set("Accept", "text/plain")
	h.Set("Category", `compute; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="kind"`)
	resp, b = do(t, "GET", base(t)+"/-/", h, nil)
	cats, err := decodeCategories(textPlain, resp.Header, b)
	if resp.StatusCode != http.StatusOK || err != nil || len(byID(cats)) == 0 {
		t.Errorf("pOCCI CORE/DISCOVERY/002 shape: %d %v", resp.StatusCode, err)
	} else if _, ok := byID(cats)[kindCompute]; !ok {
		t.Errorf("pOCCI CORE/DISCOVERY/002: compute not in the filtered result")
	}

	// CORE/CREATE/006, verbatim but for a fresh term.
	resp, b = do(t, "POST", base(t)+"/-/", http.Header{"Content-Type": {"text/plain"}},
		[]byte(`Category: `+uniq("stufik")+`; scheme="http://example.com/occi/my_stuff#"; class="mixin"; location: "/mixin/resource_tpl/extra_large/", rel: "http://schemas.ogf.org/occi/infrastructure#resource_tpl"`))
	clientError(t, "pOCCI CORE/CREATE/006 (location: instead of location=)", resp, b, 400)
	if !strings.Contains(string(b), "location") {
		t.Errorf("the refusal does not name the parameter: %s", b)
	}
}

// The curl requests OCCIware's MartServer documents for its users: PUT at
// a client-chosen path in text/occi with a trailing ';' after the class,
// kind and mixin comma-joined in one Category header. (Its example also
// sends occi.compute.state="inactive", which this server refuses at
// creation as it refuses any client-set state: left out here.)
func TestMartServerCurlShapes(t *testing.T) {
	id := uniq("mart")
	u := base(t) + "/vm/" + id
	cleanup(t, u)
	h := http.Header{}
	h.Set("Content-Type", "text/occi")
	h.Set("Category", `compute; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="kind";`)
	for _, a := range []string{`occi.core.id="` + id + `"`, `occi.core.title="compute1"`, `occi.core.summary="Test compute summary"`,
		`occi.compute.architecture="x64"`, `occi.compute.cores=2`, `occi.compute.hostname="hostCompute"`,
		`occi.compute.share=0`, `occi.compute.speed=1.0`, `occi.compute.memory=2.0`} {
		h.Add("X-OCCI-Attribute", a)
	}
	resp, b := do(t, "PUT", u, h, nil)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		t.Fatalf("MartServer's compute PUT: %d, want 201: %.300s", resp.StatusCode, b)
	}
	if e := read(t, textPlain, u); e.str("occi.core.title") != "compute1" || e.Kind != kindCompute {
		t.Errorf("MartServer's compute PUT read back as %+v", e)
	}

	nu := base(t) + "/network/" + uniq("network1")
	cleanup(t, nu)
	h = http.Header{}
	h.Set("Content-Type", "text/occi")
	h.Set("Category", `network; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="kind", ipnetwork; scheme="http://schemas.ogf.org/occi/infrastructure/network#"; class="mixin";`)
	h.Add("X-OCCI-Attribute", "occi.network.vlan=12")
	h.Add("X-OCCI-Attribute", `occi.network.label="private"`)
	resp, b = do(t, "PUT", nu, h, nil)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		t.Fatalf("MartServer's network PUT: %d, want 201: %.300s", resp.StatusCode, b)
	}
	if e := read(t, textPlain, nu); e.Kind != kindNetwork || !e.hasMixin(mixinIPNetwork) || e.str("occi.network.label") != "private" {
		t.Errorf("MartServer's network PUT read back as %+v", e)
	}
}
