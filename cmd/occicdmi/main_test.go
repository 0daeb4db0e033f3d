package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
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
	logs *lockedBuffer
	done chan error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServer runs the binary with args and waits until it answers HTTP.
func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	addr := freePort(t)
	s := &server{url: "http://" + addr, logs: &lockedBuffer{}, done: make(chan error, 1)}
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
