package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/computebackends"
	"github.com/occicdmi/occicdmi/internal/testsupport"
)

// leftovers is what a crash can leave: files in the temporary folders,
// values no object refers to and machines no compute refers to.
type leftovers struct {
	temps    []string
	values   map[string]bool
	machines map[string]bool
}

func scanLeftovers(t *testing.T, a *App, dataDir string) leftovers {
	t.Helper()
	l := leftovers{values: map[string]bool{}, machines: map[string]bool{}}
	for _, d := range []string{"tmp", "objects/tmp", "volumes/tmp"} {
		es, _ := os.ReadDir(filepath.Join(dataDir, d))
		for _, e := range es {
			l.temps = append(l.temps, filepath.Join(d, e.Name()))
		}
	}
	ctx := context.Background()
	require.NoError(t, a.Objects.List(ctx, "cdmi/", func(k string, _ int64) error { l.values[k] = true; return nil }))
	require.NoError(t, a.machines.Machines(ctx, func(id string) error { l.machines[id] = true; return nil }))
	return l
}

func openApp(t *testing.T, cfg Config) (*App, *testsupport.LogBuffer) {
	t.Helper()
	logs := &testsupport.LogBuffer{}
	a, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, nil)))
	require.NoError(t, err)
	return a, logs
}

// plantLeftovers makes, beside a live object and compute, what a crash
// mid-write leaves: temporary files, an unreferenced value, a machine
// without a compute. It returns the orphan's id, the unreferenced value's
// key and the live compute's machine id.
func plantLeftovers(t *testing.T, a *App, dataDir string) (orphan, value, live string) {
	t.Helper()
	ctx := context.Background()
	srv := httptest.NewServer(a.Handler)
	defer srv.Close()
	resp, err := http.DefaultClient.Do(mustRequest(t, "PUT", srv.URL+"/cdmi/kept", "application/octet-stream", "kept value"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	status, loc, body := do(t, "POST", srv.URL+"/compute/", "text/plain", computeBody, nil)
	require.Equal(t, http.StatusCreated, status, body)
	live = loc[strings.LastIndex(loc, "/")+1:]

	for _, f := range []string{"tmp/cdmi-body-1", "objects/tmp/put-1", "volumes/tmp/vol-1"} {
		require.NoError(t, os.WriteFile(filepath.Join(dataDir, f), []byte("half"), 0o600))
	}
	value = fmt.Sprintf("%s%d-ORPHAN-0123", valueSpaceOf(t, a), time.Now().Unix())
	require.NoError(t, a.Objects.Put(ctx, value, strings.NewReader("unreferenced"), -1))
	orphan = "orphan-machine"
	require.NoError(t, a.Compute.CreateMachine(ctx, computebackends.Machine{ID: orphan}))

	// A compute whose machine a crash during its delete took away.
	status, loc, body = do(t, "POST", srv.URL+"/compute/", "text/plain", computeBody, nil)
	require.Equal(t, http.StatusCreated, status, body)
	require.NoError(t, a.Compute.DeleteMachine(ctx, loc[strings.LastIndex(loc, "/")+1:]))
	return orphan, value, live
}

// valueSpaceOf is the prefix of the value keys a's database writes, read
// off the key of a value it stored ("cdmi/<space>/<time>-...").
func valueSpaceOf(t *testing.T, a *App) string {
	t.Helper()
	var space string
	require.NoError(t, a.Objects.List(context.Background(), "cdmi/", func(k string, _ int64) error {
		space = k[:strings.LastIndexByte(k, '/')+1]
		return nil
	}))
	require.NotEqual(t, "cdmi/", space, "the value keys carry the database's value space")
	return space
}

// Issue 12 item 11: a server alone on its data folder and SQLite file
// removes at start-up every temporary file, every value no object refers
// to, and (with --remove-orphan-vms; else it only logs them) every machine
// no compute refers to; what is referenced stays.
func TestStartupRecoveryAlone(t *testing.T) {
	cfg := Defaults()
	cfg.DataDir = t.TempDir()
	a, _ := openApp(t, cfg)
	orphan, value, live := plantLeftovers(t, a, cfg.DataDir)
	require.NoError(t, a.Close())

	a, logs := openApp(t, cfg)
	l := scanLeftovers(t, a, cfg.DataDir)
	assert.Empty(t, l.temps)
	assert.False(t, l.values[value], "the unreferenced value is swept")
	assert.Len(t, l.values, 1, "the live value stays: %v", l.values)
	assert.True(t, l.machines[orphan], "without --remove-orphan-vms an orphan is only reported")
	assert.Contains(t, logs.String(), "has no OCCI compute")
	assert.Contains(t, logs.String(), orphan)
	assert.Contains(t, logs.String(), "an OCCI compute has no machine", "a compute whose machine is gone is reported")
	require.NoError(t, a.Close())

	cfg.RemoveOrphanVMs = true
	a, _ = openApp(t, cfg)
	defer a.Close()
	l = scanLeftovers(t, a, cfg.DataDir)
	assert.False(t, l.machines[orphan], "the orphan is removed")
	assert.True(t, l.machines[live], "a compute's machine stays")
	srv := httptest.NewServer(a.Handler)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/cdmi/kept")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "kept value", string(b))
}

// A server that shares its data folder and database with a running one
// (another process holds their locks) keeps what may be the other's work
// in progress: young temporary files and values; an orphan is removed only
// once it stayed one for the grace.
func TestStartupRecoveryShared(t *testing.T) {
	cfg := Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Database = filepath.Join(cfg.DataDir, "occicdmi.db")
	cfg.RemoveOrphanVMs = true
	first, _ := openApp(t, cfg)
	orphan, value, _ := plantLeftovers(t, first, cfg.DataDir)
	require.NoError(t, first.Close())
	for _, p := range []string{filepath.Join(cfg.DataDir, "occicdmi.lock"), cfg.Database + ".lock"} {
		f, err := os.Open(p)
		require.NoError(t, err)
		defer f.Close()
		require.NoError(t, syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB), "the other process's lock on %s", p)
	}

	old := orphanGrace
	orphanGrace = 100 * time.Millisecond
	defer func() { orphanGrace = old }()
	second, logs := openApp(t, cfg)
	defer second.Close()
	l := scanLeftovers(t, second, cfg.DataDir)
	assert.Len(t, l.temps, 3, "young temporary files may be the other process's")
	assert.True(t, l.values[value], "a young unreferenced value may be the other's write in flight")
	assert.Contains(t, logs.String(), "another occicdmi process")
	require.Eventually(t, func() bool { return !scanLeftovers(t, second, cfg.DataDir).machines[orphan] }, 30*time.Second, 20*time.Millisecond,
		"an orphan that stays one for the grace is removed")
}

// Two servers, each alone on its own data folder and SQLite file, keep
// their values in one S3 bucket: the second's start-up sweep must not take
// the first's values for leftovers, though its own database names none of
// them (CI run 15 lost a value so, between two spec-test servers sharing a
// RADOS pool). Against the real radosgw, in a bucket of its own.
func TestStartupSweepLeavesASharedBucketAlone(t *testing.T) {
	endpoint := testsupport.Need(t, "an S3 endpoint", "OCCICDMI_S3_ENDPOINT")
	cfg := Defaults()
	cfg.Objects = "s3"
	cfg.S3Endpoint, cfg.S3Region = endpoint, os.Getenv("OCCICDMI_S3_REGION")
	cfg.S3AccessKey, cfg.S3SecretKey = os.Getenv("OCCICDMI_S3_ACCESS_KEY"), os.Getenv("OCCICDMI_S3_SECRET_KEY")
	var b [6]byte
	_, _ = rand.Read(b[:])
	cfg.S3Bucket = "occicdmi-shared-" + hex.EncodeToString(b[:])
	t.Cleanup(func() { emptyAndDeleteBucket(context.Background(), s3Client(t, cfg), cfg.S3Bucket) })

	cfg.DataDir = t.TempDir()
	first, _ := openApp(t, cfg)
	defer first.Close()
	srv := httptest.NewServer(first.Handler)
	defer srv.Close()
	resp, err := http.DefaultClient.Do(mustRequest(t, "PUT", srv.URL+"/cdmi/kept", "application/octet-stream", "kept value"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)

	// A value of the first's, unreferenced and older than the sweep's
	// hour: its own sweep may take it, the second's must not.
	ctx := context.Background()
	old := fmt.Sprintf("%s%d-OLD-0123", valueSpaceOf(t, first), time.Now().Add(-2*time.Hour).Unix())
	require.NoError(t, first.Objects.Put(ctx, old, strings.NewReader("old"), -1))

	cfg.DataDir = t.TempDir() // another data folder, another SQLite file
	second, _ := openApp(t, cfg)
	require.NoError(t, second.Close())
	_, err = first.Objects.Size(ctx, old)
	assert.NoError(t, err, "another database's old value stays")

	resp, err = http.Get(srv.URL + "/cdmi/kept")
	require.NoError(t, err)
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "%s", got)
	assert.Equal(t, "kept value", string(got), "the first server's value is still in the bucket")
}

// Which machines a process alone on its SQLite file may remove at once:
// the simulated backend's (in that file), and libvirt's only when the
// image folder, which selects the domains considered, is inside the locked
// data folder.
func TestMachinesAlone(t *testing.T) {
	alone := ownership{dataDir: true, database: true}
	cfg := Defaults()
	cfg.DataDir = "/srv/occicdmi"
	assert.True(t, alone.machinesAlone(cfg), "sim keeps its machines in the database")
	assert.False(t, ownership{dataDir: true}.machinesAlone(cfg), "a shared database is never alone")
	cfg.Compute = "libvirt"
	for dir, want := range map[string]bool{"/srv/occicdmi/images": true, "/srv/occicdmi": true, "/srv/images": false, "/srv/occicdmi-other/images": false} {
		cfg.ImageDir = dir
		assert.Equal(t, want, alone.machinesAlone(cfg), dir)
	}
	cfg.ImageDir = "/srv/occicdmi/images"
	assert.False(t, ownership{database: true}.machinesAlone(cfg), "another process in the data folder")
}
