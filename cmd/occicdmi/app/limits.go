package app

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/occicdmi/occicdmi/internal/web"
)

// guard stands between a client and the handlers of both protocols. It
// refuses a Host it cannot trust for locations, a browser's cross-origin
// write, and an upload beyond the cap; and it cuts a request body that
// arrives slower than the minimum rate, so a slow client cannot hold a
// socket, a temporary file and an upload slot for as long as it likes
// (issue 12, items 4 and 9; README "Limits").
type guard struct {
	baseURL string // configured public base; "" derives locations from Host
	listen  string
	origins *http.CrossOriginProtection
	uploads chan struct{} // one token per upload in progress; nil: no cap
	minRate int64         // bytes per second; 0: no minimum
	window  time.Duration
	log     *slog.Logger
}

// limits are the parsed durations of the configuration.
type limits struct {
	headerTimeout, idleTimeout, bodyRateWindow time.Duration
}

// checkLimits parses the durations of the limits (Config.fill).
func (c *Config) checkLimits() error {
	for _, d := range []struct {
		flag, v string
		to      *time.Duration
	}{
		{"header-timeout", c.HeaderTimeout, &c.limits.headerTimeout},
		{"idle-timeout", c.IdleTimeout, &c.limits.idleTimeout},
		{"body-rate-window", c.BodyRateWindow, &c.limits.bodyRateWindow},
	} {
		v, err := time.ParseDuration(d.v)
		if err != nil || v < 0 {
			return fmt.Errorf("--%s %q: want a duration such as 30s or 2m", d.flag, d.v)
		}
		*d.to = v
	}
	if c.BodyMinRate > 0 && c.limits.bodyRateWindow <= 0 {
		return fmt.Errorf("--body-rate-window must be positive with --body-min-rate %d", c.BodyMinRate)
	}
	return nil
}

func newGuard(cfg Config, log *slog.Logger) (*guard, error) {
	g := &guard{baseURL: cfg.BaseURL, listen: cfg.Listen, origins: http.NewCrossOriginProtection(),
		minRate: int64(cfg.BodyMinRate), window: cfg.limits.bodyRateWindow, log: log}
	if cfg.MaxUploads > 0 {
		g.uploads = make(chan struct{}, cfg.MaxUploads)
	}
	trusted := strings.Split(cfg.AllowedOrigins, ",")
	if cfg.BaseURL != "" {
		// Behind a proxy the Host the server sees is not the public one
		// a browser's page came from: the configured base is ours too.
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("--base-url %q: want scheme://host[:port]", cfg.BaseURL)
		}
		trusted = append(trusted, u.Scheme+"://"+u.Host)
	}
	for _, o := range trusted {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		if err := g.origins.AddTrustedOrigin(strings.TrimRight(o, "/")); err != nil {
			return nil, fmt.Errorf("--allowed-origins: %w", err)
		}
	}
	return g, nil
}

func refuseCrossOrigin(w http.ResponseWriter, r *http.Request) {
	http.Error(w, fmt.Sprintf("cross-origin request refused: a page at %q may not send %s here (allow its origin with --allowed-origins)",
		r.Header.Get("Origin"), r.Method), http.StatusForbidden)
}

