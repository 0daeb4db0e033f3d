package occi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gorilla/mux"
	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/computebackends/sim"
	"github.com/occicdmi/occicdmi/internal/database"
	"github.com/occicdmi/occicdmi/internal/testsupport"
	"github.com/occicdmi/occicdmi/internal/textcheck"
	"github.com/occicdmi/occicdmi/migrations"
)

// fuzzGeneration is how many inputs one database serves before the fuzz
// target starts over on a fresh one, so that what inputs create does not
// grow without bound (and a failure depends on at most this many inputs
// before it).
const fuzzGeneration = 200

// fuzzRig is the OCCI handler FuzzRequest drives: the routes as cmd
// mounts them, over sim compute and memVolumes, on a database it renews
// every fuzzGeneration inputs. Requests go straight to ServeHTTP, so a
// panic fails the input instead of being hidden by net/http's recovery.
type fuzzRig struct {
	f    *testing.F
	dir  string
	gen  int
	used int
	db   *gorm.DB
	path string // the SQLite file, removed with its generation
	h    http.Handler
}

// The entities and mixin every generation starts with, for inputs to
// act on.
var fuzzFixtures = []struct{ method, path, ct, body string }{
	{"PUT", "/compute/c1", "text/plain", computeCat + "\nX-OCCI-Attribute: occi.core.title=\"vm one\", occi.compute.cores=2"},
	{"PUT", "/network/n1", "text/plain", networkCat},
	{"PUT", "/storage/s1", "text/plain", storageCat + "\nX-OCCI-Attribute: occi.storage.size=1"},
	{"POST", "/-/", "text/plain", `Category: mine; scheme="http://example.com/tags#"; class="mixin"; location="/tags/mine/"`},
	{"PUT", "/storagelink/l1", "text/plain", `Category: storagelink; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="kind"
X-OCCI-Attribute: occi.core.source="/compute/c1"
X-OCCI-Attribute: occi.core.target="/storage/s1"`},
	{"PUT", "/networkinterface/i1", "text/plain", `Category: networkinterface; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="kind"
X-OCCI-Attribute: occi.core.source="/compute/c1"
X-OCCI-Attribute: occi.core.target="/network/n1"`},
}

func newFuzzRig(f *testing.F) *fuzzRig {
	fr := &fuzzRig{f: f, dir: f.TempDir()}
	fr.renew()
	return fr
}

// renew drops the current database and starts a fresh one with the
// fixtures in it.
func (fr *fuzzRig) renew() {
	if fr.db != nil {
		database.Close(fr.db)
		for _, suffix := range []string{"", "-wal", "-shm"} {
			_ = os.Remove(fr.path + suffix)
		}
	}
	fr.gen++
	fr.used = 0
	if os.Getenv(testsupport.DatabaseEnv) == "postgres" {
		fr.db, fr.path = testsupport.DB(fr.f), "" // its schema is dropped with f
	} else {
		fr.path = filepath.Join(fr.dir, fmt.Sprintf("gen%d.db", fr.gen))
		db, err := database.Open(fr.path)
		if err != nil {
			fr.f.Fatal(err)
		}
		if _, err := migrations.Run(context.Background(), db); err != nil {
			fr.f.Fatal(err)
		}
		fr.db = db
	}
	s, err := New(context.Background(), Config{DB: fr.db, Compute: sim.New(fr.db), Volumes: newMemVolumes(), Logger: discardLogger()})
	if err != nil {
		fr.f.Fatal(err)
	}
	r := mux.NewRouter()
	r.SkipClean(true)
	r.UseEncodedPath()
	s.Routes(r)
	fr.h = r
	for _, fx := range fuzzFixtures {
		req := httptest.NewRequest(fx.method, fx.path, strings.NewReader(fx.body))
		req.Header.Set("Content-Type", fx.ct)
		w := httptest.NewRecorder()
		fr.h.ServeHTTP(w, req)
		if w.Code >= 300 {
			fr.f.Fatalf("fixture %s %s: %d %s", fx.method, fx.path, w.Code, w.Body)
		}
	}
}

// fuzzHeaders are the request headers FuzzRequest sets, in the order of
// its arguments; a newline in an argument separates several fields of the
// same name.
var fuzzHeaders = []string{"Content-Type", "Accept", "Category", "X-OCCI-Attribute", "Link", "X-OCCI-Location"}

