package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/internal/auth"
	"github.com/occicdmi/occicdmi/internal/metrics"
	"github.com/occicdmi/occicdmi/internal/web"
	"github.com/occicdmi/occicdmi/occi"
	"github.com/occicdmi/occicdmi/storagebackends"
)

// syncBuffer is a log sink the server's goroutines may write to while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// lines are the JSON log records written so far.
func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(s.b.Bytes()))
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), sc.Text())
		out = append(out, m)
	}
	return out
}

func newOpsApp(t *testing.T, cfg Config) (*App, *httptest.Server, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	cfg.DataDir = t.TempDir()
	a, err := New(context.Background(), cfg, slog.New(slog.NewJSONHandler(logs, nil)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(srv.Close)
	return a, srv, logs
}

func send(t *testing.T, method, url, contentType, body string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

const computeKind = `Category: compute; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="kind"`

// scrape reads url's metrics in the text exposition format.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, body := send(t, "GET", url, "", "", "Accept", "text/plain")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	require.NoError(t, err)
	return fams
}

// value is the value of the series of fam whose labels include want (a
// counter's, a gauge's, or a histogram's sample count); ok is false when
// there is none.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (v float64, ok bool) {
	fam := fams[name]
	if fam == nil {
		return 0, false
	}
next:
	for _, m := range fam.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, w := range want {
			if labels[k] != w {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// /metrics counts each request by protocol, operation (method and route
// class, never the path) and status; times it; adds its bytes; times the
// backend calls it made; and counts VMs and volumes from the database.
func TestMetricsCountRequests(t *testing.T) {
	_, srv, _ := newOpsApp(t, Defaults())

	resp, body := send(t, "POST", srv.URL+"/compute/", "text/plain", computeKind)
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)
	resp, _ = send(t, "GET", srv.URL+"/-/", "", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, _ = send(t, "GET", srv.URL+"/no/such/entity", "", "")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	resp, body = send(t, "PUT", srv.URL+"/cdmi/box/", "application/cdmi-container", "{}",
		"X-CDMI-Specification-Version", "1.1.1", "Accept", "application/cdmi-container")
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)
	resp, body = send(t, "PUT", srv.URL+"/cdmi/box/v.txt", "text/plain", "hello")
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)

	fams := scrape(t, srv.URL+"/metrics")
	for _, c := range []struct {
		protocol, operation, code string
	}{
		{"occi", "POST collection", "201"},
		{"occi", "GET query", "200"},
		{"occi", "GET entity", "404"},
		{"cdmi", "PUT container", "201"},
		{"cdmi", "PUT object", "201"},
	} {
		v, ok := value(fams, "occicdmi_http_requests_total", map[string]string{"protocol": c.protocol, "operation": c.operation, "code": c.code})
		assert.True(t, ok, "%+v counted", c)
		assert.Equal(t, 1.0, v, "%+v", c)
		n, ok := value(fams, "occicdmi_http_request_duration_seconds", map[string]string{"protocol": c.protocol, "operation": c.operation})
		assert.True(t, ok && n >= 1, "%+v timed", c)
	}
	// Cardinality: operations are a method and a class, never a path.
	for _, m := range fams["occicdmi_http_requests_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			assert.NotContains(t, l.GetValue(), "/", "label %s", l.GetName())
		}
	}
	in, _ := value(fams, "occicdmi_http_request_bytes_total", map[string]string{"protocol": "cdmi", "operation": "PUT object"})
	assert.Equal(t, 5.0, in, "the value's bytes read")
	out, _ := value(fams, "occicdmi_http_response_bytes_total", map[string]string{"protocol": "occi", "operation": "GET query"})
	assert.Greater(t, out, 100.0, "the query interface's rendering written")

	n, ok := value(fams, "occicdmi_backend_call_duration_seconds", map[string]string{"backend": "compute", "driver": "sim", "operation": "CreateMachine"})
	assert.True(t, ok)
	assert.Equal(t, 1.0, n)
	n, _ = value(fams, "occicdmi_backend_call_duration_seconds", map[string]string{"backend": "objects", "driver": "fs", "operation": "Put"})
	assert.Equal(t, 1.0, n)
	vms, ok := value(fams, "occicdmi_vms", nil)
	assert.True(t, ok)
	assert.Equal(t, 1.0, vms)
	vols, ok := value(fams, "occicdmi_volumes", nil)
	assert.True(t, ok)
	assert.Equal(t, 0.0, vols)
	_, ok = value(fams, "go_goroutines", nil)
	assert.True(t, ok, "the Go runtime's metrics")

	// The scrape itself is counted (seen by the next one) as ops.
	fams = scrape(t, srv.URL+"/metrics")
	v, _ := value(fams, "occicdmi_http_requests_total", map[string]string{"protocol": "ops", "operation": "GET metrics", "code": "200"})
	assert.Equal(t, 1.0, v)
}

// Backend failures are counted under their kind, and the protocol still
// answers by that kind (the decorator changes no error).
func TestMetricsCountBackendErrors(t *testing.T) {
	a, srv, _ := newOpsApp(t, Defaults())
	_, err := a.Volumes.VolumeSize(context.Background(), "no-such-volume")
	require.Error(t, err)
	assert.ErrorIs(t, err, storagebackends.ErrNotFound)
	require.Error(t, a.Compute.Start(context.Background(), "no-such-machine"))

	fams := scrape(t, srv.URL+"/metrics")
	v, _ := value(fams, "occicdmi_backend_errors_total", map[string]string{"backend": "volumes", "driver": "fs", "operation": "VolumeSize", "kind": "not_found"})
	assert.Equal(t, 1.0, v)
	v, _ = value(fams, "occicdmi_backend_errors_total", map[string]string{"backend": "compute", "driver": "sim", "operation": "Start", "kind": "not_found"})
	assert.Equal(t, 1.0, v)
}

func TestHealthz(t *testing.T) {
	_, srv, _ := newOpsApp(t, Defaults())
	resp, body := send(t, "GET", srv.URL+"/healthz", "", "")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "ok\n", body)
	assert.NotEmpty(t, resp.Header.Get("X-Request-ID"))
	resp, body = send(t, "HEAD", srv.URL+"/healthz", "", "")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Empty(t, body)
}

