package cdmi

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// CDMI 1.1.1 clause 10: domains are created (§10.2), read (§10.3),
// updated (§10.4) and deleted (§10.5) below cdmi_domains/; objects name
// them in domainURI; each holds a cdmi_domain_members container (§10.1.3).
func TestDomainLifecycle(t *testing.T) {
	ts := newTestServer(t)
	resp, body := ts.do("PUT", "/cdmi/cdmi_domains/acme", `{}`, cdmiHdr(ctDomain)...)
	assert.Equal(t, 400, resp.StatusCode, "§10.1: a create without the trailing slash is 400: %s", body)
	resp, body = ts.do("PUT", "/cdmi/cdmi_domains/acme/", `{"metadata":{"cdmi_domain_enabled":"true","colour":"red"}}`, cdmiHdr(ctDomain)...)
	require.Equal(t, 201, resp.StatusCode, body)
	assert.Equal(t, ctDomain, resp.Header.Get("Content-Type"))
	got := decode(t, body)
	assert.Equal(t, "acme/", got["objectName"])
	assert.Equal(t, "/cdmi/cdmi_domains/acme/", got["domainURI"], "§10.2.6: a domain is owned by itself")
	assert.Equal(t, []any{"cdmi_domain_members/"}, got["children"])
	assert.Equal(t, "true", got["metadata"].(map[string]any)["cdmi_domain_enabled"])

	resp, _ = ts.do("GET", "/cdmi/cdmi_domains/acme", "", cdmiHdr(ctDomain)...)
	assert.Equal(t, 301, resp.StatusCode, "§10.1: an existing domain without the slash is 301")
	resp, body = ts.do("GET", "/cdmi/cdmi_domains/?children", "", cdmiHdr(ctDomain)...)
	require.Equal(t, 200, resp.StatusCode, body)
	assert.ElementsMatch(t, []any{"default/", "acme/"}, decode(t, body)["children"])
	resp, body = ts.do("PUT", "/cdmi/cdmi_domains/acme/sales/", `{}`, cdmiHdr(ctDomain)...)
	require.Equal(t, 201, resp.StatusCode, "nested domains (§10.1): %s", body)
	assert.Equal(t, "false", decode(t, body)["metadata"].(map[string]any)["cdmi_domain_enabled"],
		"§10.1.1: absent at creation, cdmi_domain_enabled is false")

	// Member records are data objects in the membership container.
	member := `{"mimetype":"application/json","valuetransferencoding":"json","value":{"cdmi_member_enabled":"true","cdmi_member_type":"user","cdmi_member_name":"alice","cdmi_member_principal":"alice","cdmi_member_privileges":[]}}`
	resp, body = ts.do("PUT", "/cdmi/cdmi_domains/acme/cdmi_domain_members/alice", member, cdmiHdr(ctObject)...)
	require.Equal(t, 201, resp.StatusCode, body)
	resp, body = ts.do("GET", "/cdmi/cdmi_domains/acme/cdmi_domain_members/?children", "", cdmiHdr(ctContainer)...)
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Equal(t, []any{"alice"}, decode(t, body)["children"])
	resp, body = ts.do("PUT", "/cdmi/cdmi_domains/acme/stray", `{"value":"x"}`, cdmiHdr(ctObject)...)
	assert.Equal(t, 400, resp.StatusCode, "only member records, in the membership container: %s", body)

	// domainURI names an existing domain (§9.2.5, §8.2.5, §11.2.5), else 400.
	resp, body = ts.do("PUT", "/cdmi/box/", `{"domainURI":"/cdmi_domains/acme/"}`, cdmiHdr(ctContainer)...)
	require.Equal(t, 201, resp.StatusCode, body)
	assert.Equal(t, "/cdmi/cdmi_domains/acme/", decode(t, body)["domainURI"])
	resp, body = ts.do("PUT", "/cdmi/box/o", `{"value":"v"}`, cdmiHdr(ctObject)...)
	require.Equal(t, 201, resp.StatusCode, body)
	assert.Equal(t, "/cdmi/cdmi_domains/acme/", decode(t, body)["domainURI"], "the parent's domain")
	resp, body = ts.do("PUT", "/cdmi/box/q", `{"domainURI":"/cdmi/cdmi_domains/acme/sales/"}`, cdmiHdr(ctQueue)...)
	require.Equal(t, 201, resp.StatusCode, body)
	assert.Equal(t, "/cdmi/cdmi_domains/acme/sales/", decode(t, body)["domainURI"])
	for _, bad := range []string{"/cdmi_domains/nope/", "/cdmi_domains/", "/box/", "::"} {
		resp, body = ts.do("PUT", "/cdmi/box/bad", `{"value":"v","domainURI":"`+bad+`"}`, cdmiHdr(ctObject)...)
		assert.Equal(t, 400, resp.StatusCode, "%s: %s", bad, body)
	}
	resp, _ = ts.do("PUT", "/cdmi/box/o", `{"domainURI":"/cdmi_domains/default/"}`, cdmiHdr(ctObject)...)
	require.Equal(t, 204, resp.StatusCode)
	_, body = ts.do("GET", "/cdmi/box/o?domainURI", "", cdmiHdr(ctObject)...)
	assert.Equal(t, "/cdmi/cdmi_domains/default/", decode(t, body)["domainURI"])

	// Update (§10.4), then delete (§10.5): a domain holding objects needs
	// cdmi_domain_delete_reassign (§10.1.1), else 400 and nothing goes.
	resp, body = ts.do("PUT", "/cdmi/cdmi_domains/acme/", `{"metadata":{"colour":"blue"}}`, cdmiHdr(ctDomain)...)
	require.Equal(t, 204, resp.StatusCode, body)
	_, body = ts.do("GET", "/cdmi/cdmi_domains/acme/?metadata", "", cdmiHdr(ctDomain)...)
	md := decode(t, body)["metadata"].(map[string]any)
	assert.Equal(t, "blue", md["colour"])
	assert.Equal(t, "true", md["cdmi_domain_enabled"], "kept")
	resp, body = ts.do("DELETE", "/cdmi/cdmi_domains/acme/", "", cdmiHdr(ctDomain)...)
	assert.Equal(t, 400, resp.StatusCode, body)
	resp, _ = ts.do("GET", "/cdmi/cdmi_domains/acme/sales/", "", cdmiHdr(ctDomain)...)
	assert.Equal(t, 200, resp.StatusCode, "nothing deleted")
	resp, body = ts.do("PUT", "/cdmi/cdmi_domains/acme/", `{"metadata":{"cdmi_domain_delete_reassign":"/cdmi_domains/acme/sales/"}}`, cdmiHdr(ctDomain)...)
	require.Equal(t, 204, resp.StatusCode, body)
	resp, body = ts.do("DELETE", "/cdmi/cdmi_domains/acme/", "", cdmiHdr(ctDomain)...)
	assert.Equal(t, 400, resp.StatusCode, "the reassignment target goes too: %s", body)
	resp, body = ts.do("PUT", "/cdmi/cdmi_domains/acme/", `{"metadata":{"cdmi_domain_delete_reassign":"/cdmi_domains/default/"}}`, cdmiHdr(ctDomain)...)
	require.Equal(t, 204, resp.StatusCode, body)
	resp, body = ts.do("DELETE", "/cdmi/cdmi_domains/acme/", "", cdmiHdr(ctDomain)...)
	require.Equal(t, 204, resp.StatusCode, body)
	for _, p := range []string{"/cdmi/cdmi_domains/acme/", "/cdmi/cdmi_domains/acme/sales/", "/cdmi/cdmi_domains/acme/cdmi_domain_members/alice"} {
		resp, _ = ts.do("GET", p, "", "X-CDMI-Specification-Version", "1.1.1")
		assert.Equal(t, 404, resp.StatusCode, p)
	}
	for _, p := range []string{"/cdmi/box/", "/cdmi/box/q"} {
		_, body = ts.do("GET", p+"?domainURI", "", "X-CDMI-Specification-Version", "1.1.1")
		assert.Equal(t, "/cdmi/cdmi_domains/default/", decode(t, body)["domainURI"], p)
	}
	_, body = ts.do("GET", "/cdmi/cdmi_capabilities/domain/", "", cdmiHdr(ctCapability)...)
	caps := decode(t, body)["capabilities"].(map[string]any)
	assert.Equal(t, "true", caps["cdmi_create_domain"])
	assert.Equal(t, "true", caps["cdmi_delete_domain"])
}

