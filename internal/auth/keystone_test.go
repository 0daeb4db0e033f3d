package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/internal/kind"
	"github.com/occicdmi/occicdmi/internal/testsupport"
)

// realKeystone is the Keystone of scripts/testenv/keystone.sh, from the
// variables its env prints.
type realKeystone struct {
	URL                                 string
	AdminUser, AdminPassword, AdminProj string
	DemoUser, DemoPassword, DemoProj    string
	SvcUser, SvcPassword, SvcProj       string
}

func needKeystone(t *testing.T) realKeystone {
	t.Helper()
	u := testsupport.Need(t, "Keystone", "OCCICDMI_TEST_KEYSTONE")
	env := func(name string) string {
		v := os.Getenv("OCCICDMI_TEST_KEYSTONE_" + name)
		require.NotEmpty(t, v, "OCCICDMI_TEST_KEYSTONE_%s (eval \"$(scripts/testenv/keystone.sh env)\")", name)
		return v
	}
	return realKeystone{
		URL:       strings.TrimRight(u, "/"),
		AdminUser: env("ADMIN_USER"), AdminPassword: env("ADMIN_PASSWORD"), AdminProj: env("ADMIN_PROJECT"),
		DemoUser: env("DEMO_USER"), DemoPassword: env("DEMO_PASSWORD"), DemoProj: env("DEMO_PROJECT"),
		SvcUser: env("SERVICE_USER"), SvcPassword: env("SERVICE_PASSWORD"), SvcProj: env("SERVICE_PROJECT"),
	}
}

func (ks realKeystone) config(base string) KeystoneConfig {
	return KeystoneConfig{URL: base, User: ks.SvcUser, Password: ks.SvcPassword, Project: ks.SvcProj}
}

// token logs in to Keystone at base as a client would: password, scoped
// to the project.
func token(t *testing.T, base, user, password, project string) string {
	t.Helper()
	body := fmt.Sprintf(`{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":%q,"domain":{"name":"Default"},"password":%q}}},
		"scope":{"project":{"name":%q,"domain":{"name":"Default"}}}}}`, user, password, project)
	resp, err := http.Post(base+"/auth/tokens?nocatalog", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	tok := resp.Header.Get("X-Subject-Token")
	require.NotEmpty(t, tok)
	return tok
}

func revoke(t *testing.T, base, tok string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodDelete, base+"/auth/tokens", nil)
	require.NoError(t, err)
	req.Header.Set("X-Auth-Token", tok)
	req.Header.Set("X-Subject-Token", tok)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
}

// counter is a reverse proxy in front of Keystone that counts requests by
// method and path.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}