// /readyz is 200 while the database and every backend answer, 503 naming
// the one that does not (its reason goes to the log, not to the prober).
func TestReadyzDatabaseClosed(t *testing.T) {
	a, srv, logs := newOpsApp(t, Defaults())
	resp, body := send(t, "GET", srv.URL+"/readyz", "", "")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Equal(t, "ok\n", body)

	sqlDB, err := a.DB.DB()
	require.NoError(t, err)
	require.NoError(t, sqlDB.Close())
	resp, body = send(t, "GET", srv.URL+"/readyz", "", "")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "not ready: database\n", body, "the reason is logged, not told")
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))
	var warned bool
	for _, l := range logs.lines(t) {
		if l["msg"] == "readiness: database is down" {
			warned = true
			assert.Equal(t, "WARN", l["level"])
			assert.Contains(t, l["err"], "closed")
			assert.NotEmpty(t, l["request_id"])
		}
	}
	assert.True(t, warned, "the reason is in the log")

	// /healthz does not depend on the database.
	resp, _ = send(t, "GET", srv.URL+"/healthz", "", "")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

type downVolumes struct{ storagebackends.Volumes }

func (downVolumes) Ping(context.Context) error {
	return storagebackends.ErrUnavailable
}

func TestReadyzBackendDown(t *testing.T) {
	a, srv, _ := newOpsApp(t, Defaults())
	m := metrics.New()
	a.ops.checks = append(a.ops.checks, readyCheck{"volumes", "rbd", pingOf(m.Volumes("rbd", downVolumes{}))})
	resp, body := send(t, "GET", srv.URL+"/readyz", "", "")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "not ready: volumes\n", body)
}

