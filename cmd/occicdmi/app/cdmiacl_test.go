package app

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/internal/auth"
)

// CDMI for real principals (issue 10 item 4), over HTTP with HTTP Basic
// users: alice and carol in project alpha, bob in project beta, boss an
// administrator. CDMI 1.1.1 §16.1 (ACLs) is evaluated for each of them.

const (
	ctContainer = "application/cdmi-container"
	ctObject    = "application/cdmi-object"
	ctQueue     = "application/cdmi-queue"
	ctDomain    = "application/cdmi-domain"
)

type cdmiUser struct {
	t    *testing.T
	srv  *httptest.Server
	name string
}

func (u cdmiUser) do(method, path, body string, header ...string) reply {
	u.t.Helper()
	req, err := http.NewRequest(method, u.srv.URL+path, strings.NewReader(body))
	require.NoError(u.t, err)
	req.SetBasicAuth(u.name, u.name+"-secret")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := u.srv.Client().Do(req)
	require.NoError(u.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(u.t, err)
	return reply{resp.StatusCode, resp.Header, string(b)}
}

// cdmi sends a CDMI request with the version header and, for a body, its
// content type (reads ask for it).
func (u cdmiUser) cdmi(method, path, ct, body string) reply {
	u.t.Helper()
	h := []string{"X-CDMI-Specification-Version", "1.1.1"}
	if body != "" {
		h = append(h, "Content-Type", ct)
	} else if ct != "" {
		h = append(h, "Accept", ct)
	}
	return u.do(method, path, body, h...)
}

// object is a CDMI read's body.
func (r reply) object(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.body), &m), r.body)
	return m
}

func (r reply) metadata(t *testing.T) map[string]any {
	md, _ := r.object(t)["metadata"].(map[string]any)
	return md
}

func (r reply) children(t *testing.T) []string {
	var out []string
	for _, c := range r.object(t)["children"].([]any) {
		out = append(out, c.(string))
	}
	return out
}

func cdmiUsers(t *testing.T) (alice, bob, carol, boss cdmiUser) {
	t.Helper()
	users := filepath.Join(t.TempDir(), "users")
	for _, u := range []struct {
		name, project, role string
	}{{"alice", "alpha", "member"}, {"bob", "beta", "member"}, {"carol", "alpha", "member"}, {"boss", "ops", auth.DefaultAdminRole}} {
		require.NoError(t, auth.AddUser(users, u.name, u.name+"-secret", []string{u.project}, []string{u.role}))
	}
	cfg := Defaults()
	cfg.UsersFile = users
	srv := appServer(t, cfg)
	mk := func(n string) cdmiUser { return cdmiUser{t: t, srv: srv, name: n} }
	return mk("alice"), mk("bob"), mk("carol"), mk("boss")
}

// aclBody is a metadata body setting one ACL (§16.1.9's JSON form).
func aclBody(aces ...string) string {
	return `{"metadata":{"cdmi_acl":[` + strings.Join(aces, ",") + `]}}`
}

func allow(who, flags, mask string) string {
	return `{"acetype":"ALLOW","identifier":"` + who + `","aceflags":"` + flags + `","acemask":"` + mask + `"}`
}

// alicesTree is what alice makes: a container with a document, a secret
// and a queue, all with the ACL they inherit (OWNER@ only).
type alicesTree struct {
	boxID, docID, secretID, queueID string
}

func makeAlicesTree(t *testing.T, alice cdmiUser) alicesTree {
	t.Helper()
	var tr alicesTree
	r := alice.cdmi("PUT", "/cdmi/alicebox/", ctContainer, "{}")
	require.Equal(t, http.StatusCreated, r.status, r.body)
	assert.Equal(t, "alice", r.metadata(t)["cdmi_owner"])
	tr.boxID = r.object(t)["objectID"].(string)
	for _, o := range []struct {
		path, ct, body string
		id             *string
	}{
		{"/cdmi/alicebox/doc.txt", ctObject, `{"value":"shared later"}`, &tr.docID},
		{"/cdmi/alicebox/secret.txt", ctObject, `{"value":"alice only"}`, &tr.secretID},
		{"/cdmi/alicebox/q", ctQueue, "{}", &tr.queueID},
	} {
		r := alice.cdmi("PUT", o.path, o.ct, o.body)
		require.Equal(t, http.StatusCreated, r.status, r.body)
		// cdmi_owner (§16.3, Table 118) is the creator.
		assert.Equal(t, "alice", r.metadata(t)["cdmi_owner"], o.path)
		*o.id = r.object(t)["objectID"].(string)
	}
	r = alice.cdmi("POST", "/cdmi/alicebox/q", ctQueue, `{"value":"first"}`)
	require.Equal(t, http.StatusNoContent, r.status, r.body)
	return tr
}

