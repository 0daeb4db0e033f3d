package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
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

	"github.com/occicdmi/occicdmi/internal/auth"
	"github.com/occicdmi/occicdmi/internal/testsupport"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testKeystone is the Keystone of scripts/testenv/keystone.sh.
type testKeystone struct {
	URL                                 string
	AdminUser, AdminPassword, AdminProj string
	DemoUser, DemoPassword, DemoProj    string
	SvcUser, SvcPassword, SvcProj       string
}

func needKeystone(t *testing.T) testKeystone {
	t.Helper()
	u := testsupport.Need(t, "Keystone", "OCCICDMI_TEST_KEYSTONE")
	env := func(name string) string {
		v := os.Getenv("OCCICDMI_TEST_KEYSTONE_" + name)
		require.NotEmpty(t, v, "OCCICDMI_TEST_KEYSTONE_%s (eval \"$(scripts/testenv.sh env keystone)\")", name)
		return v
	}
	return testKeystone{
		URL:       strings.TrimRight(u, "/"),
		AdminUser: env("ADMIN_USER"), AdminPassword: env("ADMIN_PASSWORD"), AdminProj: env("ADMIN_PROJECT"),
		DemoUser: env("DEMO_USER"), DemoPassword: env("DEMO_PASSWORD"), DemoProj: env("DEMO_PROJECT"),
		SvcUser: env("SERVICE_USER"), SvcPassword: env("SERVICE_PASSWORD"), SvcProj: env("SERVICE_PROJECT"),
	}
}

// token logs in to Keystone as a client would, scoped to project.
func (ks testKeystone) token(t *testing.T, user, password, project string) string {
	t.Helper()
	body := fmt.Sprintf(`{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":%q,"domain":{"name":"Default"},"password":%q}}},
		"scope":{"project":{"name":%q,"domain":{"name":"Default"}}}}}`, user, password, project)
	resp, err := http.Post(ks.URL+"/auth/tokens?nocatalog", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	tok := resp.Header.Get("X-Subject-Token")
	require.NotEmpty(t, tok)
	return tok
}

// appServer runs the whole server of cfg (New's handler) over plain HTTP
// on loopback.
func appServer(t *testing.T, cfg Config) *httptest.Server {
	t.Helper()
	cfg.DataDir = t.TempDir()
	a, err := New(context.Background(), cfg, quiet)
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(srv.Close)
	return srv
}

type reply struct {
	status int
	header http.Header
	body   string
}

func get(t *testing.T, c *http.Client, u string, header map[string]string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return reply{resp.StatusCode, resp.Header, string(b)}
}

// cdmiRoot is a CDMI read of the root container.
var cdmiRoot = map[string]string{"Accept": "application/cdmi-container", "X-CDMI-Specification-Version": "1.1.1"}

func with(h map[string]string, k, v string) map[string]string {
	m := map[string]string{k: v}
	for hk, hv := range h {
		m[hk] = hv
	}
	return m
}

// principalEcho answers with the principal the middleware put in the
// context, as JSON.
var principalEcho = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	p, ok := auth.FromContext(r.Context())
	if !ok {
		http.Error(w, "anonymous", http.StatusTeapot)
		return
	}
	_ = json.NewEncoder(w).Encode(p)
})

func echoServer(t *testing.T, cfg Config) *httptest.Server {
	t.Helper()
	require.NoError(t, cfg.fill())
	a, err := newAuthenticator(cfg, quiet)
	require.NoError(t, err)
	srv := httptest.NewServer(a.wrap(principalEcho))
	t.Cleanup(srv.Close)
	return srv
}

func principalOf(t *testing.T, r reply) auth.Principal {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status, r.body)
	var p auth.Principal
	require.NoError(t, json.Unmarshal([]byte(r.body), &p))
	return p
}