// The operator endpoints are reserved (409, occi/paths.go): OCCI refuses to create an entity
// or a mixin at or below them, with a message, and they keep serving.
func TestReservedPaths(t *testing.T) {
	_, srv, _ := newOpsApp(t, Defaults())
	for _, p := range []string{"/metrics", "/healthz", "/readyz", "/metrics/vm1", "/healthz/a/b", "/readyz/x"} {
		resp, body := send(t, "PUT", srv.URL+p, "text/plain", computeKind)
		assert.Equal(t, http.StatusConflict, resp.StatusCode, "PUT %s: %s", p, body)
		assert.Contains(t, body, "reserved", p)
	}
	for _, p := range []string{"/healthz/", "/metrics/x", "/readyz"} {
		resp, body := send(t, "POST", srv.URL+p, "text/plain", computeKind)
		assert.True(t, resp.StatusCode >= 400 && resp.StatusCode < 500, "POST %s: %d %s", p, resp.StatusCode, body)
		assert.NotEmpty(t, strings.TrimSpace(body), "POST %s answers why", p)
	}
	resp, body := send(t, "POST", srv.URL+"/-/", "text/plain",
		`Category: probe; scheme="http://example.com/occi/ops#"; class="mixin"; location="/healthz/"`)
	assert.Equal(t, http.StatusConflict, resp.StatusCode, body)
	assert.Contains(t, body, "reserved")
	// An inline link may not take a reserved location either.
	resp, body = send(t, "POST", srv.URL+"/compute/", "text/plain", computeKind+"\n"+
		`Link: </network/nowhere>; rel="http://schemas.ogf.org/occi/infrastructure#network"; self="/metrics/link1"`)
	assert.Equal(t, http.StatusConflict, resp.StatusCode, body)
	assert.Contains(t, body, "reserved")

	resp, body = send(t, "GET", srv.URL+"/healthz", "", "")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "ok\n", body)
	resp, body = send(t, "GET", srv.URL+"/compute/", "text/uri-list", "", "Accept", "text/uri-list")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.NotContains(t, body, "/metrics")

	for _, p := range occi.ReservedPaths {
		assert.Contains(t, []string{pathMetrics, pathHealthz, pathReadyz}, p)
	}
	_, err := Load("t", []string{"--cdmi-root", "/metrics"}, env(nil), io.Discard)
	assert.Error(t, err, "the CDMI root may not take a reserved path")
}

// One access log line per request at INFO, with the request's ID; a
// line logged with the request's context carries the ID too.
func TestAccessLog(t *testing.T) {
	_, srv, logs := newOpsApp(t, Defaults())
	resp, body := send(t, "GET", srv.URL+"/-/", "", "", "X-Request-ID", "access-1")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, _ = send(t, "GET", srv.URL+"/cdmi/nothing-here", "", "", "X-Request-ID", "access-2")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	var got []map[string]any
	for _, l := range logs.lines(t) {
		if l["msg"] == "request" {
			got = append(got, l)
		}
	}
	require.Len(t, got, 2)
	l := got[0]
	assert.Equal(t, "INFO", l["level"])
	assert.Equal(t, "GET", l["method"])
	assert.Equal(t, "/-/", l["path"])
	assert.Equal(t, 200.0, l["status"])
	assert.Equal(t, float64(len(body)), l["bytes"])
	assert.Equal(t, "access-1", l["request_id"])
	assert.Contains(t, l, "duration")
	assert.Equal(t, "occi", l["protocol"])
	assert.Equal(t, 404.0, got[1]["status"])
	assert.Equal(t, "access-2", got[1]["request_id"])
	assert.Equal(t, "cdmi", got[1]["protocol"])
}

// A client that went away (recorded 499, as cdmi does) is logged at INFO
// and counted under 499, no error; a request answering nothing whose
// client left is recorded 499 too.
func TestAccessLogClientGone(t *testing.T) {
	logs := &syncBuffer{}
	o := &ops{metrics: metrics.New(), log: withRequestIDs(slog.New(slog.NewJSONHandler(logs, nil))), cdmiRoot: "/cdmi"}
	h := o.observe(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(499) }))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("PUT", "/cdmi/a/b", strings.NewReader("x")))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	silent := o.observe(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	silent.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/compute/", nil).WithContext(ctx))

	lines := logs.lines(t)
	require.Len(t, lines, 2)
	for _, l := range lines {
		assert.Equal(t, "INFO", l["level"])
		assert.Equal(t, 499.0, l["status"])
	}
	fams, err := o.metrics.Registry.Gather()
	require.NoError(t, err)
	byName := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		byName[f.GetName()] = f
	}
	v, _ := value(byName, "occicdmi_http_requests_total", map[string]string{"protocol": "cdmi", "operation": "PUT object", "code": "499"})
	assert.Equal(t, 1.0, v)
	v, _ = value(byName, "occicdmi_http_requests_total", map[string]string{"protocol": "occi", "operation": "GET collection", "code": "499"})
	assert.Equal(t, 1.0, v)
}

