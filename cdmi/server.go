// Package cdmi implements the CDMI 1.1.1 server (with 2.0 compatibility):
// containers, data objects, capabilities, object IDs, metadata, ACLs, queues,
// domains and exports. Values stream through a storagebackends.Objects.
package cdmi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
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
	// TempDir holds spooled CDMI body values (default os.TempDir()).
	TempDir string
	// ExportHook, when set, gives OCCI exports (CDMI 1.1.1 §13.6) their
	// effect. Without it, containers refuse OCCI exports with 400.
	ExportHook ExportHook
}

// DefaultMaxBodyValue is the default bound on a CDMI JSON body's value.
const DefaultMaxBodyValue = 1 << 30

// ExportHook is how the linkage layer turns a container's OCCI export into
// an OCCI storage resource. Export runs inside the transaction that creates
// or updates the container: an error aborts the change (and is shown to the
// client as a 400 with its message).
//
// Unexport runs, in the same way, when an OCCI export is removed (set to
// null in an update) or its container is deleted; an error keeps the
// container and its export as they were (409 on delete).
type ExportHook interface {
	Export(ctx context.Context, tx *gorm.DB, containerID string, export OCCIExport) error
	Unexport(ctx context.Context, tx *gorm.DB, containerID, protocol string) error
}

// Server serves CDMI.
type Server struct {
	cfg  Config
	db   *gorm.DB
	objs storagebackends.Objects
	log  *slog.Logger
	root string // cfg.Root without a trailing slash

	// principalOf says who a request acts for; requestPrincipal until
	// authentication exists (tests put a stand-in here).
	principalOf func(*http.Request) principal

	rootID, capsID, domainsID, defaultDomainID string
	capIDs                                     map[string]string // by object type
}

// New prepares a CDMI server: it creates the root container, the
// capability objects and the default domain when missing, and sweeps values
// left behind by a crash.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.DB == nil || cfg.Objects == nil {
		return nil, errors.New("cdmi: DB and Objects are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if cfg.MaxBodyValue <= 0 {
		cfg.MaxBodyValue = DefaultMaxBodyValue
	}
	if cfg.TempDir == "" {
		cfg.TempDir = os.TempDir()
	}
	if cfg.EnterpriseNumber > 0xFFFFFF {
		return nil, fmt.Errorf("cdmi: enterprise number %d does not fit 3 bytes", cfg.EnterpriseNumber)
	}
	root := strings.TrimRight(cfg.Root, "/")
	if root != "" && !strings.HasPrefix(root, "/") {
		return nil, fmt.Errorf("cdmi: root %q must start with /", cfg.Root)
	}
	s := &Server{cfg: cfg, db: cfg.DB, objs: cfg.Objects, log: cfg.Logger, root: root, principalOf: requestPrincipal}
	if err := s.ensureSystem(ctx); err != nil {
		return nil, fmt.Errorf("cdmi: %w", err)
	}
	if n, err := s.sweep(ctx); err != nil {
		s.log.Warn("cdmi: sweep of unreferenced values failed", "err", err)
	} else if n > 0 {
		s.log.Info("cdmi: swept unreferenced values", "count", n)
	}
	return s, nil
}

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

// fail writes an error response: a short JSON body naming the problem.
// Kinds give the status (web.Status); an error without one is a bug,
// logged and answered "internal error (request <id>)". Two failures of the
// request itself have no kind: a client gone away (nothing is written) and
// a body that ended early (400).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if web.Status(err) == http.StatusInternalServerError {
		switch {
		case errors.Is(err, context.Canceled):
			return
		case errors.Is(err, io.ErrUnexpectedEOF):
			err = kind.Wrap(kind.Invalid, err, "the request body ended early")
		}
	}
	status, msg := web.Answer(w, r, s.log, err)
	if status > http.StatusInternalServerError {
		s.log.Warn("cdmi: request failed", "method", r.Method, "path", r.URL.EscapedPath(), "status", status, "err", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Del("Content-Length")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
