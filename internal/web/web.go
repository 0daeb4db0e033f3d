// Package web holds the HTTP pieces both protocols share: the error a
// handler answers with, the one mapping from an error kind to a status code,
// request IDs, and the base URL locations are made absolute with. Only HTTP
// handlers import it; services speak in kinds (package kind).
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/netip"
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
		id := RequestIDFor(r)
		w.Header().Set(RequestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(ContextWithRequestID(r.Context(), id)))
	})
}

// RequestIDFor is the ID a request goes by: the client's (or a proxy's)
// X-Request-ID when it is short and plain, else a new one.
func RequestIDFor(r *http.Request) string {
	// The map itself: Header.Get would canonicalize the key every time.
	if v := r.Header[requestIDKeyCanonical]; len(v) > 0 && validRequestID(v[0]) {
		return v[0]
	}
	return newRequestID()
}

// requestIDKeyCanonical is RequestIDHeader as net/http stores it.
var requestIDKeyCanonical = http.CanonicalHeaderKey(RequestIDHeader)

// ContextWithRequestID is ctx carrying id as its request's ID (what
// RequestID answers), for a middleware that sets the header itself.
func ContextWithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDHolder is what a middleware can put in a context instead of the
// ID itself (ContextWithRequestIDHolder): a pointer it already allocated
// for its request's state, so the context costs no boxed string.
type RequestIDHolder interface{ RequestID() string }

// ContextWithRequestIDHolder is ctx carrying h's ID as its request's ID.
func ContextWithRequestIDHolder(ctx context.Context, h RequestIDHolder) context.Context {
	return context.WithValue(ctx, requestIDKey{}, h)
}

// RequestID is the ID WithRequestID gave the request; one is made up when
// the handler runs without it (a test calling a handler directly).
func RequestID(ctx context.Context) string {
	if id, ok := RequestIDFrom(ctx); ok {
		return id
	}
	return newRequestID()
}

// RequestIDFrom is the request ID ctx carries, and false when it carries
// none (what a log handler wants: no made-up ID outside requests).
func RequestIDFrom(ctx context.Context) (string, bool) {
	switch v := ctx.Value(requestIDKey{}).(type) {
	case string:
		return v, true
	case RequestIDHolder:
		return v.RequestID(), true
	}
	return "", false
}

// newRequestID is 16 hex digits from the runtime's per-thread ChaCha8
// generator: unique for all practical purposes and unpredictable, without
// a system call per request (an ID names a request in logs; it is no
// secret and grants nothing).
func newRequestID() string {
	var b [16]byte
	hexID(&b, mrand.Uint64())
	return string(b[:])
}

func hexID(b *[16]byte, v uint64) {
	const digits = "0123456789abcdef"
	for i := 15; i >= 0; i-- {
		b[i] = digits[v&0xf]
		v >>= 4
	}
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
	if isLocalhostName(host) {
		return true
	}
	// netip, not net.ParseIP: no allocation on every request. A zone
	// (fe80::1%eth0) is no loopback and matches no listening address.
	ip, err := netip.ParseAddr(host)
	isIP := err == nil && ip.Zone() == ""
	if isIP && ip.IsLoopback() {
		return true
	}
	if lh := hostOnly(listen); lh != "" && strings.EqualFold(lh, host) {
		if lip, err := netip.ParseAddr(lh); err != nil || !lip.IsUnspecified() {
			return true
		}
	}
	if local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok && isIP {
		if la, ok := local.(*net.TCPAddr); ok {
			if lip, ok := netip.AddrFromSlice(la.IP); ok && lip.Unmap() == ip.Unmap() {
				return true
			}
		}
	}
	return false
}

// isLocalhostName: localhost or a name under .localhost (RFC 6761 §6.3),
// in any case.
func isLocalhostName(host string) bool {
	const name = "localhost"
	switch {
	case len(host) == len(name):
		return strings.EqualFold(host, name)
	case len(host) > len(name):
		return host[len(host)-len(name)-1] == '.' && strings.EqualFold(host[len(host)-len(name):], name)
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
