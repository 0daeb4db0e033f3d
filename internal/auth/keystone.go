package auth

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/occicdmi/occicdmi/internal/kind"
)

// KeystoneConfig configures a Keystone token validator.
type KeystoneConfig struct {
	// URL is the identity v3 endpoint the server talks to, e.g.
	// http://keystone:5000/v3.
	URL string
	// PublicURL is the one clients are told about in WWW-Authenticate
	// (default: URL).
	PublicURL string

	// The service credentials the validator logs in with to validate
	// tokens (Keystone's identity:validate_token policy wants the service
	// or admin role). User name, password and the project to scope to;
	// both domains default to "Default".
	//
	// Without a User, each token validates itself (X-Auth-Token and
	// X-Subject-Token both the client's token, which Keystone's default
	// policy allows as the token's subject): no service account needed.
	User, Password, Project   string
	UserDomain, ProjectDomain string

	// AdminRole makes a principal Admin (default DefaultAdminRole).
	AdminRole string

	// Client does the requests (default: a client with a 10 s timeout).
	Client *http.Client

	// CacheSize bounds the validated tokens kept (default 10000; the
	// least recently used goes first).
	CacheSize int
	// CacheFor bounds how long a validated token is trusted without asking
	// Keystone again (default 5 minutes, as keystonemiddleware's
	// token_cache_time): never past the token's expires_at, and a revoked
	// token is refused at most CacheFor after its revocation.
	CacheFor time.Duration
	// RefuseFor is how long a token Keystone refused is refused from the
	// cache (default 10 s; negative: not cached), so that a client
	// retrying a bad token does not make Keystone work for each try.
	RefuseFor time.Duration
}

// Keystone validates X-Auth-Token headers against Keystone v3. It is an
// Authenticator and a Challenger; safe for concurrent use.
type Keystone struct {
	cfg    KeystoneConfig
	client *http.Client
	now    func() time.Time // for tests

	svcMu      sync.Mutex
	svcToken   string
	svcExpires time.Time

	cacheMu sync.Mutex
	cache   map[[sha256.Size]byte]*list.Element
	lru     list.List // of *cacheEntry, most recent first

	flight singleflight.Group
}

type cacheEntry struct {
	key   [sha256.Size]byte
	p     *Principal // nil: refused
	err   error
	until time.Time
}

// NewKeystone is a validator for cfg.
func NewKeystone(cfg KeystoneConfig) (*Keystone, error) {
	if cfg.URL == "" {
		return nil, errors.New("auth: Keystone URL missing")
	}
	cfg.URL = strings.TrimRight(cfg.URL, "/")
	if cfg.PublicURL == "" {
		cfg.PublicURL = cfg.URL
	}
	if cfg.UserDomain == "" {
		cfg.UserDomain = "Default"
	}
	if cfg.ProjectDomain == "" {
		cfg.ProjectDomain = "Default"
	}
	if cfg.User != "" && cfg.Project == "" {
		return nil, errors.New("auth: Keystone service user without a project")
	}
	if cfg.AdminRole == "" {
		cfg.AdminRole = DefaultAdminRole
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 10000
	}
	if cfg.CacheFor <= 0 {
		cfg.CacheFor = 5 * time.Minute
	}
	if cfg.RefuseFor == 0 {
		cfg.RefuseFor = 10 * time.Second
	}
	client := cfg.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &Keystone{cfg: cfg, client: client, now: time.Now, cache: map[[sha256.Size]byte]*list.Element{}}, nil
}

// WWWAuthenticate is `Keystone uri="<public URL>"`, where OCCI clients look
// for the place to get a token.
func (k *Keystone) WWWAuthenticate() string { return `Keystone uri="` + k.cfg.PublicURL + `"` }

// Authenticate validates the request's X-Auth-Token.
func (k *Keystone) Authenticate(r *http.Request) (*Principal, error) {
	token := strings.TrimSpace(r.Header.Get("X-Auth-Token"))
	if token == "" {
		return nil, ErrNoCredentials
	}
	return k.Validate(r.Context(), token)
}

