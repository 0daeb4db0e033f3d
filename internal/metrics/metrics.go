// Package metrics is the operator's view of a server in Prometheus terms:
// HTTP requests by protocol, operation and status, their latency and bytes,
// backend calls and their failures by kind, and counts read from the
// database when scraped. It wraps the compute and storage backends in
// decorators that time every call and pass its result through unchanged
// (an error keeps its kind, so a backend that is down still answers 503).
//
// Each server has its own Registry, so several in one process (tests, the
// spec-test harness) do not collide.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/occicdmi/occicdmi/internal/kind"
)

// Namespace prefixes every metric of the server's own.
const Namespace = "occicdmi"

// Metrics holds a server's collectors and the registry they are served from.
type Metrics struct {
	Registry *prometheus.Registry

	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	requestBytes  *prometheus.CounterVec
	responseBytes *prometheus.CounterVec
	inFlight      *prometheus.GaugeVec

	backendDuration *prometheus.HistogramVec
	backendErrors   *prometheus.CounterVec

	series sync.Map // seriesKey -> *Series
}

// httpBuckets are DefBuckets stretched to a minute: CDMI values stream
// through a request, and large ones take that long.
var httpBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// backendBuckets reach two minutes: creating or saving a real VM does.
var backendBuckets = []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}

// New makes the collectors and registers them, with Go's runtime and the
// process's own (go_*, process_*).
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests answered, by protocol (occi, cdmi, ops), operation (method and route class) and status code (499: the client went away).",
		}, []string{"protocol", "operation", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "http", Name: "request_duration_seconds",
			Help:    "Time from a request's arrival to the end of its answer, by protocol and operation.",
			Buckets: httpBuckets,
		}, []string{"protocol", "operation"}),
		requestBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "http", Name: "request_bytes_total",
			Help: "Bytes of request bodies read by the handlers, by protocol and operation.",
		}, []string{"protocol", "operation"}),
		responseBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "http", Name: "response_bytes_total",
			Help: "Bytes of response bodies written, by protocol and operation.",
		}, []string{"protocol", "operation"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "http", Name: "requests_in_flight",
			Help: "Requests being served now, by protocol.",
		}, []string{"protocol"}),
		backendDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "backend", Name: "call_duration_seconds",
			Help:    "Time of backend calls, by backend (compute, objects, volumes), driver (sim, libvirt, fs, s3, rbd ...) and operation (the contract's method).",
			Buckets: backendBuckets,
		}, []string{"backend", "driver", "operation"}),
		backendErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "backend", Name: "errors_total",
			Help: "Backend calls that failed, by backend, driver, operation and error kind (not_found, exists, invalid, conflict, forbidden, unavailable, unsupported, internal, canceled, deadline_exceeded).",
		}, []string{"backend", "driver", "operation", "kind"}),
	}
	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.duration, m.requestBytes, m.responseBytes, m.inFlight,
		m.backendDuration, m.backendErrors,
	)
	return m
}

// Handler serves the registry in the Prometheus exposition formats. A
// collector that fails (the database down for a count) is left out of the
// answer and logged; the rest is still served.
func (m *Metrics) Handler(log *slog.Logger) http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      slogPrinter{log},
	})
}

type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) {
	if p.log != nil {
		p.log.Warn("metrics: " + strings.TrimSuffix(fmt.Sprintln(v...), "\n"))
	}
}

// Request is what one answered request adds to the HTTP metrics.
type Request struct {
	Protocol, Operation string
	Status              int
	Duration            time.Duration
	RequestBytes        int64
	ResponseBytes       int64
}

// ObserveRequest counts an answered request. Protocol and Operation must
// come from a bounded set (a route class, never the raw path).
func (m *Metrics) ObserveRequest(r Request) {
	m.Series(r.Protocol, r.Operation).Observe(r.Status, r.Duration, r.RequestBytes, r.ResponseBytes)
}

// InFlight counts a request of protocol as being served until the returned
// function is called.
func (m *Metrics) InFlight(protocol string) (done func()) {
	g := m.inFlight.WithLabelValues(protocol)
	g.Inc()
	return g.Dec
}

// Series is the HTTP collectors of one protocol and operation, looked up
// once (Metrics.Series) instead of hashing the labels of four vectors on
// every request.
type Series struct {
	m                   *Metrics
	protocol, operation string
	InFlight            prometheus.Gauge // requests of the protocol being served now
	duration            prometheus.Observer
	requestBytes        prometheus.Counter
	responseBytes       prometheus.Counter

	mu    sync.Mutex                                 // adding a status code
	codes atomic.Pointer[map[int]prometheus.Counter] // copied on write: reads take no lock
}

type seriesKey struct{ protocol, operation string }

// Series is the collectors of protocol and operation (a bounded set, as
// for ObserveRequest). Its duration and byte series appear in the
// exposition from the first request of it on (at its start rather than at
// its end, as before); its request counts per status as they are seen.
func (m *Metrics) Series(protocol, operation string) *Series {
	k := seriesKey{protocol, operation}
	if s, ok := m.series.Load(k); ok {
		return s.(*Series)
	}
	s := &Series{m: m, protocol: protocol, operation: operation, InFlight: m.inFlight.WithLabelValues(protocol),
		duration:      m.duration.WithLabelValues(protocol, operation),
		requestBytes:  m.requestBytes.WithLabelValues(protocol, operation),
		responseBytes: m.responseBytes.WithLabelValues(protocol, operation)}
	s.codes.Store(&map[int]prometheus.Counter{})
	got, _ := m.series.LoadOrStore(k, s)
	return got.(*Series)
}