// request builds what net/http's server would hand the handler for these
// parts, or nil where the server (or any client) could not carry them.
func fuzzRequest(method, target, body string, headers []string) *http.Request {
	if !isToken(method) || !strings.HasPrefix(target, "/") || strings.ContainsAny(target, " \t") {
		return nil
	}
	u, err := url.ParseRequestURI(target) // what the server parses the request line with
	if err != nil {
		return nil
	}
	h := http.Header{}
	for i, v := range headers {
		if v == "" {
			continue
		}
		for _, field := range strings.Split(v, "\n") {
			field = strings.Trim(field, " \t")
			if !validFieldValue(field) {
				return nil
			}
			h.Add(fuzzHeaders[i], field)
		}
	}
	req := &http.Request{
		Method: method, URL: u, RequestURI: target, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Host: "localhost", RemoteAddr: "127.0.0.1:40000",
		Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)),
	}
	return req.WithContext(context.Background())
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// validFieldValue: what net/http accepts as a header field value (no
// control character but tab).
func validFieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// FuzzRequest sends arbitrary requests through the whole OCCI handler:
// any method, path, Content-Type, Accept, the text/occi header fields and
// body. Whatever comes in, the handler never panics and never answers a
// 5xx (the backends here are never down, so a 503 is as much a bug as a
// 500).
func FuzzRequest(f *testing.F) {
	const (
		kindScheme  = `scheme="http://schemas.ogf.org/occi/infrastructure#"; class="kind"`
		compute     = `compute; ` + kindScheme
		startAction = `start; scheme="http://schemas.ogf.org/occi/infrastructure/compute/action#"; class="action"`
		json        = "application/occi+json"
	)
	// GFD.229 §5.5, the example rendering (text/plain, then text/occi).
	gfd229 := `Category: compute; \
    scheme="http://schemas.ogf.org/occi/infrastructure#" \
    class="kind";
Link: </users/foo/compute/b9ff813e-fee5-4a9d-b839-673f39746096?action=start>; \
    rel="http://schemas.ogf.org/occi/infrastructure/compute/action#start"
X-OCCI-Attribute: occi.core.id="urn:uuid:b9ff813e-fee5-4a9d-b839-673f39746096"
X-OCCI-Attribute: occi.core.title="My Dummy VM"
X-OCCI-Attribute: occi.compute.architecture="x86"
X-OCCI-Attribute: occi.compute.state="inactive"
X-OCCI-Attribute: occi.compute.speed=1.33
X-OCCI-Attribute: occi.compute.memory=2.0
X-OCCI-Attribute: occi.compute.cores=2
X-OCCI-Attribute: occi.compute.hostname="dummy"
`
	// GFD.226 §4: a resource, an action invocation, a link, a mixin.
	gfd226Resource := `{"kind":"http://schemas.ogf.org/occi/infrastructure#compute","mixins":["http://example.com/occi/infrastructure/os_tpl#debian9","http://example.com/occi/infrastructure/resource_tpl#medium"],` +
		`"attributes":{"occi.compute.speed":2,"occi.compute.memory":4,"occi.compute.cores":2,"com.example.occi.templates.myosmixin":{"mykey":"myvalue"}},` +
		`"actions":["http://schemas.ogf.org/occi/infrastructure/compute/action#start"],"id":"urn:uuid:996ad860-2a9a-504f-8861-aeafd0b2ae29",` +
		`"links":[{"kind":"http://schemas.ogf.org/occi/infrastructure#networkinterface","mixins":["http://schemas.ogf.org/occi/infrastructure/networkinterface#ipnetworkinterface"],` +
		`"attributes":{"occi.networkinterface.interface":"eth0","occi.networkinterface.mac":"00:80:41:ae:fd:7e","occi.networkinterface.address":"192.168.0.100","occi.networkinterface.gateway":"192.168.0.1","occi.networkinterface.allocation":"dynamic"},` +
		`"id":"urn:uuid:22fe83ae-a20f-54fc-b436-cec85c94c5e8","target":{"location":"/network/n1","kind":"http://schemas.ogf.org/occi/infrastructure#network"},` +
		`"source":{"location":"/compute/996ad860-2a9a-504f-8861-aeafd0b2ae29","kind":"http://schemas.ogf.org/occi/infrastructure#compute"}}]}`
	gfd226Action := `{"action":"http://schemas.ogf.org/occi/infrastructure/compute/action#stop","attributes":{"method":"graceful"}}`
	gfd226Link := `{"kind":"http://schemas.ogf.org/occi/infrastructure#networkinterface","attributes":{"occi.networkinterface.interface":"eth0"},` +
		`"id":"urn:uuid:22fe83ae-a20f-54fc-b436-cec85c94c5e9","target":{"location":"/network/n1","kind":"http://schemas.ogf.org/occi/infrastructure#network"},` +
		`"source":{"location":"/compute/c1","kind":"http://schemas.ogf.org/occi/infrastructure#compute"}}`
	gfd226Mixin := `{"mixins":[{"term":"medium","scheme":"http://example.com/template/resource#","depends":["http://schemas.ogf.org/occi/infrastructure#resource_tpl"],` +
		`"applies":["http://schemas.ogf.org/occi/infrastructure#compute"],"attributes":{"occi.compute.speed":{"type":"number","default":2.8}},"title":"MediumVM","location":"/template/resource/medium/"}]}`

	type seed struct{ method, path, ct, accept, category, attr, link, location, body string }
	for _, s := range []seed{
		// GFD.223 §6: the query interface, whole and filtered; mixins defined and removed.
		{method: "GET", path: "/-/"},
		{method: "GET", path: "/.well-known/org/ogf/occi/-/", accept: json},
		{method: "GET", path: "/-/", accept: "text/occi", category: compute},
		{method: "POST", path: "/-/", ct: "text/plain", body: `Category: my_tag; scheme="http://example.com/tags#"; class="mixin"; title="a; tricky, \"title\""; location="/tags/my/"`},
		{method: "POST", path: "/-/", ct: json, body: gfd226Mixin},
		// GFD.229 and GFD.226 renderings, created in a kind collection.
		{method: "POST", path: "/compute/", ct: "text/plain", body: gfd229},
		{method: "POST", path: "/compute/", ct: "text/plain", body: strings.Replace(gfd229, `#" \`, `#"; \`, 1)},
		{method: "POST", path: "/compute/", ct: "text/occi", category: compute,
			attr: "occi.core.title=\"My Dummy VM\"\nocci.compute.memory=2.0, occi.compute.cores=2",
			link: `</network/n1>; rel="http://schemas.ogf.org/occi/infrastructure#network"; category="http://schemas.ogf.org/occi/infrastructure#networkinterface"`},
		{method: "POST", path: "/compute/", ct: json, accept: json, body: gfd226Resource},
		{method: "POST", path: "/compute/", ct: json, accept: json, body: strings.NewReplacer(`"http://example.com/occi/infrastructure/os_tpl#debian9","http://example.com/occi/infrastructure/resource_tpl#medium"`, `"`+SchemeOSTemplate+`cirros"`,
			`,"com.example.occi.templates.myosmixin":{"mykey":"myvalue"}`, ``).Replace(gfd226Resource)},
		{method: "POST", path: "/networkinterface/", ct: json, body: gfd226Link},
		{method: "POST", path: "/compute/", ct: json, body: `{"resources":[{"kind":"http://schemas.ogf.org/occi/infrastructure#compute","id":"r1"},{"kind":"http://schemas.ogf.org/occi/infrastructure#compute","id":"r2"}]}`},
		{method: "POST", path: "/storagelink/", ct: "text/plain", body: `Category: storagelink; ` + kindScheme + `
X-OCCI-Attribute: occi.core.source="/compute/c1"
X-OCCI-Attribute: occi.core.target="http://localhost/storage/s1"
X-OCCI-Attribute: occi.storagelink.mountpoint="/dev/vdb"`},
		{method: "PUT", path: "/compute/c2", ct: "text/plain", body: "Category: " + compute + "\nCategory: cirros; scheme=\"" + SchemeOSTemplate + "\"; class=\"mixin\"\nX-OCCI-Attribute: occi.compute.cores=4"},
		// Entities read, updated, acted on, deleted.
		{method: "GET", path: "/compute/c1", accept: "text/occi"},
		{method: "HEAD", path: "/compute/c1", accept: json},
		{method: "POST", path: "/compute/c1", ct: "text/plain", body: `X-OCCI-Attribute: occi.core.title="renamed", occi.compute.memory=1.5`},
		{method: "POST", path: "/compute/c1?action=start", ct: "text/plain", body: "Category: " + startAction},
		{method: "POST", path: "/compute/c1?action=stop", ct: json, body: gfd226Action},
		{method: "POST", path: "/storage/s1?action=resize", category: `resize; scheme="http://schemas.ogf.org/occi/infrastructure/storage/action#"; class="action"`, attr: "size=2"},
		{method: "POST", path: "/storage/s1?action=snapshot"},
		// Collections listed, filtered, paged, acted on; mixin membership.
		{method: "GET", path: "/compute/?page=1&number=2", accept: "text/uri-list", attr: "occi.compute.cores=2"},
		{method: "GET", path: "/network/", accept: "application/json"},
		{method: "GET", path: "/tags/mine/", accept: json},
		{method: "GET", path: "/no/such/path/"},
		{method: "POST", path: "/compute/?action=start", category: startAction},
		{method: "POST", path: "/tags/mine/", ct: "text/uri-list", body: "/compute/c1\n# a comment\nhttp://localhost/network/n1\n"},
		{method: "PUT", path: "/tags/mine/", location: "/compute/c1, /storage/s1"},
		{method: "DELETE", path: "/tags/mine/", location: "/compute/c1"},
		{method: "DELETE", path: "/compute/", category: `mine; scheme="http://example.com/tags#"`},
		// What real clients send: rOCCI's Content-Type list, q-values, a mixin applied.
		{method: "POST", path: "/compute/", ct: "text/plain,text/occi", accept: "text/occi;q=0.5, text/plain", body: "Category: " + compute},
		{method: "POST", path: "/compute/c1", ct: "text/occi", category: `mine; scheme="http://example.com/tags#"; class="mixin"`},
		// Issue 12: hostile locations, mixins and values, all refused.
		{method: "PUT", path: "/h%00x", ct: "text/plain", body: "Category: " + compute},
		{method: "PUT", path: "/h/.%2e/compute/x", ct: "text/plain", body: "Category: " + compute},
		{method: "PUT", path: "/h%C0%AFx", ct: "text/plain", body: "Category: " + compute},
		{method: "POST", path: "/-/", ct: "text/plain", body: `Category: probe; scheme="http://example.com/p#"; class="mixin"; location="/a/../compute/"`},
		{method: "POST", path: "/-/", ct: "text/plain", body: "Category: probe; scheme=\"http://example.com/p#\"; class=\"mixin\"; title=\"bad \xff\""},
		{method: "POST", path: "/-/", ct: json, body: `{"mixins":[{"term":"probe","scheme":"http://example.com/with space#"}]}`},
		{method: "POST", path: "/compute/", ct: json, body: `{"kind":"http://schemas.ogf.org/occi/infrastructure#compute","attributes":{"occi.core.title":"a\ud800"}}`},
		{method: "POST", path: "/compute/", ct: "text/plain", body: "Category: " + compute + "\nX-OCCI-Attribute: occi.compute.cores=99999999999999999999"},
		{method: "POST", path: "/storage/s1?action=resize", category: `resize; scheme="http://schemas.ogf.org/occi/infrastructure/storage/action#"; class="action"`, attr: "size=1e15"},
		// Last, what removes the fixtures.
		{method: "PATCH", path: "/compute/c1"},
		{method: "DELETE", path: "/storagelink/l1"},
		{method: "DELETE", path: "/compute/c1"},
		{method: "DELETE", path: "/-/", category: `mine; scheme="http://example.com/tags#"; class="mixin"`},
	} {
		f.Add(s.method, s.path, s.ct, s.accept, s.category, s.attr, s.link, s.location, s.body)
	}
	fr := newFuzzRig(f)
	f.Fuzz(func(t *testing.T, method, path, ct, accept, category, attr, link, location, body string) {
		req := fuzzRequest(method, path, body, []string{ct, accept, category, attr, link, location})
		if req == nil {
			return
		}
		// On PostgreSQL one schema serves the whole run: testsupport.DB
		// needs the *testing.F, which may not be used inside the fuzz
		// function (a renew there panicked after 200 inputs).
		if fr.used++; fr.used > fuzzGeneration && fr.path != "" {
			fr.renew()
		}
		w := httptest.NewRecorder()
		fr.h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %s\n%v\n%q\n-> %d %s", method, path, req.Header, body, w.Code, w.Body)
		}
		// What is created or changed came in as text, at a location the
		// rule of paths.go accepts (issue 12 items 6 and 8).
		if changed := w.Code == http.StatusOK || w.Code == http.StatusCreated; changed && (method == "POST" || method == "PUT") {
			if err := textcheck.String(body); err != nil {
				t.Fatalf("%s %s accepted a body that is not text (%v): %q -> %d", method, path, err, body, w.Code)
			}
			if loc := w.Header().Get("Location"); w.Code == http.StatusCreated && method == "PUT" && loc != "" {
				if err := checkPath("location", req.URL.EscapedPath(), false); err != nil {
					t.Fatalf("PUT created an entity at %q, which the location rule refuses: %v", path, err)
				}
			}
		}
	})
}