// Keystone end to end: the real Keystone of the test environment, the
// whole server. A good token is served in both protocols (a non-admin one
// too, until tenancy comes), none is a 401 naming where to get one, a
// forged one a 401 with the reason.
func TestKeystoneEndToEnd(t *testing.T) {
	ks := needKeystone(t)
	cfg := Defaults()
	cfg.KeystoneURL = ks.URL
	cfg.KeystoneUser, cfg.KeystonePassword, cfg.KeystoneProject = ks.SvcUser, ks.SvcPassword, ks.SvcProj
	srv := appServer(t, cfg)
	c := srv.Client()
	admin := ks.token(t, ks.AdminUser, ks.AdminPassword, ks.AdminProj)
	demo := ks.token(t, ks.DemoUser, ks.DemoPassword, ks.DemoProj)

	for _, tok := range []string{admin, demo} {
		r := get(t, c, srv.URL+"/-/", map[string]string{"X-Auth-Token": tok, "Accept": "text/plain"})
		assert.Equal(t, http.StatusOK, r.status, r.body)
		assert.Contains(t, r.body, "Category: compute")
		r = get(t, c, srv.URL+"/cdmi/", with(cdmiRoot, "X-Auth-Token", tok))
		assert.Equal(t, http.StatusOK, r.status, r.body)
		assert.Contains(t, r.body, `"objectID"`)
	}

	for name, h := range map[string]map[string]string{
		"OCCI without credentials": {"Accept": "text/plain"},
		"CDMI without credentials": cdmiRoot,
	} {
		path := "/-/"
		if strings.HasPrefix(name, "CDMI") {
			path = "/cdmi/"
		}
		r := get(t, c, srv.URL+path, h)
		assert.Equal(t, http.StatusUnauthorized, r.status, name)
		assert.Equal(t, []string{`Keystone uri="` + ks.URL + `"`}, r.header.Values("WWW-Authenticate"), name)
		assert.Contains(t, r.body, "X-Auth-Token", name)
		assert.NotEmpty(t, r.header.Get("X-Request-ID"), name)
	}

	// A forged token: a real one with its signature changed, and junk.
	forged := admin[:len(admin)-4] + "AAAA"
	if forged == admin {
		forged = admin[:len(admin)-4] + "BBBB"
	}
	for _, tok := range []string{forged, "not-a-token"} {
		r := get(t, c, srv.URL+"/-/", map[string]string{"X-Auth-Token": tok})
		assert.Equal(t, http.StatusUnauthorized, r.status, r.body)
		assert.Contains(t, r.body, "not valid")
		assert.Equal(t, []string{`Keystone uri="` + ks.URL + `"`}, r.header.Values("WWW-Authenticate"))
		r = get(t, c, srv.URL+"/cdmi/", with(cdmiRoot, "X-Auth-Token", tok))
		assert.Equal(t, http.StatusUnauthorized, r.status, r.body)
	}
}

// The principal the middleware hands on is the token's: user, project,
// roles; and a public URL given apart is the one clients are told.
func TestKeystonePrincipalInContext(t *testing.T) {
	ks := needKeystone(t)
	cfg := Defaults()
	cfg.KeystoneURL = ks.URL + "/"
	cfg.KeystonePublicURL = "https://identity.example.org:5000/v3"
	srv := echoServer(t, cfg) // no service user: each token validates itself
	c := srv.Client()

	p := principalOf(t, get(t, c, srv.URL, map[string]string{"X-Auth-Token": ks.token(t, ks.DemoUser, ks.DemoPassword, ks.DemoProj)}))
	assert.Equal(t, ks.DemoUser, p.User)
	assert.Equal(t, ks.DemoProj, p.Project)
	assert.Equal(t, "keystone", p.Method)
	assert.False(t, p.Admin)
	p = principalOf(t, get(t, c, srv.URL, map[string]string{"X-Auth-Token": ks.token(t, ks.AdminUser, ks.AdminPassword, ks.AdminProj)}))
	assert.Equal(t, ks.AdminProj, p.Project)
	assert.True(t, p.Admin)

	r := get(t, c, srv.URL, nil)
	assert.Equal(t, http.StatusUnauthorized, r.status)
	assert.Equal(t, []string{`Keystone uri="https://identity.example.org:5000/v3"`}, r.header.Values("WWW-Authenticate"))
}

// Keystone unreachable: 503 with Retry-After, never a 500 or anonymous; a
// request without a token is still a plain 401.
func TestKeystoneUnreachable(t *testing.T) {
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	cfg := Defaults()
	cfg.KeystoneURL = gone.URL + "/v3"
	srv := appServer(t, cfg)
	r := get(t, srv.Client(), srv.URL+"/-/", map[string]string{"X-Auth-Token": "gAAAAAB-some-token"})
	assert.Equal(t, http.StatusServiceUnavailable, r.status, r.body)
	assert.NotEmpty(t, r.header.Get("Retry-After"))
	assert.Contains(t, r.body, "keystone")
	r = get(t, srv.Client(), srv.URL+"/cdmi/", cdmiRoot)
	assert.Equal(t, http.StatusUnauthorized, r.status, r.body)
}

