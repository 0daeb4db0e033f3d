package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"

	"github.com/occicdmi/occicdmi/internal/kind"
)

func TestStatusOfKinds(t *testing.T) {
	cases := map[error]int{
		kind.New(kind.NotFound, "x"):                          404,
		fmt.Errorf("wrapped: %w", kind.New(kind.Exists, "x")): 409,
		kind.Invalid:                           400,
		kind.Conflict:                          409,
		kind.Forbidden:                         403,
		kind.Unavailable:                       503,
		kind.Unsupported:                       501,
		kind.NoSpace:                           507,
		errors.New("boom"):                     500,
		Errorf(http.StatusNotAcceptable, "no"): 406,
	}
	for err, want := range cases {
		assert.Equal(t, want, Status(err), "%v", err)
	}
}

func TestAnswerHidesInternalDetailAndLogsIt(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	var status int
	var msg string
	h := WithRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, msg = Answer(w, r, log, errors.New("pq: SQLSTATE 57P01 secret detail"))
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
	id := rec.Header().Get(RequestIDHeader)
	assert.Equal(t, 500, status)
	assert.NotContains(t, msg, "SQLSTATE")
	assert.Contains(t, msg, id)
	assert.Contains(t, logs.String(), "SQLSTATE 57P01 secret detail")
	assert.Contains(t, logs.String(), id)
}

func TestAnswerUnavailableSetsRetryAfter(t *testing.T) {
	rec := httptest.NewRecorder()
	status, msg := Answer(rec, httptest.NewRequest("GET", "/", nil), slog.Default(), kind.Wrap(kind.Unavailable, errors.New("dial tcp: refused"), "storage backend"))
	assert.Equal(t, 503, status)
	assert.Equal(t, "storage backend: dial tcp: refused", msg)
	assert.Equal(t, RetryAfterSeconds, rec.Header().Get("Retry-After"))
}

func TestRequestIDKeepsPlainClientIDs(t *testing.T) {
	h := WithRequestID(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for given, kept := range map[string]bool{"abc-123": true, "a\nb": false, "": false} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set(RequestIDHeader, given)
		h.ServeHTTP(rec, req)
		assert.Equal(t, kept, rec.Header().Get(RequestIDHeader) == given, "%q", given)
		assert.NotEmpty(t, rec.Header().Get(RequestIDHeader))
	}
}

func TestBaseURL(t *testing.T) {
	r := httptest.NewRequest("GET", "http://example.org:8080/x", nil)
	assert.Equal(t, "http://example.org:8080", BaseURL(r, ""))
	r.Header.Set("X-Forwarded-Proto", "HTTPS, http")
	assert.Equal(t, "https://example.org:8080", BaseURL(r, ""), "any case, first value")
	assert.Equal(t, "https://cloud.example", BaseURL(r, "https://cloud.example/"))
}

// An outage is a few log lines, not one per request: the first 503 is
// logged, later ones within the interval are counted into the next line.
func TestOutageLogIsRateLimited(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	clock := time.Unix(0, 0)
	o := &outageLog{interval: 10 * time.Second, now: func() time.Time { return clock }}
	for i := 0; i < 1000; i++ {
		o.note(log, "the database is unavailable")
		clock = clock.Add(time.Millisecond)
	}
	assert.Equal(t, 1, strings.Count(logs.String(), "answering 503"))
	clock = clock.Add(10 * time.Second)
	o.note(log, "the database is unavailable")
	assert.Equal(t, 2, strings.Count(logs.String(), "answering 503"))
	assert.Contains(t, logs.String(), "more_503s_since_last_line=999")
}

// A database failure that reached the handler unclassified still answers
// 503 (the database restarting), with no driver text.
func TestAnswerClassifiesDatabaseFailures(t *testing.T) {
	rec := httptest.NewRecorder()
	err := fmt.Errorf("container size: %w", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"})
	status, msg := Answer(rec, httptest.NewRequest("GET", "/", nil), slog.New(slog.NewTextHandler(io.Discard, nil)), err)
	assert.Equal(t, 503, status)
	assert.NotContains(t, msg, "57P01")
}

// Without a configured base URL only Hosts the server can vouch for derive
// locations (issue 12 item 9): loopback, the listening host, and the
// address the connection arrived on.
func TestKnownHost(t *testing.T) {
	local := &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 8080}
	for _, c := range []struct {
		host, listen string
		want         bool
	}{
		{"127.0.0.1:8080", "127.0.0.1:8080", true},
		{"localhost:9", "0.0.0.0:8080", true},
		{"[::1]:8080", ":8080", true},
		{"cloud.example.org:8080", "cloud.example.org:8080", true},
		{"192.0.2.7:8080", ":8080", true},
		{"192.0.2.7", "", true},
		{"0.0.0.0:8080", "0.0.0.0:8080", false},
		{"evil.example", ":8080", false},
		{"192.0.2.8:8080", ":8080", false},
		{"", "127.0.0.1:8080", false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Host = c.host
		r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, net.Addr(local)))
		assert.Equal(t, c.want, KnownHost(r, c.listen), "Host %q, listen %q", c.host, c.listen)
	}
}