// proxy is the base URL (ending in /v3) of a counting proxy to ks.
func proxy(t *testing.T, ks realKeystone) (string, *counter) {
	target, err := url.Parse(ks.URL)
	require.NoError(t, err)
	c := &counter{n: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.n[r.Method+" "+r.URL.Path]++
		c.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + target.Path, c
}

func withToken(tok string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("X-Auth-Token", tok)
	return r
}

func TestKeystoneReal(t *testing.T) {
	ks := needKeystone(t)
	base, count := proxy(t, ks)
	k, err := NewKeystone(ks.config(base))
	require.NoError(t, err)
	demo := token(t, ks.URL, ks.DemoUser, ks.DemoPassword, ks.DemoProj)

	t.Run("good token", func(t *testing.T) {
		p, err := k.Authenticate(withToken(demo))
		require.NoError(t, err)
		assert.Equal(t, ks.DemoUser, p.User)
		assert.NotEmpty(t, p.UserID)
		assert.Equal(t, "Default", p.Domain)
		assert.Equal(t, ks.DemoProj, p.Project)
		assert.NotEmpty(t, p.ProjectID)
		assert.Contains(t, p.Roles, "member")
		assert.False(t, p.Admin)
		assert.Equal(t, "keystone", p.Method)
		assert.True(t, p.Expires.After(time.Now()), "expires %s", p.Expires)

		admin := token(t, ks.URL, ks.AdminUser, ks.AdminPassword, ks.AdminProj)
		p, err = k.Authenticate(withToken(admin))
		require.NoError(t, err)
		assert.Equal(t, ks.AdminProj, p.Project)
		assert.True(t, p.Admin)
	})
	t.Run("cache", func(t *testing.T) {
		tok := token(t, ks.URL, ks.DemoUser, ks.DemoPassword, ks.DemoProj)
		logins, gets := count.get("POST /v3/auth/tokens"), count.get("GET /v3/auth/tokens")
		first, err := k.Authenticate(withToken(tok))
		require.NoError(t, err)
		assert.Equal(t, gets+1, count.get("GET /v3/auth/tokens"))
		for range 5 {
			again, err := k.Authenticate(withToken(tok))
			require.NoError(t, err)
			assert.Equal(t, first, again)
		}
		assert.Equal(t, gets+1, count.get("GET /v3/auth/tokens"), "cache hits do not ask Keystone")
		assert.Equal(t, logins, count.get("POST /v3/auth/tokens"), "the service token is reused")
		assert.Equal(t, 1, count.get("POST /v3/auth/tokens"), "one service login for the whole test")
	})
	t.Run("forged", func(t *testing.T) {
		// A real token with one character
		// changed (still base64, so Keystone has to decrypt it).
		c := byte('A')
		if demo[40] == 'A' {
			c = 'B'
		}
		tampered := demo[:40] + string(c) + demo[41:]
		for _, tok := range []string{"forged", strings.Repeat("gAAAAA", 30), tampered} {
			_, err := k.Authenticate(withToken(tok))
			assert.ErrorIs(t, err, ErrBadCredentials, tok)
			assert.NotEqual(t, kind.Unavailable, kind.Of(err))
		}
		gets := count.get("GET /v3/auth/tokens")
		_, err := k.Authenticate(withToken(tampered))
		assert.ErrorIs(t, err, ErrBadCredentials)
		assert.Equal(t, gets, count.get("GET /v3/auth/tokens"), "a refused token is refused from the cache for a while")
	})
	t.Run("revoked", func(t *testing.T) {
		tok := token(t, ks.URL, ks.DemoUser, ks.DemoPassword, ks.DemoProj)
		revoke(t, ks.URL, tok)
		_, err := k.Authenticate(withToken(tok))
		assert.ErrorIs(t, err, ErrBadCredentials)
	})
	t.Run("service token renewed when Keystone refuses it", func(t *testing.T) {
		svc, err := k.serviceToken(context.Background(), false)
		require.NoError(t, err)
		revoke(t, ks.URL, svc)
		logins := count.get("POST /v3/auth/tokens")
		tok := token(t, ks.URL, ks.DemoUser, ks.DemoPassword, ks.DemoProj)
		p, err := k.Authenticate(withToken(tok))
		require.NoError(t, err)
		assert.Equal(t, ks.DemoProj, p.Project)
		assert.Equal(t, logins+1, count.get("POST /v3/auth/tokens"))
	})
	t.Run("no token", func(t *testing.T) {
		_, err := k.Authenticate(httptest.NewRequest(http.MethodGet, "/", nil))
		assert.ErrorIs(t, err, ErrNoCredentials)
		assert.Equal(t, `Keystone uri="`+base+`"`, k.WWWAuthenticate())
	})
}

func TestKeystoneRealSelfValidation(t *testing.T) {
	ks := needKeystone(t)
	k, err := NewKeystone(KeystoneConfig{URL: ks.URL, PublicURL: "https://keystone.example.org:5000/v3"})
	require.NoError(t, err)
	p, err := k.Authenticate(withToken(token(t, ks.URL, ks.DemoUser, ks.DemoPassword, ks.DemoProj)))
	require.NoError(t, err)
	assert.Equal(t, ks.DemoProj, p.Project)
	assert.Contains(t, p.Roles, "member")
	_, err = k.Authenticate(withToken("forged"))
	assert.ErrorIs(t, err, ErrBadCredentials)
	assert.Equal(t, `Keystone uri="https://keystone.example.org:5000/v3"`, k.WWWAuthenticate())
}

// Wrong service credentials are the server's problem, not the client's:
// 503, never 401 for a good token.
func TestKeystoneRealWrongServicePassword(t *testing.T) {
	ks := needKeystone(t)
	cfg := ks.config(ks.URL)
	cfg.Password = "wrong"
	k, err := NewKeystone(cfg)
	require.NoError(t, err)
	_, err = k.Authenticate(withToken(token(t, ks.URL, ks.DemoUser, ks.DemoPassword, ks.DemoProj)))
	assert.Equal(t, kind.Unavailable, kind.Of(err), "%v", err)
	assert.NotErrorIs(t, err, ErrBadCredentials)
}

// closedURL is a Keystone URL where nothing listens.
func closedURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return "http://" + addr + "/v3"
}

func TestKeystoneDown(t *testing.T) {
	u := closedURL(t)
	for name, cfg := range map[string]KeystoneConfig{
		"service token": {URL: u, User: "occicdmi", Password: "x", Project: "service"},
		"self":          {URL: u},
	} {
		k, err := NewKeystone(cfg)
		require.NoError(t, err)
		_, err = k.Authenticate(withToken("some-token"))
		require.Error(t, err, name)
		assert.Equal(t, kind.Unavailable, kind.Of(err), "%s: %v", name, err)
		assert.NotErrorIs(t, err, ErrBadCredentials, name)
		assert.NotErrorIs(t, err, ErrNoCredentials, name)
		assert.Contains(t, err.Error(), u, name)
		assert.Equal(t, 0, k.CacheLen(), "%s: a failure is not cached", name)
	}
}

// fakeKeystone answers token validation with a token document that
// expires at expires; it counts validations.
type fakeKeystone struct {
	srv     *httptest.Server
	gets    atomic.Int64
	mu      sync.Mutex
	expires time.Time
	status  int
	delay   time.Duration
}

