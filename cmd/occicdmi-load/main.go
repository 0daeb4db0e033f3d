// Command occicdmi-load measures occicdmi's OCCI interface under load, beside
// a baseline measured in the same run.
//
// Usage:
//
//	go run ./cmd/occicdmi-load [flags]
//
//	--url URL         target a running occicdmi (loopback only); default: start
//	                  one in process, configured from OCCICDMI_* like the server,
//	                  with a fresh data folder and SQLite file
//	--clients N       concurrent clients (default 8)
//	--duration D      how long each scenario runs against each server (default 5s)
//	--computes N      size of the compute collection the listings read (default 10000)
//	--scenarios LIST  comma-separated subset of: get-entity, list-uri, list-plain,
//	                  list-json, create (default: all)
//	--keep            keep the computes this run created on an external server
//
// For each scenario the same N clients hammer occicdmi and then a minimal
// net/http handler on loopback that answers with a payload of the same size
// and Content-Type (for create: reads the body, answers 201 with a Location).
// The baseline shows what net/http and the loopback cost on this machine, so
// the difference is occicdmi's own work: parsing, the database, rendering.
//
// Scenarios:
//
//	get-entity   GET one compute, text/plain
//	list-uri     GET the compute collection (>= --computes entries), text/uri-list
//	list-plain   the same collection, text/plain (X-OCCI-Location lines)
//	list-json    the same collection, application/occi+json (full renderings)
//	create       POST a new compute, text/plain
//
// Output: requests/s and latency percentiles (p50, p90, p99, max) per
// scenario and server, errors (non-2xx or transport failures) and response
// size. Every loop is bounded by --duration; only loopback addresses are used.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/occicdmi/occicdmi/cmd/occicdmi/app"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "occicdmi-load:", err)
		os.Exit(1)
	}
}

type options struct {
	url       string
	clients   int
	duration  time.Duration
	computes  int
	scenarios []string
	keep      bool
}

var allScenarios = []string{"get-entity", "list-uri", "list-plain", "list-json", "create"}

func parseFlags() (options, error) {
	var o options
	var sc string
	flag.StringVar(&o.url, "url", "", "base URL of a running occicdmi on loopback (default: start one in process)")
	flag.IntVar(&o.clients, "clients", 8, "concurrent clients")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "duration of each scenario against each server")
	flag.IntVar(&o.computes, "computes", 10000, "computes in the listed collection")
	flag.StringVar(&sc, "scenarios", strings.Join(allScenarios, ","), "scenarios to run")
	flag.BoolVar(&o.keep, "keep", false, "keep the computes created on an external server")
	flag.Parse()
	if o.clients < 1 || o.clients > 1024 {
		return o, fmt.Errorf("--clients %d: want 1..1024", o.clients)
	}
	if o.duration <= 0 || o.duration > 10*time.Minute {
		return o, fmt.Errorf("--duration %s: want (0, 10m]", o.duration)
	}
	if o.computes < 1 || o.computes > 1000000 {
		return o, fmt.Errorf("--computes %d: want 1..1000000", o.computes)
	}
	for _, s := range strings.Split(sc, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		known := false
		for _, a := range allScenarios {
			known = known || a == s
		}
		if !known {
			return o, fmt.Errorf("unknown scenario %q (want %s)", s, strings.Join(allScenarios, ", "))
		}
		o.scenarios = append(o.scenarios, s)
	}
	return o, nil
}

