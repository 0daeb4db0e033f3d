package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/occicdmi/occicdmi/cmd/occicdmi/app"
)

// env is what every row of one run shares: the target, its compute
// collection, a scratch folder for the baselines' files, and what to clean.
type env struct {
	o        options
	client   *http.Client
	target   string
	external bool
	computes string
	created  createdSet
	scratch  string // baseline files, on the disk of the in-process server's data
	run      string // names this run's CDMI container
	cleanups []func()

	entity    string // one compute the GET rows read
	container string // this run's CDMI container URL, made on first use
}

func newEnv(o options) (*env, error) {
	e := &env{o: o, run: fmt.Sprintf("occicdmi-load-%d", time.Now().UnixNano())}
	e.target = strings.TrimRight(o.url, "/")
	e.external = e.target != ""
	if e.external {
		if err := requireLoopback(e.target); err != nil {
			return nil, err
		}
	} else {
		u, stop, err := startServer(context.Background(), nil)
		if err != nil {
			return nil, err
		}
		e.target = u
		e.cleanups = append(e.cleanups, stop)
	}
	scratch, err := os.MkdirTemp("", "occicdmi-load-baseline-*")
	if err != nil {
		e.close(io.Discard)
		return nil, err
	}
	e.scratch = scratch
	e.cleanups = append(e.cleanups, func() { _ = os.RemoveAll(scratch) })
	e.client = &http.Client{
		Timeout: 10 * time.Minute, // a big transfer on a slow disk
		Transport: &http.Transport{
			MaxIdleConns:        o.clients * 4,
			MaxIdleConnsPerHost: o.clients * 2,
			IdleConnTimeout:     time.Minute,
		},
	}
	if e.computes, err = computeLocation(e.client, e.target); err != nil {
		e.close(io.Discard)
		return nil, err
	}
	return e, nil
}

// close deletes what the run made on an external server (unless --keep)
// and stops what it started, the last started first.
func (e *env) close(out io.Writer) {
	if e.external && !e.o.keep {
		n := e.created.deleteAll(e.client, e.o.clients)
		if e.container != "" {
			if _, err := do(e.client, "DELETE", e.container, nil, "X-CDMI-Specification-Version", cdmiVersion); err == nil {
				n++
			}
		}
		fmt.Fprintf(out, "\ndeleted the %d computes and containers this run created\n", n)
	}
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		e.cleanups[i]()
	}
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
// OCCICDMI_* like the real server but with its own data folder; mod, when
// given, changes the configuration (the S3 row's server).
func startServer(ctx context.Context, mod func(*app.Config)) (string, func(), error) {
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
	if mod != nil {
		mod(&cfg)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", nil, err
	}
	u, stop, err := serve(a.Handler)
	if err != nil {
		_ = a.Close()
		_ = os.RemoveAll(dir)
		return "", nil, err
	}
	return u, func() {
		stop()
		_ = a.Close()
		_ = os.RemoveAll(dir)
	}, nil
}

// do sends one request with headers given as name, value pairs and reads
// the whole answer; a non-2xx status is an error.
func do(c *http.Client, method, u string, body io.Reader, hdr ...string) (sample, error) {
	r, err := http.NewRequest(method, u, body)
	if err != nil {
		return sample{}, err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	return once(c, func() (*http.Request, error) { return r, nil })
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

// retarget sends req's requests to base instead, same path and query.
func retarget(req func() (*http.Request, error), base string) func() (*http.Request, error) {
	bu, _ := url.Parse(base)
	return func() (*http.Request, error) {
		r, err := req()
		if err != nil {
			return nil, err
		}
		r.URL.Scheme, r.URL.Host = bu.Scheme, bu.Host
		r.Host = bu.Host
		return r, nil
	}
}
