package nbd

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testCert is a self-signed certificate for localhost and 127.0.0.1, its
// own CA, written as the files QEMU's tls-creds-x509 and libnbd expect in
// a directory: ca-cert.pem, server-cert.pem, server-key.pem.
type testCert struct {
	server *tls.Config
	client *tls.Config
	dir    string
}

func newTestCert(t testing.TB) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "localhost", Organization: []string{"occicdmi test"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	dir := t.TempDir()
	for name, b := range map[string][]byte{"ca-cert.pem": certPEM, "server-cert.pem": certPEM, "server-key.pem": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return testCert{
		server: &tls.Config{Certificates: []tls.Certificate{pair}},
		client: &tls.Config{RootCAs: pool, ServerName: "localhost"},
		dir:    dir,
	}
}

// startTLS upgrades the client after an NBD_OPT_STARTTLS.
func (c *client) startTLS(cfg *tls.Config) {
	c.t.Helper()
	c.option(optStartTLS, nil)
	if r := c.mustOptReply(optStartTLS); r.typ != repAck {
		c.t.Fatalf("STARTTLS: %#x %q", r.typ, r.data)
	}
	tc := tls.Client(c.nc, cfg)
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	c.nc = tc
	c.br = bufio.NewReader(tc)
}

// FORCEDTLS over TCP (proto.md "TLS support", "FORCEDTLS mode"): every
// option but STARTTLS is NBD_REP_ERR_TLS_REQD until TLS runs, a second
// STARTTLS is NBD_REP_ERR_INVALID, and the export is reached over TLS.
func TestStartTLSRequiredOnTCP(t *testing.T) {
	cert := newTestCert(t)
	s := quietServer(Options{TLS: cert.server})
	dev := newMem(MiB)
	if err := s.Add("vol", dev, false); err != nil {
		t.Fatal(err)
	}
	ln, err := s.ListenTCP("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, s, ln)
	addr := ln.Addr().String()

	c := dial(t, "tcp", addr)
	c.hello(clientFlagFixedNewstyle | clientFlagNoZeroes)
	for _, opt := range []uint32{optList, optInfo, optGo, optStructuredReply, 4242} {
		c.option(opt, infoData("vol"))
		if r := c.mustOptReply(opt); r.typ != repErrTLSReqd {
			t.Errorf("option %d before TLS: %#x", opt, r.typ)
		}
	}
	c.option(optStartTLS, []byte{1})
	if r := c.mustOptReply(optStartTLS); r.typ != repErrInvalid {
		t.Errorf("STARTTLS with data: %#x", r.typ)
	}
	c.startTLS(cert.client)
	c.option(optStartTLS, nil)
	if r := c.mustOptReply(optStartTLS); r.typ != repErrInvalid {
		t.Errorf("second STARTTLS: %#x", r.typ)
	}
	if _, typ := c.infoGo(optGo, "vol"); typ != repAck {
		t.Fatalf("GO over TLS: %#x", typ)
	}
	data := bytes.Repeat([]byte{0x5a}, 256<<10)
	if errno := c.write(4096, data, cmdFlagFUA); errno != 0 {
		t.Fatalf("write over TLS: %d", errno)
	}
	if errno, got := c.read(4096, uint32(len(data))); errno != 0 || !bytes.Equal(got, data) {
		t.Fatalf("read over TLS: %d", errno)
	}

	// NBD_OPT_EXPORT_NAME before TLS cannot be refused: the session ends.
	e := dial(t, "tcp", addr)
	e.hello(clientFlagFixedNewstyle)
	e.option(optExportName, []byte("vol"))
	if !e.closed() {
		t.Fatal("EXPORT_NAME before TLS: connection open")
	}
	// A client that is not fixed newstyle cannot do TLS.
	o := dial(t, "tcp", addr)
	o.hello(0)
	if !o.closed() {
		t.Fatal("non-fixed-newstyle client on a TLS-only listener: connection open")
	}
	// A failed TLS handshake ends the session.
	g := dial(t, "tcp", addr)
	g.hello(clientFlagFixedNewstyle)
	g.option(optStartTLS, nil)
	if r := g.mustOptReply(optStartTLS); r.typ != repAck {
		t.Fatalf("STARTTLS: %#x", r.typ)
	}
	g.send([]byte("this is not a TLS client hello, not at all......"))
	if !g.closed() {
		t.Fatal("connection open after a failed TLS handshake")
	}
	// An untrusting client fails its own handshake; the server survives.
	u := dial(t, "tcp", addr)
	u.hello(clientFlagFixedNewstyle)
	u.option(optStartTLS, nil)
	u.mustOptReply(optStartTLS)
	if err := tls.Client(u.nc, &tls.Config{ServerName: "localhost"}).Handshake(); err == nil {
		t.Fatal("handshake with an unknown CA succeeded")
	}
	c2 := dial(t, "tcp", addr)
	c2.hello(clientFlagFixedNewstyle)
	c2.startTLS(cert.client)
	c2.connect2("vol")
}

func (c *client) connect2(name string) {
	c.t.Helper()
	if _, typ := c.infoGo(optGo, name); typ != repAck {
		c.t.Fatalf("GO %q: %#x", name, typ)
	}
}

// On a Unix socket TLS is offered but not required.
func TestStartTLSOptionalOnUnix(t *testing.T) {
	cert := newTestCert(t)
	s := quietServer(Options{TLS: cert.server})
	if err := s.Add("vol", newMem(MiB), false); err != nil {
		t.Fatal(err)
	}
	sock := startServer(t, s)
	plain := dial(t, "unix", sock)
	plain.connect("vol")
	if errno, _ := plain.read(0, 512); errno != 0 {
		t.Fatalf("plain read: %d", errno)
	}
	c := dial(t, "unix", sock)
	c.hello(clientFlagFixedNewstyle | clientFlagNoZeroes)
	c.startTLS(cert.client)
	c.connect2("vol")
	if errno, _ := c.read(0, 512); errno != 0 {
		t.Fatalf("TLS read: %d", errno)
	}
}
