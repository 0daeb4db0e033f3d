package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/occicdmi/occicdmi/internal/auth"
	"github.com/occicdmi/occicdmi/internal/metrics"
	"github.com/occicdmi/occicdmi/internal/web"
	"github.com/occicdmi/occicdmi/occi"
)

// front is everything a request of a listener passes before the router, in
// this order: its request ID (X-Request-ID, in the context for the log),
// metrics and the access log line, the Server header; then the guard (Host,
// Origin, upload cap, minimum body rate), panic recovery, the probes that
// need no credentials, authentication and the OCCI caller.
//
// It is one handler rather than a chain of them so that a request costs
// one allocation of per-request state (exchange), one copy of the request
// (the handler's) and no closures: every OCCI GET and CDMI read pays this
// before its handler starts (BenchmarkMiddleware).
type front struct {
	ops    *ops
	guard  *guard         // nil: no Host, Origin or upload checks (the ops listener)
	authn  *authenticator // nil: no probes before it, no authentication (the ops listener)
	next   http.Handler
	log    *slog.Logger
	server []string // the Server header, shared by every answer (net/http only reads it)
}

// exchange is a request's state in front: what the metrics and the access
// line need of it when it ends.
type exchange struct {
	rec  recorder
	body countingBody
	id   [1]string // the X-Request-ID header's value, without a slice of its own
}

// RequestID is the request's ID (web.RequestIDHolder).
func (x *exchange) RequestID() string { return x.id[0] }

// headerRequestID is web.RequestIDHeader as net/http stores it.
var headerRequestID = http.CanonicalHeaderKey(web.RequestIDHeader)

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	x := &exchange{}
	x.id[0] = web.RequestIDFor(r)
	h := w.Header()
	h[headerRequestID] = x.id[:]
	path := r.URL.EscapedPath()
	series := f.ops.series(r, path)
	series.InFlight.Inc()
	defer series.InFlight.Dec()
	// r itself is only read until the handler's copy is made, once, with
	// every value of the context and the body's wrappers.
	ctx := web.ContextWithRequestIDHolder(r.Context(), x)
	var body io.ReadCloser // r.Body as the handler gets it; nil: as it is
	if r.Body != nil && r.Body != http.NoBody {
		x.body.ReadCloser = r.Body
		body = &x.body
	}
	x.rec.ResponseWriter = w
	defer f.ops.finish(ctx, x, r, path, series, start)
	if f.server != nil {
		h["Server"] = f.server
	}
	if f.guard == nil {
		f.serve(&x.rec, r, ctx, body, path)
		return
	}
	gw, slot, rb, ok := f.guard.admit(&x.rec, r, body)
	if !ok {
		return
	}
	if slot {
		defer f.guard.release()
	}
	if rb != nil {
		body = rb
	}
	f.serve(gw, r, ctx, body, path)
	if rb != nil {
		rb.drained()
	}
}

// serve is the part of front a panic is recovered in (a 500 and a log line
// instead of a dropped connection).
func (f *front) serve(w http.ResponseWriter, r *http.Request, ctx context.Context, body io.ReadCloser, path string) {
	defer f.recoverPanic(w, r, ctx)
	if f.authn == nil {
		f.next.ServeHTTP(w, withContext(r, ctx, body))
		return
	}
	if f.ops.isProbe(r, path) {
		f.ops.answerProbe(w, withContext(r, ctx, body), path)
		return
	}
	p, ok := f.authn.authenticate(w, r, ctx)
	if !ok {
		return
	}
	// occi's caller for every request: OCCI's, and CDMI's too, whose
	// exports make OCCI storage through the linkage in the caller's project.
	ctx = occi.WithCaller(auth.WithPrincipal(ctx, p), occiCaller(p))
	f.next.ServeHTTP(w, withContext(r, ctx, body))
}

// withContext is the handler's copy of r: with ctx, and body when not nil.
func withContext(r *http.Request, ctx context.Context, body io.ReadCloser) *http.Request {
	r = r.WithContext(ctx)
	if body != nil {
		r.Body = body
	}
	return r
}

