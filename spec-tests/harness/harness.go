// Package harness gives the black-box suites a server to talk to: the one at
// OCCICDMI_URL when it is set, otherwise a fresh in-process server.
//
// The in-process server is configured like the real one, from OCCICDMI_*
// variables (so `OCCICDMI_COMPUTE=libvirt` or `OCCICDMI_OBJECTS=s3` run the
// same suite on another backend), except that its data folder and, unless
// OCCICDMI_DATABASE names PostgreSQL, its SQLite file are made fresh for
// every test binary.
package harness

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/occicdmi/occicdmi/cmd/occicdmi/app"
)

var (
	once    sync.Once
	baseURL string
	initErr error
)

// URL returns the base URL (no trailing slash) of the server under test.
// The in-process server is started once per test binary and lives until the
// process exits.
func URL(t testing.TB) string {
	t.Helper()
	once.Do(func() { baseURL, initErr = start() })
	if initErr != nil {
		t.Fatalf("harness: start server: %v", initErr)
	}
	return baseURL
}

// External tells whether the suite runs against a server it did not start.
func External() bool { return os.Getenv("OCCICDMI_URL") != "" }

func start() (string, error) {
	if u := os.Getenv("OCCICDMI_URL"); u != "" {
		return strings.TrimRight(u, "/"), nil
	}
	dir, err := os.MkdirTemp("", "occicdmi-spec-*")
	if err != nil {
		return "", err
	}
	cfg, err := app.Load("spec-tests", nil, os.Getenv, io.Discard)
	if err != nil {
		return "", err
	}
	cfg.DataDir = dir
	if !app.IsPostgres(os.Getenv("OCCICDMI_DATABASE")) {
		cfg.Database = ""
	}
	cfg.ImageDir = os.Getenv("OCCICDMI_IMAGE_DIR")
	cfg.BaseURL = ""
	level := slog.LevelWarn
	if os.Getenv("OCCICDMI_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	a, err := app.New(context.Background(), cfg, log)
	if err != nil {
		return "", err
	}
	srv := httptest.NewServer(a.Handler)
	return srv.URL, nil
}

// Client is the HTTP client the suites use: no redirects followed, so
// 301/302 answers can be checked as such.
var Client = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Do sends a request and returns the response with its body read.
func Do(t testing.TB, method, url string, header http.Header, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatalf("new request %s %s: %v", method, url, err)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp, b
}