func newFakeKeystone(t *testing.T) *fakeKeystone {
	f := &fakeKeystone{status: http.StatusOK}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		exp, status, delay := f.expires, f.status, f.delay
		f.mu.Unlock()
		time.Sleep(delay)
		switch {
		case r.Method == http.MethodPost:
			w.Header().Set("X-Subject-Token", "service-token")
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, `{"token":{"expires_at":%q}}`, time.Now().Add(time.Hour).UTC().Format(time.RFC3339Nano))
		case r.Method == http.MethodGet && r.URL.Path == "/v3/auth/tokens":
			f.gets.Add(1)
			if status != http.StatusOK {
				http.Error(w, `{"error":{}}`, status)
				return
			}
			doc := map[string]any{"token": map[string]any{
				"expires_at": exp.UTC().Format("2006-01-02T15:04:05.000000Z"),
				"user":       map[string]any{"id": "u1", "name": r.Header.Get("X-Subject-Token"), "domain": map[string]any{"name": "Default"}},
				"project":    map[string]any{"id": "p1", "name": "demo", "domain": map[string]any{"name": "Default"}},
				"roles":      []map[string]any{{"name": "member"}},
			}}
			var b bytes.Buffer
			_ = json.NewEncoder(&b).Encode(doc)
			_, _ = w.Write(b.Bytes())
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeKeystone) set(expires time.Time, status int) {
	f.mu.Lock()
	f.expires, f.status = expires, status
	f.mu.Unlock()
}

// The cache keeps a token until its expires_at or CacheFor, whichever
// comes first, and holds at most CacheSize tokens.
func TestKeystoneCacheBounds(t *testing.T) {
	f := newFakeKeystone(t)
	k, err := NewKeystone(KeystoneConfig{URL: f.srv.URL + "/v3", User: "svc", Password: "pw", Project: "service",
		CacheSize: 2, CacheFor: 5 * time.Minute})
	require.NoError(t, err)
	clock := time.Now()
	k.now = func() time.Time { return clock }

	f.set(clock.Add(30*time.Second), http.StatusOK)
	p, err := k.Authenticate(withToken("short"))
	require.NoError(t, err)
	assert.Equal(t, "short", p.User)
	_, _ = k.Authenticate(withToken("short"))
	assert.Equal(t, int64(1), f.gets.Load())
	clock = clock.Add(31 * time.Second)
	_, err = k.Authenticate(withToken("short"))
	assert.ErrorIs(t, err, ErrBadCredentials, "expired: Keystone's document is too old now")
	assert.Equal(t, int64(2), f.gets.Load(), "not from the cache past expires_at")

	f.set(clock.Add(time.Hour), http.StatusOK)
	_, err = k.Authenticate(withToken("long"))
	require.NoError(t, err)
	clock = clock.Add(4 * time.Minute)
	_, err = k.Authenticate(withToken("long"))
	require.NoError(t, err)
	assert.Equal(t, int64(3), f.gets.Load())
	clock = clock.Add(2 * time.Minute)
	_, err = k.Authenticate(withToken("long"))
	require.NoError(t, err)
	assert.Equal(t, int64(4), f.gets.Load(), "asked again after CacheFor, to see revocations")

	for _, tok := range []string{"a", "b", "c"} {
		_, err := k.Authenticate(withToken(tok))
		require.NoError(t, err)
	}
	assert.Equal(t, 2, k.CacheLen(), "bounded")
	n := f.gets.Load()
	_, _ = k.Authenticate(withToken("c"))
	assert.Equal(t, n, f.gets.Load(), "the most recent stays")
	_, _ = k.Authenticate(withToken("a"))
	assert.Equal(t, n+1, f.gets.Load(), "the least recent went")

	f.set(clock.Add(time.Hour), http.StatusInternalServerError)
	_, err = k.Authenticate(withToken("new"))
	assert.Equal(t, kind.Unavailable, kind.Of(err), "Keystone failing is 503: %v", err)

	f.set(clock.Add(time.Hour), http.StatusForbidden)
	_, err = k.Authenticate(withToken("new"))
	assert.Equal(t, kind.Unavailable, kind.Of(err), "a service user without the right is the server's problem: %v", err)
	assert.Contains(t, err.Error(), "svc may not validate tokens")
}

func TestKeystoneConcurrentValidationsShareOneRequest(t *testing.T) {
	f := newFakeKeystone(t)
	f.set(time.Now().Add(time.Hour), http.StatusOK)
	f.delay = 200 * time.Millisecond
	k, err := NewKeystone(KeystoneConfig{URL: f.srv.URL + "/v3"})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := k.Authenticate(withToken("same"))
			if assert.NoError(t, err) {
				p.Roles[0] = "changed by a caller" // each gets its own copy
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int64(1), f.gets.Load(), "one validation for all of them")
	p, err := k.Authenticate(withToken("same"))
	require.NoError(t, err)
	assert.Equal(t, []string{"member"}, p.Roles)
}
