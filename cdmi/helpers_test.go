package cdmi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gorilla/mux"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/internal/testsupport"
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
	db := testsupport.DB(t)
	objs, err := fs.NewObjects(filepath.Join(dir, "objects"))
	require.NoError(t, err)
	cfg := Config{DB: db, Objects: objs, Root: "/cdmi", EnterpriseNumber: 32473,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), TempDir: dir}
	for _, m := range mod {
		m(&cfg)
	}
	s, err := New(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) }) // before the database closes
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
