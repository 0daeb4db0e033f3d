// Package web holds the HTTP pieces both protocols share: the error a
// handler answers with, the one mapping from an error kind to a status code,
// request IDs, and the base URL locations are made absolute with. Only HTTP
// handlers import it; services speak in kinds (package kind).
package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/occicdmi/occicdmi/internal/database"
	"github.com/occicdmi/occicdmi/internal/kind"
)

// Error is an answer that only HTTP knows how to name (406, 415, 405, 413
// ...): negotiation and framing failures found before any service is called.
type Error struct {
	Status int
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

// Errorf is an *Error with a formatted message.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// statusOfKind is the one mapping from a kind to a status code, the same
// for OCCI and CDMI (both build on RFC 9110's meanings).
var statusOfKind = map[kind.Kind]int{
	kind.NotFound:        http.StatusNotFound,
	kind.Exists:          http.StatusConflict,
	kind.Invalid:         http.StatusBadRequest,
	kind.Conflict:        http.StatusConflict,
	kind.Unauthenticated: http.StatusUnauthorized,
	kind.Forbidden:       http.StatusForbidden,
	kind.Unavailable:     http.StatusServiceUnavailable,
	kind.Unsupported:     http.StatusNotImplemented,
	kind.NoSpace:         http.StatusInsufficientStorage,
	kind.Internal:        http.StatusInternalServerError,
}

// Status is the status code err answers with: an *Error's own, else its
// kind's.
func Status(err error) int {
	var he *Error
	if errors.As(err, &he) {
		return he.Status
	}
	return statusOfKind[kind.Of(err)]
}

// RetryAfterSeconds is what a 503 tells a client to wait before retrying.
const RetryAfterSeconds = "5"

// Answer is the status and the client-visible message for err. An internal
// error is logged with its detail and answered only as "internal error"
// with the request's ID, so a client can quote it and an operator find it.
// A 503 carries Retry-After on w.
func Answer(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) (int, string) {
	// A database failure no layer classified (a query deep in a read)
	// still answers as what it is: 503 when the database is down.
	err = database.Classify(err)
	status := Status(err)
	msg := err.Error()
	var he *Error
	switch {
	case errors.As(err, &he):
		msg = he.Msg
	case status == http.StatusInternalServerError:
		id := RequestID(r.Context())
		log.ErrorContext(r.Context(), "internal error", "request_id", id, "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error (request " + id + ")"
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", RetryAfterSeconds)
		outages.note(log, msg)
	}
	return status, msg
}

// outageLog keeps an outage quiet in the log: the first 503 after a quiet
// spell is logged at once, the ones after it are counted and summed up at
// most once per interval, so a database restart under load is a few lines,
// not one per request.
type outageLog struct {
	mu       sync.Mutex
	interval time.Duration
	now      func() time.Time
	last     time.Time // when a line was last written
	count    int       // 503s since then
}

var outages = &outageLog{interval: 10 * time.Second, now: time.Now}

func (o *outageLog) note(log *slog.Logger, msg string) {
	o.mu.Lock()
	now := o.now()
	if !o.last.IsZero() && now.Sub(o.last) < o.interval {
		o.count++
		o.mu.Unlock()
		return
	}
	suppressed := o.count
	o.last, o.count = now, 0
	o.mu.Unlock()
	log.Warn("answering 503: a backend or the database is unavailable", "reason", msg, "more_503s_since_last_line", suppressed)
}

type requestIDKey struct{}

// RequestIDHeader carries a request's ID both ways: a client's or a
// proxy's own is kept, else the server makes one.
const RequestIDHeader = "X-Request-ID"

// WithRequestID gives every request an ID, in its context and in the
// response's X-Request-ID header.
func WithRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set(RequestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// RequestID is the ID WithRequestID gave the request; one is made up when
// the handler runs without it (a test calling a handler directly).
func RequestID(ctx context.Context) string {
	if id, ok := ctx.Value(requestIDKey{}).(string); ok {
		return id
	}
	return newRequestID()
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// validRequestID keeps a client's ID only when it is short and plain, so
// it cannot forge log lines or headers.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// BaseURL is the scheme and authority locations are made absolute with:
// configured when given, else the request's own. X-Forwarded-Proto (first
// value, any case) is honoured behind a TLS-terminating proxy. Without a
// configured base the request's Host is used as sent, so the server must
// refuse a Host it does not know before any handler runs (KnownHost):
// a forged Host would otherwise become the Location and the links in
// bodies (host header poisoning).
func BaseURL(r *http.Request, configured string) string {
	if configured != "" {
		return strings.TrimRight(configured, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	first, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	if p := strings.ToLower(strings.TrimSpace(first)); p == "http" || p == "https" {
		scheme = p
	}
	return scheme + "://" + r.Host
}

// KnownHost tells whether a request's Host may be used to derive locations
// when no base URL is configured: a loopback name or address (development,
// tests), the host of the listening address when it names one, or the
// local address the connection really arrived on (a Host naming the
// server's own IP is no forgery). Ports are not compared: only the host
// decides where a client is sent.
func KnownHost(r *http.Request, listen string) bool {
	host := hostOnly(r.Host)
	if host == "" {
		return false
	}
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	if ip != nil && ip.IsLoopback() {
		return true
	}
	if lh := hostOnly(listen); lh != "" && strings.EqualFold(lh, host) {
		if lip := net.ParseIP(lh); lip == nil || !lip.IsUnspecified() {
			return true
		}
	}
	if local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok && ip != nil {
		if la, ok := local.(*net.TCPAddr); ok && la.IP.Equal(ip) {
			return true
		}
	}
	return false
}

// hostOnly is the host part of host[:port] or [v6]:port, without brackets.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]")
}
