// Package occi implements the OCCI 1.2 server (with 1.1 compatibility): the
// core and infrastructure model, the renderings, the service (a Go API,
// see Service) and the HTTP handlers over it (see Server).
package occi

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/computebackends"
	"github.com/occicdmi/occicdmi/internal/web"
)

// Config is what OCCI needs from its surroundings.
type Config struct {
	DB      *gorm.DB
	Compute computebackends.Backend
	Volumes Volumes // the volumes behind OCCI storage; nil when none is configured
	BaseURL string  // public base URL for absolute locations; "" derives it from each request
	// Catalogue is the path of the template catalogue file; "" uses the
	// built-in default.
	Catalogue string
	// Categories are more provider mixins, beside the standard ones and
	// the catalogue's (the linkage's, which names a storage's CDMI
	// container).
	Categories []*Category
	// Quotas limit what each project's entities use (none: no limits).
	Quotas Quotas
	Logger *slog.Logger
	// Reserved are path prefixes other routers on the same mux own (the
	// CDMI root): no entity and no mixin is located at or below one
	// (409), so that what OCCI creates stays reachable through OCCI.
	Reserved []string
	// SoleWriter says this process is meant to be the only one that
	// writes DB: the app sets it when it holds the lock of its SQLite
	// file, and never on PostgreSQL, where other servers share the
	// database. Then (and only on SQLite) what GETs and listings read is
	// kept in memory and invalidated by this process's own writes
	// (entityCache), and so is the simulated backend's machine status: a
	// writer this process does not see would go unnoticed. Other servers
	// on the same file are seen (database.Watch: nothing is served from
	// memory while another handle is open or since one opened). Off,
	// every read goes to the database.
	SoleWriter bool
}

// Server serves OCCI over HTTP: it parses and negotiates, calls its
// Service, and renders.
type Server struct {
	cfg Config
	svc *Service
	log *slog.Logger
}

// New prepares an OCCI server and its service (see NewService).
func New(ctx context.Context, cfg Config) (*Server, error) {
	svc, err := NewService(ctx, cfg)
	if err != nil {
		return nil, err
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	return &Server{cfg: cfg, svc: svc, log: svc.log}, nil
}

// Service is the Go API the server's handlers call.
func (s *Server) Service() *Service { return s.svc }

// baseURL is the scheme and authority locations are made absolute with.
func (s *Server) baseURL(r *http.Request) string { return web.BaseURL(r, s.cfg.BaseURL) }
