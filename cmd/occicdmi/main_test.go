package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/cmd/occicdmi/app"
	"github.com/occicdmi/occicdmi/internal/database"
	"github.com/occicdmi/occicdmi/internal/testsupport"
	"github.com/occicdmi/occicdmi/migrations"
)

// postgresURL returns the test PostgreSQL server's URL (OCCICDMI_TEST_POSTGRES,
// printed by scripts/testenv.sh env postgres), skipping without one except
// under CI, where a missing service is a failure.
func postgresURL(t *testing.T) string {
	t.Helper()
	return testsupport.Need(t, "PostgreSQL", testsupport.PostgresEnv)
}

// freshPostgres creates an empty database on the test server and returns its
// URL, so each test starts from nothing and leaves other tests alone.
func freshPostgres(t *testing.T) string {
	t.Helper()
	admin := postgresURL(t)
	db, err := database.Open(admin)
	require.NoError(t, err)
	defer database.Close(db)
	name := "occicdmi_test_" + randomHex(t, 6)
	require.NoError(t, db.Exec("CREATE DATABASE "+name).Error)
	t.Cleanup(func() {
		if db, err := database.Open(admin); err == nil {
			db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
			database.Close(db)
		}
	})
	u, err := url.Parse(admin)
	require.NoError(t, err)
	u.Path = "/" + name
	return u.String()
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return fmt.Sprintf("%x", b)
}

// appliedMigrations runs `occicdmi migrate` in process and reads back what
// the database records.
func appliedMigrations(t *testing.T, database string) []string {
	t.Helper()
	code := run([]string{"migrate", "--data", t.TempDir(), "--database", database, "--log-format", "text"})
	require.Equal(t, 0, code, "occicdmi migrate")
	db, err := app.OpenDB(app.Config{Database: database, DataDir: t.TempDir()})
	require.NoError(t, err)
	defer func() {
		if s, err := db.DB(); err == nil {
			s.Close()
		}
	}()
	var ids []string
	require.NoError(t, db.Table("schema_migrations").Order("id").Pluck("id", &ids).Error)
	return ids
}

func allMigrationIDs() []string {
	var ids []string
	for _, m := range migrations.List() {
		ids = append(ids, m.ID)
	}
	return ids
}

// `occicdmi migrate` applies every migration once; running it again applies
// nothing and fails nothing.
func TestMigrateSQLite(t *testing.T) {
	database := filepath.Join(t.TempDir(), "m.db")
	assert.Equal(t, allMigrationIDs(), appliedMigrations(t, database))
	assert.Equal(t, allMigrationIDs(), appliedMigrations(t, database))
}

func TestMigratePostgres(t *testing.T) {
	database := freshPostgres(t)
	assert.Equal(t, allMigrationIDs(), appliedMigrations(t, database))
	assert.Equal(t, allMigrationIDs(), appliedMigrations(t, database))
}

func TestSubcommands(t *testing.T) {
	assert.Equal(t, 0, run([]string{"version"}))
	assert.Equal(t, 2, run([]string{"frobnicate"}))
	assert.Equal(t, 2, run([]string{"serve", "--no-such-flag"}))
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the server once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "occicdmi-bin-*")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "occicdmi")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return binPath
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// server is a running occicdmi process.
type server struct {
	cmd  *exec.Cmd
	url  string
	logs *testsupport.LogBuffer
	done chan error
}

// startServer runs the binary with args and waits until it answers HTTP.
func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	addr := freePort(t)
	s := &server{url: "http://" + addr, logs: &testsupport.LogBuffer{}, done: make(chan error, 1)}
	s.cmd = exec.Command(binary(t), append([]string{"serve", "--listen", addr, "--log-format", "json"}, args...)...)
	s.cmd.Stdout = s.logs
	s.cmd.Stderr = s.logs
	s.cmd.Env = cleanEnv()
	require.NoError(t, s.cmd.Start())
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		<-s.done
		if t.Failed() {
			t.Logf("server %s logs:\n%s", addr, s.logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.done:
			s.done <- err
			t.Fatalf("server exited early: %v\n%s", err, s.logs.String())
		default:
		}
		if resp, err := http.Get(s.url + "/-/"); err == nil {
			resp.Body.Close()
			return s
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("server did not answer within 30s:\n%s", s.logs.String())
	return nil
}

// cleanEnv keeps OCCICDMI_* settings of the test's environment out of the
// child, so only the flags given decide its configuration.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OCCICDMI_") {
			env = append(env, kv)
		}
	}
	return env
}