func TestRequestIDInLogLines(t *testing.T) {
	logs := &syncBuffer{}
	log := withRequestIDs(slog.New(slog.NewJSONHandler(logs, nil)))
	assert.Same(t, log, withRequestIDs(log), "wrapped once")
	ctx := web.ContextWithRequestID(context.Background(), "rid-7")
	log.InfoContext(ctx, "in a request")
	log.With("component", "x").WarnContext(ctx, "in a request, with attrs")
	log.InfoContext(ctx, "names its own", "request_id", "rid-7")
	log.Info("outside any request")
	lines := logs.lines(t)
	require.Len(t, lines, 4)
	for _, l := range lines[:3] {
		assert.Equal(t, "rid-7", l["request_id"], l["msg"])
	}
	assert.NotContains(t, lines[3], "request_id")

	var text bytes.Buffer
	withRequestIDs(slog.New(slog.NewTextHandler(&text, nil))).InfoContext(ctx, "names its own", "request_id", "rid-7")
	assert.Equal(t, 1, strings.Count(text.String(), "request_id="), "not repeated: %s", text.String())
}

func TestClassify(t *testing.T) {
	o := &ops{cdmiRoot: "/cdmi"}
	for _, c := range []struct{ method, target, protocol, operation string }{
		{"GET", "/metrics", "ops", "GET metrics"},
		{"HEAD", "/readyz", "ops", "HEAD readyz"},
		{"PUT", "/metrics", "occi", "PUT entity"},
		{"GET", "/-/", "occi", "GET query"},
		{"GET", "/.well-known/org/ogf/occi/-/", "occi", "GET query"},
		{"POST", "/compute/", "occi", "POST collection"},
		{"POST", "/compute/?action=start", "occi", "POST collection_action"},
		{"POST", "/compute/vm1?action=stop", "occi", "POST entity_action"},
		{"DELETE", "/a/b/c", "occi", "DELETE entity"},
		{"BREW", "/pot", "occi", "OTHER entity"},
		{"GET", "/cdmi", "cdmi", "GET root"},
		{"GET", "/cdmi/", "cdmi", "GET root"},
		{"GET", "/cdmi/cdmi_capabilities/container/", "cdmi", "GET capabilities"},
		{"GET", "/cdmi/cdmi_domains/system/", "cdmi", "GET domains"},
		{"GET", "/cdmi/cdmi_objectid/0000", "cdmi", "GET objectid"},
		{"PUT", "/cdmi/a/", "cdmi", "PUT container"},
		{"PATCH", "/cdmi/a/b%2Fc", "cdmi", "PATCH object"},
		{"GET", "/cdmix", "occi", "GET entity"},
	} {
		p, op := o.classify(httptest.NewRequest(c.method, c.target, nil))
		assert.Equal(t, c.protocol+" "+c.operation, p+" "+op, "%s %s", c.method, c.target)
	}
}

// --ops-listen serves the operator endpoints alone; --pprof-listen serves
// pprof, which the main listener never does. Neither is on by default.
func TestOpsAndPprofListeners(t *testing.T) {
	cfg := Defaults()
	a, srv, _ := newOpsApp(t, cfg)
	none, err := a.listenOps(cfg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	assert.Nil(t, none.opsAddr)
	assert.Nil(t, none.pprofAddr)
	none.close()

	cfg.OpsListen, cfg.PprofListen = "127.0.0.1:0", "127.0.0.1:0"
	l, err := a.listenOps(cfg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer l.close()
	ops := "http://" + l.opsAddr.String()
	resp, body := send(t, "GET", ops+"/healthz", "", "")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "ok\n", body)
	assert.NotEmpty(t, resp.Header.Get("X-Request-ID"))
	resp, _ = send(t, "GET", ops+"/readyz", "", "")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	fams := scrape(t, ops+"/metrics")
	_, ok := value(fams, "occicdmi_vms", nil)
	assert.True(t, ok)
	resp, _ = send(t, "GET", ops+"/-/", "", "")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "no OCCI on the ops listener")
	resp, _ = send(t, "GET", ops+"/debug/pprof/", "", "")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "no pprof on the ops listener")

	resp, body = send(t, "GET", "http://"+l.pprofAddr.String()+"/debug/pprof/", "", "")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, body, "goroutine")
	resp, _ = send(t, "GET", srv.URL+"/debug/pprof/", "", "")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "no pprof on the main listener")

	cfg2, err := Load("t", []string{"--ops-listen", "127.0.0.1:9100"}, env(map[string]string{"OCCICDMI_PPROF_LISTEN": "127.0.0.1:6060"}), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:9100", cfg2.OpsListen)
	assert.Equal(t, "127.0.0.1:6060", cfg2.PprofListen)
	assert.Empty(t, Defaults().OpsListen)
	assert.Empty(t, Defaults().PprofListen)
}