// §10.1.1: operations on what belongs to a disabled domain are 403, but
// for administrators; only administrators create domains in cdmi_domains/
// (§16.1.5 ADD_SUBCONTAINER: it is the server's).
func TestDomainDisabledAndWhoMayCreate(t *testing.T) {
	ts := newTestServer(t)
	ts.cdmi.principalOf = func(r *http.Request) Principal {
		if u := r.Header.Get("X-Test-User"); u != "" {
			return Principal{Name: u}
		}
		return requestPrincipal(r)
	}
	alice := func(h ...string) []string { return append(h, "X-Test-User", "alice") }
	resp, body := ts.do("PUT", "/cdmi/cdmi_domains/mine/", `{"metadata":{"cdmi_domain_enabled":"true"}}`, alice(cdmiHdr(ctDomain)...)...)
	assert.Equal(t, 403, resp.StatusCode, body)
	resp, body = ts.do("PUT", "/cdmi/cdmi_domains/d/", `{"metadata":{"cdmi_domain_enabled":"true","cdmi_acl":[{"acetype":"ALLOW","identifier":"AUTHENTICATED@","aceflags":"NO_FLAGS","acemask":"READ_ALL"}]}}`, cdmiHdr(ctDomain)...)
	require.Equal(t, 201, resp.StatusCode, body)
	resp, body = ts.do("PUT", "/cdmi/abox/", `{"domainURI":"/cdmi_domains/d/"}`, alice(cdmiHdr(ctContainer)...)...)
	require.Equal(t, 201, resp.StatusCode, body)
	resp, _ = ts.do("PUT", "/cdmi/abox/o", `{"value":"v"}`, alice(cdmiHdr(ctObject)...)...)
	require.Equal(t, 201, resp.StatusCode)

	resp, body = ts.do("PUT", "/cdmi/cdmi_domains/d/", `{"metadata":{"cdmi_domain_enabled":"false"}}`, cdmiHdr(ctDomain)...)
	require.Equal(t, 204, resp.StatusCode, body)
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/cdmi/abox/", ""}, {"GET", "/cdmi/abox/o", ""}, {"PUT", "/cdmi/abox/o", `{"value":"w"}`},
		{"PUT", "/cdmi/abox/p", `{"value":"w"}`}, {"DELETE", "/cdmi/abox/o", ""},
	} {
		resp, body := ts.do(r.method, r.path, r.body, alice(cdmiHdr(ctObject)...)...)
		assert.Equal(t, 403, resp.StatusCode, "%s %s: %s", r.method, r.path, body)
	}
	resp, _ = ts.do("GET", "/cdmi/abox/o", "", cdmiHdr(ctObject)...)
	assert.Equal(t, 200, resp.StatusCode, "the administrator manages a disabled domain")
	// A domain that grants alice nothing is no domain for her to name.
	resp, body = ts.do("PUT", "/cdmi/cdmi_domains/hidden/", `{"metadata":{"cdmi_domain_enabled":"true"}}`, cdmiHdr(ctDomain)...)
	require.Equal(t, 201, resp.StatusCode, body)
	resp, _ = ts.do("PUT", "/cdmi/bbox/", `{"domainURI":"/cdmi_domains/hidden/"}`, alice(cdmiHdr(ctContainer)...)...)
	assert.Equal(t, 400, resp.StatusCode)
	resp, _ = ts.do("GET", "/cdmi/cdmi_domains/hidden/", "", alice(cdmiHdr(ctDomain)...)...)
	assert.Equal(t, 404, resp.StatusCode)
}

