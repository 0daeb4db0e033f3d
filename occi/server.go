// Package occi implements the OCCI 1.2 server (with 1.1 compatibility): the
// core and infrastructure model, the renderings, the service logic and the
// HTTP handlers.
package occi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/computebackends"
	"github.com/occicdmi/occicdmi/storagebackends"
)

// Config is what the OCCI server needs from its surroundings.
type Config struct {
	DB        *gorm.DB
	Compute   computebackends.Backend
	Volumes   storagebackends.Volumes // block volumes behind OCCI storage; nil when none is configured
	BaseURL   string                  // public base URL for absolute locations; "" derives it from each request
	Catalogue string                  // path of the template catalogue file; "" uses the built-in default
	Logger    *slog.Logger
	// Storage, when set, resolves OCCI storage to volumes it owns (the
	// CDMI linkage); nil leaves every volume to OCCI.
	Storage StorageHook
}

// Server serves OCCI.
type Server struct {
	cfg Config
	reg *registry
	st  store
	log *slog.Logger
}

// New prepares an OCCI server: it reads the template catalogue and builds
// the registry of provider categories.
func New(_ context.Context, cfg Config) (*Server, error) {
	if cfg.DB == nil {
		return nil, fmt.Errorf("occi: a database is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cat, err := LoadCatalogue(cfg.Catalogue)
	if err != nil {
		return nil, err
	}
	cats := standard()
	kinds := map[string]*Category{}
	for _, c := range cats {
		kinds[c.ID()] = c
	}
	cats = append(cats, cat.categories(kinds)...)
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	return &Server{cfg: cfg, reg: newRegistry(cats), log: cfg.Logger}, nil
}

// baseURL is the scheme and authority locations are made absolute with:
// the configured base URL, else the request's own (X-Forwarded-Proto is
// honoured behind a TLS-terminating proxy).
func (s *Server) baseURL(r *http.Request) string {
	if s.cfg.BaseURL != "" {
		return s.cfg.BaseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := strings.ToLower(strings.TrimSpace(strings.Split(r.Header.Get("X-Forwarded-Proto"), ",")[0])); p == "http" || p == "https" {
		scheme = p
	}
	return scheme + "://" + r.Host
}
