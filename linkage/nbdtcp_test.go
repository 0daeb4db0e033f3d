package linkage

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/cdmi"
	"github.com/occicdmi/occicdmi/internal/testsupport"
	"github.com/occicdmi/occicdmi/occi"
)

// tlsFiles is a test CA with a server certificate for localhost and
// 127.0.0.1 and a client certificate, and a folder laid out as libnbd's
// tls-certificates and QEMU's tls-creds-x509 (endpoint=client) read it:
// ca-cert.pem, client-cert.pem, client-key.pem.
type tlsFiles struct {
	server *tls.Config // requires client certificates signed by the CA
	dir    string
}

func newTLSFiles(t *testing.T) tlsFiles {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "occicdmi test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, IsCA: true, BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	leaf := func(serial int64, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "localhost"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, BasicConstraintsValid: true,
			DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		require.NoError(t, err)
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		require.NoError(t, err)
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	}
	srvCert, srvKey := leaf(2, x509.ExtKeyUsageServerAuth)
	cliCert, cliKey := leaf(3, x509.ExtKeyUsageClientAuth)
	pair, err := tls.X509KeyPair(srvCert, srvKey)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	dir := t.TempDir()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	for name, b := range map[string][]byte{"ca-cert.pem": caPEM, "client-cert.pem": cliCert, "client-key.pem": cliKey} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o600))
	}
	return tlsFiles{dir: dir, server: &tls.Config{Certificates: []tls.Certificate{pair},
		ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}}
}

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		_, err := exec.LookPath(tool)
		testsupport.NeedService(t, tool+" (libnbd-bin, qemu-utils)", err == nil)
	}
}

// NBD over TCP for a remote hypervisor (issue 9 item 3): with TLS, QEMU is
// told the TCP address and to start TLS; an independent client (nbdinfo,
// qemu-img) reads the CDMI-written bytes over STARTTLS with a client
// certificate, a client without TLS (or without a certificate) is
// refused, and the export is gone once its storagelink is.
func TestNBDOverTCPWithTLS(t *testing.T) {
	needTools(t, "nbdinfo", "qemu-img")
	certs := newTLSFiles(t)
	r := newDiskRig(t, func(c *Config) { c.NBDSocket, c.NBDListen, c.NBDTLS = "", "127.0.0.1:0", certs.server })
	ctx := context.Background()
	c, _, err := r.cdmi.PutContainer(ctx, cdmi.Administrator(), "/vm/", exportChange("4194304"))
	require.NoError(t, err)
	piece := bytes.Repeat([]byte("tls!"), 1024)
	resp, out := r.do(t, http.MethodPut, "/vm/"+cdmi.DiskName, piece, "Content-Range", "bytes 0-4095/*")
	require.Equal(t, http.StatusNoContent, resp.StatusCode, "%s", out)

	link := r.attach(t, c.ObjectID)
	src, err := r.l.Attachment(ctx, occi.StorageLink{Storage: c.ObjectID})
	require.NoError(t, err)
	require.NotEmpty(t, src.Host, "QEMU dials TCP")
	assert.True(t, src.TLS, "and starts TLS")
	assert.Empty(t, src.Path)
	require.NoError(t, src.Validate())
	_, port, _ := net.SplitHostPort(src.Host)

	uri := "nbds://localhost:" + port + "/" + c.ObjectID + "?tls-certificates=" + certs.dir
	b, err := exec.Command("nbdinfo", "--size", uri).CombinedOutput()
	require.NoError(t, err, "%s", b)
	assert.Equal(t, "4194304", strings.TrimSpace(string(b)))
	b, err = exec.Command("nbdinfo", "--size", "nbd://localhost:"+port+"/"+c.ObjectID).CombinedOutput()
	assert.Error(t, err, "NBD over TCP without TLS is refused: %s", b)
	noCert := t.TempDir()
	ca, _ := os.ReadFile(filepath.Join(certs.dir, "ca-cert.pem"))
	require.NoError(t, os.WriteFile(filepath.Join(noCert, "ca-cert.pem"), ca, 0o600))
	b, err = exec.Command("nbdinfo", "--size", "nbds://localhost:"+port+"/"+c.ObjectID+"?tls-certificates="+noCert).CombinedOutput()
	assert.Error(t, err, "a client without a certificate is refused: %s", b)

	dump := filepath.Join(t.TempDir(), "disk.raw")
	obj := "tls-creds-x509,id=tls0,endpoint=client,dir=" + certs.dir
	from := "driver=nbd,server.type=inet,server.host=localhost,server.port=" + port + ",export=" + c.ObjectID + ",tls-creds=tls0"
	b, err = exec.Command("qemu-img", "convert", "--object", obj, "--image-opts", from, "-O", "raw", dump).CombinedOutput()
	require.NoError(t, err, "%s", b)
	got, err := os.ReadFile(dump)
	require.NoError(t, err)
	require.Len(t, got, 4194304)
	assert.Equal(t, piece, got[:4096], "QEMU over TLS reads the bytes CDMI wrote")

	require.NoError(t, r.occi.Delete(ctx, link))
	assert.NotContains(t, r.l.nbd.Exports(), c.ObjectID, "the export goes with its storagelink")
	b, err = exec.Command("nbdinfo", "--size", uri).CombinedOutput()
	assert.Error(t, err, "nothing is served once the link is gone: %s", b)
}

// Plain TCP only where the operator says the network is private; without
// that word or TLS the linkage does not start.
func TestNBDOverPrivateTCP(t *testing.T) {
	needTools(t, "nbdinfo")
	_, err := New(Config{DB: testsupport.DB(t), Volumes: newDiskRig(t).l.cfg.Volumes, NBDListen: "127.0.0.1:0"})
	require.Error(t, err, "plain TCP without the operator's word is refused")

	r := newDiskRig(t, func(c *Config) { c.NBDListen, c.NBDPrivate, c.NBDAddress = "127.0.0.1:0", true, "" })
	ctx := context.Background()
	c, _, err := r.cdmi.PutContainer(ctx, cdmi.Administrator(), "/vm/", exportChange("1048576"))
	require.NoError(t, err)
	r.attach(t, c.ObjectID)
	src, err := r.l.Attachment(ctx, occi.StorageLink{Storage: c.ObjectID})
	require.NoError(t, err)
	assert.False(t, src.TLS)
	b, err := exec.Command("nbdinfo", "--size", "nbd://"+src.Host+"/"+c.ObjectID).CombinedOutput()
	require.NoError(t, err, "%s", b)
	assert.Equal(t, "1048576", strings.TrimSpace(string(b)))
}
