package cdmi

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// Bad input gets a 4xx naming the problem, never a 500.
func TestBadInputNever500(t *testing.T) {
	ts := newTestServer(t)
	ts.do("PUT", "/cdmi/c/", "{}", cdmiHdr(ctContainer)...)
	ts.do("PUT", "/cdmi/c/o", `{"value":"x"}`, cdmiHdr(ctObject)...)
	ts.do("PUT", "/cdmi/c/q", `{}`, cdmiHdr(ctQueue)...)
	cases := []struct{ method, path, body, ct string }{
		{"PUT", "/cdmi/c/o", `{"value":1}`, ctObject},
		{"PUT", "/cdmi/c/o", `{"value":"x"} trailing`, ctObject},
		{"PUT", "/cdmi/c/o", `{"metadata":[1]}`, ctObject},
		{"PUT", "/cdmi/c/o", `{"metadata":{"cdmi_acl":"nope"}}`, ctObject},
		{"PUT", "/cdmi/c/o", `{"mimetype":5}`, ctObject},
		{"PUT", "/cdmi/c/o", `{"valuetransferencoding":"rot13","value":"x"}`, ctObject},
		{"PUT", "/cdmi/c/o", `{"copy":"/cdmi/nowhere"}`, ctObject},
		{"PUT", "/cdmi/c/o", `{"copy":"/cdmi/c/"}`, ctObject},
		{"PUT", "/cdmi/c/o", `{"move":"::::"}`, ctObject},
		{"PUT", "/cdmi/c/o", `{"value":"x","copy":"/cdmi/c/o"}`, ctObject},
		{"PUT", "/cdmi/c/o?value:5-1", `{"value":"x"}`, ctObject},
		{"PUT", "/cdmi/c/o?value:abc", `{"value":"x"}`, ctObject},
		{"PUT", "/cdmi/c/o", `{"domainURI":"/elsewhere/"}`, ctObject},
		{"PUT", "/cdmi/c/o", `{"deserialize":"/cdmi/c/o"}`, ctObject},
		{"PUT", "/cdmi/c/o", `[]`, ctObject},
		{"PUT", "/cdmi/c/o", ``, ctObject},
		{"PUT", "/cdmi/c/o/", `{}`, ctObject},
		{"PUT", "/cdmi/c/o/", `{}`, ctContainer},
		{"PUT", "/cdmi/c/", `{"value":"x"}`, ctContainer},
		{"PUT", "/cdmi/c/", `{"exports":[]}`, ctContainer},
		{"PUT", "/cdmi/c/", `{"exports":{"Network/NFSv4":{"usermap":[["a","?","b"]]}}}`, ctContainer},
		{"PUT", "/cdmi/c/", `{"move":"/cdmi/c/o"}`, ctContainer},
		{"PUT", "/cdmi/c/newq", `{"value":"x"}`, ctQueue},
		{"PUT", "/cdmi/c/o", `{}`, ctQueue},
		{"PUT", "/cdmi/nope/o", `{}`, ctObject},
		{"PUT", "/cdmi/cdmi_objectid/00007ED900104E1D14771DC67C27BF8B", `{}`, ctObject},
		{"PUT", "/cdmi/cdmi_capabilities/x", `{}`, ctObject},
		{"POST", "/cdmi/c/q", `{"value":[1,2]}`, ctQueue},
		{"POST", "/cdmi/c/q", `{"value":["a"],"mimetype":["a","b"]}`, ctQueue},
		{"POST", "/cdmi/c/q", `{}`, ctQueue},
		{"POST", "/cdmi/c/o", `{}`, ctObject},
		{"POST", "/cdmi/cdmi_objectid/", `{}`, ctContainer},
		{"GET", "/cdmi/c/o?value:9-10", ``, ctObject},
		{"GET", "/cdmi/c/?children:x", ``, ctContainer},
		{"GET", "/cdmi/c/q?values:-1", ``, ctQueue},
		{"GET", "/cdmi/cdmi_objectid/zz", ``, ctObject},
		{"GET", "/cdmi/c/o%00", ``, ctObject},
		{"DELETE", "/cdmi/c/q?values:x", ``, ""},
		{"DELETE", "/cdmi/cdmi_capabilities/", ``, ""},
		{"DELETE", "/cdmi/cdmi_objectid/", ``, ""},
		{"OPTIONS", "/cdmi/c/", ``, ""},
		{"POST", "/cdmi/c/", `{"value":"x"}`, ctContainer},
		{"PUT", "/cdmi/c/newq", `{"value":"long enough to be written"}`, ctQueue},
		{"PUT", "/cdmi/c/odd", `{}`, "application/cdmi-banana"},
		{"PUT", "/cdmi/c/odd/", `{}`, ctDomain},
	}
	for _, tc := range cases {
		h := []string{v11, "1.1.1"}
		if tc.ct != "" {
			h = append(h, "Content-Type", tc.ct, "Accept", tc.ct)
		}
		resp, body := ts.do(tc.method, tc.path, tc.body, h...)
		assert.True(t, resp.StatusCode >= 400 && resp.StatusCode < 500, "%s %s %s: %d %s", tc.method, tc.path, tc.body, resp.StatusCode, body)
		assert.NotEmpty(t, body, "%s %s: no message", tc.method, tc.path)
	}
	// Nothing above changed the object.
	_, body := ts.do("GET", "/cdmi/c/o", "")
	assert.Equal(t, "x", body)
}