// Several mechanisms: a 401 without credentials names all of them, in the
// documented order; a bad Basic password is a 401, not a try of the next
// mechanism.
func TestChallengesInOrder(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users")
	require.NoError(t, auth.AddUser(users, "alice", "wonderland", []string{"demo", "other"}, []string{"member"}))
	cfg := Defaults()
	cfg.KeystoneURL = "http://keystone.invalid:5000/v3"
	cfg.UsersFile = users
	srv := echoServer(t, cfg)
	c := srv.Client()

	r := get(t, c, srv.URL, nil)
	assert.Equal(t, http.StatusUnauthorized, r.status)
	assert.Equal(t, []string{`Keystone uri="http://keystone.invalid:5000/v3"`, `Basic realm="occicdmi", charset="UTF-8"`},
		r.header.Values("WWW-Authenticate"))
	assert.Contains(t, r.body, "HTTP Basic")

	basic := func(user, pw string) string {
		req, _ := http.NewRequest("GET", "/", nil)
		req.SetBasicAuth(user, pw)
		return req.Header.Get("Authorization")
	}
	p := principalOf(t, get(t, c, srv.URL, map[string]string{"Authorization": basic("alice", "wonderland")}))
	assert.Equal(t, auth.Principal{User: "alice", Project: "demo", Roles: []string{"member"}, Method: "basic"}, p)
	p = principalOf(t, get(t, c, srv.URL, map[string]string{"Authorization": basic("alice", "wonderland"), "TID": "other"}))
	assert.Equal(t, "other", p.Project)

	for name, h := range map[string]map[string]string{
		"wrong password": {"Authorization": basic("alice", "nope")},
		"unknown user":   {"Authorization": basic("mallory", "wonderland")},
		"foreign tenant": {"Authorization": basic("alice", "wonderland"), "TID": "admin"},
		"malformed":      {"Authorization": "Basic !!!"},
	} {
		r := get(t, c, srv.URL, h)
		assert.Equal(t, http.StatusUnauthorized, r.status, name)
		assert.Len(t, r.header.Values("WWW-Authenticate"), 2, name)
		assert.NotContains(t, r.body, "anonymous", name)
	}
}

// Without any mechanism: the administrator, on loopback only.
func TestDevModeActsAsAdministratorOnLoopback(t *testing.T) {
	cfg := Defaults()
	srv := echoServer(t, cfg)
	p := principalOf(t, get(t, srv.Client(), srv.URL, nil))
	assert.True(t, p.Admin)

	a, err := newAuthenticator(cfg, quiet)
	require.NoError(t, err)
	h := a.wrap(principalEcho)
	for addr, want := range map[string]int{"192.0.2.7:8080": http.StatusForbidden, "127.0.0.1:8080": http.StatusOK, "[::1]:8080": http.StatusOK} {
		tcp, err := net.ResolveTCPAddr("tcp", addr)
		require.NoError(t, err)
		req := httptest.NewRequest("GET", "/", nil)
		req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, tcp))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		assert.Equal(t, want, rec.Code, addr)
	}

	cfg.InsecureNoAuth = true
	a, err = newAuthenticator(cfg, quiet)
	require.NoError(t, err)
	tcp, _ := net.ResolveTCPAddr("tcp", "192.0.2.7:8080")
	req := httptest.NewRequest("GET", "/", nil)
	req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, tcp))
	rec := httptest.NewRecorder()
	a.wrap(principalEcho).ServeHTTP(rec, req)
	assert.Equal(t, http.StatusOK, rec.Code)
}

