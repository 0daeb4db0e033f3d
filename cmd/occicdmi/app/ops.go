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
	"sync/atomic"
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
	access        slog.Handler // the access log: log's handler under its request-ID one
	cdmiRoot      string
	checks        []readyCheck

	mu      sync.Mutex
	down    map[string]bool // checks down at their last run, to log changes only
	running *probeRun       // the run of the checks in progress, if any
	waiting int             // requests waiting for running (tests watch it)

	// seriesOf caches the metrics series of each request class.
	seriesOf [nProtocols][nMethods][nClasses]atomic.Pointer[metrics.Series]
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
		log: log, access: unwrapRequestIDs(log), cdmiRoot: cfg.CDMIRoot, down: map[string]bool{}}
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
	return &front{ops: o, next: r, log: o.log, server: []string{ServerHeader()}}
}

// isProbe tells the requests for the operator endpoints the main listener
// serves without credentials: GET or HEAD of /healthz and /readyz (and
// /metrics with --metrics-public). Every other request goes on to
// authentication.
func (o *ops) isProbe(r *http.Request, path string) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	return path == pathHealthz || path == pathReadyz || path == pathMetrics && o.metricsPublic
}

// answerProbe answers a request isProbe tells.
func (o *ops) answerProbe(w http.ResponseWriter, r *http.Request, path string) {
	switch path {
	case pathHealthz:
		healthz(w, r)
	case pathReadyz:
		o.readyz(w, r)
	default:
		o.scrape.ServeHTTP(w, r)
	}
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
	p, m, c := o.class(r, r.URL.EscapedPath())
	return protocolNames[p], operations[m][c]
}

// series is the metrics series of a request (classify's), looked up once
// per class rather than per request.
func (o *ops) series(r *http.Request, path string) *metrics.Series {
	p, m, c := o.class(r, path)
	k := &o.seriesOf[p][m][c]
	if s := k.Load(); s != nil {
		return s
	}
	s := o.metrics.Series(protocolNames[p], operations[m][c])
	k.Store(s)
	return s
}

// The protocols, methods and route classes of classify, as indexes into
// the tables of their label values.
const (
	protoOps = iota
	protoCDMI
	protoOCCI
	nProtocols
)

var protocolNames = [nProtocols]string{"ops", "cdmi", "occi"}

var methodNames = [...]string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions, "OTHER"}

const nMethods = len(methodNames)

// The route classes (classNames names them).
const (
	classMetrics = iota // ops
	classHealthz
	classReadyz
	classRoot // cdmi
	classCapabilities
	classDomains
	classObjectID
	classContainer
	classObject
	classQuery // occi
	classCollection
	classCollectionAction
	classEntity
	classEntityAction
	nClasses
)

var classNames = [nClasses]string{
	"metrics", "healthz", "readyz",
	"root", "capabilities", "domains", "objectid", "container", "object",
	"query", "collection", "collection_action", "entity", "entity_action",
}

// operations[method][class] is the operation label "<method> <class>".
var operations = func() (t [nMethods][nClasses]string) {
	for m, mn := range methodNames {
		for c, cn := range classNames {
			t[m][c] = mn + " " + cn
		}
	}
	return t
}()

func methodIndex(method string) int {
	for i, n := range methodNames[:nMethods-1] {
		if n == method {
			return i
		}
	}
	return nMethods - 1
}

// class is classify's verdict as indexes; p is r's escaped path.
func (o *ops) class(r *http.Request, p string) (protocol, method, class int) {
	method = methodIndex(r.Method)
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		switch p {
		case pathMetrics:
			return protoOps, method, classMetrics
		case pathHealthz:
			return protoOps, method, classHealthz
		case pathReadyz:
			return protoOps, method, classReadyz
		}
	}
	if root := o.cdmiRoot; p == root || strings.HasPrefix(p, root) && p[len(root)] == '/' {
		rest := p[len(root):]
		class := classObject
		switch {
		case rest == "" || rest == "/":
			class = classRoot
		case strings.HasPrefix(rest, "/cdmi_capabilities/"):
			class = classCapabilities
		case strings.HasPrefix(rest, "/cdmi_domains/"):
			class = classDomains
		case strings.HasPrefix(rest, "/cdmi_objectid/"):
			class = classObjectID
		case strings.HasSuffix(rest, "/"):
			class = classContainer
		}
		return protoCDMI, method, class
	}
	switch {
	case p == "/-/" || p == "/.well-known/org/ogf/occi/-/":
		return protoOCCI, method, classQuery
	case strings.HasSuffix(p, "/"):
		class = classCollection
	default:
		class = classEntity
	}
	// The query parsed only when there is one: most requests have none.
	if r.URL.RawQuery != "" && r.URL.Query().Has("action") {
		class++ // the _action class follows its class
	}
	return protoOCCI, method, class
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
