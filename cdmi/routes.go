package cdmi

import (
	"net/http"

	"github.com/gorilla/mux"
	"github.com/occicdmi/occicdmi/internal/web"
)

// Routes registers CDMI's routes under the root (default /cdmi). Paths are
// matched raw (the router uses UseEncodedPath and SkipClean); handlers
// decode names themselves, one segment at a time (paths.go).
//
//	GET     /cdmi                          301 to /cdmi/
//	GET     /cdmi/cdmi_capabilities/...    capability objects (§12)
//	GET     /cdmi/cdmi_domains/...         domain objects (§10); PUT, DELETE a domain (§10.2,
//	                                       §10.4, §10.5) and its member records (§10.1.3)
//	POST    /cdmi/cdmi_objectid/           create an object reachable by ID only (§9.6)
//	*       /cdmi/cdmi_objectid/<ID>[/..]  any object by ID (§5.10), children below containers
//	GET     /cdmi/<path>                   read a container, data object or queue (§8.4, §9.4, §11.4)
//	PUT     /cdmi/<path>                   create or update (§8.2, §8.5, §9.2, §9.5, §11.2); non-CDMI PUT of a value
//	PATCH   /cdmi/<path>                   CDMI 2.0 update
//	POST    /cdmi/<container>/             create a child named by its ID (§9.6); POST to a queue enqueues (§11.6)
//	DELETE  /cdmi/<path>                   delete (§8.6, §9.7); a queue with ?values:<n> dequeues (§11.7)
func (s *Server) Routes(r *mux.Router) {
	root := s.root
	r.Path(root).Methods(http.MethodGet, http.MethodHead).Handler(s.serve(s.redirectRoot))

	readOnly := []string{http.MethodGet, http.MethodHead}
	r.PathPrefix(root + "/cdmi_capabilities/").Methods(readOnly...).Handler(s.serve(s.handleGet))
	r.PathPrefix(root + "/cdmi_capabilities/").Handler(s.serve(s.readOnly))
	r.PathPrefix(root + "/cdmi_domains/").Methods(readOnly...).Handler(s.serve(s.handleGet))
	r.PathPrefix(root + "/cdmi_domains/").Methods(http.MethodPut).Handler(s.serve(s.handleDomainPut))
	r.PathPrefix(root + "/cdmi_domains/").Methods(http.MethodDelete).Handler(s.serve(s.handleDelete))
	r.PathPrefix(root + "/cdmi_domains/").Methods(http.MethodPost).Handler(s.serve(s.handlePost))
	r.PathPrefix(root + "/cdmi_domains/").Handler(s.serve(s.methodNotAllowed))

	r.Path(root + "/cdmi_objectid/").Methods(http.MethodPost).Handler(s.serve(s.handlePost))

	r.PathPrefix(root+"/").Methods(http.MethodGet, http.MethodHead).Handler(s.serve(s.handleGet))
	r.PathPrefix(root + "/").Methods(http.MethodPut).Handler(s.serve(s.handlePut))
	r.PathPrefix(root + "/").Methods(http.MethodPatch).Handler(s.serve(s.handlePatch))
	r.PathPrefix(root + "/").Methods(http.MethodPost).Handler(s.serve(s.handlePost))
	r.PathPrefix(root + "/").Methods(http.MethodDelete).Handler(s.serve(s.handleDelete))
	r.PathPrefix(root + "/").Handler(s.serve(s.methodNotAllowed))
}

func (s *Server) redirectRoot(c *call) error {
	c.w.Header().Set("Location", web.BaseURL(c.r, s.cfg.BaseURL)+s.root+"/")
	c.w.WriteHeader(http.StatusMovedPermanently)
	return nil
}

func (s *Server) readOnly(c *call) error {
	c.w.Header().Set("Allow", "GET, HEAD")
	return web.Errorf(http.StatusMethodNotAllowed, "capability objects are read-only")
}

func (s *Server) methodNotAllowed(c *call) error {
	c.w.Header().Set("Allow", "GET, HEAD, PUT, PATCH, POST, DELETE")
	return web.Errorf(http.StatusMethodNotAllowed, "%s is not a CDMI operation", c.r.Method)
}