// recoverPanic answers a handler's panic with a logged 500. A 500 is a bug;
// the log says where.
func (f *front) recoverPanic(w http.ResponseWriter, r *http.Request, ctx context.Context) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler {
		panic(v)
	}
	id := web.RequestID(ctx)
	f.log.Error("panic in handler", "request_id", id, "method", r.Method, "path", r.URL.Path, "panic", v)
	http.Error(w, "internal error (request "+id+")", http.StatusInternalServerError)
}

// statusClientGone is what a request whose client went away before any
// answer is recorded as (nginx's 499, as cdmi records it).
const statusClientGone = 499

// finish counts a request in the metrics and writes its access log line
// (INFO, a 499 included: a client going away is no server error).
func (o *ops) finish(ctx context.Context, x *exchange, r *http.Request, path string, series *metrics.Series, start time.Time) {
	status := x.rec.status
	if status == 0 {
		status = http.StatusOK
		if ctx.Err() != nil {
			status = statusClientGone
		}
	}
	end := time.Now()
	d := end.Sub(start)
	series.Observe(status, d, x.body.n, x.rec.bytes)
	access := o.access
	if access == nil { // an ops made without instrument (tests)
		access = unwrapRequestIDs(o.log)
	}
	if !access.Enabled(ctx, slog.LevelInfo) {
		return
	}
	// The record made here rather than by Logger.LogAttrs: no stack walk
	// for a source nobody asked for, and the line goes to the handler
	// under the request-ID one (it names its request_id itself).
	line := slog.NewRecord(end, slog.LevelInfo, "request", 0)
	line.AddAttrs(slog.String("method", r.Method), slog.String("path", path),
		slog.Int("status", status), slog.Int64("bytes", x.rec.bytes), slog.Int64("bytes_in", x.body.n),
		slog.Duration("duration", d), slog.String("request_id", x.id[0]),
		slog.String("protocol", series.Protocol()), slog.String("remote", r.RemoteAddr))
	_ = access.Handle(ctx, line)
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
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok && !bigCopy(r) {
		n, err = rf.ReadFrom(r)
	} else {
		// A big value the kernel cannot send itself (from S3, through a
		// seeker) goes in big reads and writes: net/http's own copy
		// (32 KiB) costs a read and a write system call, and often a wait
		// for the source, per 32 KiB. Measured on 256 MiB through the
		// server: 11 to 14% less CPU from S3, up to 20% from fs.
		buf := copyBuffers.Get().(*[]byte)
		n, err = io.CopyBuffer(writerOnly{w.ResponseWriter}, r, *buf)
		copyBuffers.Put(buf)
	}
	w.bytes += n
	return n, err
}

// bigCopy tells whether ReadFrom copies r itself: a known length of at
// least copyBufferSize (http.ServeContent passes an io.LimitedReader) from
// what net/http cannot hand to the kernel (sendfile takes a file, or
// anything with a file descriptor: syscall.Conn). Small answers and
// streams of unknown length keep net/http's copy, and so no buffer of
// copyBufferSize each.
func bigCopy(r io.Reader) bool {
	lr, ok := r.(*io.LimitedReader)
	if !ok || lr.N < copyBufferSize {
		return false
	}
	_, fd := lr.R.(syscall.Conn)
	return !fd
}

const copyBufferSize = 1 << 20

// copyBuffers are ReadFrom's buffers of big copies.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, copyBufferSize); return &b }}

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

// observe is front without guard or authentication around next: request
// IDs, metrics and the access log (tests; the ops listener uses front).
func (o *ops) observe(next http.Handler) http.Handler {
	return &front{ops: o, next: next, log: o.log}
}

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

// unwrapRequestIDs is the handler under log's request-ID one.
func unwrapRequestIDs(log *slog.Logger) slog.Handler {
	if h, ok := log.Handler().(requestIDHandler); ok {
		return h.Handler
	}
	return log.Handler()
}

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id, ok := web.RequestIDFrom(ctx); ok {
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