// admit checks a request before its handler runs. When it refuses, it has
// answered and ok is false. Else hw is what the handler writes to (the
// rate-limited body's cutWriter, or w itself); slot tells that the request
// holds an upload slot, which release gives back when the handler is done;
// and rb, when not nil, is in, a body with a request body as the handler
// reads it, with the minimum rate: the handler reads that instead, and it
// wants drained when the handler is done.
func (g *guard) admit(w http.ResponseWriter, r *http.Request, in io.ReadCloser) (hw http.ResponseWriter, slot bool, rb *rateBody, ok bool) {
	if g.baseURL == "" && !web.KnownHost(r, g.listen) {
		http.Error(w, fmt.Sprintf("unknown Host %q: this server answers for loopback, its listening address and its own IP addresses; set --base-url to serve other names", r.Host), http.StatusBadRequest)
		return nil, false, nil, false
	}
	// Safe methods pass; a POST/PUT/DELETE/PATCH from a browser page
	// of another origin (Origin or Sec-Fetch-Site says so) is refused.
	// A request without either is not from a browser and passes.
	if err := g.origins.Check(r); err != nil {
		refuseCrossOrigin(w, r)
		return nil, false, nil, false
	}
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return w, false, nil, true
	}
	if g.uploads != nil {
		select {
		case g.uploads <- struct{}{}:
			slot = true
		default:
			w.Header().Set("Retry-After", web.RetryAfterSeconds)
			http.Error(w, fmt.Sprintf("too many uploads in progress (at most %d at once, --max-uploads); retry later", cap(g.uploads)), http.StatusServiceUnavailable)
			return nil, false, nil, false
		}
	}
	if g.minRate <= 0 || in == nil {
		return w, slot, nil, true
	}
	rb = &rateBody{ReadCloser: in, rc: http.NewResponseController(w), window: g.window,
		quota: max(1, int64(float64(g.minRate)*g.window.Seconds()))}
	return &cutWriter{ResponseWriter: w, body: rb}, slot, rb, true
}

// release gives back the upload slot admit took.
func (g *guard) release() { <-g.uploads }

// rateBody cuts a request body that brings fewer than quota bytes in any
// window of time the server spends waiting for it. Only time spent inside
// Read counts: a handler busy with a slow backend between reads is not the
// client's fault. The cut is a read deadline on the connection (HTTP/1) or
// stream (HTTP/2), which progress pushes back.
type rateBody struct {
	io.ReadCloser
	rc     *http.ResponseController
	window time.Duration
	quota  int64         // bytes due per window
	waited time.Duration // spent in Read during the current window
	got    int64         // bytes received during the current window
	eof    bool
	cut    error // the 408 answer, once the body was cut
}

// drained bounds the wait for what the handler left unread of the body,
// which the server discards before the connection is reused.
func (b *rateBody) drained() {
	if !b.eof {
		_ = b.rc.SetReadDeadline(time.Now().Add(b.window))
	}
}

func (b *rateBody) Read(p []byte) (int, error) {
	start := time.Now()
	// A writer that cannot set deadlines (a test's recorder) just reads.
	_ = b.rc.SetReadDeadline(start.Add(b.window - b.waited))
	n, err := b.ReadCloser.Read(p)
	b.waited += time.Since(start)
	b.got += int64(n)
	if b.got >= b.quota {
		b.got, b.waited = 0, 0
	}
	switch {
	case err == io.EOF:
		b.eof = true
		// The server keeps reading the connection in the background after
		// the body ends (to notice a client leaving): no deadline there.
		_ = b.rc.SetReadDeadline(time.Time{})
	case err != nil && errors.Is(err, os.ErrDeadlineExceeded):
		b.cut = &web.Error{Status: http.StatusRequestTimeout,
			Msg: fmt.Sprintf("request body cut: it arrived slower than %d bytes in %s (--body-min-rate)", b.quota, b.window)}
		return n, b.cut
	}
	return n, err
}

// cutWriter answers 408 for a request whose body the guard cut. Cutting
// the connection's reads also cancels the request's context (net/http does
// that on any read error), so a handler takes the client for gone and
// answers 499; the client is still there and is told why instead.
type cutWriter struct {
	http.ResponseWriter
	body     *rateBody
	replaced bool
}

func (w *cutWriter) WriteHeader(code int) {
	if w.body.cut != nil && code == statusClientGone {
		w.replaced = true
		http.Error(w.ResponseWriter, w.body.cut.Error(), http.StatusRequestTimeout)
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *cutWriter) Write(b []byte) (int, error) {
	if w.replaced {
		return len(b), nil // the handler's own 499 body
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *cutWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush passes a handler's flush on (a streamed answer to an upload).
func (w *cutWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }
