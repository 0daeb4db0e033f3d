package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/internal/kind"
)

func TestContext(t *testing.T) {
	_, ok := FromContext(context.Background())
	assert.False(t, ok, "no principal: anonymous")
	_, ok = FromContext(WithPrincipal(context.Background(), nil))
	assert.False(t, ok, "a nil principal is anonymous too")
	p := &Principal{User: "alice", Project: "demo", Roles: []string{"member"}, Method: "basic"}
	got, ok := FromContext(WithPrincipal(context.Background(), p))
	require.True(t, ok)
	assert.Same(t, p, got)
	assert.True(t, got.HasRole("member"))
	assert.False(t, got.HasRole("admin"))
	assert.Equal(t, "basic:alice@demo", got.String())
}

func TestUsersFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users")
	users, err := ListUsers(path)
	require.NoError(t, err)
	assert.Empty(t, users, "a missing file has no users")

	require.NoError(t, AddUser(path, "alice", "wonderland", []string{"demo", "research"}, []string{"member"}))
	require.NoError(t, AddUser(path, "root", "toor", []string{"admin"}, []string{"admin", "member"}))
	require.NoError(t, AddUser(path, "bob", "builder", []string{"demo"}, nil))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "hashes are for the server's eyes only")

	err = AddUser(path, "alice", "again", []string{"demo"}, nil)
	assert.Equal(t, kind.Exists, kind.Of(err))
	for _, bad := range []struct{ name, pw, project string }{
		{"", "pw", "demo"}, {"a:b", "pw", "demo"}, {"a b", "pw", "demo"}, {"carol", "", "demo"},
		{"carol", "pw", ""}, {"carol", "pw", "de,mo"},
	} {
		var projects []string
		if bad.project != "" {
			projects = []string{bad.project}
		}
		err := AddUser(path, bad.name, bad.pw, projects, nil)
		assert.Equal(t, kind.Invalid, kind.Of(err), "%+v", bad)
	}

	users, err = ListUsers(path)
	require.NoError(t, err)
	require.Len(t, users, 3)
	assert.Equal(t, "alice", users[0].Name)
	assert.Equal(t, []string{"demo", "research"}, users[0].Projects)
	assert.Equal(t, []string{"member"}, users[0].Roles)
	assert.True(t, strings.HasPrefix(users[0].Hash, "$2"), "bcrypt: %s", users[0].Hash)
	assert.Nil(t, users[2].Roles)

	require.NoError(t, RemoveUser(path, "root"))
	assert.Equal(t, kind.NotFound, kind.Of(RemoveUser(path, "root")))
	users, err = ListUsers(path)
	require.NoError(t, err)
	assert.Equal(t, []string{"alice", "bob"}, []string{users[0].Name, users[1].Name})

	// Hand-written files: comments and blank lines; broken lines refused.
	_, err = ParseUsers([]byte("# comment\n\n" + users[0].line() + "\n"))
	require.NoError(t, err)
	for _, bad := range []string{
		"alice:$2a$10$x:demo",                    // three fields
		"alice:plaintext:demo:",                  // not bcrypt
		users[0].line() + "\n" + users[0].line(), // twice
		"alice:" + users[0].Hash + "::member",    // no project
	} {
		_, err := ParseUsers([]byte(bad))
		assert.Equal(t, kind.Invalid, kind.Of(err), "%q", bad)
	}
}