func run() error {
	o, err := parseFlags()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	target := strings.TrimRight(o.url, "/")
	external := target != ""
	if external {
		if err := requireLoopback(target); err != nil {
			return err
		}
	} else {
		u, stop, err := startServer(ctx)
		if err != nil {
			return err
		}
		defer stop()
		target = u
	}

	client := &http.Client{
		Timeout: time.Minute,
		Transport: &http.Transport{
			MaxIdleConns:        o.clients * 2,
			MaxIdleConnsPerHost: o.clients * 2,
			IdleConnTimeout:     time.Minute,
		},
	}
	computes, err := computeLocation(client, target)
	if err != nil {
		return err
	}
	fmt.Printf("occicdmi at %s (%s), compute collection %s\n", target, map[bool]string{true: "external", false: "in process"}[external], computes)
	fmt.Printf("clients %d, %s per scenario and server, CPUs %d\n\n", o.clients, o.duration, runtime.NumCPU())

	var created createdSet
	defer func() {
		if external && !o.keep {
			n := created.deleteAll(client, o.clients)
			fmt.Printf("\ndeleted the %d computes this run created\n", n)
		}
	}()

	needList := false
	for _, s := range o.scenarios {
		needList = needList || strings.HasPrefix(s, "list-")
	}
	if needList {
		start := time.Now()
		n, err := populate(client, computes, o.computes, o.clients, &created)
		if err != nil {
			return err
		}
		fmt.Printf("collection holds %d computes (created %d in %s)\n\n", n, len(created.locs), time.Since(start).Round(time.Millisecond))
	}

	entity, err := createCompute(client, computes, "load-entity")
	if err != nil {
		return err
	}
	created.add(entity)

	fmt.Printf("%-11s %-9s %10s %9s %9s %9s %9s %7s %10s\n", "scenario", "server", "req/s", "p50", "p90", "p99", "max", "errors", "resp bytes")
	for _, s := range o.scenarios {
		if err := runScenario(client, o, s, scenarioRequest(s, entity, computes), &created); err != nil {
			return err
		}
	}
	return nil
}

// scenarioRequest makes the requests one scenario sends.
func scenarioRequest(s, entity, computes string) func() (*http.Request, error) {
	switch s {
	case "get-entity":
		return getter(entity, "text/plain")
	case "list-uri":
		return getter(computes, "text/uri-list")
	case "list-plain":
		return getter(computes, "text/plain")
	case "list-json":
		return getter(computes, "application/occi+json")
	}
	return func() (*http.Request, error) { // create
		r, err := http.NewRequest("POST", computes, strings.NewReader(computeBody("load-create")))
		if err != nil {
			return nil, err
		}
		r.Header.Set("Content-Type", "text/plain")
		return r, nil
	}
}

// runScenario measures one scenario against occicdmi, then against a bare
// net/http server answering the same bytes, and prints both.
func runScenario(client *http.Client, o options, s string, req func() (*http.Request, error), created *createdSet) error {
	// One request first: it fixes the payload the baseline serves.
	sample, err := once(client, req)
	if err != nil {
		return fmt.Errorf("%s: %w", s, err)
	}
	if s == "create" {
		created.add(sample.location)
	}
	res := measure(client, o.clients, o.duration, req, func(loc string) {
		if s == "create" {
			created.add(loc)
		}
	})
	res.print(s, "occicdmi")

	base, stop, err := startBaseline(sample)
	if err != nil {
		return err
	}
	bu, _ := url.Parse(base)
	breq := func() (*http.Request, error) {
		r, err := req()
		if err != nil {
			return nil, err
		}
		r.URL.Scheme, r.URL.Host = bu.Scheme, bu.Host
		r.Host = bu.Host
		return r, nil
	}
	res = measure(client, o.clients, o.duration, breq, nil)
	stop()
	res.print(s, "baseline")
	return nil
}

// requireLoopback refuses targets off this machine: a load generator must
// not be pointed at someone else's server by a typo.
func requireLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("--url %q: %w", raw, err)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--url %q: only loopback addresses (127.0.0.0/8, ::1, localhost)", raw)
	}
	return nil
}

