package auth

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/occicdmi/occicdmi/internal/kind"
)

// The certificate mapping file of X.509 authentication is JSON: a list of
// subjects, each with the project it acts in and its roles,
//
//	[
//	  {"dn": "CN=alice,OU=people,O=Example", "project": "demo", "roles": ["member"]},
//	  {"dn": "/DC=org/DC=example/CN=robot", "project": "ops", "roles": ["admin"]}
//	]
//
// A DN is written as RFC 4514 has it (most specific first) or in OpenSSL's
// one-line form (least specific first, starting with "/"); they compare in
// the canonical form of CanonicalDN, which is also the principal's User.

// CertMapping is one entry of the mapping file.
type CertMapping struct {
	DN      string   `json:"dn"`
	Project string   `json:"project"`
	Roles   []string `json:"roles,omitempty"`
}

// ParseCertMappings reads a mapping file's content, keyed by canonical DN.
func ParseCertMappings(data []byte) (map[string]CertMapping, error) {
	var list []CertMapping
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, kind.Wrap(kind.Invalid, err, "certificate mapping file")
	}
	m := make(map[string]CertMapping, len(list))
	for i, e := range list {
		dn, err := CanonicalDN(e.DN)
		if err != nil {
			return nil, kind.Errorf(kind.Invalid, "certificate mapping %d: %w", i+1, err)
		}
		if err := validName("project", e.Project); err != nil {
			return nil, kind.Errorf(kind.Invalid, "certificate mapping %d (%s): %w", i+1, dn, err)
		}
		if _, dup := m[dn]; dup {
			return nil, kind.Errorf(kind.Invalid, "certificate mapping %d: %s again", i+1, dn)
		}
		e.DN = dn
		m[dn] = e
	}
	return m, nil
}

// X509Config configures client certificate authentication.
type X509Config struct {
	// MappingFile maps subject DNs to projects and roles.
	MappingFile string
	// AdminRole makes a principal Admin (default DefaultAdminRole).
	AdminRole string
}

// X509 authenticates the client certificate of a TLS connection, which the
// TLS configuration has verified (ClientAuth tls.VerifyClientCertIfGiven
// with ClientCAs from LoadClientCAs): a certificate from an unknown CA
// never gets this far. The subject DN is the principal, its mapping the
// project and roles. Safe for concurrent use.
type X509 struct {
	cfg  X509Config
	maps *watched[map[string]CertMapping]
	now  func() time.Time
}

// NewX509 reads the mapping file of cfg.
func NewX509(cfg X509Config) (*X509, error) {
	if cfg.AdminRole == "" {
		cfg.AdminRole = DefaultAdminRole
	}
	w, err := newWatched(cfg.MappingFile, ParseCertMappings)
	if err != nil {
		return nil, err
	}
	return &X509{cfg: cfg, maps: w, now: time.Now}, nil
}

// Err is the last failure to read the mapping file again.
func (x *X509) Err() error { return x.maps.Err() }

// Authenticate is the principal of the connection's verified client
// certificate. No TLS or no certificate: ErrNoCredentials. A certificate
// that was sent but not verified (a TLS configuration that only requests
// one), has expired since the handshake, or whose subject is not mapped:
// bad credentials.
func (x *X509) Authenticate(r *http.Request) (*Principal, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, ErrNoCredentials
	}
	if len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil, badf("client certificate not verified")
	}
	cert := r.TLS.VerifiedChains[0][0]
	if now := x.now(); now.After(cert.NotAfter) || now.Before(cert.NotBefore) {
		return nil, badf("client certificate expired or not yet valid")
	}
	dn, err := SubjectDN(cert.RawSubject)
	if err != nil {
		return nil, badf("%v", err)
	}
	m, ok := x.maps.get()[dn]
	if !ok {
		return nil, badf("certificate subject %s is not mapped to a project", dn)
	}
	p := &Principal{
		User:    dn,
		Project: m.Project,
		Roles:   append([]string(nil), m.Roles...),
		Method:  "x509",
		Expires: cert.NotAfter,
	}
	p.Admin = p.HasRole(x.cfg.AdminRole)
	return p, nil
}

// LoadClientCAs is the pool of CA certificates (PEM) in the file at path,
// for tls.Config.ClientCAs.
func LoadClientCAs(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s: no PEM certificate", path)
	}
	return pool, nil
}
