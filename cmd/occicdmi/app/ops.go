package app

// The operator's view (issue 10 item 6): /metrics (Prometheus), /healthz
// (the process is up), /readyz (the database and every backend answer), an
// access log line per request, the request ID in every log line made with
// the request's context, and net/http/pprof on a listener of its own.
//
// /metrics, /healthz and /readyz are reserved on the main listener (OCCI
// refuses to create entities there, occi.ReservedPaths) and are served
// too on --ops-listen when given; pprof only ever on --pprof-listen. On the
// main listener /healthz and /readyz need no credentials (a kubelet or a
// load balancer has none; they tell nothing but "ok" or which component is
// not ready), /metrics needs them unless --metrics-public.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/internal/metrics"
	"github.com/occicdmi/occicdmi/internal/web"
	"github.com/occicdmi/occicdmi/occi"
)

// The operator endpoints, each one of occi.ReservedPaths.
const (
	pathMetrics = "/metrics"
	pathHealthz = "/healthz"
	pathReadyz  = "/readyz"
)

// readyTimeout bounds each readiness check; countTimeout each count query
// of a scrape.
const (
	readyTimeout = 5 * time.Second
	countTimeout = 5 * time.Second
)

// ops is a server's operator view: its metrics, its readiness checks and
// what classifies its requests.
type ops struct {
	metrics       *metrics.Metrics
	scrape        http.Handler // the metrics in the exposition format
	metricsPublic bool         // --metrics-public
	log           *slog.Logger
	cdmiRoot      string
	checks        []readyCheck

	mu      sync.Mutex
	down    map[string]bool // checks down at their last run, to log changes only
	running *probeRun       // the run of the checks in progress, if any
	waiting int             // requests waiting for running (tests watch it)
}

// readyCheck is one thing /readyz asks: the database, a backend or
// Keystone. The prober is told name only; the log also gets detail.
type readyCheck struct {
	name, detail string
	ping         func(ctx context.Context) error
}

// instrument wraps the app's backends in metrics decorators (timed calls,
// failures counted by kind; results and errors unchanged), registers the
// counts computed at scrape time and sets up the readiness checks (extra:
// those of the authentication, Keystone's). The backends' closers were
// registered before, on the backends themselves.
func (a *App) instrument(cfg Config, log *slog.Logger, extra ...readyCheck) {
	m := metrics.New()
	a.Compute = m.Compute(cfg.Compute, a.Compute)
	a.Objects = m.Objects(cfg.Objects, a.Objects)
	a.Volumes = m.Volumes(cfg.Volumes, a.Volumes)
	db := a.DB
	m.Registry.MustRegister(metrics.NewCounts(countTimeout).
		Add("vms", "OCCI compute resources in the database (virtual machines, running or not).",
			func(ctx context.Context) (int64, error) {
				var n int64
				err := db.WithContext(ctx).Table("occi_entities").Where("kind = ?", occi.KindCompute).Count(&n).Error
				return n, err
			}).
		Add("volumes", "Volumes: CDMI containers exported to OCCI (linkage_exports rows).",
			func(ctx context.Context) (int64, error) {
				var n int64
				err := db.WithContext(ctx).Table("linkage_exports").Count(&n).Error
				return n, err
			}))
	o := &ops{metrics: m, scrape: m.Handler(log), metricsPublic: cfg.MetricsPublic,
		log: log, cdmiRoot: cfg.CDMIRoot, down: map[string]bool{}}
	o.checks = append([]readyCheck{
		{"database", "", func(ctx context.Context) error { return pingDB(ctx, db) }},
		{"compute", cfg.Compute, pingOf(a.Compute)},
		{"objects", cfg.Objects, pingOf(a.Objects)},
		{"volumes", cfg.Volumes, pingOf(a.Volumes)},
	}, extra...)
	a.ops = o
}

