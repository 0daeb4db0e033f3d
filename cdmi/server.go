// Package cdmi implements the CDMI 1.1.1 server (with 2.0 compatibility):
// containers, data objects, capabilities, object IDs, metadata, ACLs, queues,
// domains and exports. Values stream through a storagebackends.Objects.
//
// Three layers: Server, the HTTP handlers (parse, negotiate, render), calls
// Service, the Go API (context and plain values in, domain values and errors
// with kinds out), which alone touches the store (gorm) and the backend.
package cdmi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/internal/kind"
	"github.com/occicdmi/occicdmi/internal/web"
	"github.com/occicdmi/occicdmi/storagebackends"
)

// Config is what the CDMI server needs from its surroundings.
type Config struct {
	DB               *gorm.DB
	Objects          storagebackends.Objects
	BaseURL          string // public base URL; "" derives it from each request
	Root             string // path of the root container, e.g. "/cdmi"
	EnterpriseNumber uint32 // IANA private enterprise number inside object IDs
	Logger           *slog.Logger

	// MaxBodyValue bounds the decoded "value" of one CDMI JSON body
	// (default DefaultMaxBodyValue); larger values get 413 and belong in a
	// non-CDMI PUT, which streams without limit.
	MaxBodyValue int64
	// MaxValueSize bounds a data object's value (default
	// DefaultMaxValueSize): a write that would make it larger gets 413.
	// Disks are bounded by their volume instead.
	MaxValueSize int64
	// TempDir holds spooled CDMI body values (default os.TempDir()).
	TempDir string
	// ExclusiveValues says no other process writes values into Objects
	// (one server on its own SQLite file): the start-up sweep then removes
	// every value no row refers to at once. Otherwise it leaves values
	// younger than an hour, which may be another process's write in
	// flight.
	ExclusiveValues bool
	// ExportHook, when set, gives OCCI exports (CDMI 1.1.1 §13.6) their
	// effect. Without it, containers refuse OCCI exports with 400.
	ExportHook ExportHook
	// Disks, when set, makes the volume of every container exported to
	// OCCI a data object inside it, named DiskName, read and written in
	// place (see disk.go). Without it, exported containers have no such
	// object.
	Disks Disks
	// Principal says who a request acts for: the authenticated user, its
	// groups, whether it is an administrator (CDMI 1.1.1 §16.1.3). ACLs
	// are evaluated for it on every request (§16.1.6). Nil: every request
	// acts as Administrator() (a server without authentication).
	Principal func(*http.Request) Principal
	// Snapshots, when set with Disks, gives containers exported to OCCI
	// snapshots of their volume (clause 14, see snapshot.go).
	Snapshots Snapshots
}

// DefaultMaxBodyValue is the default bound on a CDMI JSON body's value.
const DefaultMaxBodyValue = 1 << 30

// ExportHook gives a container's OCCI exports (CDMI 1.1.1 §13.6, export
// type "OCCI/<protocol>") their effect; the linkage layer implements it
// (creating a block volume and an OCCI storage resource for the container).
// Every change comes in two phases:
//
//   - Prepare runs before the database transaction, outside it: the work
//     that takes long or reaches a backend (create the volume). It returns
//     an Undo (nil for nothing to undo), which runs when the change does not
//     commit: a later Prepare fails, a Commit fails, or the row cannot be
//     written.
//   - Commit runs inside the transaction that writes the container's row
//     (tx), for what must commit or roll back with it.
//
// Both are given the container as it will be (Container: objectID, path,
// metadata, cdmi_assignedsize) and the export. Export runs when an OCCI
// export is set on a create or an update; Unexport when one is removed (set
// to null in an update) or its container deleted. Errors keep their kinds
// (wrap with %w): an unavailable backend answers 503; an error without a
// kind refuses the change with 400 (409 on a delete).
//
// OCCIProtocols names the protocols after "OCCI/" that the hook serves end
// to end ("NBD", "RBD"): only these are accepted and advertised
// (cdmi_export_occi_<protocol>, §13.2.1.1).
type ExportHook interface {
	OCCIProtocols() []string
	PrepareExport(ctx context.Context, c Container, e OCCIExport) (Undo, error)
	CommitExport(ctx context.Context, tx *gorm.DB, c Container, e OCCIExport) error
	PrepareUnexport(ctx context.Context, c Container, e OCCIExport) (Undo, error)
	CommitUnexport(ctx context.Context, tx *gorm.DB, c Container, e OCCIExport) error
}

