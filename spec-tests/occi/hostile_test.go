package occi_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/occicdmi/occicdmi/spec-tests/harness"
)

// Hostile inputs of issue 12 (items 6, 7, 8). Each is refused with a 4xx
// that says why, and changes nothing; on SQLite and PostgreSQL alike
// (OCCICDMI_DATABASE=postgres://... runs this suite on PostgreSQL).

const storageCat = `Category: storage; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="kind"`

// GFD.223 §4 and GFD.185 §3.3.1 (locations are URL paths, unique in the
// provider's namespace; GFD.185 §2.2: aligned with RFC 3986), RFC 3986 §2, §3.3, §5.2.4, §6.2.2:
// a client-chosen entity location (PUT) that is malformed is 400; one at
// or under the CDMI root, an operator endpoint or the query interface is
// 409. The entity is not created.
func TestHostileEntityLocations(t *testing.T) {
	id := uniq("hl")
	cases := []struct {
		name, path string
		want       int
	}{
		{"RFC 3986 §2.1 NUL (%00)", "/hostile/" + id + "%00x", 400},
		{"RFC 3629 overlong UTF-8 (%C0%AF)", "/hostile/" + id + "%C0%AFx", 400},
		{"RFC 3629 invalid UTF-8 (%FF)", "/hostile/" + id + "%FFx", 400},
		{"RFC 3986 §2.2 encoded slash", "/hostile/" + id + "%2Fx", 400},
		{"RFC 3986 §6.2.2.2 .%2e segment", "/hostile/" + id + "/.%2e/x", 400},
		{"RFC 3986 §6.2.2.2 %2e. segment", "/hostile/" + id + "/%2e./x", 400},
		{"RFC 3986 §6.2.2.2 %2E%2E segment", "/hostile/" + id + "/%2E%2E/x", 400},
		{"RFC 3986 §5.2.4 .. segment", "/hostile/" + id + "/../compute/x", 400},
		{"RFC 3986 §6.2.2.2 encoded unreserved", "/hostile/%61" + id, 400},
		{"10,000-character segment", "/hostile/" + strings.Repeat("a", 10000), 400},
		{"RFC 3986 §3.3 empty segment", "/hostile//" + id, 400},
		{"CDMI root itself", "/cdmi", 409},
		{"operator endpoint", "/metrics/" + id, 409},
		{"GFD.223 §9 query interface", "/-/" + id, 409},
		{"GFD.223 §9 well-known query interface", "/.well-known/org/ogf/occi/" + id, 409},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := list(t, location(t, kindCompute))
			marker := uniq("hostile")
			body := computeCat + "\r\nX-OCCI-Attribute: occi.core.title=" + quote(marker) + "\r\n"
			resp, b := rawDo(t, "PUT", c.path, "text/plain", body)
			clientError(t, "PUT "+clipped(c.path), resp, b, c.want)
			if resp.StatusCode == 201 {
				cleanup(t, base(t)+c.path)
			}
			if n := newSince(t, kindCompute, before, marker); len(n) != 0 {
				t.Errorf("a refused PUT left %v behind", n)
			}
		})
	}
	// A raw byte that is not UTF-8 in the request line (no client escapes
	// it): Go's server hands it on escaped as %FF, and the rule refuses it.
	u, _ := url.Parse(base(t))
	if u.Scheme != "http" {
		t.Skip("raw request line needs plain HTTP")
	}
	resp := rawLine(t, u.Host, "PUT /hostile/"+id+"\xffraw HTTP/1.1", computeCat)
	if resp.StatusCode < 400 || resp.StatusCode > 499 {
		t.Errorf("raw invalid byte in the path: status %d, want 4xx", resp.StatusCode)
	}
}