// Secure by default: no authentication, no listening beyond loopback.
func TestCheckListen(t *testing.T) {
	for listen, ok := range map[string]bool{
		"127.0.0.1:8080": true, "127.0.0.2:1": true, "[::1]:8080": true, "localhost:8080": true,
		":8080": false, "0.0.0.0:8080": false, "[::]:8080": false, "192.0.2.1:8080": false, "[2001:db8::1]:80": false,
		"no-port": false,
	} {
		cfg := Defaults()
		cfg.Listen = listen
		err := checkListen(cfg)
		if ok {
			assert.NoError(t, err, listen)
			continue
		}
		assert.Error(t, err, listen)
		cfg.InsecureNoAuth = true
		assert.NoError(t, checkListen(cfg), "%s with --insecure-no-auth", listen)
		cfg.InsecureNoAuth = false
		cfg.UsersFile = "users"
		assert.NoError(t, checkListen(cfg), "%s with a users file", listen)
	}
	cfg := Defaults()
	cfg.Listen = "0.0.0.0:8080"
	err := checkListen(cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--insecure-no-auth")
	assert.Contains(t, err.Error(), "without authentication")
}

// The start-up log names the mode: development, insecure (a warning), or
// the mechanisms.
func TestStartAuthLog(t *testing.T) {
	logged := func(cfg Config) string {
		var b strings.Builder
		require.NoError(t, startAuth(cfg, slog.New(slog.NewTextHandler(&b, nil))))
		return b.String()
	}
	cfg := Defaults()
	assert.Contains(t, logged(cfg), `level=INFO msg="development mode: no authentication, loopback only"`)
	cfg.Listen = "0.0.0.0:8080"
	cfg.InsecureNoAuth = true
	assert.Contains(t, logged(cfg), "level=WARN msg=\"insecure: no authentication")
	cfg.InsecureNoAuth = false
	cfg.KeystoneURL, cfg.UsersFile = "http://k/v3", "u"
	assert.Contains(t, logged(cfg), "mechanisms=keystone,basic")
}

func TestLoadAuthSettings(t *testing.T) {
	cfg, err := Load("t", []string{"--users-file", "u", "--keystone-url", "http://k:5000/v3/", "--insecure-no-auth"}, env(nil), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "u", cfg.UsersFile)
	assert.Equal(t, "http://k:5000/v3", cfg.KeystoneURL)
	assert.True(t, cfg.InsecureNoAuth)

	file := filepath.Join(t.TempDir(), "c.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"insecure_no_auth":true,"tls_cert":"c.pem","tls_key":"k.pem"}`), 0o600))
	cfg, err = Load("t", []string{"--config", file}, env(nil), io.Discard)
	require.NoError(t, err)
	assert.True(t, cfg.InsecureNoAuth)
	assert.Equal(t, "c.pem", cfg.TLSCert)
	cfg, err = Load("t", []string{"--config", file}, env(map[string]string{"OCCICDMI_INSECURE_NO_AUTH": "false"}), io.Discard)
	require.NoError(t, err)
	assert.False(t, cfg.InsecureNoAuth, "the environment beats the file")
	cfg, err = Load("t", []string{"--config", file, "--insecure-no-auth=true"}, env(map[string]string{"OCCICDMI_INSECURE_NO_AUTH": "false"}), io.Discard)
	require.NoError(t, err)
	assert.True(t, cfg.InsecureNoAuth, "a flag beats the environment")

	for name, args := range map[string][]string{
		"cert without key":      {"--tls-cert", "c"},
		"client CA without TLS": {"--tls-client-ca", "ca", "--x509-map", "m"},
		"client CA without map": {"--tls-cert", "c", "--tls-key", "k", "--tls-client-ca", "ca"},
		"map without client CA": {"--tls-cert", "c", "--tls-key", "k", "--x509-map", "m"},
		"keystone user alone":   {"--keystone-user", "svc"},
		"no service password":   {"--keystone-url", "http://k/v3", "--keystone-user", "svc", "--keystone-project", "p"},
		"keystone URL scheme":   {"--keystone-url", "keystone:5000"},
	} {
		_, err := Load("t", args, env(nil), io.Discard)
		assert.Error(t, err, name)
	}
	_, err = Load("t", nil, env(map[string]string{"OCCICDMI_INSECURE_NO_AUTH": "maybe"}), io.Discard)
	assert.Error(t, err)
}

// testCA is a certificate authority made for a test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

var serialNo atomic.Int64

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serialNo.Add(1)), Subject: pkix.Name{CommonName: name, Organization: []string{"occicdmi tests"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &testCA{cert: cert, key: key}
}

// issue is a certificate signed by c: a server's for 127.0.0.1 when
// server, a client's for subject otherwise.
func (c *testCA) issue(t *testing.T, subject pkix.Name, server bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serialNo.Add(1)), Subject: subject,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func (c *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.cert)
	return p
}

func writePEM(t *testing.T, path string, blocks ...*pem.Block) string {
	t.Helper()
	var b []byte
	for _, bl := range blocks {
		b = append(b, pem.EncodeToMemory(bl)...)
	}
	require.NoError(t, os.WriteFile(path, b, 0o600))
	return path
}

// writeKeyPair writes cert and its key as PEM files: their paths.
func writeKeyPair(t *testing.T, dir, name string, cert tls.Certificate) (string, string) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	require.NoError(t, err)
	return writePEM(t, filepath.Join(dir, name+".pem"), &pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}),
		writePEM(t, filepath.Join(dir, name+"-key.pem"), &pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// X.509 over real TLS, as Serve sets it up: a mapped client certificate of
// the configured CA is served (over HTTP/2) with its DN and project, no
// certificate is a 401, an unmapped one a 401 naming the subject, and one
// from an unknown CA fails the handshake.
func TestX509OverTLS(t *testing.T) {
	dir := t.TempDir()
	serverCA, clientCA, strangerCA := newTestCA(t, "server CA"), newTestCA(t, "client CA"), newTestCA(t, "stranger CA")
	cfg := Defaults()
	cfg.TLSCert, cfg.TLSKey = writeKeyPair(t, dir, "server", serverCA.issue(t, pkix.Name{CommonName: "localhost"}, true))
	cfg.TLSClientCA = writePEM(t, filepath.Join(dir, "client-ca.pem"), &pem.Block{Type: "CERTIFICATE", Bytes: clientCA.cert.Raw})
	cfg.X509Map = filepath.Join(dir, "map.json")
	require.NoError(t, os.WriteFile(cfg.X509Map, []byte(`[{"dn": "CN=alice,OU=people,O=Example", "project": "demo", "roles": ["member"]}]`), 0o600))
	cfg.DataDir = t.TempDir()
	require.NoError(t, cfg.fill())

	a, err := New(context.Background(), cfg, quiet)
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	authn, err := newAuthenticator(cfg, quiet)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/whoami", authn.wrap(principalEcho))
	mux.Handle("/", a.Handler)
	tc, err := tlsConfig(cfg)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: mux, TLSConfig: tc, ReadHeaderTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(quiet.Handler(), slog.LevelInfo)}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	base := "https://" + ln.Addr().String()

	client := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: serverCA.pool(), Certificates: certs},
			ForceAttemptHTTP2: true,
		}}
	}
	alice := client(clientCA.issue(t, pkix.Name{CommonName: "alice", OrganizationalUnit: []string{"people"}, Organization: []string{"Example"}}, false))

	r := get(t, alice, base+"/-/", map[string]string{"Accept": "text/plain"})
	assert.Equal(t, http.StatusOK, r.status, r.body)
	r = get(t, alice, base+"/cdmi/", cdmiRoot)
	assert.Equal(t, http.StatusOK, r.status, r.body)
	p := principalOf(t, get(t, alice, base+"/whoami", nil))
	assert.Equal(t, "CN=alice,OU=people,O=Example", p.User)
	assert.Equal(t, "demo", p.Project)
	assert.Equal(t, "x509", p.Method)

	resp, err := alice.Get(base + "/-/")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 2, resp.ProtoMajor, "HTTP/2 over TLS")
	assert.Equal(t, uint16(tls.VersionTLS13), resp.TLS.Version)

	r = get(t, client(), base+"/-/", nil)
	assert.Equal(t, http.StatusUnauthorized, r.status, "no client certificate")
	assert.Contains(t, r.body, "client certificate")

	bob := client(clientCA.issue(t, pkix.Name{CommonName: "bob"}, false))
	r = get(t, bob, base+"/cdmi/", cdmiRoot)
	assert.Equal(t, http.StatusUnauthorized, r.status)
	assert.Contains(t, r.body, "CN=bob is not mapped")

	// A certificate from an unknown CA, with alice's subject: Go's client
	// does not even send it (the server names the CAs it accepts), so it
	// is a request without a certificate; a client that sends it anyway
	// fails the handshake.
	strangerCert := strangerCA.issue(t, pkix.Name{CommonName: "alice", OrganizationalUnit: []string{"people"}, Organization: []string{"Example"}}, false)
	r = get(t, client(strangerCert), base+"/whoami", nil)
	assert.Equal(t, http.StatusUnauthorized, r.status, r.body)
	pushy := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs:              serverCA.pool(),
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &strangerCert, nil },
	}}}
	_, err = pushy.Get(base + "/whoami")
	require.Error(t, err, "a certificate from an unknown CA fails the handshake")
	assert.Contains(t, err.Error(), "certificate")

	// TLS 1.1 is refused.
	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: serverCA.pool(), MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}}}
	_, err = old.Get(base + "/-/")
	assert.Error(t, err, "TLS 1.1")
}