func pingDB(ctx context.Context, db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

// pingOf is v's Ping (the metrics decorators have one: the backend's own,
// storagebackends.Pinger or computebackends.Pinger, else a cheap lookup),
// or nothing to check.
func pingOf(v any) func(ctx context.Context) error {
	if p, ok := v.(metrics.Pinger); ok {
		return p.Ping
	}
	return func(context.Context) error { return nil }
}

// routes mounts the operator endpoints on r for GET and HEAD. Other
// methods there fall through to OCCI, which refuses to create anything
// at a reserved path.
func (o *ops) routes(r *mux.Router) {
	get := []string{http.MethodGet, http.MethodHead}
	r.Path(pathMetrics).Methods(get...).Handler(o.scrape)
	r.Path(pathHealthz).Methods(get...).Handler(http.HandlerFunc(healthz))
	r.Path(pathReadyz).Methods(get...).Handler(http.HandlerFunc(o.readyz))
}

// handler serves the operator endpoints alone, for --ops-listen: request
// IDs, metrics and the access log as on the main listener.
func (o *ops) handler() http.Handler {
	r := mux.NewRouter()
	o.routes(r)
	return web.WithRequestID(o.observe(withCommonHeaders(r)))
}

// public serves itself the operator endpoints the main listener answers
// without credentials, GET or HEAD of /healthz and /readyz (and /metrics
// with --metrics-public), and hands every other request to next (which
// authenticates).
func (o *ops) public(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			switch r.URL.EscapedPath() {
			case pathHealthz:
				healthz(w, r)
				return
			case pathReadyz:
				o.readyz(w, r)
				return
			case pathMetrics:
				if o.metricsPublic {
					o.scrape.ServeHTTP(w, r)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// healthz answers 200 while the process serves HTTP at all.
func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = io.WriteString(w, "ok\n")
}

// readyz answers 200 "ok" when every check passes, else 503 "not ready: "
// and the names of the ones that failed (database, compute, objects,
// volumes, keystone). The reasons (which may name internal addresses) go
// to the log, once when a check goes down and once when it is back.
func (o *ops) readyz(w http.ResponseWriter, r *http.Request) {
	results, ok := o.probe(r.Context())
	if !ok {
		return // the prober hung up
	}
	var down []string
	for _, res := range results {
		if res.err != nil {
			down = append(down, res.check.name)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if len(down) > 0 {
		w.Header().Set("Retry-After", web.RetryAfterSeconds)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "not ready: "+strings.Join(down, ", ")+"\n")
		return
	}
	_, _ = io.WriteString(w, "ok\n")
}

// probeRun is one run of the readiness checks.
type probeRun struct {
	done    chan struct{} // closed when results are in
	results []probeResult
}

type probeResult struct {
	check readyCheck
	err   error
}

// probe runs every check at once, each within readyTimeout. /readyz needs
// no credentials, so requests that come while a run is in progress share
// its results instead of starting their own: however many probers there
// are, the database and the backends get one set of checks at a time.
// The run is not tied to the request that started it (the others wait for
// it too); ok is false when ctx ends first.
func (o *ops) probe(ctx context.Context) (results []probeResult, ok bool) {
	o.mu.Lock()
	run := o.running
	if run != nil {
		o.waiting++
		o.mu.Unlock()
		defer func() {
			o.mu.Lock()
			o.waiting--
			o.mu.Unlock()
		}()
		select {
		case <-run.done:
			return run.results, true
		case <-ctx.Done():
			return nil, false
		}
	}
	run = &probeRun{done: make(chan struct{})}
	o.running = run
	o.mu.Unlock()
	run.results = o.runChecks(context.WithoutCancel(ctx))
	o.mu.Lock()
	o.running = nil
	o.mu.Unlock()
	close(run.done)
	return run.results, ctx.Err() == nil
}

// runChecks runs the checks in parallel and notes their verdicts (logged
// with ctx's request ID).
func (o *ops) runChecks(ctx context.Context) []probeResult {
	results := make([]probeResult, len(o.checks))
	var wg sync.WaitGroup
	for i, c := range o.checks {
		results[i].check = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, readyTimeout)
			defer cancel()
			results[i].err = c.ping(cctx)
		}()
	}
	wg.Wait()
	for _, res := range results {
		o.noteCheck(ctx, res.check, res.err)
	}
	return results
}

func (o *ops) noteCheck(ctx context.Context, c readyCheck, err error) {
	o.mu.Lock()
	was := o.down[c.name]
	o.down[c.name] = err != nil
	o.mu.Unlock()
	switch {
	case err != nil && !was:
		o.log.WarnContext(ctx, "readiness: "+c.name+" is down", "backend", c.detail, "err", err)
	case err == nil && was:
		o.log.InfoContext(ctx, "readiness: "+c.name+" is back", "backend", c.detail)
	}
}

// classify names a request's protocol and operation for the metrics: the
// method and a route class, never the path itself (one series per path
// would be unbounded).
//
//	ops   GET metrics | healthz | readyz
//	cdmi  <method> root | capabilities | domains | objectid | container | object
//	occi  <method> query | collection | collection_action | entity | entity_action
func (o *ops) classify(r *http.Request) (protocol, operation string) {
	method := r.Method
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
	default:
		method = "OTHER"
	}
	p := r.URL.EscapedPath()
	switch {
	case (p == pathMetrics || p == pathHealthz || p == pathReadyz) && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		return "ops", method + " " + p[1:]
	case p == o.cdmiRoot || strings.HasPrefix(p, o.cdmiRoot+"/"):
		rest := strings.TrimPrefix(p, o.cdmiRoot)
		class := "object"
		switch {
		case rest == "" || rest == "/":
			class = "root"
		case strings.HasPrefix(rest, "/cdmi_capabilities/"):
			class = "capabilities"
		case strings.HasPrefix(rest, "/cdmi_domains/"):
			class = "domains"
		case strings.HasPrefix(rest, "/cdmi_objectid/"):
			class = "objectid"
		case strings.HasSuffix(rest, "/"):
			class = "container"
		}
		return "cdmi", method + " " + class
	}
	class := "entity"
	switch {
	case p == "/-/" || p == "/.well-known/org/ogf/occi/-/":
		class = "query"
	case strings.HasSuffix(p, "/"):
		class = "collection"
	}
	if class != "query" && r.URL.Query().Has("action") {
		class += "_action"
	}
	return "occi", method + " " + class
}

// statusClientGone is what a request whose client went away before any
// answer is recorded as (nginx's 499, as cdmi records it).
const statusClientGone = 499

// observe counts every request in the metrics and writes its access log
// line (INFO, a 499 included: a client going away is no server error). It
// puts the request's ID where the log handler finds it, so lines logged
// with the request's context carry it. It runs inside web.WithRequestID.
func (o *ops) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := web.RequestID(r.Context())
		protocol, operation := o.classify(r)
		defer o.metrics.InFlight(protocol)()
		ctx := context.WithValue(r.Context(), logRequestIDKey{}, id)
		r = r.WithContext(ctx)
		body := &countingBody{ReadCloser: r.Body}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = body
		}
		rec := &recorder{ResponseWriter: w}
		defer func() {
			status := rec.status
			if status == 0 {
				status = http.StatusOK
				if ctx.Err() != nil {
					status = statusClientGone
				}
			}
			d := time.Since(start)
			o.metrics.ObserveRequest(metrics.Request{
				Protocol: protocol, Operation: operation, Status: status, Duration: d,
				RequestBytes: body.n, ResponseBytes: rec.bytes,
			})
			o.log.LogAttrs(ctx, slog.LevelInfo, "request",
				slog.String("method", r.Method), slog.String("path", r.URL.EscapedPath()),
				slog.Int("status", status), slog.Int64("bytes", rec.bytes), slog.Int64("bytes_in", body.n),
				slog.Duration("duration", d), slog.String("request_id", id),
				slog.String("protocol", protocol), slog.String("remote", r.RemoteAddr))
		}()
		next.ServeHTTP(rec, r)
	})
}