// GFD.223 §9.3, GFD.185 §3.3.1 (location paths end in '/') and GFD.229
// §4.1 / GFD.226 §3.2 (a user mixin's location),
// with the same rule as entity locations, in text and JSON: a mixin at or
// under the CDMI root is 409; a malformed location, a 10,000-character
// term, a scheme with spaces, a title with a byte 0xFF or longer than
// 1024 bytes is 400. None is defined afterwards.
func TestHostileMixins(t *testing.T) {
	scheme := "http://example.com/occi/hostile#"
	long := strings.Repeat("t", 10000)
	cases := []struct {
		name, term, scheme, loc, title string
		want                           int
	}{
		{"mixin at the CDMI root", uniq("h"), scheme, "/cdmi/", "", 409},
		{"mixin under the CDMI root", uniq("h"), scheme, "/cdmi/probe/", "", 409},
		{"mixin at an operator endpoint", uniq("h"), scheme, "/healthz/", "", 409},
		{"mixin inside the query interface", uniq("h"), scheme, "/-/x/", "", 409},
		{"RFC 3986 §5.2.4 /a/../compute/", uniq("h"), scheme, "/a/../compute/", "", 400},
		{"RFC 3986 §6.2.2.2 .%2e", uniq("h"), scheme, "/m/.%2e/", "", 400},
		{"RFC 3986 §2.1 %00", uniq("h"), scheme, "/m%00/", "", 400},
		{"10,000-character segment", uniq("h"), scheme, "/" + long + "/", "", 400},
		{"GFD.229 §4.1 10,000-character term", long, scheme, "", "", 400},
		{"RFC 3986 §4.3 scheme with spaces", uniq("h"), "http://example.com/occi/with space#", "", "", 400},
		{"title longer than its 1024-byte column", uniq("h"), scheme, "", strings.Repeat("x", 1025), 400},
		{"title with byte 0xFF", uniq("h"), scheme, "", "bad \xff title", 400},
	}
	for _, c := range cases {
		for _, asJSON := range []bool{false, true} {
			name := c.name + map[bool]string{false: " (text/plain)", true: " (application/occi+json)"}[asJSON]
			t.Run(name, func(t *testing.T) {
				ct, body := "text/plain", mixinText(c.term, c.scheme, c.loc, c.title)
				if asJSON {
					ct, body = "application/occi+json", mixinJSON(c.term, c.scheme, c.loc, c.title)
				}
				resp, b := rawDo(t, "POST", "/-/", ct, body)
				clientError(t, name, resp, b, c.want)
				forgetModel()
				if _, ok := model(t)[c.scheme+c.term]; ok {
					t.Errorf("a refused mixin %s was defined", clipped(c.scheme+c.term))
					rawDo(t, "DELETE", "/-/", "text/plain", mixinText(c.term, c.scheme, "", ""))
					forgetModel()
				}
			})
		}
	}
	// With the mixin at /cdmi/ refused, an association POST to /cdmi/ is
	// CDMI's request, never OCCI's: OCCI's answers carry its Accept list.
	resp, _ := rawDo(t, "POST", "/cdmi/", "text/uri-list", location(t, kindCompute)+"x\n")
	if strings.Contains(resp.Header.Get("Accept"), "text/occi") {
		t.Errorf("POST /cdmi/ was answered by OCCI (%d)", resp.StatusCode)
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		cleanupCDMI(t, loc)
	}
}

// RFC 8259 §8.1, §8.2 (JSON is UTF-8; the text renderings, which name no
// charset, are read as UTF-8 too): attribute values are text. A value with
// a byte 0xFF, a NUL or a lone surrogate is refused (400), not stored with
// U+FFFD in its place; nothing is created.
func TestHostileAttributeValues(t *testing.T) {
	cases := []struct{ name, ct, body string }{
		{"text: byte 0xFF in a quoted value", "text/plain", computeCat + "\r\nX-OCCI-Attribute: occi.core.summary=\"h\xffst\""},
		{"text: byte 0xFF in a bare value", "text/plain", computeCat + "\r\nX-OCCI-Attribute: occi.core.summary=h\xffst"},
		{"text: NUL in a value", "text/plain", computeCat + "\r\nX-OCCI-Attribute: occi.core.summary=\"h\x00st\""},
		{"JSON: byte 0xFF in a string", "application/occi+json", `{"kind": "` + kindCompute + `", "attributes": {"occi.core.summary": "h` + "\xff" + `st"}}`},
		{"JSON: \\u0000 in a string", "application/occi+json", `{"kind": "` + kindCompute + `", "attributes": {"occi.core.summary": "h\u0000st"}}`},
		{"JSON: lone surrogate", "application/occi+json", `{"kind": "` + kindCompute + `", "attributes": {"occi.core.summary": "h\ud800st"}}`},
		{"GFD.224 Table 2 cores=99999999999999999999", "text/plain", computeCat + "\r\nX-OCCI-Attribute: occi.compute.cores=99999999999999999999"},
		{"GFD.224 Table 2 cores=-1", "text/plain", computeCat + "\r\nX-OCCI-Attribute: occi.compute.cores=-1"},
		{"GFD.224 Table 2 memory=1e300", "text/plain", computeCat + "\r\nX-OCCI-Attribute: occi.compute.memory=1e300"},
		{"JSON: cores 1e20", "application/occi+json", `{"kind": "` + kindCompute + `", "attributes": {"occi.compute.cores": 1e20}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := list(t, location(t, kindCompute))
			marker := uniq("hostile")
			body := c.body
			if c.ct == "text/plain" {
				body += "\r\nX-OCCI-Attribute: occi.core.title=" + quote(marker) + "\r\n"
			} else {
				body = strings.Replace(body, `"attributes": {`, `"attributes": {"occi.core.title": "`+marker+`", `, 1)
			}
			resp, b := rawDo(t, "POST", pathOf(t, location(t, kindCompute)), c.ct, body)
			clientError(t, c.name, resp, b, 400)
			if resp.StatusCode == 201 {
				cleanup(t, resp.Header.Get("Location"))
			}
			if n := newSince(t, kindCompute, before, marker); len(n) != 0 {
				t.Errorf("a refused request left %v behind", n)
			}
		})
	}
}

// GFD.224 Table 7 (occi.storage.size, GiB) and OCCI 1.1's resize: sizes
// past the server's maximum volume size (README "Limits") or past what a
// byte count holds are 400 naming the limit, never 503, and name no
// server path; nothing is created and a refused resize leaves the size.
func TestHostileStorageSizes(t *testing.T) {
	for _, size := range []string{"100000", "1e15", "-1"} {
		t.Run("occi.storage.size="+size, func(t *testing.T) {
			before := list(t, location(t, kindStorage))
			containers := cdmiChildren(t, "/cdmi/occi-storage/")
			defer func() {
				if after := cdmiChildren(t, "/cdmi/occi-storage/"); len(after) != len(containers) {
					t.Errorf("a refused storage left a CDMI container: %v -> %v", containers, after)
				}
			}()
			marker := uniq("hostile")
			body := storageCat + "\r\nX-OCCI-Attribute: occi.storage.size=" + size + "\r\nX-OCCI-Attribute: occi.core.title=" + quote(marker) + "\r\n"
			resp, b := rawDo(t, "POST", pathOf(t, location(t, kindStorage)), "text/plain", body)
			clientError(t, "storage of "+size+" GiB", resp, b, 400)
			noServerPath(t, b)
			if resp.StatusCode == 201 {
				cleanup(t, resp.Header.Get("Location"))
			}
			if n := newSince(t, kindStorage, before, marker); len(n) != 0 {
				t.Errorf("a refused request left %v behind", n)
			}
		})
	}
	st := create(t, textPlain, message{Kind: kindStorage, Attrs: []attr{{"occi.storage.size", 1.0}, {"occi.core.title", uniq("rs")}}})
	for _, size := range []string{"1000000", "1e15"} {
		resp, b := rawDo(t, "POST", pathOf(t, st)+"?action=resize", "text/plain",
			`Category: resize; scheme="http://schemas.ogf.org/occi/infrastructure/storage/action#"; class="action"`+"\r\nX-OCCI-Attribute: size="+size+"\r\n")
		clientError(t, "resize to "+size+" GiB", resp, b, 400)
		noServerPath(t, b)
		if got, _ := num(read(t, textPlain, st).Attrs["occi.storage.size"]); got != 1 {
			t.Errorf("a refused resize changed occi.storage.size to %v", got)
		}
	}
}

func mixinText(term, scheme, loc, title string) string {
	s := "Category: " + term + `; scheme="` + scheme + `"; class="mixin"`
	if title != "" {
		s += `; title="` + title + `"`
	}
	if loc != "" {
		s += `; location="` + loc + `"`
	}
	return s + "\r\n"
}

func mixinJSON(term, scheme, loc, title string) string {
	s := fmt.Sprintf(`{"mixins": [{"term": %q, "scheme": %q`, term, scheme)
	if title != "" {
		s += `, "title": "` + title + `"` // raw, so that a byte 0xFF stays one
	}
	if loc != "" {
		s += fmt.Sprintf(`, "location": %q`, loc)
	}
	return s + "}]}"
}

// rawDo sends body to path on the server as given: no client re-encodes
// the path or the bytes.
func rawDo(t *testing.T, method, path, ct, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, base(t)+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque = "//" + req.URL.Host + path
	req.Header.Set("Content-Type", ct)
	return doReq(t, req)
}

func doReq(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := harness.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, clipped(req.URL.Opaque), err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
	return resp, []byte(b.String())
}

// rawLine sends a request line as given, byte for byte.
func rawLine(t *testing.T, host, line, body string) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "%s\r\nHost: %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", line, host, len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func pathOf(t *testing.T, loc string) string {
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	return u.EscapedPath()
}

func clipped(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// noServerPath checks that an answer names no folder of the server.
func noServerPath(t *testing.T, body []byte) {
	t.Helper()
	for _, p := range []string{"/tmp/", "/var/", "/home/", "/srv/", "/work/", "occicdmi-spec-", ".img"} {
		if strings.Contains(string(body), p) {
			t.Errorf("the answer names a server path (%s): %.300s", p, body)
		}
	}
}

// cdmiChildren lists a CDMI container's children (none when it does not
// exist, or when the server serves no CDMI).
func cdmiChildren(t *testing.T, path string) []any {
	t.Helper()
	req, err := http.NewRequest("GET", base(t)+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-CDMI-Specification-Version", "1.1.1")
	req.Header.Set("Accept", "application/cdmi-container")
	resp, b := doReq(t, req)
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	var c struct {
		Children []any `json:"children"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return c.Children
}

func cleanupCDMI(t *testing.T, loc string) {
	t.Cleanup(func() {
		req, err := http.NewRequest("DELETE", loc, nil)
		if err == nil {
			req.Header.Set("X-CDMI-Specification-Version", "1.1.1")
			if resp, err := harness.Client.Do(req); err == nil {
				resp.Body.Close()
			}
		}
	})
}
