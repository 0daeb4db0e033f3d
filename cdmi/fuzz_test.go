package cdmi

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseBody checks the streaming body parser against encoding/json:
// whatever it accepts must be a JSON object json.Unmarshal accepts too, with
// the same fields and the same decoded string value; it never panics.
func FuzzParseBody(f *testing.F) {
	for _, seed := range []string{
		`{}`, ` { } `,
		`{"mimetype":"text/plain","metadata":{},"value":"This is the Value of this Data Object"}`, // §8.2.9
		`{"valuetransferencoding":"base64","value":"dGhhdA=="}`,
		`{"value":"\u00e9\ud83d\ude00 \"q\" \\ \n"}`,
		`{"value":{"a":[1,2,{"b":null}]},"valuetransferencoding":"json"}`,
		`{"metadata":{"cdmi_acl":[{"acetype":"ALLOW","identifier":"OWNER@","aceflags":"OBJECT_INHERIT","acemask":"ALL_PERMS"}]}}`,
		`{"exports":{"OCCI/iSCSI":{"identifier":"00007ED900104E1D14771DC67C27BF8B","permissions":"x"}}}`,
		`{"copy":"/MyContainer/MyDataObject.txt"}`, `{"value":"\ud800"}`,
		"{\"value\":\"\xff\"}", "{\"metadata\":{\"colour\":\"r\xc0\xafd\"}}", `{"metadata":{"k":"\udc00"}}`, `{"a":1,"a":2}`, `{"value":tru}`, `[1]`, ``,
	} {
		f.Add(seed)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, in string) {
		// A small in-memory bound makes large inputs exercise the spool file.
		b, err := parseBody(strings.NewReader(in), 1<<20, dir)
		if err != nil {
			return
		}
		defer b.Close()
		// What is accepted is text (RFC 8259 §8.1, §8.2): encoding/json
		// would make bad bytes and lone surrogates U+FFFD; the parser
		// refuses them.
		if !utf8.ValidString(in) {
			t.Fatalf("parser accepted %q, which is not UTF-8", in)
		}
		if b.Value != nil && b.ValueIsString {
			got, _ := io.ReadAll(b.Value.Reader())
			if !utf8.Valid(got) {
				t.Fatalf("parser accepted %q, whose value decodes to bytes that are not UTF-8: %q", in, got)
			}
		}
		var ref map[string]json.RawMessage
		if err := json.Unmarshal([]byte(in), &ref); err != nil {
			t.Fatalf("parser accepted %q, encoding/json refuses: %v", in, err)
		}
		n := len(b.Fields)
		if b.Value != nil {
			n++
		}
		if n != len(ref) {
			t.Fatalf("%q: %d fields, encoding/json sees %d", in, n, len(ref))
		}
		if b.Value != nil && b.ValueIsString {
			var want string
			if err := json.Unmarshal(ref["value"], &want); err != nil {
				t.Fatalf("%q: value: %v", in, err)
			}
			got, _ := io.ReadAll(b.Value.Reader())
			if string(got) != want {
				t.Fatalf("%q: value %q, encoding/json decodes %q", in, got, want)
			}
		}
	})
}

// FuzzSelection checks the field/range query parser never panics and that
// ranges it accepts are well formed.
func FuzzSelection(f *testing.F) {
	for _, seed := range []string{
		"objectID;parentURI", "value:0-99", "children:0-9", "metadata:cdmi_", "value=0-99&metadata=colour",
		"metadata:col%20our;value:10-5", "values:3", ";;", "value:-1-3", "%zz", "children:99999999999999999999-1",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := parseSelection(raw)
		if err != nil {
			return
		}
		for _, s := range q {
			if s.Field == "" {
				t.Fatalf("%q: empty field accepted", raw)
			}
			if r, err := parseRange(s.Arg); err == nil && (r.First < 0 || r.Last < r.First || r.Len() <= 0) {
				t.Fatalf("%q: bad range %v accepted", raw, r)
			}
		}
	})
}

// FuzzObjectID checks that IDs parse only when their CRC and layout hold,
// and that every accepted ID round-trips.
func FuzzObjectID(f *testing.F) {
	for _, seed := range []string{
		"00007ED900104E1D14771DC67C27BF8B", "00007ED9001008C174ABCE6AC3287E5F", "00007ED900104E1D14771DC67C27BF8C",
		"00007ed900104e1d14771dc67c27bf8b", "", "0000", "00007ED90028",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := parseObjectID(s)
		if err != nil {
			return
		}
		if !strings.EqualFold(id, s) || len(id) > 2*maxIDLen {
			t.Fatalf("%q parsed as %q", s, id)
		}
		again, err := parseObjectID(id)
		if err != nil || again != id {
			t.Fatalf("%q does not round-trip: %q %v", id, again, err)
		}
	})
}

// FuzzRequest sends arbitrary requests through the whole server: whatever
// comes in, the answer is never a 5xx (a 500 is a bug).
func FuzzRequest(f *testing.F) {
	ts := newTestServer(f)
	ts.do("PUT", "/cdmi/c/", "{}", cdmiHdr(ctContainer)...)
	ts.do("PUT", "/cdmi/c/o", `{"value":"seed"}`, cdmiHdr(ctObject)...)
	ts.do("PUT", "/cdmi/c/q", `{}`, cdmiHdr(ctQueue)...)
	for _, s := range []struct{ m, p, ct, body string }{
		{"GET", "/cdmi/c/o?value:0-1;metadata:cdmi_", ctObject, ""},
		{"PUT", "/cdmi/c/x", ctObject, `{"value":"v","metadata":{"k":"v"}}`},
		{"PUT", "/cdmi/c/d/", ctContainer, `{"exports":{"Network/NFSv4":{"identifier":"/x"}}}`},
		{"POST", "/cdmi/c/q", ctQueue, `{"value":["a","b"]}`},
		{"DELETE", "/cdmi/c/q?values:1", "", ""},
		{"PUT", "/cdmi/c/o?value:2-3", ctObject, `{"value":"ab"}`},
		{"POST", "/cdmi/cdmi_objectid/", ctObject, `{"copy":"/cdmi/c/o"}`},
		{"PATCH", "/cdmi/c/o", ctObject, `{"move":"/cdmi/c/x"}`},
		{"GET", "/cdmi/c/?children:0-3", ctContainer, ""},
	} {
		f.Add(s.m, s.p, s.ct, s.body)
	}
	methods := map[string]bool{"GET": true, "HEAD": true, "PUT": true, "POST": true, "PATCH": true, "DELETE": true}
	f.Fuzz(func(t *testing.T, method, path, ct, body string) {
		if !methods[method] || !strings.HasPrefix(path, "/cdmi/") {
			return
		}
		req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set(v11, "1.1.1")
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			return // the client refused to send it
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %s (%s) %q: %d %s", method, path, ct, body, resp.StatusCode, b)
		}
	})
}
