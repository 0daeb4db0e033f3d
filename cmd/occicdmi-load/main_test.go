package main

import (
	"net/http"
	"net/http/httptest"
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
	res := measure(srv.Client(), 4, 200*time.Millisecond, getter(srv.URL, "text/plain"), func(string) { locs.Add(1) })
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