// Protocol is the series' protocol label.
func (s *Series) Protocol() string { return s.protocol }

// Observe counts an answered request of the series.
func (s *Series) Observe(status int, d time.Duration, requestBytes, responseBytes int64) {
	s.code(status).Inc()
	s.duration.Observe(d.Seconds())
	s.requestBytes.Add(float64(requestBytes))
	s.responseBytes.Add(float64(responseBytes))
}

// code is the request counter of status in the series.
func (s *Series) code(status int) prometheus.Counter {
	if c, ok := (*s.codes.Load())[status]; ok {
		return c
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.codes.Load()
	if c, ok := old[status]; ok {
		return c
	}
	c := s.m.requests.WithLabelValues(s.protocol, s.operation, strconv.Itoa(status))
	codes := make(map[int]prometheus.Counter, len(old)+1)
	for k, v := range old {
		codes[k] = v
	}
	codes[status] = c
	s.codes.Store(&codes)
	return c
}

// KindLabel names err's kind as a label value: the kind's name in snake
// case, or canceled / deadline_exceeded for a call its context ended.
func KindLabel(err error) string {
	switch {
	case errors.Is(err, context.Canceled) && kind.Of(err) == kind.Internal:
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded) && kind.Of(err) == kind.Internal:
		return "deadline_exceeded"
	}
	return kindLabels[kind.Of(err)]
}

var kindLabels = map[kind.Kind]string{
	kind.Internal:        "internal",
	kind.NotFound:        "not_found",
	kind.Exists:          "exists",
	kind.Invalid:         "invalid",
	kind.Conflict:        "conflict",
	kind.Unauthenticated: "unauthenticated",
	kind.Forbidden:       "forbidden",
	kind.Unavailable:     "unavailable",
	kind.Unsupported:     "unsupported",
}

// observer times the calls of one backend.
type observer struct {
	m               *Metrics
	backend, driver string
	durations       *sync.Map // operation -> prometheus.Observer, looked up once per operation
}

func newObserver(m *Metrics, backend, driver string) observer {
	return observer{m: m, backend: backend, driver: driver, durations: &sync.Map{}}
}

// done records a call that started at start and ended with err. io.EOF is
// how a read reaching the end of a volume ends (io.ReaderAt), not a failure.
func (o observer) done(op string, start time.Time, err error) {
	d, ok := o.durations.Load(op)
	if !ok {
		d, _ = o.durations.LoadOrStore(op, o.m.backendDuration.WithLabelValues(o.backend, o.driver, op))
	}
	d.(prometheus.Observer).Observe(time.Since(start).Seconds())
	if err != nil && err != io.EOF {
		o.m.backendErrors.WithLabelValues(o.backend, o.driver, op, KindLabel(err)).Inc()
	}
}

// Pinger is a backend (or a wrapper) that can tell cheaply whether it is
// reachable. The decorators of this package are Pingers: they ask the
// backend's own Ping when it has one, else make a cheap call.
type Pinger interface {
	Ping(ctx context.Context) error
}

// probeName names nothing: looking it up answers "not found" from a backend
// that is reachable.
const probeName = "occicdmi-readiness-probe"

// probeResult turns the answer to a lookup of probeName into a health
// verdict: found or not found is up; unavailable, an internal error or an
// ended context is down. Other kinds (a name the backend finds invalid)
// still prove that it answered.
func probeResult(err error) error {
	if err == nil {
		return nil
	}
	switch kind.Of(err) {
	case kind.Unavailable, kind.Internal:
		return err
	}
	return nil
}

// Counts is a collector of gauges computed when scraped, each by a cheap
// query; a query that fails leaves its gauge out of that scrape.
type Counts struct {
	timeout time.Duration
	gauges  []countGauge
}

type countGauge struct {
	desc  *prometheus.Desc
	count func(ctx context.Context) (int64, error)
}

// NewCounts makes an empty Counts whose queries each get timeout.
func NewCounts(timeout time.Duration) *Counts { return &Counts{timeout: timeout} }

// Add adds a gauge occicdmi_<name> with help, valued by count at scrape time.
func (c *Counts) Add(name, help string, count func(ctx context.Context) (int64, error)) *Counts {
	c.gauges = append(c.gauges, countGauge{
		desc:  prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, nil, nil),
		count: count,
	})
	return c
}

// Describe implements prometheus.Collector.
func (c *Counts) Describe(ch chan<- *prometheus.Desc) {
	for _, g := range c.gauges {
		ch <- g.desc
	}
}

// Collect implements prometheus.Collector.
func (c *Counts) Collect(ch chan<- prometheus.Metric) {
	for _, g := range c.gauges {
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		n, err := g.count(ctx)
		cancel()
		if err != nil {
			ch <- prometheus.NewInvalidMetric(g.desc, err)
			continue
		}
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, float64(n))
	}
}
