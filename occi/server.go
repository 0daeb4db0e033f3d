// Package occi implements the OCCI 1.2 server (with 1.1 compatibility): the
// core and infrastructure model, the renderings, the service logic and the
// HTTP handlers.
package occi

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gorilla/mux"
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
}

// Server serves OCCI.
type Server struct {
	cfg Config
}

// New prepares an OCCI server.
func New(_ context.Context, cfg Config) (*Server, error) {
	return &Server{cfg: cfg}, nil
}

// Routes registers OCCI's routes. OCCI accepts entities at client-chosen
// paths, so it registers a catch-all and must come after narrower routers.
func (s *Server) Routes(r *mux.Router) {
	r.PathPrefix("/").Handler(http.NotFoundHandler())
}
