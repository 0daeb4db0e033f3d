package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// TenantHeader is the CDMI request header that chooses, next to Basic
// credentials, which of the user's projects the request acts in.
const TenantHeader = "TID"

// BasicConfig configures HTTP Basic authentication.
type BasicConfig struct {
	// File is the users file (see User for its format).
	File string
	// Realm is told to clients in WWW-Authenticate (default "occicdmi").
	Realm string
	// AdminRole makes a principal Admin (default DefaultAdminRole).
	AdminRole string
}

// Basic authenticates HTTP Basic credentials against a users file, read
// again when it changes. It is an Authenticator and a Challenger; safe for
// concurrent use.
type Basic struct {
	cfg   BasicConfig
	users *watched[map[string]User]

	// Verified passwords, so that a client sending Basic with every
	// request costs one bcrypt comparison per VerifiedFor, not one per
	// request: keyed by an HMAC (with a key of this process) of user and
	// password, valid while the user's hash is the one it matched.
	mu       sync.Mutex
	key      [32]byte
	verified map[[sha256.Size]byte]verifiedEntry
	now      func() time.Time
	macs     sync.Pool // HMACs keyed with key: making one per request costs more than the rest of a check
}

type verifiedEntry struct {
	hash string
	at   time.Time
}

// VerifiedFor is how long a verified password is remembered.
const VerifiedFor = 5 * time.Minute

const maxVerified = 4096

// NewBasic reads the users file of cfg.
func NewBasic(cfg BasicConfig) (*Basic, error) {
	if cfg.Realm == "" {
		cfg.Realm = "occicdmi"
	}
	if cfg.AdminRole == "" {
		cfg.AdminRole = DefaultAdminRole
	}
	w, err := newWatched(cfg.File, func(data []byte) (map[string]User, error) {
		list, err := ParseUsers(data)
		if err != nil {
			return nil, err
		}
		m := make(map[string]User, len(list))
		for _, u := range list {
			m[u.Name] = u
		}
		return m, nil
	})
	if err != nil {
		return nil, err
	}
	b := &Basic{cfg: cfg, users: w, verified: map[[sha256.Size]byte]verifiedEntry{}, now: time.Now}
	if _, err := rand.Read(b.key[:]); err != nil {
		return nil, err
	}
	b.macs.New = func() any { return hmac.New(sha256.New, b.key[:]) }
	return b, nil
}

// WWWAuthenticate is the Basic challenge.
func (b *Basic) WWWAuthenticate() string {
	return `Basic realm="` + b.cfg.Realm + `", charset="UTF-8"`
}

// Err is the last failure to read the users file again (see watched).
func (b *Basic) Err() error { return b.users.Err() }

// dummyHash is compared against for an unknown user, so that answering
// takes as long as for a known one.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("no such user"), BcryptCost)
	return h
})

// Authenticate checks the request's Basic credentials; a TID header
// chooses among the user's projects (default: the first).
func (b *Basic) Authenticate(r *http.Request) (*Principal, error) {
	h := r.Header.Get("Authorization")
	scheme, rest, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return nil, ErrNoCredentials
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
	if err != nil {
		return nil, badf("malformed Basic credentials")
	}
	name, password, ok := strings.Cut(string(raw), ":")
	if !ok {
		return nil, badf("malformed Basic credentials")
	}
	u, known := b.users.get()[name]
	if !known {
		_ = bcrypt.CompareHashAndPassword(dummyHash(), []byte(password))
		return nil, badf("wrong user name or password")
	}
	if !b.check(u, password) {
		return nil, badf("wrong user name or password")
	}
	project := u.Projects[0]
	if tid := strings.TrimSpace(r.Header.Get(TenantHeader)); tid != "" {
		if !slices.Contains(u.Projects, tid) {
			return nil, badf("user %s is not in tenant %s", name, tid)
		}
		project = tid
	}
	p := &Principal{
		User:    u.Name,
		Project: project,
		Roles:   append([]string(nil), u.Roles...),
		Method:  "basic",
	}
	p.Admin = p.HasRole(b.cfg.AdminRole)
	return p, nil
}

func (b *Basic) check(u User, password string) bool {
	mac := b.macs.Get().(hash.Hash)
	mac.Reset()
	_, _ = io.WriteString(mac, u.Name)
	mac.Write([]byte{0})
	_, _ = io.WriteString(mac, password)
	var k [sha256.Size]byte
	mac.Sum(k[:0])
	b.macs.Put(mac)
	now := b.now()
	b.mu.Lock()
	e, ok := b.verified[k]
	b.mu.Unlock()
	if ok && e.hash == u.Hash && now.Sub(e.at) < VerifiedFor {
		return true
	}
	if bcrypt.CompareHashAndPassword([]byte(u.Hash), []byte(password)) != nil {
		return false
	}
	b.mu.Lock()
	if len(b.verified) >= maxVerified {
		clear(b.verified)
	}
	b.verified[k] = verifiedEntry{hash: u.Hash, at: now}
	b.mu.Unlock()
	return true
}
