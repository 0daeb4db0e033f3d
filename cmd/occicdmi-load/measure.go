package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// op sends one request (or does one transfer) and reports the bytes it
// received or sent and, for creates, the Location answered.
type op func() (n int64, location string, err error)

// httpOp turns a request maker into an op: a non-2xx answer is an error.
func httpOp(c *http.Client, req func() (*http.Request, error)) op {
	return func() (int64, string, error) {
		r, err := req()
		if err != nil {
			return 0, "", err
		}
		resp, err := c.Do(r)
		if err != nil {
			return 0, "", err
		}
		n, err := io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if err == nil && resp.StatusCode/100 != 2 {
			err = fmt.Errorf("%s %s: status %d", r.Method, r.URL.Path, resp.StatusCode)
		}
		if r.ContentLength > 0 {
			n += r.ContentLength
		}
		return n, resp.Header.Get("Location"), err
	}
}

// result is what one scenario measured against one server in one round.
type result struct {
	lat      []time.Duration
	errors   int64
	bytes    int64
	elapsed  time.Duration
	firstErr string
	allocs   uint64        // heap objects allocated in this process during the round
	alloc    uint64        // heap bytes allocated in this process during the round
	cpu      time.Duration // CPU time (user and system) this process spent in the round
	peakRSS  uint64        // the process's peak resident memory in the round (bytes; 0 unknown)
}

// measure runs clients loops until d has passed; each loop does one op at
// a time and records its latency.
func measure(clients int, d time.Duration, do op, onLocation func(string)) result {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		all      []time.Duration
		errs     atomic.Int64
		nbytes   atomic.Int64
		firstErr atomic.Value
	)
	resetPeakRSS()
	before, cpu0 := heapCounters(), cpuTime()
	start := time.Now()
	deadline := start.Add(d)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			for time.Now().Before(deadline) {
				t0 := time.Now()
				n, loc, err := do()
				el := time.Since(t0)
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				nbytes.Add(n)
				lat = append(lat, el)
				if onLocation != nil {
					onLocation(loc)
				}
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	after := heapCounters()
	res := result{lat: all, errors: errs.Load(), bytes: nbytes.Load(), elapsed: time.Since(start),
		allocs: after[0] - before[0], alloc: after[1] - before[1], cpu: cpuTime() - cpu0, peakRSS: peakRSS()}
	if v, ok := firstErr.Load().(string); ok {
		res.firstErr = v
	}
	return res
}

// heapCounters reads the process's cumulative heap allocations (objects,
// bytes); with the server in process, their growth over a round divided by
// its requests is what one request costs (the load client included).
func heapCounters() [2]uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:objects"}, {Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return [2]uint64{s[0].Value.Uint64(), s[1].Value.Uint64()}
}

// cpuTime is the CPU time this process has used. With the server in
// process, its growth per request is what a request costs whatever else
// the machine runs, which throughput on a shared machine is not.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// resetPeakRSS returns what the heap holds to the system and restarts
// the kernel's count of the process's peak resident memory (Linux:
// clear_refs 5), so that peakRSS tells the round's own peak: what the
// server and the clients of the round held at once, over what the
// process held before it.
func resetPeakRSS() {
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakRSS reads the process's peak resident memory since resetPeakRSS
// (VmHWM), 0 where the kernel does not tell.
func peakRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// rate is requests/s, or MB/s for a transfer scenario.
func (r result) rate(bytes bool) float64 {
	if r.elapsed <= 0 {
		return 0
	}
	if bytes {
		return float64(r.bytes) / 1e6 / r.elapsed.Seconds()
	}
	return float64(len(r.lat)) / r.elapsed.Seconds()
}

func (r result) p50() time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	l := append([]time.Duration(nil), r.lat...)
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	return l[len(l)/2]
}