func do(t *testing.T, method, u string, header map[string]string, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

// Two server processes on one PostgreSQL database serve the same resources:
// what one creates, changes or deletes, the other sees at once. This is how
// occicdmi grows past one machine (issue 2, item 1).
func TestTwoProcessesShareOnePostgres(t *testing.T) {
	database := freshPostgres(t)
	a := startServer(t, "--data", t.TempDir(), "--database", database)
	b := startServer(t, "--data", t.TempDir(), "--database", database)

	// OCCI: create on A (GFD.223 §3.4.2, 201 + Location), read on B.
	textPlain := map[string]string{"Content-Type": "text/plain", "Accept": "text/plain"}
	resp, body := do(t, http.MethodPost, a.url+"/compute/", textPlain,
		"Category: compute; scheme=\"http://schemas.ogf.org/occi/infrastructure#\"; class=\"kind\"\n"+
			"X-OCCI-Attribute: occi.compute.hostname=\"shared-db\"\n"+
			"X-OCCI-Attribute: occi.compute.cores=2\n")
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)
	loc := resp.Header.Get("Location")
	require.True(t, strings.HasPrefix(loc, a.url+"/compute/"), "absolute Location on A: %q", loc)
	path := strings.TrimPrefix(loc, a.url)

	resp, body = do(t, http.MethodGet, b.url+path, textPlain, "")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Contains(t, body, `occi.compute.hostname="shared-db"`)
	assert.Contains(t, body, "occi.compute.cores=2")

	// An action through B changes the state A shows.
	resp, body = do(t, http.MethodPost, b.url+path+"?action=start", textPlain,
		"Category: start; scheme=\"http://schemas.ogf.org/occi/infrastructure/compute/action#\"; class=\"action\"\n")
	require.Less(t, resp.StatusCode, 300, body)
	resp, body = do(t, http.MethodGet, a.url+path, textPlain, "")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Contains(t, body, `occi.compute.state="active"`)

	// CDMI (§9.2): a container made on B is listed by A.
	resp, body = do(t, http.MethodPut, b.url+"/cdmi/shared/", map[string]string{
		"Content-Type": "application/cdmi-container", "Accept": "application/cdmi-container",
		"X-CDMI-Specification-Version": "1.1.1",
	}, "{}")
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)
	resp, body = do(t, http.MethodGet, a.url+"/cdmi/shared/", map[string]string{
		"Accept": "application/cdmi-container", "X-CDMI-Specification-Version": "1.1.1",
	}, "")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Contains(t, body, `"objectName"`)

	// Delete on A, gone on B.
	resp, body = do(t, http.MethodDelete, a.url+path, nil, "")
	require.Less(t, resp.StatusCode, 300, body)
	resp, _ = do(t, http.MethodGet, b.url+path, textPlain, "")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

// SIGTERM stops the server gracefully: it logs the shutdown and exits 0.
func TestGracefulShutdownOnSIGTERM(t *testing.T) {
	s := startServer(t, "--data", t.TempDir())
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-s.done:
		s.done <- err
		require.NoError(t, err, "exit status after SIGTERM")
	case <-time.After(30 * time.Second):
		t.Fatal("server still running 30s after SIGTERM")
	}
	var sawShutdown, sawSim bool
	sc := bufio.NewScanner(strings.NewReader(s.logs.String()))
	for sc.Scan() {
		sawShutdown = sawShutdown || strings.Contains(sc.Text(), `"msg":"shutting down"`)
		// The simulated compute backend names itself as such at start.
		sawSim = sawSim || strings.Contains(sc.Text(), "simulated")
	}
	assert.True(t, sawShutdown, "structured log line for the shutdown")
	assert.True(t, sawSim, "start-up log names the simulated backend")
}

// The server refuses to start on a database it cannot open, and says why.
func TestServeFailsOnUnreachableDatabase(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), "serve", "--listen", freePort(t), "--data", t.TempDir(),
		"--database", "postgres://nobody@127.0.0.1:1/none?connect_timeout=2", "--log-format", "json")
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "PostgreSQL")
}

// `occicdmi users add|list|remove` manage the users file; errors are exit
// codes with a message, never a half-written file.
func TestUsersSubcommand(t *testing.T) {
	file := filepath.Join(t.TempDir(), "users")
	usersCmd := func(stdin string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := users(args, func(string) string { return "" }, strings.NewReader(stdin), &out, &errb)
		return code, out.String(), errb.String()
	}
	code, _, msg := usersCmd("wonderland\n", "add", "alice", "--users-file", file, "--projects", "demo,other", "--roles", "member")
	require.Equal(t, 0, code, msg)
	code, _, msg = usersCmd("", "add", "--users-file", file, "--projects", "ops", "--roles", "admin", "--password", "s3cret", "bob")
	require.Equal(t, 0, code, msg)
	code, out, msg := usersCmd("", "list", "--users-file", file)
	require.Equal(t, 0, code, msg)
	assert.Regexp(t, `(?m)^alice\s+demo,other\s+member$`, out)
	assert.Regexp(t, `(?m)^bob\s+ops\s+admin$`, out)
	assert.NotContains(t, out, "$2", "no hashes in the listing")
	st, err := os.Stat(file)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	code, _, msg = usersCmd("", "add", "bob", "--users-file", file, "--projects", "ops", "--password", "x")
	assert.Equal(t, 1, code)
	assert.Contains(t, msg, "exists")
	for name, args := range map[string][]string{
		"no file":        {"list"},
		"no name":        {"add", "--users-file", file, "--projects", "p", "--password", "x"},
		"two names":      {"remove", "a", "b", "--users-file", file},
		"no projects":    {"add", "carol", "--users-file", file, "--password", "x"},
		"unknown verb":   {"rename", "--users-file", file},
		"unknown flag":   {"list", "--users-file", file, "--nope"},
		"nothing at all": nil,
	} {
		code, _, _ := usersCmd("", args...)
		assert.Equal(t, 2, code, name)
	}
	code, _, msg = usersCmd("", "add", "carol", "--users-file", file, "--projects", "p")
	assert.Equal(t, 1, code, "empty password from stdin")
	assert.Contains(t, msg, "empty password")

	code, _, msg = usersCmd("", "remove", "bob", "--users-file", file)
	require.Equal(t, 0, code, msg)
	code, _, _ = usersCmd("", "remove", "bob", "--users-file", file)
	assert.Equal(t, 1, code)
	_, out, _ = usersCmd("", "list", "--users-file", file)
	assert.NotContains(t, out, "bob")
	assert.Contains(t, out, "alice")
}

func basicAuth(user, password string) map[string]string {
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(user, password)
	return map[string]string{"Authorization": req.Header.Get("Authorization")}
}

// HTTP Basic end to end: the real binary with a users file made by
// `occicdmi users add`.
func TestServeWithBasicUsersFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "users")
	var errb bytes.Buffer
	require.Equal(t, 0, users([]string{"add", "alice", "--users-file", file, "--projects", "demo", "--roles", "member"},
		func(string) string { return "" }, strings.NewReader("wonderland\n"), io.Discard, &errb), errb.String())
	s := startServer(t, "--data", t.TempDir(), "--users-file", file)
	assert.Contains(t, s.logs.String(), `"mechanisms":"basic"`)
	assert.NotContains(t, s.logs.String(), "development mode")

	cdmiRoot := map[string]string{"Accept": "application/cdmi-container", "X-CDMI-Specification-Version": "1.1.1"}
	for _, path := range []string{"/-/", "/cdmi/"} {
		h := basicAuth("alice", "wonderland")
		if path == "/cdmi/" {
			for k, v := range cdmiRoot {
				h[k] = v
			}
		}
		resp, body := do(t, http.MethodGet, s.url+path, h, "")
		assert.Equal(t, http.StatusOK, resp.StatusCode, body)

		resp, body = do(t, http.MethodGet, s.url+path, nil, "")
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, body)
		assert.Equal(t, []string{`Basic realm="occicdmi", charset="UTF-8"`}, resp.Header.Values("WWW-Authenticate"))

		resp, body = do(t, http.MethodGet, s.url+path, basicAuth("alice", "queen of hearts"), "")
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, body)
		assert.Contains(t, body, "wrong user name or password")
	}
	// Nothing was changed by the refused requests: a write without
	// credentials is refused before any handler.
	resp, body := do(t, http.MethodPut, s.url+"/cdmi/stranger/", map[string]string{
		"Content-Type": "application/cdmi-container", "X-CDMI-Specification-Version": "1.1.1"}, "{}")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, body)
	h := basicAuth("alice", "wonderland")
	h["Accept"], h["X-CDMI-Specification-Version"] = "application/cdmi-container", "1.1.1"
	resp, body = do(t, http.MethodGet, s.url+"/cdmi/stranger/", h, "")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, body)
}