func TestCanonicalDN(t *testing.T) {
	want := "CN=alice,OU=people,O=Example,DC=example,DC=org"
	for _, in := range []string{
		want,
		"cn=alice, ou=people, o=Example, dc=example, dc=org",
		"/DC=org/DC=example/O=Example/OU=people/CN=alice",
		"2.5.4.3=alice,OU=people,O=Example,0.9.2342.19200300.100.1.25=example,DC=org",
	} {
		got, err := CanonicalDN(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	got, err := CanonicalDN(`CN=Smith\, John+UID=js,O=A\2CB`)
	require.NoError(t, err)
	assert.Equal(t, `CN=Smith\, John+UID=js,O=A\,B`, got)
	got2, err := CanonicalDN(`UID=js+CN=Smith\, John,O=A\,B`)
	require.NoError(t, err)
	assert.Equal(t, got, got2, "a multi-valued RDN in any order")
	for _, bad := range []string{"", "alice", "XX=alice", `CN=a\`} {
		_, err := CanonicalDN(bad)
		assert.Error(t, err, bad)
	}
}

// tlsWorld is a TLS server that trusts clientCA for client certificates,
// runs authenticator a, and counts the requests reaching its handler.
type tlsWorld struct {
	srv   *httptest.Server
	calls atomic.Int64
}

func newTLSWorld(t *testing.T, a Authenticator, clientCA *ca, clientAuth tls.ClientAuthType) *tlsWorld {
	w := &tlsWorld{}
	w.srv = httptest.NewUnstartedServer(authHandler(a, &w.calls))
	w.srv.TLS = &tls.Config{ClientAuth: clientAuth, ClientCAs: clientCA.pool(), MinVersion: tls.VersionTLS12}
	w.srv.StartTLS()
	t.Cleanup(w.srv.Close)
	return w
}

// client is an HTTPS client of the world presenting cert, if any, whatever
// CAs the server says it accepts (Go's client would otherwise keep quiet
// about a certificate from a CA not on the server's list).
func (w *tlsWorld) client(cert ...tls.Certificate) *http.Client {
	tr := w.srv.Client().Transport.(*http.Transport).Clone()
	if len(cert) > 0 {
		tr.TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &cert[0], nil
		}
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func (w *tlsWorld) get(t *testing.T, c *http.Client, set func(*http.Request)) answer {
	req, err := http.NewRequest(http.MethodGet, w.srv.URL+"/", nil)
	require.NoError(t, err)
	if set != nil {
		set(req)
	}
	return ask(t, c, req)
}

func basicAs(user, password string, tid string) func(*http.Request) {
	return func(r *http.Request) {
		r.SetBasicAuth(user, password)
		if tid != "" {
			r.Header.Set(TenantHeader, tid)
		}
	}
}

func writeMappings(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
}

// Basic and X.509 over real TLS, each alone and in a chain.
func TestBasicAndX509OverTLS(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "users")
	require.NoError(t, AddUser(users, "alice", "wonderland", []string{"demo", "research"}, []string{"member"}))
	require.NoError(t, AddUser(users, "root", "toor", []string{"admin"}, []string{"admin"}))
	basic, err := NewBasic(BasicConfig{File: users})
	require.NoError(t, err)

	mappings := filepath.Join(dir, "certs.json")
	writeMappings(t, mappings, `[
		{"dn": "/DC=org/DC=example/O=Example/OU=people/CN=alice", "project": "demo", "roles": ["member"]},
		{"dn": "CN=robot,OU=people,O=Example,DC=example,DC=org", "project": "ops", "roles": ["admin"]}
	]`)
	x, err := NewX509(X509Config{MappingFile: mappings})
	require.NoError(t, err)

	trusted := newCA(t, "trusted CA")
	stranger := newCA(t, "unknown CA")
	aliceCert := trusted.client(t, gridName("alice"), time.Now().Add(time.Hour))
	robotCert := trusted.client(t, gridName("robot"), time.Now().Add(time.Hour))
	unmappedCert := trusted.client(t, pkix.Name{CommonName: "mallory", Organization: []string{"Example"}}, time.Now().Add(time.Hour))
	forgedAlice := stranger.client(t, gridName("alice"), time.Now().Add(time.Hour))

	chain := Chain{basic, x}
	w := newTLSWorld(t, chain, trusted, tls.VerifyClientCertIfGiven)
	plain := w.client()

	t.Run("nothing", func(t *testing.T) {
		a := w.get(t, plain, nil)
		assert.Equal(t, 401, a.Status)
		assert.Equal(t, []string{`Basic realm="occicdmi", charset="UTF-8"`}, a.Challenge)
	})
	t.Run("basic", func(t *testing.T) {
		a := w.get(t, plain, basicAs("alice", "wonderland", ""))
		require.Equal(t, 200, a.Status, a.Message)
		assert.Equal(t, &Principal{User: "alice", Project: "demo", Roles: []string{"member"}, Method: "basic"}, a.Principal)
		// Twice: the second from the verified cache, same answer.
		assert.Equal(t, a, w.get(t, plain, basicAs("alice", "wonderland", "")))

		a = w.get(t, plain, basicAs("alice", "wonderland", "research"))
		require.Equal(t, 200, a.Status, a.Message)
		assert.Equal(t, "research", a.Principal.Project, "TID chooses among the user's projects")

		a = w.get(t, plain, basicAs("root", "toor", ""))
		require.Equal(t, 200, a.Status, a.Message)
		assert.True(t, a.Principal.Admin)
		assert.Equal(t, "admin", a.Principal.Project)
	})
	t.Run("basic refused", func(t *testing.T) {
		for name, set := range map[string]func(*http.Request){
			"wrong password":  basicAs("alice", "wonderlan", ""),
			"unknown user":    basicAs("mallory", "wonderland", ""),
			"foreign tenant":  basicAs("alice", "wonderland", "admin"),
			"empty password":  basicAs("alice", "", ""),
			"malformed":       func(r *http.Request) { r.Header.Set("Authorization", "Basic !!!") },
			"no colon":        func(r *http.Request) { r.Header.Set("Authorization", "Basic YWxpY2U=") },
			"other's project": basicAs("root", "toor", "demo"),
		} {
			a := w.get(t, plain, set)
			assert.Equal(t, 401, a.Status, name)
			assert.Contains(t, a.Message, "bad credentials", name)
		}
	})
	t.Run("certificate", func(t *testing.T) {
		a := w.get(t, w.client(aliceCert), nil)
		require.Equal(t, 200, a.Status, a.Message)
		assert.Equal(t, "CN=alice,OU=people,O=Example,DC=example,DC=org", a.Principal.User)
		assert.Equal(t, "demo", a.Principal.Project)
		assert.Equal(t, []string{"member"}, a.Principal.Roles)
		assert.Equal(t, "x509", a.Principal.Method)
		assert.False(t, a.Principal.Admin)
		assert.WithinDuration(t, aliceCert.Leaf.NotAfter, a.Principal.Expires, time.Second)

		a = w.get(t, w.client(robotCert), nil)
		require.Equal(t, 200, a.Status, a.Message)
		assert.True(t, a.Principal.Admin)
		assert.Equal(t, "ops", a.Principal.Project)
	})
	t.Run("unmapped certificate", func(t *testing.T) {
		a := w.get(t, w.client(unmappedCert), nil)
		assert.Equal(t, 401, a.Status)
		assert.Contains(t, a.Message, "CN=mallory,O=Example is not mapped")
	})
	t.Run("unknown CA", func(t *testing.T) {
		before := w.calls.Load()
		_, err := w.client(forgedAlice).Get(w.srv.URL + "/")
		require.Error(t, err, "the handshake refuses a certificate from an unknown CA")
		assert.Contains(t, err.Error(), "tls: ")
		t.Log(err)
		assert.Equal(t, before, w.calls.Load(), "no request reached the handler")
	})
	t.Run("bad basic with a good certificate is still bad", func(t *testing.T) {
		a := w.get(t, w.client(aliceCert), basicAs("alice", "wrong", ""))
		assert.Equal(t, 401, a.Status, "no fallthrough to the certificate")
		a = w.get(t, w.client(aliceCert), basicAs("alice", "wonderland", "research"))
		require.Equal(t, 200, a.Status)
		assert.Equal(t, "basic", a.Principal.Method, "Basic comes first in this chain")
	})
	t.Run("users file changes without a restart", func(t *testing.T) {
		clock := time.Now()
		basic.users.now = func() time.Time { return clock }
		require.NoError(t, AddUser(users, "carol", "secret", []string{"demo"}, nil))
		clock = clock.Add(2 * time.Second)
		a := w.get(t, plain, basicAs("carol", "secret", ""))
		require.Equal(t, 200, a.Status, a.Message)

		require.NoError(t, RemoveUser(users, "alice"))
		clock = clock.Add(2 * time.Second)
		a = w.get(t, plain, basicAs("alice", "wonderland", ""))
		assert.Equal(t, 401, a.Status, "a removed user's cached password counts no more")

		require.NoError(t, os.WriteFile(users, []byte("garbage\n"), 0o600))
		clock = clock.Add(2 * time.Second)
		a = w.get(t, plain, basicAs("carol", "secret", ""))
		assert.Equal(t, 200, a.Status, "a broken file keeps the last good users")
		assert.Error(t, basic.Err())
	})
}

// A TLS configuration that requests a certificate without verifying it
// must not give that certificate a principal.
func TestX509UnverifiedCertificate(t *testing.T) {
	mappings := filepath.Join(t.TempDir(), "certs.json")
	writeMappings(t, mappings, `[{"dn": "CN=alice,OU=people,O=Example,DC=example,DC=org", "project": "demo"}]`)
	x, err := NewX509(X509Config{MappingFile: mappings})
	require.NoError(t, err)
	trusted := newCA(t, "trusted CA")
	stranger := newCA(t, "unknown CA")
	w := newTLSWorld(t, x, trusted, tls.RequestClientCert)

	a := w.get(t, w.client(stranger.client(t, gridName("alice"), time.Now().Add(time.Hour))), nil)
	assert.Equal(t, 401, a.Status)
	assert.Contains(t, a.Message, "not verified")

	a = w.get(t, w.client(), nil)
	assert.Equal(t, 401, a.Status)
	assert.Contains(t, a.Message, "no credentials")
}

func TestX509ExpiredSinceHandshake(t *testing.T) {
	mappings := filepath.Join(t.TempDir(), "certs.json")
	writeMappings(t, mappings, `[{"dn": "CN=alice,OU=people,O=Example,DC=example,DC=org", "project": "demo"}]`)
	x, err := NewX509(X509Config{MappingFile: mappings})
	require.NoError(t, err)
	trusted := newCA(t, "trusted CA")
	w := newTLSWorld(t, x, trusted, tls.VerifyClientCertIfGiven)
	cert := trusted.client(t, gridName("alice"), time.Now().Add(time.Minute))
	c := w.client(cert)
	require.Equal(t, 200, w.get(t, c, nil).Status)
	x.now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	a := w.get(t, c, nil) // the same kept-alive connection
	assert.Equal(t, 401, a.Status)
	assert.Contains(t, a.Message, "expired")
}

func TestX509MappingFile(t *testing.T) {
	for _, bad := range []string{
		`{"dn": "CN=a"}`,
		`[{"dn": "CN=a"}]`,
		`[{"dn": "nonsense", "project": "demo"}]`,
		`[{"dn": "CN=a,O=b", "project": "demo"}, {"dn": "/O=b/CN=a", "project": "other"}]`,
	} {
		_, err := ParseCertMappings([]byte(bad))
		assert.Equal(t, kind.Invalid, kind.Of(err), bad)
	}
	_, err := NewX509(X509Config{MappingFile: filepath.Join(t.TempDir(), "missing.json")})
	assert.Error(t, err)
}

type fixed struct {
	p   *Principal
	err error
	n   int
}

func (f *fixed) Authenticate(*http.Request) (*Principal, error) { f.n++; return f.p, f.err }

func TestChainOrder(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	none := &fixed{err: ErrNoCredentials}
	bad := &fixed{err: badf("nope")}
	down := &fixed{err: kind.New(kind.Unavailable, "keystone down")}
	good := &fixed{p: &Principal{User: "u"}}

	p, err := Chain{none, good}.Authenticate(r)
	require.NoError(t, err)
	assert.Equal(t, "u", p.User)

	_, err = Chain{none, bad, good}.Authenticate(r)
	assert.ErrorIs(t, err, ErrBadCredentials)
	_, err = Chain{down, good}.Authenticate(r)
	assert.Equal(t, kind.Unavailable, kind.Of(err))
	assert.False(t, errors.Is(err, ErrNoCredentials))
	good.n = 0
	_, err = Chain{none, none}.Authenticate(r)
	assert.ErrorIs(t, err, ErrNoCredentials)
	_, err = Chain{}.Authenticate(r)
	assert.ErrorIs(t, err, ErrNoCredentials)
	_, err = Chain{&fixed{}}.Authenticate(r)
	assert.Error(t, err, "neither principal nor error is a bug, not anonymous")
	assert.False(t, errors.Is(err, ErrNoCredentials))
	assert.Equal(t, 0, good.n)
}