// row is one scenario's rounds against occicdmi and its baseline.
type row struct {
	work, baseline string
	clients        int
	bytes          bool // the figures are MB/s
	inProcess      bool // allocations were counted in this process
	server, base   []result
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// summary gives the medians over the rounds: occicdmi's rate, the
// baseline's, the ratio of each round's pair, occicdmi's p50 latency.
func (r row) summary() (server, base, ratio float64, p50 time.Duration) {
	var s, b, q, l []float64
	for i := range r.server {
		s = append(s, r.server[i].rate(r.bytes))
		l = append(l, float64(r.server[i].p50()))
		if i < len(r.base) {
			br := r.base[i].rate(r.bytes)
			b = append(b, br)
			if br > 0 {
				q = append(q, r.server[i].rate(r.bytes)/br)
			}
		}
	}
	return median(s), median(b), median(q), time.Duration(median(l))
}

// perRequest is what one occicdmi request cost this process over every
// round: heap objects and bytes allocated, CPU time.
func (r row) perRequest() (objects, bytes float64, cpu time.Duration, ok bool) {
	var n int
	var objs, b uint64
	var c time.Duration
	for _, s := range r.server {
		n += len(s.lat) + int(s.errors)
		objs += s.allocs
		b += s.alloc
		c += s.cpu
	}
	if !r.inProcess || n == 0 {
		return 0, 0, 0, false
	}
	return float64(objs) / float64(n), float64(b) / float64(n), c / time.Duration(n), true
}

// peakRSS is the highest peak resident memory of the occicdmi rounds
// (0 for a server out of process).
func (r row) peakRSS() uint64 {
	var m uint64
	for _, s := range r.server {
		m = max(m, s.peakRSS)
	}
	if !r.inProcess {
		return 0
	}
	return m
}

func (r row) errors() (n int64, first string) {
	for _, s := range append(append([]result(nil), r.server...), r.base...) {
		n += s.errors
		if first == "" {
			first = s.firstErr
		}
	}
	return n, first
}

const tableHeader = "| work | occicdmi | p50 | CPU/req | alloc/req | baseline | ratio | errors |\n|---|---:|---:|---:|---:|---|---:|---:|\n"

// markdown renders the row as a line of a Markdown table.
func (r row) markdown() string {
	s, b, q, p50 := r.summary()
	unit := "req/s"
	if r.bytes {
		unit = "MB/s"
	}
	alloc, cpu := "-", "-"
	if objs, bytes, c, ok := r.perRequest(); ok {
		alloc = fmt.Sprintf("%s, %s", humanCount(objs), humanBytes(bytes))
		cpu = fmtDur(c)
	}
	n, _ := r.errors()
	return fmt.Sprintf("| %s | %s %s | %s | %s | %s | %s %s (%s) | %.3f | %d |\n",
		r.work, humanCount(s), unit, fmtDur(p50), cpu, alloc, humanCount(b), unit, r.baseline, q, n)
}

func humanCount(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

func humanBytes(v float64) string {
	switch {
	case v >= 1<<20:
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	case v >= 1<<10:
		return fmt.Sprintf("%.1f KiB", v/(1<<10))
	}
	return fmt.Sprintf("%.0f B", v)
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000)
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// printTable writes the rows and, below, the first error of any row that had
// some.
func printTable(w io.Writer, rows []row) {
	var b strings.Builder
	b.WriteString(tableHeader)
	for _, r := range rows {
		b.WriteString(r.markdown())
	}
	for i, r := range rows {
		if rss := r.peakRSS(); rss > 0 {
			if i == 0 {
				b.WriteString("\npeak resident memory of this process (server and clients) in the occicdmi rounds, the highest round:\n")
			}
			fmt.Fprintf(&b, "- %s, %d clients: %s\n", r.work, r.clients, humanBytes(float64(rss)))
		}
	}
	for _, r := range rows {
		if n, first := r.errors(); n > 0 {
			fmt.Fprintf(&b, "\n%s: %d errors, the first: %s", r.work, n, first)
		}
	}
	fmt.Fprintln(w, b.String())
}