// Secure by default: no authentication and a non-loopback address refuse
// to start, saying why (192.0.2.1 is TEST-NET: nothing listens even if
// the check were missing).
func TestServeRefusesNonLoopbackWithoutAuth(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), "serve", "--listen", "192.0.2.1:0", "--data", t.TempDir(), "--log-format", "json")
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "refusing to listen on 192.0.2.1:0 without authentication")
	assert.Contains(t, string(out), "--insecure-no-auth")
}

// The start-up log names the mode: development mode by default,
// --insecure-no-auth as a warning.
func TestServeLogsAuthMode(t *testing.T) {
	s := startServer(t, "--data", t.TempDir())
	assert.Contains(t, s.logs.String(), `"msg":"development mode: no authentication, loopback only"`)
	resp, body := do(t, http.MethodGet, s.url+"/-/", nil, "")
	assert.Equal(t, http.StatusOK, resp.StatusCode, body)

	s = startServer(t, "--data", t.TempDir(), "--insecure-no-auth")
	assert.Contains(t, s.logs.String(), `"level":"WARN","msg":"insecure: no authentication`)
	assert.NotContains(t, s.logs.String(), "development mode")
	resp, body = do(t, http.MethodGet, s.url+"/-/", nil, "")
	assert.Equal(t, http.StatusOK, resp.StatusCode, body)
}

// selfSigned writes a certificate for 127.0.0.1 and its key: their paths,
// and a pool trusting it.
func selfSigned(t *testing.T) (string, string, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600))
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// keystoneToken logs in to the test Keystone (scripts/testenv/keystone.sh)
// as its admin.
func keystoneToken(t *testing.T, base string) string {
	t.Helper()
	body := fmt.Sprintf(`{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":%q,"domain":{"name":"Default"},"password":%q}}},
		"scope":{"project":{"name":%q,"domain":{"name":"Default"}}}}}`,
		os.Getenv("OCCICDMI_TEST_KEYSTONE_ADMIN_USER"), os.Getenv("OCCICDMI_TEST_KEYSTONE_ADMIN_PASSWORD"),
		os.Getenv("OCCICDMI_TEST_KEYSTONE_ADMIN_PROJECT"))
	resp, err := http.Post(base+"/auth/tokens?nocatalog", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	return resp.Header.Get("X-Subject-Token")
}

// The real binary over HTTPS (HTTP/2) with Keystone: a token is served,
// none is a 401 naming the Keystone, plain HTTP to the TLS port is no way
// around it.
func TestServeTLSWithKeystone(t *testing.T) {
	ks := strings.TrimRight(testsupport.Need(t, "Keystone", "OCCICDMI_TEST_KEYSTONE"), "/")
	certFile, keyFile, pool := selfSigned(t)
	s := startServer(t, "--data", t.TempDir(), "--tls-cert", certFile, "--tls-key", keyFile, "--keystone-url", ks,
		"--keystone-user", os.Getenv("OCCICDMI_TEST_KEYSTONE_SERVICE_USER"),
		"--keystone-password", os.Getenv("OCCICDMI_TEST_KEYSTONE_SERVICE_PASSWORD"),
		"--keystone-project", os.Getenv("OCCICDMI_TEST_KEYSTONE_SERVICE_PROJECT"))
	base := "https://" + strings.TrimPrefix(s.url, "http://")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}

	tok := keystoneToken(t, ks)
	req, err := http.NewRequest(http.MethodGet, base+"/-/", nil)
	require.NoError(t, err)
	req.Header.Set("X-Auth-Token", tok)
	resp, err := client.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	assert.Equal(t, 2, resp.ProtoMajor, "HTTP/2")

	resp, err = client.Get(base + "/cdmi/")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, []string{`Keystone uri="` + ks + `"`}, resp.Header.Values("WWW-Authenticate"))

	resp, err = http.Get(s.url + "/-/")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "plain HTTP to the TLS port")
}
