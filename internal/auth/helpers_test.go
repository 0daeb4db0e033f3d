package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/internal/kind"
)

// ca is a certificate authority made for a test.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

var serial atomic.Int64

func newCA(t *testing.T, name string) *ca {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial.Add(1)),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"occicdmi tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &ca{cert: cert, key: key}
}

func (c *ca) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.cert)
	return p
}

// client is a client certificate for subject, signed by c.
func (c *ca) client(t *testing.T, subject pkix.Name, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)),
		Subject:      subject,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// gridName is a subject the way grid CAs write them: domain components,
// an organisation, a common name.
func gridName(cn string) pkix.Name {
	dc := asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}
	return pkix.Name{
		ExtraNames: []pkix.AttributeTypeAndValue{
			{Type: dc, Value: "org"},
			{Type: dc, Value: "example"},
			{Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: "Example"},
			{Type: asn1.ObjectIdentifier{2, 5, 4, 11}, Value: "people"},
			{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: cn},
		},
	}
}

// answer is what the test server says about a request: the principal, or
// the status and message of a refusal.
type answer struct {
	Status    int
	Principal *Principal
	Message   string
	Challenge []string
}

// authHandler answers with the principal a finds, 401 (with the chain's
// challenges) for no or bad credentials, 503 for kind.Unavailable, 500
// otherwise: what the server will do.
func authHandler(a Authenticator, calls *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls != nil {
			calls.Add(1)
		}
		p, err := a.Authenticate(r)
		if err == nil {
			// The handler after authentication reads it from the context.
			p, _ = FromContext(WithPrincipal(r.Context(), p))
			_ = json.NewEncoder(w).Encode(p)
			return
		}
		status := http.StatusInternalServerError
		switch {
		case errors.Is(err, ErrNoCredentials), errors.Is(err, ErrBadCredentials):
			status = http.StatusUnauthorized
			if c, ok := a.(Chain); ok {
				for _, v := range c.Challenges() {
					w.Header().Add("WWW-Authenticate", v)
				}
			}
		case kind.Of(err) == kind.Unavailable:
			status = http.StatusServiceUnavailable
		}
		http.Error(w, err.Error(), status)
	})
}

func ask(t *testing.T, c *http.Client, req *http.Request) answer {
	t.Helper()
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	a := answer{Status: resp.StatusCode, Challenge: resp.Header.Values("WWW-Authenticate")}
	if resp.StatusCode == http.StatusOK {
		a.Principal = &Principal{}
		require.NoError(t, json.Unmarshal(body, a.Principal))
	} else {
		a.Message = string(body)
	}
	return a
}