// §10.1.4: a domain's member records admit who acts on its objects: at
// least one matching record (a user, a group, a delegation to another
// domain), none disabled. No records (up to cdmi_domains/) admit everyone;
// a sub-domain without records has its parent's (§10.1).
func TestDomainMembership(t *testing.T) {
	ts := newTestServer(t)
	ts.cdmi.principalOf = func(r *http.Request) Principal {
		if u := r.Header.Get("X-Test-User"); u != "" {
			return Principal{Name: u, Groups: r.Header.Values("X-Test-Group")}
		}
		return requestPrincipal(r)
	}
	as := func(user string, h ...string) []string {
		h = append(h, "X-Test-User", user)
		if user == "alice" {
			h = append(h, "X-Test-Group", "project:alpha")
		}
		return h
	}
	domain := `{"metadata":{"cdmi_domain_enabled":"true","cdmi_acl":[{"acetype":"ALLOW","identifier":"AUTHENTICATED@","aceflags":"NO_FLAGS","acemask":"READ_ALL"}]}}`
	for _, d := range []string{"club/", "club/jr/", "other/"} {
		resp, body := ts.do("PUT", "/cdmi/cdmi_domains/"+d, domain, cdmiHdr(ctDomain)...)
		require.Equal(t, 201, resp.StatusCode, body)
	}
	for box, d := range map[string]string{"abox": "club", "jbox": "club/jr", "obox": "other"} {
		resp, body := ts.do("PUT", "/cdmi/"+box+"/", `{"domainURI":"/cdmi_domains/`+d+`/"}`, as("alice", cdmiHdr(ctContainer)...)...)
		require.Equal(t, 201, resp.StatusCode, body)
	}
	status := func(box string) int {
		resp, _ := ts.do("GET", "/cdmi/"+box+"/", "", as("alice", cdmiHdr(ctContainer)...)...)
		return resp.StatusCode
	}
	assert.Equal(t, 200, status("abox"), "no records: membership not set up")
	record := func(d, name, rec string) {
		t.Helper()
		resp, body := ts.do("PUT", "/cdmi/cdmi_domains/"+d+"/cdmi_domain_members/"+name,
			`{"mimetype":"application/json","valuetransferencoding":"json","value":`+rec+`}`, cdmiHdr(ctObject)...)
		require.Contains(t, []int{201, 204}, resp.StatusCode, body)
	}
	record("club", "bob", `{"cdmi_member_enabled":"true","cdmi_member_type":"user","cdmi_member_name":"bob"}`)
	assert.Equal(t, 403, status("abox"), "alice is not a member")
	assert.Equal(t, 403, status("jbox"), "jr has club's records")
	assert.Equal(t, 200, status("obox"))
	record("club", "alpha", `{"cdmi_member_enabled":"true","cdmi_member_type":"group","cdmi_member_name":"project:alpha"}`)
	assert.Equal(t, 200, status("abox"), "a member by her group")
	assert.Equal(t, 200, status("jbox"))
	record("other", "club", `{"cdmi_member_enabled":"true","cdmi_member_type":"delegation","cdmi_delegation_URI":"/cdmi_domains/club/"}`)
	assert.Equal(t, 200, status("obox"), "delegated to club, where she is a member")
	record("club", "alice", `{"cdmi_member_enabled":"false","cdmi_member_type":"user","cdmi_member_name":"alice"}`)
	assert.Equal(t, 403, status("abox"), "a disabled record matching her")
	assert.Equal(t, 403, status("obox"), "and through the delegation")
	resp, _ := ts.do("PUT", "/cdmi/abox/o", `{"value":"v"}`, as("alice", cdmiHdr(ctObject)...)...)
	assert.Equal(t, 403, resp.StatusCode, "nor create in it")
	record("club", "alice", `["not", "a", "record"]`)
	assert.Equal(t, 200, status("abox"), "a record that is none matches no one; her group admits her")
	resp, _ = ts.do("GET", "/cdmi/abox/", "", cdmiHdr(ctContainer)...)
	assert.Equal(t, 200, resp.StatusCode, "administrators are not held to membership")
}

