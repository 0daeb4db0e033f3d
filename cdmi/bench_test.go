package cdmi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/metrics"

	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Benchmarks of the whole server over loopback (httptest), each beside a
// baseline measured in the same run on the same disk:
//
//	go test -run '^$' -bench Large -benchtime 3x ./cdmi/
//	go test -run '^$' -bench Small -benchtime 2s ./cdmi/
//
// Large: a 256 MiB non-CDMI PUT and GET; baselines are http.FileServer
// serving the same file, and a bare net/http handler writing the body to a
// file with fsync (what the fs backend does). peak-heap-MiB is the highest
// live heap sampled during the transfer: it stays flat (values stream).
// Small: 4 KiB CDMI creates and non-CDMI reads.

const largeSize = 256 << 20

// pattern is an endless, cheap source of bytes.
type pattern struct{}

func (pattern) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i)
	}
	return len(p), nil
}

// heapPeak samples the live heap until stopped.
func heapPeak() (stop func() float64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() float64 {
		close(done)
		wg.Wait()
		return float64(peak.Load()) / (1 << 20)
	}
}

func put(b *testing.B, url string, size int64) {
	req, err := http.NewRequest("PUT", url, io.LimitReader(pattern{}, size))
	if err != nil {
		b.Fatal(err)
	}
	req.ContentLength = size
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b.Fatalf("PUT %s: %s", url, resp.Status)
	}
}

func get(b *testing.B, url string, want int64, hdr ...string) {
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || (want >= 0 && n != want) {
		b.Fatalf("GET %s: %s, %d bytes, %v", url, resp.Status, n, err)
	}
}

func BenchmarkLarge(b *testing.B) {
	ts := newTestServer(b)
	dir := b.TempDir() // the same disk as the server's data
	fileSrv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer fileSrv.Close()
	putSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.CreateTemp(dir, "put-*")
		if err == nil {
			_, err = io.Copy(f, r.Body)
			if err == nil {
				err = f.Sync()
			}
			f.Close()
			if err == nil {
				err = os.Rename(f.Name(), filepath.Join(dir, "baseline"))
			}
		}
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer putSrv.Close()
	run := func(name string, fn func(b *testing.B)) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(largeSize)
			stop := heapPeak()
			b.ResetTimer()
			for range b.N {
				fn(b)
			}
			b.StopTimer()
			b.ReportMetric(stop(), "peak-heap-MiB")
		})
	}
	run("PUT/cdmi", func(b *testing.B) { put(b, ts.URL+"/cdmi/large", largeSize) })
	run("PUT/baseline-nethttp-file", func(b *testing.B) { put(b, putSrv.URL+"/", largeSize) })
	run("GET/cdmi", func(b *testing.B) { get(b, ts.URL+"/cdmi/large", largeSize) })
	run("GET/baseline-http.FileServer", func(b *testing.B) { get(b, fileSrv.URL+"/baseline", largeSize) })
}