// startServer runs occicdmi in process on a loopback port, configured from
// OCCICDMI_* like the real server but with its own data folder.
func startServer(ctx context.Context) (string, func(), error) {
	dir, err := os.MkdirTemp("", "occicdmi-load-*")
	if err != nil {
		return "", nil, err
	}
	cfg, err := app.Load("occicdmi-load", nil, os.Getenv, io.Discard)
	if err != nil {
		return "", nil, err
	}
	cfg.DataDir = dir
	if !app.IsPostgres(os.Getenv("OCCICDMI_DATABASE")) {
		cfg.Database = ""
	}
	cfg.ImageDir = os.Getenv("OCCICDMI_IMAGE_DIR")
	cfg.BaseURL = ""
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = a.Close()
		_ = os.RemoveAll(dir)
		return "", nil, err
	}
	srv := &http.Server{Handler: a.Handler, ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() {
		_ = srv.Close()
		_ = a.Close()
		_ = os.RemoveAll(dir)
	}, nil
}

// sample is one real occicdmi answer, which the baseline imitates.
type sample struct {
	status      int
	contentType string
	body        []byte
	location    string
}

// startBaseline serves s's status, Content-Type and body size from a bare
// net/http handler on loopback; request bodies are read, as occicdmi must.
func startBaseline(s sample) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	payload := bytes.Repeat([]byte("x"), len(s.body))
	var n atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", s.contentType)
		if s.location != "" {
			w.Header().Set("Location", fmt.Sprintf("http://%s/compute/%d", r.Host, n.Add(1)))
		}
		w.WriteHeader(s.status)
		_, _ = w.Write(payload)
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

func getter(u, accept string) func() (*http.Request, error) {
	return func() (*http.Request, error) {
		r, err := http.NewRequest("GET", u, nil)
		if err != nil {
			return nil, err
		}
		r.Header.Set("Accept", accept)
		return r, nil
	}
}

func once(c *http.Client, req func() (*http.Request, error)) (sample, error) {
	r, err := req()
	if err != nil {
		return sample{}, err
	}
	resp, err := c.Do(r)
	if err != nil {
		return sample{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return sample{}, err
	}
	if resp.StatusCode/100 != 2 {
		return sample{}, fmt.Errorf("%s %s: %d: %.200s", r.Method, r.URL, resp.StatusCode, b)
	}
	return sample{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), body: b, location: resp.Header.Get("Location")}, nil
}

// result is what one scenario measured against one server.
type result struct {
	lat      []time.Duration
	errors   int64
	bytes    int64
	elapsed  time.Duration
	firstErr string
}

// measure runs clients loops until d has passed; each loop sends one
// request at a time and records its latency.
func measure(c *http.Client, clients int, d time.Duration, req func() (*http.Request, error), onLocation func(string)) result {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		all      []time.Duration
		errs     atomic.Int64
		nbytes   atomic.Int64
		firstErr atomic.Value
	)
	start := time.Now()
	deadline := start.Add(d)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			for time.Now().Before(deadline) {
				r, err := req()
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				t0 := time.Now()
				resp, err := c.Do(r)
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				n, err := io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				el := time.Since(t0)
				if err != nil || resp.StatusCode/100 != 2 {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%s %s: status %d %v", r.Method, r.URL.Path, resp.StatusCode, err))
					continue
				}
				nbytes.Add(n)
				lat = append(lat, el)
				if onLocation != nil {
					onLocation(resp.Header.Get("Location"))
				}
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	res := result{lat: all, errors: errs.Load(), bytes: nbytes.Load(), elapsed: time.Since(start)}
	if v, ok := firstErr.Load().(string); ok {
		res.firstErr = v
	}
	return res
}

