package occi_test

import (
	"fmt"
	"mime"
	"net/http"
	"testing"
)

func mediaType(resp *http.Response) string {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return mt
}

// GFD.223 §5.2 with the 1.2 default: no Accept, or */*, gets text/plain.
func TestDefaultRendering(t *testing.T) {
	loc := create(t, textPlain, computeMsg(uniq("dflt")))
	for _, u := range []string{base(t) + "/-/", loc, location(t, kindCompute)} {
		for _, a := range []string{"", "*/*"} {
			resp, body := do(t, "GET", u, accept(a), nil)
			if resp.StatusCode != 200 {
				t.Errorf("GET %s Accept %q: %d: %.200s", u, a, resp.StatusCode, body)
				continue
			}
			if mt := mediaType(resp); mt != "text/plain" {
				t.Errorf("GFD.223 §5.2: GET %s with Accept %q answered %q, want text/plain", u, a, mt)
			}
		}
	}
	// Quality values are honoured (RFC 7231 §5.3.2).
	resp, _ := do(t, "GET", loc, accept("application/xml, text/occi;q=0.2, application/occi+json;q=0.9"), nil)
	if mt := mediaType(resp); resp.StatusCode != 200 || mt != "application/occi+json" {
		t.Errorf("Accept with q-values: %d %q, want 200 application/occi+json", resp.StatusCode, mt)
	}
}

// GFD.223 §5.4 (406 Not Acceptable) and RFC 7231 §6.5.13 (415): media types
// the server does not speak are refused, and nothing is created.
func TestNegotiationErrors(t *testing.T) {
	loc := create(t, textPlain, computeMsg(uniq("neg")))
	for _, u := range []string{base(t) + "/-/", loc, location(t, kindCompute)} {
		resp, body := do(t, "GET", u, accept("application/xml"), nil)
		clientError(t, "GFD.223 §5.4: GET "+u+" Accept application/xml", resp, body, 406)
	}
	before := list(t, location(t, kindCompute))
	marker := uniq("unsup")
	for _, ct := range []string{"application/xml", "text/html", "application/x-www-form-urlencoded"} {
		h := http.Header{}
		h.Set("Content-Type", ct)
		_, b := textPlain.encode(computeMsg(marker))
		resp, body := do(t, "POST", location(t, kindCompute), h, b)
		clientError(t, "POST with Content-Type "+ct, resp, body, 415)
	}
	if n := newSince(t, kindCompute, before, marker); len(n) != 0 {
		t.Errorf("refused requests created %v", n)
	}
}

// GFD.229 §8: text/uri-list for something that is not a listing is 400.
func TestURIListOnlyForListings(t *testing.T) {
	loc := create(t, textPlain, computeMsg(uniq("uril")))
	resp, body := do(t, "GET", loc, accept("text/uri-list"), nil)
	clientError(t, "GFD.229 §8: GET an entity as text/uri-list", resp, body, 400)
	resp, body = do(t, "GET", location(t, kindCompute), accept("text/uri-list"), nil)
	if resp.StatusCode != 200 || mediaType(resp) != "text/uri-list" {
		t.Errorf("GFD.229 §8: collection as text/uri-list: %d %q: %.200s", resp.StatusCode, mediaType(resp), body)
	}
}

// GFD.223 §5.3: a client that asks for a later OCCI version gets 501; the
// same or an earlier one is served.
func TestVersioning(t *testing.T) {
	for ua, want := range map[string]int{
		"test-client/1.0 OCCI/1.2":       200,
		"test-client/1.0 OCCI/1.1":       200,
		"test-client/1.0":                200,
		"test-client/1.0 OCCI/1.3":       501,
		"test-client/1.0 (x) OCCI/2.0":   501,
		"curl/8.0 libcurl/8.0 OCCI/1.10": 501,
	} {
		h := accept("text/plain")
		h.Set("User-Agent", ua)
		resp, body := do(t, "GET", base(t)+"/-/", h, nil)
		if resp.StatusCode != want {
			t.Errorf("GFD.223 §5.3: User-Agent %q: %d, want %d", ua, resp.StatusCode, want)
		}
		if want == 501 && len(body) == 0 {
			t.Errorf("501 for %q without a message", ua)
		}
	}
}

// GFD.223 §8 Table 1: PUT on a kind collection and PUT on the query interface
// are not defined: 405, and Server still says OCCI/1.2 (GFD.223 §5.3) on
// every error answer.
func TestUndefinedMethods(t *testing.T) {
	_, b := textPlain.encode(computeMsg(uniq("undef")))
	h := http.Header{}
	h.Set("Content-Type", "text/plain")
	for _, u := range []string{location(t, kindCompute), base(t) + "/-/"} {
		resp, body := do(t, "PUT", u, h, b)
		clientError(t, "GFD.223 §8: PUT "+u, resp, body, 405)
	}
	resp, body := do(t, "GET", location(t, kindCompute)+uniq("nosuch"), nil, nil)
	clientError(t, "GFD.223 §10.1: GET a missing entity", resp, body, 404)
}

// RFC 7231 §3.1.1.1: media type parameters (charset) do not change the
// rendering; GFD.229 §4.1: class may be unquoted (as OCCI 1.1 clients send
// it); GFD.229 §6: LF-only line ends are read like CRLF.
func TestLenientInput(t *testing.T) {
	col := location(t, kindCompute)
	cases := []struct{ name, ct, body string }{
		{"text/plain; charset=utf-8", "text/plain; charset=utf-8", computeCat + "\r\nX-OCCI-Attribute: occi.core.title=\"%s\"\r\n"},
		{"unquoted class", "text/plain", `Category: compute; scheme="http://schemas.ogf.org/occi/infrastructure#"; class=kind` + "\r\nX-OCCI-Attribute: occi.core.title=\"%s\"\r\n"},
		{"LF line ends", "text/plain", computeCat + "\nX-OCCI-Attribute: occi.core.title=\"%s\"\n"},
		{"application/occi+json; charset=utf-8", "application/occi+json; charset=utf-8", `{"kind": "http://schemas.ogf.org/occi/infrastructure#compute", "attributes": {"occi.core.title": "%s"}}`},
	}
	for _, c := range cases {
		title := uniq("lenient")
		h := http.Header{}
		h.Set("Content-Type", c.ct)
		resp, body := do(t, "POST", col, h, []byte(fmt.Sprintf(c.body, title)))
		if resp.StatusCode != 201 {
			t.Errorf("%s: create: %d, want 201: %.300s", c.name, resp.StatusCode, body)
			continue
		}
		loc := resp.Header.Get("Location")
		cleanup(t, loc)
		if got := read(t, textPlain, loc).str("occi.core.title"); got != title {
			t.Errorf("%s: title %q, want %q", c.name, got, title)
		}
	} // OCCI 1.1 clients (GFD.185 §3.3) send text/occi requests with the
	// rendering in headers and an empty body; "OK" is what servers answer.
	for _, r := range []rendering{textOCCIJoin, textOCCIRep} {
		title := uniq("emptybody")
		h, _ := r.encode(computeMsg(title))
		resp, body := do(t, "POST", col, h, nil)
		if resp.StatusCode != 201 {
			t.Errorf("%s with an empty body: create: %d, want 201: %.300s", r.name, resp.StatusCode, body)
			continue
		}
		loc := resp.Header.Get("Location")
		cleanup(t, loc)
		if got := read(t, textPlain, loc).str("occi.core.title"); got != title {
			t.Errorf("%s with an empty body: title %q, want %q", r.name, got, title)
		}
	}
}