// With authentication configured, /healthz and /readyz on the main
// listener answer probes without credentials (a kubelet or a load balancer
// has none), with nothing but "ok" or the name of what is not ready.
// /metrics wants credentials like everything else (the 401 is counted and
// logged like any answer); --ops-listen serves all three without.
func TestOpsEndpointsBehindAuthentication(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users")
	require.NoError(t, auth.AddUser(users, "ops", "s3cret", []string{"admin"}, []string{"admin"}))
	cfg := Defaults()
	cfg.UsersFile = users
	a, srv, logs := newOpsApp(t, cfg)

	for _, p := range []string{"/healthz", "/readyz"} {
		for _, method := range []string{"GET", "HEAD"} {
			resp, body := send(t, method, srv.URL+p, "", "")
			assert.Equal(t, http.StatusOK, resp.StatusCode, "%s %s without credentials: %s", method, p, body)
			assert.Empty(t, resp.Header.Get("WWW-Authenticate"), p)
			if method == "GET" {
				assert.Equal(t, "ok\n", body, p)
			}
		}
	}
	// Other methods there, and paths below them, are OCCI's: authenticated.
	resp, _ := send(t, "PUT", srv.URL+"/healthz", "text/plain", computeKind)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp, _ = send(t, "GET", srv.URL+"/readyz/x", "", "")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	resp, _ = send(t, "GET", srv.URL+"/metrics", "", "", "X-Request-ID", "anon-1")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.NotEmpty(t, resp.Header.Get("WWW-Authenticate"))
	resp, _ = send(t, "GET", srv.URL+"/metrics", "", "", "Authorization", "Basic b3BzOndyb25n") // ops:wrong
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	req, err := http.NewRequest("GET", srv.URL+"/metrics", nil)
	require.NoError(t, err)
	req.SetBasicAuth("ops", "s3cret")
	r, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	r.Body.Close()
	assert.Equal(t, http.StatusOK, r.StatusCode)

	// A component down: 503 naming it, the reason only in the log.
	m := metrics.New()
	a.ops.checks = append(a.ops.checks, readyCheck{"volumes", "rbd", pingOf(m.Volumes("rbd", downVolumes{}))})
	resp, body := send(t, "GET", srv.URL+"/readyz", "", "")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "not ready: volumes\n", body)

	cfg.OpsListen = "127.0.0.1:0"
	l, err := a.listenOps(cfg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer l.close()
	ops := "http://" + l.opsAddr.String()
	resp, _ = send(t, "GET", ops+"/healthz", "", "")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp, _ = send(t, "GET", ops+"/readyz", "", "")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	fams := scrape(t, ops+"/metrics")
	v, _ := value(fams, "occicdmi_http_requests_total", map[string]string{"protocol": "ops", "operation": "GET metrics", "code": "401"})
	assert.Equal(t, 2.0, v)
	v, _ = value(fams, "occicdmi_http_requests_total", map[string]string{"protocol": "ops", "operation": "GET healthz", "code": "200"})
	assert.Equal(t, 2.0, v, "unauthenticated probes are counted too")
	var logged bool
	for _, l := range logs.lines(t) {
		if l["msg"] == "request" && l["request_id"] == "anon-1" {
			logged = true
			assert.Equal(t, 401.0, l["status"])
		}
	}
	assert.True(t, logged)
}

// --metrics-public opens /metrics on the main listener too; the rest still
// wants credentials.
func TestMetricsPublic(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users")
	require.NoError(t, auth.AddUser(users, "ops", "s3cret", []string{"admin"}, []string{"admin"}))
	cfg := Defaults()
	cfg.UsersFile, cfg.MetricsPublic = users, true
	_, srv, _ := newOpsApp(t, cfg)
	fams := scrape(t, srv.URL+"/metrics")
	_, ok := value(fams, "occicdmi_vms", nil)
	assert.True(t, ok)
	resp, _ := send(t, "GET", srv.URL+"/-/", "", "")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	cfg, err := Load("t", []string{"--metrics-public"}, env(nil), io.Discard)
	require.NoError(t, err)
	assert.True(t, cfg.MetricsPublic)
	cfg, err = Load("t", nil, env(map[string]string{"OCCICDMI_METRICS_PUBLIC": "true"}), io.Discard)
	require.NoError(t, err)
	assert.True(t, cfg.MetricsPublic)
	_, err = Load("t", nil, env(map[string]string{"OCCICDMI_METRICS_PUBLIC": "maybe"}), io.Discard)
	assert.ErrorContains(t, err, "OCCICDMI_METRICS_PUBLIC")
	assert.False(t, Defaults().MetricsPublic)
}
