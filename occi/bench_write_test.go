package occi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The write side of issue 13: creates and actions from concurrent clients
// (so that SQLite's group commit has company), each beside a bare
// net/http handler answering the same status, headers and bytes, in the
// same run. Besides ns/op, each reports the process's CPU time per
// request (cpu-µs/op): on a shared machine it moves far less than time.
//
//	go test -run '^$' -bench 'CreateCompute|ActionStartStop' ./occi/

const benchClients = 8

var benchComputeBody = "Category: compute; scheme=\"" + SchemeInfra + "\"; class=\"kind\"\r\n" +
	"X-OCCI-Attribute: occi.core.title=\"load-create\"\r\n" +
	"X-OCCI-Attribute: occi.compute.cores=1\r\nX-OCCI-Attribute: occi.compute.memory=0.5\r\n"

// BenchmarkCreateCompute POSTs a compute to the compute collection.
func BenchmarkCreateCompute(b *testing.B) {
	r := newRig(b, Config{})
	resp, body := r.do("POST", "/compute/", benchComputeBody)
	if resp.StatusCode != http.StatusCreated {
		b.Fatalf("%s: %s", resp.Status, body)
	}
	post := func(url string) func() (*http.Request, error) {
		return func() (*http.Request, error) {
			req, err := http.NewRequest("POST", url, strings.NewReader(benchComputeBody))
			if err == nil {
				req.Header.Set("Content-Type", "text/plain")
			}
			return req, err
		}
	}
	b.Run("occi", func(b *testing.B) { benchPosts(b, post(r.url+"/compute/"), http.StatusCreated) })
	b.Run("baseline-bare-handler-same-bytes", func(b *testing.B) {
		url := bareServer(b, resp, body)
		benchPosts(b, post(url), http.StatusCreated)
	})
}

// BenchmarkActionStartStop starts and stops computes, one per client, so
// that no two clients act on the same machine.
func BenchmarkActionStartStop(b *testing.B) {
	r := newRig(b, Config{})
	var machines [benchClients]string
	for i := range machines {
		machines[i] = r.create("/compute/", benchComputeBody)
	}
	act := func(url, term string) (*http.Request, error) {
		req, err := http.NewRequest("POST", url+"?action="+term, strings.NewReader("Category: "+term+
			"; scheme=\""+SchemeComputeAction+"\"; class=\"action\"\r\n"))
		if err == nil {
			req.Header.Set("Content-Type", "text/plain")
		}
		return req, err
	}
	resp, body := r.do("POST", machines[0]+"?action=start", "")
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("%s: %s", resp.Status, body)
	}
	r.do("POST", machines[0]+"?action=stop", "")
	// Each run's clients take the machines one each; a machine's next
	// action outlives the run.
	var next atomic.Int64
	var running [benchClients]bool
	b.Run("occi", func(b *testing.B) {
		benchParallel(b, func() func() (*http.Request, error) {
			i := (next.Add(1) - 1) % benchClients
			return func() (*http.Request, error) {
				term := map[bool]string{false: "start", true: "stop"}[running[i]]
				running[i] = !running[i]
				return act(r.url+machines[i], term)
			}
		}, http.StatusOK)
	})
	b.Run("baseline-bare-handler-same-bytes", func(b *testing.B) {
		url := bareServer(b, resp, body)
		benchPosts(b, func() (*http.Request, error) { return act(url, "start") }, http.StatusOK)
	})
}

// bareServer answers every request with resp's status, headers and body.
func bareServer(b *testing.B, resp *http.Response, body string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		for k, v := range resp.Header {
			if k != "Content-Length" && k != "Date" {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.WriteString(w, body)
	}))
	b.Cleanup(srv.Close)
	return srv.URL
}

// benchPosts sends the requests req makes from benchClients clients.
func benchPosts(b *testing.B, req func() (*http.Request, error), want int) {
	benchParallel(b, func() func() (*http.Request, error) { return req }, want)
}

// benchParallel runs b.N requests from benchClients goroutines, each
// making its requests with the function perClient gives it, and reports
// the CPU time of the process per request.
func benchParallel(b *testing.B, perClient func() func() (*http.Request, error), want int) {
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchClients}}
	b.Cleanup(c.CloseIdleConnections)
	b.ReportAllocs()
	b.SetParallelism((benchClients + 1) / 2) // × GOMAXPROCS goroutines
	cpu := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		next := perClient()
		for pb.Next() {
			req, err := next()
			if err != nil {
				b.Error(err)
				return
			}
			resp, err := c.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want {
				b.Errorf("%s, want %d", resp.Status, want)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
}

// processCPU is the CPU time the process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