// ExportLocator is what an ExportHook may also do: name the OCCI entity
// a container's OCCI export is (a path on the server, e.g. /storage/<id>;
// "" when none), so that reads show where the OCCI side of the object is
// (the export's "location", beside §13.6's identifier and permissions);
// and, for an export whose client gave no permissions list (ownership
// decides who attaches), the computes attached now (paths; shown is
// false when the export has its own list, which is rendered as given).
type ExportLocator interface {
	OCCILocation(ctx context.Context, containerID string) (string, error)
	OCCIAttached(ctx context.Context, containerID string) (computes []string, shown bool, err error)
}

// Undo reverses what a Prepare did. It runs with a context the request's
// end does not cancel; its error is logged.
type Undo func(ctx context.Context) error

// Server serves CDMI over HTTP: its handlers parse a request, call the
// Service and render what it returns.
type Server struct {
	svc  *Service
	cfg  Config
	log  *slog.Logger
	root string // cfg.Root without a trailing slash

	// principalOf says who a request acts for: cfg.Principal, or
	// requestPrincipal without one (tests put a stand-in here).
	principalOf func(*http.Request) Principal
}

// New prepares a CDMI server over a new Service (see NewService).
func New(ctx context.Context, cfg Config) (*Server, error) {
	svc, err := NewService(ctx, cfg)
	if err != nil {
		return nil, err
	}
	who := cfg.Principal
	if who == nil {
		who = requestPrincipal
	}
	return &Server{svc: svc, cfg: svc.cfg, log: svc.log, root: svc.root, principalOf: who}, nil
}

// Service is the CDMI service the server's handlers call.
func (s *Server) Service() *Service { return s.svc }

// Versions of CDMI this server speaks, lowest first (§5.13; 1.0.x and 1.1
// clients are served the 1.1.1 protocol, which is compatible for them).
var versions = []string{"1.0.1", "1.0.2", "1.1", "1.1.1"}

// negotiate picks the highest version in the client's
// X-CDMI-Specification-Version list that the server speaks. An absent header
// is a CDMI 2.x client (CDMI 2.0 §"overview": 2.x clients send none).
func negotiate(h http.Header) (version string, ok bool) {
	vals := h.Values("X-CDMI-Specification-Version")
	if len(vals) == 0 {
		return "", true
	}
	best := -1
	for _, v := range vals {
		for _, item := range strings.Split(v, ",") {
			item = strings.TrimSpace(item)
			for i, sv := range versions {
				if item == sv && i > best {
					best = i
				}
			}
		}
	}
	if best < 0 {
		return "", false
	}
	return versions[best], true
}

// invalidf is an error of kind Invalid (a 400): the request is malformed
// or its values are out of range.
func invalidf(format string, a ...any) error { return kind.Errorf(kind.Invalid, format, a...) }

// statusClientClosed is the status recorded for a request whose
// client closed the connection before the answer (nginx's 499): a client
// failure for access logs and metrics, never sent to anyone.
const statusClientClosed = 499

// clientGone tells whether the request's client has closed its connection
// (net/http cancels the request's context then) or the request was
// cancelled on its behalf.
func clientGone(r *http.Request) bool {
	return errors.Is(r.Context().Err(), context.Canceled)
}

// fail writes an error response: a short JSON body naming the problem.
// Kinds give the status (web.Status); an error without one is a bug,
// logged and answered "internal error (request <id>)". Two failures of the
// request itself have no kind: a client gone away (nothing is written) and
// a body that ended early (400).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if clientGone(r) {
		// The client closed its connection mid-request: whatever failed
		// failed because of that (a body cut short, a cancelled query or
		// backend call). It is no server error and no one reads the answer.
		s.log.InfoContext(r.Context(), "cdmi: client went away", "request_id", web.RequestID(r.Context()),
			"method", r.Method, "path", r.URL.EscapedPath(), "err", err)
		w.WriteHeader(statusClientClosed)
		return
	}
	if web.Status(err) == http.StatusInternalServerError {
		switch {
		case errors.Is(err, context.Canceled):
			return
		case errors.Is(err, io.ErrUnexpectedEOF):
			err = kind.Wrap(kind.Invalid, err, "the request body ended early")
		}
	}
	// web.Answer logs internal errors, and 503s rate-limited.
	status, msg := web.Answer(w, r, s.log, err)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Del("Content-Length")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