// An object goes only into a domain whose members may use it: a user
// cannot put one in a disabled domain or one it is no member of (§10.1.1,
// §10.1.4).
func TestDomainJoin(t *testing.T) {
	ts := newTestServer(t)
	ts.cdmi.principalOf = func(r *http.Request) Principal {
		if u := r.Header.Get("X-Test-User"); u != "" {
			return Principal{Name: u}
		}
		return requestPrincipal(r)
	}
	readable := `"cdmi_acl":[{"acetype":"ALLOW","identifier":"AUTHENTICATED@","aceflags":"NO_FLAGS","acemask":"READ_ALL"}]`
	for d, md := range map[string]string{"off": `"cdmi_domain_enabled":"false",` + readable, "club": `"cdmi_domain_enabled":"true",` + readable} {
		resp, body := ts.do("PUT", "/cdmi/cdmi_domains/"+d+"/", `{"metadata":{`+md+`}}`, cdmiHdr(ctDomain)...)
		require.Equal(t, 201, resp.StatusCode, body)
	}
	resp, body := ts.do("PUT", "/cdmi/cdmi_domains/club/cdmi_domain_members/bob", `{"mimetype":"application/json","valuetransferencoding":"json","value":{"cdmi_member_enabled":"true","cdmi_member_type":"user","cdmi_member_name":"bob"}}`, cdmiHdr(ctObject)...)
	require.Equal(t, 201, resp.StatusCode, body)
	alice := append(cdmiHdr(ctContainer), "X-Test-User", "alice")
	for _, d := range []string{"off", "club"} {
		resp, body = ts.do("PUT", "/cdmi/box-"+d+"/", `{"domainURI":"/cdmi_domains/`+d+`/"}`, alice...)
		assert.Equal(t, 403, resp.StatusCode, "%s: %s", d, body)
		resp, _ = ts.do("GET", "/cdmi/box-"+d+"/", "", alice...)
		assert.Equal(t, 404, resp.StatusCode, "nothing made")
	}
	resp, body = ts.do("PUT", "/cdmi/box-club/", `{"domainURI":"/cdmi_domains/club/"}`, append(cdmiHdr(ctContainer), "X-Test-User", "bob")...)
	assert.Equal(t, 201, resp.StatusCode, "a member may: %s", body)
}
