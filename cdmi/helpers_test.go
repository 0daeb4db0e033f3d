package cdmi

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/gorilla/mux"
	"github.com/stretchr/testify/require"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/occicdmi/occicdmi/migrations"
	"github.com/occicdmi/occicdmi/storagebackends/fs"
)

// testServer runs the CDMI server on a fresh SQLite file and fs backend,
// behind a router configured like the application's.
type testServer struct {
	*httptest.Server
	cdmi *Server
	t    testing.TB
}

func newTestServer(t testing.TB, mod ...func(*Config)) *testServer {
	t.Helper()
	dir := t.TempDir()
	var db *gorm.DB
	var err error
	if pgDSN != "" {
		db = postgresSchema(t, pgDSN)
	} else {
		db, err = gorm.Open(sqlite.Open(filepath.Join(dir, "db.sqlite")+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)"),
			&gorm.Config{Logger: logger.Discard, TranslateError: true})
		require.NoError(t, err)
		sqlDB, err := db.DB()
		require.NoError(t, err)
		sqlDB.SetMaxOpenConns(1)
		t.Cleanup(func() { sqlDB.Close() })
	}
	_, err = migrations.Run(context.Background(), db)
	require.NoError(t, err)
	objs, err := fs.NewObjects(filepath.Join(dir, "objects"))
	require.NoError(t, err)
	cfg := Config{DB: db, Objects: objs, Root: "/cdmi", EnterpriseNumber: 32473,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), TempDir: dir}
	for _, m := range mod {
		m(&cfg)
	}
	s, err := New(context.Background(), cfg)
	require.NoError(t, err)
	r := mux.NewRouter()
	r.SkipClean(true)
	r.UseEncodedPath()
	s.Routes(r)
	ts := httptest.NewServer(r)
	t.Cleanup(ts.Close)
	return &testServer{Server: ts, cdmi: s, t: t}
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// do sends a request; hdr alternates names and values.
func (ts *testServer) do(method, path string, body string, hdr ...string) (*http.Response, string) {
	ts.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	require.NoError(ts.t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := noRedirect.Do(req)
	require.NoError(ts.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(ts.t, err)
	return resp, string(b)
}

const v11 = "X-CDMI-Specification-Version"

func cdmiHdr(ct string) []string {
	h := []string{v11, "1.1.1"}
	if ct != "" {
		h = append(h, "Content-Type", ct, "Accept", ct)
	}
	return h
}

// pgDSN, when set (by TestPostgres), makes newTestServer use PostgreSQL.
var pgDSN string

// postgresSchema opens PostgreSQL on a fresh schema dropped at the end, so
// tests never meet other tests' (or other packages') tables.
func postgresSchema(t testing.TB, dsn string) *gorm.DB {
	t.Helper()
	admin, err := gorm.Open(postgres.Open(dsn), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	schema := fmt.Sprintf("cdmi_test_%d_%d", os.Getpid(), time.Now().UnixNano())
	require.NoError(t, admin.Exec("CREATE SCHEMA "+schema).Error)
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	db, err := gorm.Open(postgres.Open(dsn+sep+"search_path="+schema), &gorm.Config{Logger: logger.Discard, TranslateError: true})
	require.NoError(t, err)
	t.Cleanup(func() {
		if sqlDB, err := db.DB(); err == nil {
			sqlDB.Close()
		}
		admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		if sqlDB, err := admin.DB(); err == nil {
			sqlDB.Close()
		}
	})
	return db
}
