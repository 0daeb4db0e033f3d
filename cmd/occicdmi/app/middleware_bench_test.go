package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/internal/auth"
)

// benchWriter is the cheapest ResponseWriter: the same for the bare handler
// and the chain, so the difference is the chain's.
type benchWriter struct {
	h      http.Header
	status int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *benchWriter) WriteHeader(code int)        { w.status = code }

var trivialBody = []byte("ok\n")

// trivial answers like the cheapest handler would: a header and a few
// bytes.
func trivial(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write(trivialBody)
}

// routedTrivial takes the router's decision for r (the handler it would
// call) and then answers trivially: what the chain costs up to a protocol
// handler, without the handler's own work.
func routedTrivial(a *App) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.route(r) == nil {
			panic("no route for " + r.URL.Path)
		}
		trivial(w, r)
	})
}

// benchApp is a server logging at level (INFO: the default, with an access
// line per request; WARN: without, as occicdmi-load runs it).
func benchApp(b *testing.B, level slog.Level, mod func(*Config)) *App {
	cfg := Defaults()
	cfg.DataDir = b.TempDir()
	if mod != nil {
		mod(&cfg)
	}
	a, err := New(context.Background(), cfg, slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: level})))
	require.NoError(b, err)
	b.Cleanup(func() { _ = a.Close() })
	return a
}

func runBench(b *testing.B, h http.Handler, method, path string, header http.Header) {
	r := httptest.NewRequest(method, "http://127.0.0.1:8080"+path, nil)
	r.RemoteAddr = "127.0.0.1:40000"
	for k, v := range header {
		r.Header[k] = v
	}
	w := &benchWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		w.status = 0
		h.ServeHTTP(w, r)
	}
	if w.status != 0 && w.status != http.StatusOK {
		b.Fatalf("%s %s: status %d", method, path, w.status)
	}
}

// BenchmarkMiddleware is what a trivial request costs through the whole
// chain (request ID, metrics, access log, Host and Origin checks, upload
// cap, recovery, probes, authentication, OCCI caller, routing) beside the
// same trivial handler alone, in one run: the per-request price every OCCI
// GET and CDMI read pays before its handler starts.
func BenchmarkMiddleware(b *testing.B) {
	users := filepath.Join(b.TempDir(), "users")
	require.NoError(b, auth.AddUser(users, "alice", "wonderland", []string{"demo"}, []string{"member"}))
	dev := benchApp(b, slog.LevelInfo, nil)
	quietDev := benchApp(b, slog.LevelWarn, nil)
	basic := benchApp(b, slog.LevelInfo, func(c *Config) { c.UsersFile = users })
	basicAuth := http.Header{"Authorization": {"Basic " + "YWxpY2U6d29uZGVybGFuZA=="}} // alice:wonderland

	b.Run("bare", func(b *testing.B) { runBench(b, http.HandlerFunc(trivial), "GET", "/compute/abc", nil) })
	for _, c := range []struct {
		name   string
		a      *App
		path   string
		header http.Header
	}{
		{"dev/occi-entity", dev, "/compute/abc", nil},
		{"dev-no-access-log/occi-entity", quietDev, "/compute/abc", nil},
		{"dev/cdmi-object", dev, "/cdmi/container/object.txt", nil},
		{"basic/occi-entity", basic, "/compute/abc", basicAuth},
		{"basic/cdmi-object", basic, "/cdmi/container/object.txt", basicAuth},
	} {
		b.Run(c.name, func(b *testing.B) { runBench(b, c.a.wrap(routedTrivial(c.a)), "GET", c.path, c.header) })
	}
}