func (r result) print(scenario, server string) {
	sort.Slice(r.lat, func(i, j int) bool { return r.lat[i] < r.lat[j] })
	pct := func(p float64) string {
		if len(r.lat) == 0 {
			return "-"
		}
		i := int(p * float64(len(r.lat)-1))
		return fmtDur(r.lat[i])
	}
	rps := float64(len(r.lat)) / r.elapsed.Seconds()
	size := int64(0)
	if len(r.lat) > 0 {
		size = r.bytes / int64(len(r.lat))
	}
	fmt.Printf("%-11s %-9s %10.1f %9s %9s %9s %9s %7d %10d\n", scenario, server, rps, pct(0.50), pct(0.90), pct(0.99), pct(1), r.errors, size)
	if r.firstErr != "" {
		fmt.Printf("            first error: %s\n", r.firstErr)
	}
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

// computeLocation finds the compute kind's location in the query interface
// (GFD.223 §9), as a client would.
func computeLocation(c *http.Client, base string) (string, error) {
	r, err := http.NewRequest("GET", base+"/-/", nil)
	if err != nil {
		return "", err
	}
	r.Header.Set("Accept", "text/plain")
	resp, err := c.Do(r)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("GET %s/-/: %d", base, resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "Category: compute;") || !strings.Contains(line, `scheme="http://schemas.ogf.org/occi/infrastructure#"`) {
			continue
		}
		_, rest, ok := strings.Cut(line, `location="`)
		if !ok {
			break
		}
		loc, _, _ := strings.Cut(rest, `"`)
		b, _ := url.Parse(base + "/")
		l, err := url.Parse(loc)
		if err != nil {
			return "", err
		}
		return b.ResolveReference(l).String(), nil
	}
	return "", errors.New("the query interface does not list the compute kind with a location")
}

func computeBody(title string) string {
	return `Category: compute; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="kind"` + "\r\n" +
		`X-OCCI-Attribute: occi.core.title="` + title + `"` + "\r\n" +
		"X-OCCI-Attribute: occi.compute.cores=1\r\n" +
		"X-OCCI-Attribute: occi.compute.memory=0.5\r\n"
}

func createCompute(c *http.Client, computes, title string) (string, error) {
	r, err := http.NewRequest("POST", computes, strings.NewReader(computeBody(title)))
	if err != nil {
		return "", err
	}
	r.Header.Set("Content-Type", "text/plain")
	resp, err := c.Do(r)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 {
		return "", fmt.Errorf("create a compute: %d: %.200s", resp.StatusCode, b)
	}
	return resp.Header.Get("Location"), nil
}

func countCollection(c *http.Client, computes string) (int, error) {
	r, err := http.NewRequest("GET", computes, nil)
	if err != nil {
		return 0, err
	}
	r.Header.Set("Accept", "text/uri-list")
	resp, err := c.Do(r)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("GET %s: %d", computes, resp.StatusCode)
	}
	n := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			n++
		}
	}
	return n, sc.Err()
}

// populate tops the compute collection up to want entries with workers
// concurrent creators.
func populate(c *http.Client, computes string, want, workers int, created *createdSet) (int, error) {
	have, err := countCollection(c, computes)
	if err != nil {
		return 0, err
	}
	missing := want - have
	if missing <= 0 {
		return have, nil
	}
	jobs := make(chan int)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				loc, err := createCompute(c, computes, fmt.Sprintf("load-%d", i))
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				created.add(loc)
			}
		}()
	}
	for i := 0; i < missing; i++ {
		if firstErr.Load() != nil {
			break
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return 0, fmt.Errorf("populate: %w", err)
	}
	return countCollection(c, computes)
}

// createdSet remembers what the run created, to clean an external server.
type createdSet struct {
	mu   sync.Mutex
	locs []string
}

func (s *createdSet) add(loc string) {
	if loc == "" {
		return
	}
	s.mu.Lock()
	s.locs = append(s.locs, loc)
	s.mu.Unlock()
}

func (s *createdSet) deleteAll(c *http.Client, workers int) int {
	s.mu.Lock()
	locs := s.locs
	s.locs = nil
	s.mu.Unlock()
	jobs := make(chan string)
	var wg sync.WaitGroup
	var n atomic.Int64
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for loc := range jobs {
				r, err := http.NewRequest("DELETE", loc, nil)
				if err != nil {
					continue
				}
				if resp, err := c.Do(r); err == nil {
					_ = resp.Body.Close()
					if resp.StatusCode/100 == 2 {
						n.Add(1)
					}
				}
			}
		}()
	}
	for _, l := range locs {
		jobs <- l
	}
	close(jobs)
	wg.Wait()
	return int(n.Load())
}
