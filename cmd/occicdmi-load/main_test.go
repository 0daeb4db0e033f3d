package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRequireLoopback(t *testing.T) {
	for u, ok := range map[string]bool{
		"http://127.0.0.1:8080":   true,
		"http://127.9.9.9":        true,
		"http://[::1]:8080/":      true,
		"http://localhost:8080":   true,
		"http://10.0.0.1:8080":    false,
		"http://example.com":      false,
		"http://127.0.0.1.nip.io": false,
	} {
		if err := requireLoopback(u); (err == nil) != ok {
			t.Errorf("requireLoopback(%q) = %v, want ok=%v", u, err, ok)
		}
	}
}

// measure stops at the deadline, counts successes and failures apart, and
// reports what the handler sent.
func TestMeasure(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%4 == 0 {
			http.Error(w, "no", http.StatusConflict)
			return
		}
		w.Header().Set("Location", "http://x/1")
		_, _ = w.Write([]byte("0123456789"))
	}))
	defer srv.Close()
	var locs atomic.Int64
	start := time.Now()
	res := measure(4, 200*time.Millisecond, httpOp(srv.Client(), getter(srv.URL, "text/plain")), func(string) { locs.Add(1) })
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("measure ran %s for a 200ms duration", el)
	}
	total := int64(len(res.lat)) + res.errors
	if total != n.Load() || res.errors == 0 || len(res.lat) == 0 {
		t.Errorf("%d ok + %d errors, server saw %d requests", len(res.lat), res.errors, n.Load())
	}
	if res.bytes != int64(len(res.lat))*10 || locs.Load() != int64(len(res.lat)) {
		t.Errorf("bytes %d, locations %d for %d successes", res.bytes, locs.Load(), len(res.lat))
	}
	if res.firstErr == "" {
		t.Errorf("the first error was not kept")
	}
}

// The baseline answers with the sample's status, type and size.
func TestBaseline(t *testing.T) {
	u, stop, err := startBaseline(sample{status: 201, contentType: "text/plain", body: make([]byte, 1234), location: "x"})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	s, err := once(http.DefaultClient, getter(u, "text/plain"))
	if err != nil {
		t.Fatal(err)
	}
	if s.status != 201 || len(s.body) != 1234 || s.contentType != "text/plain" || s.location == "" {
		t.Errorf("baseline answered %d %q %d bytes location %q", s.status, s.contentType, len(s.body), s.location)
	}
}

// The fsync baseline stores each body durably under a fresh name and
// answers like the sample.
func TestFsyncBaseline(t *testing.T) {
	dir := t.TempDir()
	u, stop, err := startFsyncBaseline(dir, sample{status: 201, contentType: "application/cdmi-object", body: make([]byte, 10)}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	for i := 0; i < 2; i++ {
		s, err := do(http.DefaultClient, "PUT", u+"/x", strings.NewReader("hello"))
		if err != nil || s.status != 201 || len(s.body) != 10 {
			t.Fatalf("PUT answered %+v, %v", s, err)
		}
	}
	for _, name := range []string{"v1", "v2"} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != "hello" {
			t.Errorf("%s holds %q, %v", name, b, err)
		}
	}
}

// The whole tool runs every row against an in-process server, with tiny
// counts and no thresholds: a smoke test that it works, not a benchmark.
func TestRunSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server and runs every row")
	}
	nginx := findNginx()
	if nginx == "" {
		nginx = "none"
	}
	var out bytes.Buffer
	err := run([]string{"--duration", "20ms", "--rounds", "1", "--clients", "2", "--computes", "3",
		"--big-size", "65536", "--nginx", nginx}, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, s := range scenarios {
		if s.name == "s3-get" && strings.Contains(out.String(), "s3-get: skipped") {
			continue
		}
		line := ""
		for _, l := range strings.Split(out.String(), "\n") {
			if strings.HasPrefix(l, "| "+s.work(options{computes: 3, bigSize: 65536})+" |") {
				line = l
			}
		}
		if line == "" {
			t.Errorf("no row for %s in\n%s", s.name, out.String())
		} else if !strings.HasSuffix(line, "| 0 |") {
			t.Errorf("%s had errors: %s\n%s", s.name, line, out.String())
		}
	}
}