// A second user sees nothing of alice's and changes nothing, by path and
// by ID, for every object kind: to it, what grants it nothing is not there
// (404: the same answer as for a name no one took, so nothing leaks).
func TestCDMIAnotherUserSeesAndChangesNothing(t *testing.T) {
	alice, bob, _, _ := cdmiUsers(t)
	tr := makeAlicesTree(t, alice)
	r := alice.cdmi("GET", "/cdmi/alicebox/", ctContainer, "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Equal(t, "alice", r.metadata(t)["cdmi_owner"])
	assert.ElementsMatch(t, []string{"doc.txt", "secret.txt", "q"}, r.children(t))

	missing := bob.cdmi("GET", "/cdmi/nobox/", ctContainer, "")
	require.Equal(t, http.StatusNotFound, missing.status)
	for _, path := range []string{
		"/cdmi/alicebox/", "/cdmi/alicebox/doc.txt", "/cdmi/alicebox/q",
		"/cdmi/cdmi_objectid/" + tr.boxID + "/", "/cdmi/cdmi_objectid/" + tr.docID, "/cdmi/cdmi_objectid/" + tr.queueID,
	} {
		for _, method := range []string{"GET", "HEAD", "DELETE"} {
			r := bob.cdmi(method, path, "", "")
			assert.Equal(t, http.StatusNotFound, r.status, "%s %s: %s", method, path, r.body)
		}
		r := bob.do("GET", path, "") // a non-CDMI read of the value
		assert.Equal(t, http.StatusNotFound, r.status, path)
	}
	// The same words as for an ID that is no more.
	r = alice.cdmi("PUT", "/cdmi/alicebox/gone.txt", ctObject, `{"value":"x"}`)
	goneID := r.object(t)["objectID"].(string)
	require.Equal(t, http.StatusNoContent, alice.cdmi("DELETE", "/cdmi/alicebox/gone.txt", "", "").status)
	hidden := bob.cdmi("GET", "/cdmi/cdmi_objectid/"+tr.docID, "", "")
	gone := bob.cdmi("GET", "/cdmi/cdmi_objectid/"+goneID, "", "")
	assert.Equal(t, gone.status, hidden.status)
	assert.Equal(t, strings.ReplaceAll(gone.body, goneID, "X"), strings.ReplaceAll(hidden.body, tr.docID, "X"))

	bobChangesNothing(t, bob, tr)

	// The root lists bob's container, not alice's, and counts his bytes
	// only (§16.3 cdmi_size).
	r = bob.cdmi("GET", "/cdmi/?children&childrenrange&metadata", ctContainer, "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Equal(t, []string{"bobbox/"}, r.children(t))
	assert.Equal(t, "0-0", r.object(t)["childrenrange"])
	assert.Equal(t, "0", r.metadata(t)["cdmi_size"])
	assert.NotEqual(t, "0", alice.cdmi("GET", "/cdmi/?metadata:cdmi_size", ctContainer, "").metadata(t)["cdmi_size"])

	// Nothing changed for alice.
	r = alice.cdmi("GET", "/cdmi/alicebox/doc.txt?value", ctObject, "")
	assert.Equal(t, "shared later", r.object(t)["value"])
	r = alice.cdmi("GET", "/cdmi/alicebox/?children&metadata", ctContainer, "")
	assert.ElementsMatch(t, []string{"doc.txt", "secret.txt", "q"}, r.children(t))
	assert.Len(t, r.metadata(t)["cdmi_acl"], 1, "the ACL alicebox inherited (OWNER@)")
	r = alice.cdmi("GET", "/cdmi/alicebox/q?values", ctQueue, "")
	assert.Equal(t, []any{"first"}, r.object(t)["value"])
	assert.Equal(t, http.StatusOK, alice.cdmi("GET", "/cdmi/cdmi_objectid/"+tr.secretID, ctObject, "").status)

	// Capabilities (§12) are there for everyone to read, and read-only.
	for _, path := range []string{"/cdmi/cdmi_capabilities/", "/cdmi/cdmi_capabilities/container/", "/cdmi/cdmi_domains/"} {
		r := bob.cdmi("GET", path, "", "")
		assert.Equal(t, http.StatusOK, r.status, "%s: %s", path, r.body)
	}
	r = bob.cdmi("PUT", "/cdmi/cdmi_capabilities/container/", ctContainer, "{}")
	assert.Equal(t, http.StatusMethodNotAllowed, r.status, r.body)
}

// bobChangesNothing: writes into alice's container, over her objects, by
// ID, enqueue and dequeue, creates over her names, and copies, moves and
// references of her objects are all refused without telling anything.
func bobChangesNothing(t *testing.T, bob cdmiUser, tr alicesTree) {
	t.Helper()
	for _, w := range []struct{ method, path, ct, body string }{
		{"PUT", "/cdmi/alicebox/doc.txt", ctObject, `{"value":"bob was here"}`},
		{"PUT", "/cdmi/alicebox/new.txt", ctObject, `{"value":"bob was here"}`},
		{"PUT", "/cdmi/alicebox/sub/", ctContainer, "{}"},
		{"PUT", "/cdmi/cdmi_objectid/" + tr.docID, ctObject, `{"value":"bob was here"}`},
		{"PUT", "/cdmi/cdmi_objectid/" + tr.boxID + "/", ctContainer, aclBody(allow("bob", "NO_FLAGS", "ALL_PERMS"))},
		{"PUT", "/cdmi/cdmi_objectid/" + tr.queueID, ctQueue, `{"metadata":{"x":"y"}}`},
		{"POST", "/cdmi/cdmi_objectid/" + tr.queueID, ctQueue, `{"value":"bob's value"}`},
		{"POST", "/cdmi/alicebox/", ctObject, `{"value":"bob was here"}`},
		{"DELETE", "/cdmi/cdmi_objectid/" + tr.queueID + "?values:1", "", ""},
	} {
		r := bob.cdmi(w.method, w.path, w.ct, w.body)
		assert.Equal(t, http.StatusNotFound, r.status, "%s %s: %s", w.method, w.path, r.body)
	}
	r := bob.cdmi("PUT", "/cdmi/alicebox/", ctContainer, aclBody(allow("bob", "NO_FLAGS", "ALL_PERMS")))
	assert.Equal(t, http.StatusForbidden, r.status, "a name another holds cannot be taken over: %s", r.body)
	r = bob.cdmi("PUT", "/cdmi/alicebox", ctObject, `{"value":"bob"}`)
	assert.Equal(t, http.StatusForbidden, r.status, "nor told what it is: %s", r.body)

	// Copy and move from alice's objects (§8.2.5, §9.2.5) find nothing.
	require.Equal(t, http.StatusCreated, bob.cdmi("PUT", "/cdmi/bobbox/", ctContainer, "{}").status)
	for _, w := range []struct{ path, ct, body string }{
		{"/cdmi/bobbox/copy.txt", ctObject, `{"copy":"/cdmi/alicebox/doc.txt"}`},
		{"/cdmi/bobbox/moved.txt", ctObject, `{"move":"/cdmi/cdmi_objectid/` + tr.docID + `"}`},
		{"/cdmi/bobbox/copied/", ctContainer, `{"copy":"/cdmi/alicebox/"}`},
		{"/cdmi/bobbox/moved/", ctContainer, `{"move":"/cdmi/alicebox/"}`},
		{"/cdmi/bobbox/ref", ctObject, `{"reference":"/cdmi/alicebox/doc.txt"}`},
	} {
		r := bob.cdmi("PUT", w.path, w.ct, w.body)
		assert.Contains(t, []int{http.StatusBadRequest, http.StatusNotFound}, r.status, "%s: %s", w.body, r.body)
	}
}

// ACE grants (§16.1.3 who, §16.1.5 masks): a named user, a group (the
// project), AUTHENTICATED@ and EVERYONE@ get what is granted and no more;
// a shared container lists to the grantee only what it may see.
func TestCDMIGrants(t *testing.T) {
	alice, bob, carol, boss := cdmiUsers(t)
	tr := makeAlicesTree(t, alice)

	// bob: list alicebox and read doc.txt.
	r := alice.cdmi("PUT", "/cdmi/alicebox/", ctContainer, aclBody(
		allow("OWNER@", "OBJECT_INHERIT, CONTAINER_INHERIT", "ALL_PERMS"), allow("bob", "NO_FLAGS", "READ_ALL")))
	require.Equal(t, http.StatusNoContent, r.status, r.body)
	r = alice.cdmi("PUT", "/cdmi/alicebox/doc.txt", ctObject, aclBody(allow("OWNER@", "NO_FLAGS", "ALL_PERMS"), allow("bob", "NO_FLAGS", "READ_ALL")))
	require.Equal(t, http.StatusNoContent, r.status, r.body)

	r = bob.cdmi("GET", "/cdmi/alicebox/", ctContainer, "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Equal(t, []string{"doc.txt"}, r.children(t), "a shared container lists what the grantee can see, not the rest")
	assert.Equal(t, "0-0", r.object(t)["childrenrange"])
	r = bob.cdmi("GET", "/cdmi/alicebox/doc.txt", ctObject, "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Equal(t, "shared later", r.object(t)["value"])
	assert.Equal(t, "alice", r.metadata(t)["cdmi_owner"])
	assert.NotContains(t, r.metadata(t), "cdmi_acl", "READ_ALL does not include READ_ACL (§16.1.5)")
	assert.Contains(t, alice.cdmi("GET", "/cdmi/alicebox/doc.txt?metadata", ctObject, "").metadata(t), "cdmi_acl")
	assert.Equal(t, http.StatusOK, bob.do("GET", "/cdmi/cdmi_objectid/"+tr.docID, "").status)
	assert.Equal(t, http.StatusNotFound, bob.cdmi("GET", "/cdmi/alicebox/secret.txt", "", "").status)
	// Granted reading only: every change is 403 (§16.1.5).
	for _, w := range []struct{ method, path, ct, body string }{
		{"PUT", "/cdmi/alicebox/doc.txt", ctObject, `{"value":"bob was here"}`},
		{"PUT", "/cdmi/alicebox/doc.txt", ctObject, `{"metadata":{"x":"y"}}`},
		{"PUT", "/cdmi/alicebox/doc.txt", ctObject, aclBody(allow("bob", "NO_FLAGS", "ALL_PERMS"))},
		{"PUT", "/cdmi/alicebox/doc.txt", "text/plain", "bob was here"},
		{"DELETE", "/cdmi/alicebox/doc.txt", "", ""},
		{"PUT", "/cdmi/alicebox/new.txt", ctObject, `{"value":"x"}`},
		{"PUT", "/cdmi/alicebox/", ctContainer, `{"metadata":{"x":"y"}}`},
		{"DELETE", "/cdmi/alicebox/", "", ""},
		{"PUT", "/cdmi/alicebox/doc2.txt", ctObject, `{"move":"/cdmi/alicebox/doc.txt"}`},
		{"PUT", "/cdmi/taken/", ctContainer, `{"move":"/cdmi/alicebox/"}`},
	} {
		r := bob.cdmi(w.method, w.path, w.ct, w.body)
		assert.Equal(t, http.StatusForbidden, r.status, "%s %s %s: %s", w.method, w.path, w.body, r.body)
	}
	// A copy into bob's own container is bob's (cdmi_owner: the creator).
	require.Equal(t, http.StatusCreated, bob.cdmi("PUT", "/cdmi/bobbox/", ctContainer, "{}").status)
	r = bob.cdmi("PUT", "/cdmi/bobbox/copy.txt", ctObject, `{"copy":"/cdmi/alicebox/doc.txt"}`)
	require.Equal(t, http.StatusCreated, r.status, r.body)
	assert.Equal(t, "bob", r.metadata(t)["cdmi_owner"])
	assert.Equal(t, http.StatusNotFound, carol.cdmi("GET", "/cdmi/alicebox/doc.txt", "", "").status, "granted to bob, not carol")
	// A copy of the shared container (§9.2.5) takes what bob may read.
	r = bob.cdmi("PUT", "/cdmi/bobbox/copied/", ctContainer, `{"copy":"/cdmi/alicebox/"}`)
	require.Equal(t, http.StatusCreated, r.status, r.body)
	assert.Equal(t, "bob", r.metadata(t)["cdmi_owner"])
	r = bob.cdmi("GET", "/cdmi/bobbox/copied/?children", ctContainer, "")
	assert.Equal(t, []string{"doc.txt"}, r.children(t), "nothing bob may not read is copied")

	// The project as a group (IDENTIFIER_GROUP "project:alpha"): carol, in
	// alpha, reads the secret; bob, in beta, does not.
	r = alice.cdmi("PUT", "/cdmi/alicebox/secret.txt", ctObject, aclBody(allow("OWNER@", "NO_FLAGS", "ALL_PERMS"),
		allow("project:alpha", "IDENTIFIER_GROUP", "READ_ALL")))
	require.Equal(t, http.StatusNoContent, r.status, r.body)
	assert.Equal(t, http.StatusOK, carol.cdmi("GET", "/cdmi/cdmi_objectid/"+tr.secretID, "", "").status)
	assert.Equal(t, http.StatusNotFound, bob.cdmi("GET", "/cdmi/cdmi_objectid/"+tr.secretID, "", "").status)

	everyoneGrants(t, alice, bob, carol, boss, tr)
}

// everyoneGrants: AUTHENTICATED@ and EVERYONE@ grants (§16.1.3), and the
// administrator's view, on alice's tree.
func everyoneGrants(t *testing.T, alice, bob, carol, boss cdmiUser, tr alicesTree) {
	t.Helper()
	// AUTHENTICATED@ may enqueue into the queue; EVERYONE@ may write a
	// drop box, whose owner stays alice.
	r := alice.cdmi("PUT", "/cdmi/alicebox/q", ctQueue, aclBody(allow("OWNER@", "NO_FLAGS", "ALL_PERMS"), allow("AUTHENTICATED@", "NO_FLAGS", "WRITE_OBJECT")))
	require.Equal(t, http.StatusNoContent, r.status, r.body)
	assert.Equal(t, http.StatusNoContent, carol.cdmi("POST", "/cdmi/cdmi_objectid/"+tr.queueID, ctQueue, `{"value":"from carol"}`).status)
	assert.Equal(t, http.StatusForbidden, carol.cdmi("GET", "/cdmi/cdmi_objectid/"+tr.queueID, "", "").status, "write only")
	r = alice.cdmi("PUT", "/cdmi/alicebox/drop", ctObject, `{"value":"", "metadata":{"cdmi_acl":[`+
		allow("OWNER@", "NO_FLAGS", "ALL_PERMS")+","+allow("EVERYONE@", "NO_FLAGS", "WRITE_OBJECT")+`]}}`)
	require.Equal(t, http.StatusCreated, r.status, r.body)
	dropID := r.object(t)["objectID"].(string)
	assert.Equal(t, http.StatusNoContent, bob.do("PUT", "/cdmi/cdmi_objectid/"+dropID, "bob's drop", "Content-Type", "text/plain; charset=utf-8").status)
	r = alice.cdmi("GET", "/cdmi/alicebox/drop", ctObject, "")
	assert.Equal(t, "bob's drop", r.object(t)["value"])
	assert.Equal(t, "alice", r.metadata(t)["cdmi_owner"])
	// Writing it is not reading it: no copy of it into bob's queue (§11.6).
	require.Equal(t, http.StatusCreated, bob.cdmi("PUT", "/cdmi/bobbox/q", ctQueue, "{}").status)
	r = bob.cdmi("POST", "/cdmi/bobbox/q", ctQueue, `{"copy":"/cdmi/cdmi_objectid/`+dropID+`"}`)
	assert.Equal(t, http.StatusForbidden, r.status, r.body)

	// The administrator sees and changes everything (issue 10).
	r = boss.cdmi("GET", "/cdmi/?children", ctContainer, "")
	assert.ElementsMatch(t, []string{"alicebox/", "bobbox/"}, r.children(t))
	r = boss.cdmi("GET", "/cdmi/alicebox/?children", ctContainer, "")
	assert.ElementsMatch(t, []string{"doc.txt", "secret.txt", "q", "drop"}, r.children(t))
	assert.Equal(t, http.StatusNoContent, boss.cdmi("DELETE", "/cdmi/alicebox/secret.txt", "", "").status)
}

// A move keeps the object (§8.2.8: and its objectID), so its owner; it
// needs DELETE on the source and adding to the destination.
func TestCDMIMoveKeepsOwner(t *testing.T) {
	alice, bob, _, _ := cdmiUsers(t)
	tr := makeAlicesTree(t, alice)
	r := alice.cdmi("PUT", "/cdmi/alicebox/doc.txt", ctObject, aclBody(allow("OWNER@", "NO_FLAGS", "ALL_PERMS"), allow("bob", "NO_FLAGS", "READ_ALL, DELETE")))
	require.Equal(t, http.StatusNoContent, r.status, r.body)
	require.Equal(t, http.StatusCreated, bob.cdmi("PUT", "/cdmi/bobbox/", ctContainer, "{}").status)
	r = bob.cdmi("PUT", "/cdmi/bobbox/doc.txt", ctObject, `{"move":"/cdmi/cdmi_objectid/`+tr.docID+`"}`)
	require.Equal(t, http.StatusCreated, r.status, r.body)
	assert.Equal(t, tr.docID, r.object(t)["objectID"])
	assert.Equal(t, "alice", r.metadata(t)["cdmi_owner"])
	assert.Equal(t, http.StatusNotFound, alice.cdmi("GET", "/cdmi/alicebox/doc.txt", "", "").status)
}

// Domains (CDMI 1.1.1 clause 10) for real users: only the administrator
// makes domains in cdmi_domains/; a domain is there for whom its ACL
// grants something (§16.1), and its members (§10.1.4) alone reach what
// belongs to it.
func TestCDMIDomainsForUsers(t *testing.T) {
	alice, bob, carol, boss := cdmiUsers(t)
	r := alice.cdmi("PUT", "/cdmi/cdmi_domains/mine/", ctDomain, `{"metadata":{"cdmi_domain_enabled":"true"}}`)
	assert.Equal(t, http.StatusForbidden, r.status, r.body)
	r = boss.cdmi("PUT", "/cdmi/cdmi_domains/alpha/", ctDomain, `{"metadata":{"cdmi_domain_enabled":"true","cdmi_acl":[`+
		allow("OWNER@", "OBJECT_INHERIT, CONTAINER_INHERIT", "ALL_PERMS")+","+allow("project:alpha", "IDENTIFIER_GROUP", "READ_ALL")+`]}}`)
	require.Equal(t, http.StatusCreated, r.status, r.body)
	assert.Equal(t, "boss", r.metadata(t)["cdmi_owner"])
	domainID := r.object(t)["objectID"].(string)
	r = boss.cdmi("PUT", "/cdmi/cdmi_domains/alpha/cdmi_domain_members/alpha", ctObject,
		`{"mimetype":"application/json","valuetransferencoding":"json","value":{"cdmi_member_enabled":"true","cdmi_member_type":"group","cdmi_member_name":"project:alpha"}}`)
	require.Equal(t, http.StatusCreated, r.status, r.body)

	// alice (project alpha) sees the domain, changes nothing of it.
	r = alice.cdmi("GET", "/cdmi/cdmi_domains/?children", ctDomain, "")
	assert.ElementsMatch(t, []string{"default/", "alpha/"}, r.children(t))
	assert.Equal(t, http.StatusOK, alice.cdmi("GET", "/cdmi/cdmi_domains/alpha/", ctDomain, "").status)
	r = alice.cdmi("PUT", "/cdmi/cdmi_domains/alpha/", ctDomain, `{"metadata":{"cdmi_domain_enabled":"false"}}`)
	assert.Equal(t, http.StatusForbidden, r.status, r.body)
	assert.Equal(t, http.StatusForbidden, alice.cdmi("DELETE", "/cdmi/cdmi_domains/alpha/", "", "").status)
	// bob (project beta) sees nothing of it, by path or by ID.
	r = bob.cdmi("GET", "/cdmi/cdmi_domains/?children", ctDomain, "")
	assert.Equal(t, []string{"default/"}, r.children(t))
	for _, p := range []string{"/cdmi/cdmi_domains/alpha/", "/cdmi/cdmi_objectid/" + domainID + "/", "/cdmi/cdmi_domains/alpha/cdmi_domain_members/"} {
		for _, m := range []string{"GET", "DELETE"} {
			assert.Equal(t, http.StatusNotFound, bob.cdmi(m, p, "", "").status, "%s %s", m, p)
		}
	}
	r = bob.cdmi("PUT", "/cdmi/cdmi_objectid/"+domainID+"/", ctDomain, `{"metadata":{}}`)
	assert.Equal(t, http.StatusNotFound, r.status, r.body)
	r = bob.cdmi("PUT", "/cdmi/bobbox/", ctContainer, `{"domainURI":"/cdmi_domains/alpha/"}`)
	assert.Equal(t, http.StatusBadRequest, r.status, "no domain bob can see: %s", r.body)

	// alice puts her container in the domain; carol, in alpha too, may be
	// granted it; bob, granted it by ACL, is no member and is refused.
	r = alice.cdmi("PUT", "/cdmi/alicebox/", ctContainer, `{"domainURI":"/cdmi_domains/alpha/","metadata":{"cdmi_acl":[`+
		allow("OWNER@", "OBJECT_INHERIT, CONTAINER_INHERIT", "ALL_PERMS")+","+allow("AUTHENTICATED@", "NO_FLAGS", "READ_ALL")+`]}}`)
	require.Equal(t, http.StatusCreated, r.status, r.body)
	assert.Equal(t, "/cdmi/cdmi_domains/alpha/", r.object(t)["domainURI"])
	assert.Equal(t, http.StatusOK, carol.cdmi("GET", "/cdmi/alicebox/", ctContainer, "").status)
	r = bob.cdmi("GET", "/cdmi/alicebox/", ctContainer, "")
	assert.Equal(t, http.StatusForbidden, r.status, r.body)
	assert.Equal(t, http.StatusOK, boss.cdmi("GET", "/cdmi/alicebox/", ctContainer, "").status)

	// Capabilities are read by everyone and say what works.
	r = bob.cdmi("GET", "/cdmi/cdmi_capabilities/domain/", "", "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	caps := r.object(t)["capabilities"].(map[string]any)
	for _, c := range []string{"cdmi_create_domain", "cdmi_delete_domain", "cdmi_domain_members"} {
		assert.Equal(t, "true", caps[c], c)
	}
}

const occiInfra = "http://schemas.ogf.org/occi/infrastructure#"

// occi sends a text/plain OCCI request.
func (u cdmiUser) occi(method, path, body string) reply {
	u.t.Helper()
	h := []string{"Accept", "text/plain"}
	if body != "" {
		h = append(h, "Content-Type", "text/plain")
	}
	return u.do(method, path, body, h...)
}

func (u cdmiUser) occiCreate(path, body string) string {
	u.t.Helper()
	r := u.occi("POST", path, body)
	require.Equal(u.t, http.StatusCreated, r.status, r.body)
	return strings.TrimPrefix(r.header.Get("Location"), u.srv.URL)
}

// attrOf is an OCCI text/plain attribute's quoted value.
func attrOf(t *testing.T, body, name string) string {
	t.Helper()
	_, rest, ok := strings.Cut(body, name+`="`)
	require.True(t, ok, "no %s in %s", name, body)
	v, _, _ := strings.Cut(rest, `"`)
	return v
}

// The linkage for real users: an OCCI-first storage's container is its
// creator's (cdmi_owner); a storagelink naming a container by deviceid
// (OCCI Infrastructure, "Linking to CDMI Managed Storage") without
// export permissions attaches it only for a caller whose CDMI ACL access
// lets it read and write the container (§16.1.6): another user's is not
// there (404) and the VM stays inactive.
func TestCDMILinkageForUsers(t *testing.T) {
	alice, bob, _, _ := cdmiUsers(t)
	r := alice.cdmi("PUT", "/cdmi/alicevol/", ctContainer, `{"metadata":{"cdmi_assignedsize":"1048576"},"exports":{"OCCI/NBD":{}}}`)
	require.Equal(t, http.StatusCreated, r.status, r.body)
	aliceVol := r.object(t)["objectID"].(string)

	storage := bob.occiCreate("/storage/", `Category: storage; scheme="`+occiInfra+`"; class="kind"`+"\nX-OCCI-Attribute: occi.storage.size=0.001")
	r = bob.occi("GET", storage, "")
	bobVol := attrOf(t, r.body, "occicdmi.cdmi.objectid")
	r = bob.cdmi("GET", "/cdmi/cdmi_objectid/"+bobVol+"/", ctContainer, "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Equal(t, "bob", r.metadata(t)["cdmi_owner"], "the OCCI-first container is its creator's")
	r = bob.cdmi("GET", attrOf(t, bob.occi("GET", storage, "").body, "occicdmi.cdmi.container"), ctContainer, "")
	assert.Equal(t, http.StatusOK, r.status, "reached by path too: %s", r.body)
	r = alice.cdmi("GET", "/cdmi/cdmi_objectid/"+bobVol+"/", ctContainer, "")
	assert.Equal(t, http.StatusNotFound, r.status, "and no one else's: %s", r.body)
	r = alice.cdmi("GET", "/cdmi/occi-storage/?children", ctContainer, "")
	assert.Equal(t, http.StatusForbidden, r.status, "nobody lists everyone's storage: %s", r.body)

	start := `Category: start; scheme="http://schemas.ogf.org/occi/infrastructure/compute/action#"; class="action"`
	link := func(vm, deviceID string) {
		bob.occiCreate("/storagelink/", `Category: storagelink; scheme="`+occiInfra+`"; class="kind"`+
			"\nX-OCCI-Attribute: occi.core.source=\""+vm+"\"\nX-OCCI-Attribute: occi.core.target=\""+storage+"\""+
			"\nX-OCCI-Attribute: occi.storagelink.deviceid=\""+deviceID+"\"")
	}
	vm := bob.occiCreate("/compute/", `Category: compute; scheme="`+occiInfra+`"; class="kind"`)
	link(vm, aliceVol)
	r = bob.occi("POST", vm+"?action=start", start)
	assert.Equal(t, http.StatusNotFound, r.status, r.body)
	assert.Contains(t, bob.occi("GET", vm, "").body, `occi.compute.state="inactive"`)

	own := bob.occiCreate("/compute/", `Category: compute; scheme="`+occiInfra+`"; class="kind"`)
	link(own, bobVol)
	r = bob.occi("POST", own+"?action=start", start)
	assert.Equal(t, http.StatusOK, r.status, "his own container: %s", r.body)

	// alice lets bob read and write hers: now he may attach it.
	r = alice.cdmi("PUT", "/cdmi/alicevol/", ctContainer, aclBody(allow("OWNER@", "OBJECT_INHERIT, CONTAINER_INHERIT", "ALL_PERMS"), allow("bob", "NO_FLAGS", "READ_OBJECT, WRITE_OBJECT")))
	require.Equal(t, http.StatusNoContent, r.status, r.body)
	r = bob.occi("POST", vm+"?action=start", start)
	assert.Equal(t, http.StatusOK, r.status, r.body)
}

// With Keystone (the real one of scripts/testenv.sh): the token's user is
// the CDMI principal (cdmi_owner), its project a group, and the admin role
// an administrator who sees everything (CDMI 1.1.1 §16.1).
func TestCDMIKeystonePrincipals(t *testing.T) {
	ks := needKeystone(t)
	cfg := Defaults()
	cfg.KeystoneURL = ks.URL
	cfg.KeystoneUser, cfg.KeystonePassword, cfg.KeystoneProject = ks.SvcUser, ks.SvcPassword, ks.SvcProj
	srv := appServer(t, cfg)
	admin := ks.token(t, ks.AdminUser, ks.AdminPassword, ks.AdminProj)
	demo := ks.token(t, ks.DemoUser, ks.DemoPassword, ks.DemoProj)
	do := func(tok, method, path, ct, body string) reply {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("X-Auth-Token", tok)
		req.Header.Set("X-CDMI-Specification-Version", "1.1.1")
		if body != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return reply{resp.StatusCode, resp.Header, string(b)}
	}
	r := do(demo, "PUT", "/cdmi/demobox/", ctContainer, `{"metadata":{"cdmi_acl":[`+
		allow("OWNER@", "OBJECT_INHERIT, CONTAINER_INHERIT", "ALL_PERMS")+","+allow("project:"+ks.DemoProj, "IDENTIFIER_GROUP", "READ_ALL")+`]}}`)
	require.Equal(t, http.StatusCreated, r.status, r.body)
	assert.Equal(t, ks.DemoUser, r.metadata(t)["cdmi_owner"])
	r = do(admin, "PUT", "/cdmi/adminbox/", ctContainer, "{}")
	require.Equal(t, http.StatusCreated, r.status, r.body)
	assert.Equal(t, ks.AdminUser, r.metadata(t)["cdmi_owner"])

	assert.Equal(t, http.StatusNotFound, do(demo, "GET", "/cdmi/adminbox/", "", "").status)
	assert.Equal(t, http.StatusOK, do(admin, "GET", "/cdmi/demobox/", "", "").status, "the admin role sees all")
	r = do(demo, "GET", "/cdmi/?children", "", "")
	assert.Equal(t, []string{"demobox/"}, r.children(t))
}