// countingBody counts the bytes a handler reads of a request body.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

// recorder notes the status and the body bytes of an answer. It keeps
// what the writer underneath can do: Flush, ReadFrom (sendfile) and, through
// Unwrap, everything http.ResponseController asks for.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

func (w *recorder) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(writerOnly{w.ResponseWriter}, r)
	}
	w.bytes += n
	return n, err
}

// writerOnly hides every method but Write, so that io.Copy does not call
// ReadFrom back.
type writerOnly struct{ io.Writer }

func (w *recorder) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequestIDKey carries a request's ID in its context for the log
// handler (web keeps its own key private, and makes up an ID when asked
// outside a request).
type logRequestIDKey struct{}

// requestIDHandler adds request_id to every record logged with a
// request's context that does not name one itself.
type requestIDHandler struct{ slog.Handler }

// withRequestIDs makes log add request IDs to the lines logged with a
// request's context.
func withRequestIDs(log *slog.Logger) *slog.Logger {
	if _, ok := log.Handler().(requestIDHandler); ok {
		return log
	}
	return slog.New(requestIDHandler{log.Handler()})
}

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id, ok := ctx.Value(logRequestIDKey{}).(string); ok {
		has := false
		r.Attrs(func(a slog.Attr) bool {
			has = a.Key == "request_id"
			return !has
		})
		if !has {
			r = r.Clone()
			r.AddAttrs(slog.String("request_id", id))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

// opsListeners are the optional listeners of --ops-listen and
// --pprof-listen.
type opsListeners struct {
	servers      []*http.Server
	opsAddr      net.Addr // nil when not listening
	pprofAddr    net.Addr
	shutdownWait time.Duration
}

// listenOps opens the listeners the configuration asks for and serves them
// until close. Neither is opened by default. pprof shows the process's
// internals (and its command line), so a non-loopback address is logged
// as a warning.
func (a *App) listenOps(cfg Config, log *slog.Logger) (*opsListeners, error) {
	l := &opsListeners{shutdownWait: 10 * time.Second}
	serve := func(what, addr string, h http.Handler) (net.Addr, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("%s listener: %w", what, err)
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 1 << 20}
		l.servers = append(l.servers, srv)
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error(what+" listener stopped", "address", ln.Addr().String(), "err", err)
			}
		}()
		log.Info("listening", "what", what, "address", ln.Addr().String())
		return ln.Addr(), nil
	}
	var err error
	if cfg.OpsListen != "" {
		if l.opsAddr, err = serve("ops", cfg.OpsListen, a.ops.handler()); err != nil {
			l.close()
			return nil, err
		}
	}
	if cfg.PprofListen != "" {
		if l.pprofAddr, err = serve("pprof", cfg.PprofListen, pprofHandler()); err != nil {
			l.close()
			return nil, err
		}
		if !isLoopback(l.pprofAddr) {
			log.Warn("pprof is served on a non-loopback address: anyone reaching it sees the process's internals", "address", l.pprofAddr.String())
		}
	}
	return l, nil
}

// close shuts the listeners down, letting requests in progress finish
// (a CPU profile runs for its seconds) for a while.
func (l *opsListeners) close() {
	ctx, cancel := context.WithTimeout(context.Background(), l.shutdownWait)
	defer cancel()
	for _, s := range l.servers {
		_ = s.Shutdown(ctx)
	}
}

func isLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// pprofHandler serves net/http/pprof's pages on a mux of its own (the
// package's init also registers them on http.DefaultServeMux, which this
// server never serves).
func pprofHandler() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("/debug/pprof/", pprof.Index)
	m.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	m.HandleFunc("/debug/pprof/profile", pprof.Profile)
	m.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	m.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return m
}