// Validate is the principal of token, from the cache or from Keystone.
func (k *Keystone) Validate(ctx context.Context, token string) (*Principal, error) {
	key := sha256.Sum256([]byte(token))
	if p, err, ok := k.cached(key); ok {
		return p, err
	}
	// One request to Keystone for a token however many ask at once; the
	// first caller going away does not fail the others (the client's
	// timeout bounds the request).
	ctx = context.WithoutCancel(ctx)
	v, err, _ := k.flight.Do(string(key[:]), func() (any, error) {
		if p, err, ok := k.cached(key); ok {
			return p, err
		}
		p, err := k.validate(ctx, token)
		switch {
		case err == nil:
			until := k.now().Add(k.cfg.CacheFor)
			if !p.Expires.IsZero() && p.Expires.Before(until) {
				until = p.Expires
			}
			k.store(key, p, nil, until)
		case errors.Is(err, ErrBadCredentials) && k.cfg.RefuseFor > 0:
			k.store(key, nil, err, k.now().Add(k.cfg.RefuseFor))
		}
		return p, err
	})
	if err != nil {
		return nil, err
	}
	return clonePrincipal(v.(*Principal)), nil
}

func clonePrincipal(p *Principal) *Principal {
	c := *p
	c.Roles = append([]string(nil), p.Roles...)
	return &c
}

func (k *Keystone) cached(key [sha256.Size]byte) (*Principal, error, bool) {
	k.cacheMu.Lock()
	defer k.cacheMu.Unlock()
	el, ok := k.cache[key]
	if !ok {
		return nil, nil, false
	}
	e := el.Value.(*cacheEntry)
	if !k.now().Before(e.until) {
		k.lru.Remove(el)
		delete(k.cache, key)
		return nil, nil, false
	}
	k.lru.MoveToFront(el)
	if e.p == nil {
		return nil, e.err, true
	}
	return clonePrincipal(e.p), nil, true
}

func (k *Keystone) store(key [sha256.Size]byte, p *Principal, err error, until time.Time) {
	k.cacheMu.Lock()
	defer k.cacheMu.Unlock()
	if el, ok := k.cache[key]; ok {
		k.lru.Remove(el)
	}
	k.cache[key] = k.lru.PushFront(&cacheEntry{key: key, p: p, err: err, until: until})
	for k.lru.Len() > k.cfg.CacheSize {
		last := k.lru.Back()
		k.lru.Remove(last)
		delete(k.cache, last.Value.(*cacheEntry).key)
	}
}

// CacheLen is the number of tokens in the cache (for tests and metrics).
func (k *Keystone) CacheLen() int {
	k.cacheMu.Lock()
	defer k.cacheMu.Unlock()
	return k.lru.Len()
}

// tokenBody is the part of Keystone's token document the principal needs.
type tokenBody struct {
	Token struct {
		ExpiresAt string `json:"expires_at"`
		User      struct {
			ID     string `json:"id"`
			Name   string `json:"name"`
			Domain struct {
				Name string `json:"name"`
			} `json:"domain"`
		} `json:"user"`
		Project *struct {
			ID     string `json:"id"`
			Name   string `json:"name"`
			Domain struct {
				Name string `json:"name"`
			} `json:"domain"`
		} `json:"project"`
		System map[string]any `json:"system"`
		Roles  []struct {
			Name string `json:"name"`
		} `json:"roles"`
	} `json:"token"`
}

func (k *Keystone) unavailable(err error, msg string) error {
	return kind.Wrap(kind.Unavailable, err, "keystone at "+k.cfg.URL+": "+msg)
}

// validate asks Keystone about token.
func (k *Keystone) validate(ctx context.Context, token string) (*Principal, error) {
	self := k.cfg.User == ""
	for attempt := 0; ; attempt++ {
		auth := token
		if !self {
			var err error
			if auth, err = k.serviceToken(ctx, attempt > 0); err != nil {
				return nil, err
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.cfg.URL+"/auth/tokens?nocatalog", nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("X-Auth-Token", auth)
		req.Header.Set("X-Subject-Token", token)
		req.Header.Set("Accept", "application/json")
		resp, err := k.client.Do(req)
		if err != nil {
			return nil, k.unavailable(err, "validating a token")
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return nil, k.unavailable(err, "reading a token")
		}
		switch {
		case resp.StatusCode == http.StatusOK:
			return k.principal(body)
		case resp.StatusCode == http.StatusNotFound:
			// Keystone's answer for a subject token that is forged,
			// expired or revoked.
			return nil, badf("Keystone token not valid (forged, expired or revoked)")
		case resp.StatusCode == http.StatusUnauthorized && self:
			return nil, badf("Keystone token not valid (forged, expired or revoked)")
		case resp.StatusCode == http.StatusUnauthorized && attempt == 0:
			// Our service token went bad (revoked, keys rotated
			// away): log in again, once.
			continue
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
			return nil, k.unavailable(fmt.Errorf("HTTP %d: %s", resp.StatusCode, snippet(body)),
				"the service user "+k.cfg.User+" may not validate tokens")
		default:
			return nil, k.unavailable(fmt.Errorf("HTTP %d: %s", resp.StatusCode, snippet(body)), "validating a token")
		}
	}
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func (k *Keystone) principal(body []byte) (*Principal, error) {
	var tb tokenBody
	if err := json.Unmarshal(body, &tb); err != nil {
		return nil, k.unavailable(err, "token document")
	}
	t := tb.Token
	p := &Principal{
		User:   t.User.Name,
		UserID: t.User.ID,
		Domain: t.User.Domain.Name,
		Method: "keystone",
	}
	if p.User == "" {
		p.User = p.UserID
	}
	if t.ExpiresAt != "" {
		exp, err := time.Parse(time.RFC3339Nano, t.ExpiresAt)
		if err != nil {
			return nil, k.unavailable(err, "token expires_at")
		}
		if !k.now().Before(exp) {
			return nil, badf("Keystone token expired at %s", exp.Format(time.RFC3339))
		}
		p.Expires = exp
	}
	for _, r := range t.Roles {
		p.Roles = append(p.Roles, r.Name)
	}
	p.Admin = p.HasRole(k.cfg.AdminRole)
	switch {
	case t.Project != nil:
		p.Project, p.ProjectID = t.Project.Name, t.Project.ID
	case t.System != nil && p.Admin:
		// A system-scoped admin: no project, sees all.
	default:
		return nil, badf("Keystone token is not scoped to a project")
	}
	return p, nil
}

// serviceToken is the validator's own token, logging in when it has none,
// when it expires within a minute, or when renew says Keystone refused it.
func (k *Keystone) serviceToken(ctx context.Context, renew bool) (string, error) {
	k.svcMu.Lock()
	defer k.svcMu.Unlock()
	if !renew && k.svcToken != "" && k.now().Add(time.Minute).Before(k.svcExpires) {
		return k.svcToken, nil
	}
	tok, exp, err := k.login(ctx)
	if err != nil {
		k.svcToken = ""
		return "", err
	}
	k.svcToken, k.svcExpires = tok, exp
	return tok, nil
}

func (k *Keystone) login(ctx context.Context) (string, time.Time, error) {
	var body struct {
		Auth struct {
			Identity struct {
				Methods  []string `json:"methods"`
				Password struct {
					User struct {
						Name     string            `json:"name"`
						Domain   map[string]string `json:"domain"`
						Password string            `json:"password"`
					} `json:"user"`
				} `json:"password"`
			} `json:"identity"`
			Scope struct {
				Project struct {
					Name   string            `json:"name"`
					Domain map[string]string `json:"domain"`
				} `json:"project"`
			} `json:"scope"`
		} `json:"auth"`
	}
	id := &body.Auth.Identity
	id.Methods = []string{"password"}
	id.Password.User.Name = k.cfg.User
	id.Password.User.Domain = map[string]string{"name": k.cfg.UserDomain}
	id.Password.User.Password = k.cfg.Password
	body.Auth.Scope.Project.Name = k.cfg.Project
	body.Auth.Scope.Project.Domain = map[string]string{"name": k.cfg.ProjectDomain}
	b, err := json.Marshal(&body)
	if err != nil {
		return "", time.Time{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, k.cfg.URL+"/auth/tokens?nocatalog", bytes.NewReader(b))
	if err != nil {
		return "", time.Time{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return "", time.Time{}, k.unavailable(err, "service login")
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", time.Time{}, k.unavailable(err, "service login")
	}
	if resp.StatusCode != http.StatusCreated {
		return "", time.Time{}, k.unavailable(fmt.Errorf("HTTP %d: %s", resp.StatusCode, snippet(data)),
			"service login as "+k.cfg.User+" refused")
	}
	tok := resp.Header.Get("X-Subject-Token")
	var tb tokenBody
	if err := json.Unmarshal(data, &tb); err != nil || tok == "" {
		return "", time.Time{}, k.unavailable(fmt.Errorf("no token in the answer (%v)", err), "service login")
	}
	exp, err := time.Parse(time.RFC3339Nano, tb.Token.ExpiresAt)
	if err != nil {
		return "", time.Time{}, k.unavailable(err, "service token expires_at")
	}
	return tok, exp, nil
}

// Ping asks Keystone for its v3 endpoint's version document (GET URL, no
// token needed): anything but a 200 there means tokens cannot be validated
// now. /readyz asks it.
func (k *Keystone) Ping(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.cfg.URL, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return k.unavailable(err, "reaching the v3 endpoint")
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return k.unavailable(fmt.Errorf("HTTP %d: %s", resp.StatusCode, snippet(body)), "the v3 endpoint")
	}
	return nil
}
