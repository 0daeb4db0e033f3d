package occi

import "github.com/gorilla/mux"

// Routes registers OCCI's routes. OCCI accepts entities at client-chosen
// paths, so it registers a catch-all and must come after narrower routers.
//
//	/-/, /.well-known/org/ogf/occi/-/   query interface: GET, POST, DELETE (GFD.223 §6)
//	/<kind>/ (/compute/, /network/ ...) kind collection: GET, POST (create, ?action=), DELETE
//	/<mixin>/ (/templates/os/cirros/)   mixin collection: GET, POST, PUT, DELETE, POST ?action=
//	/<any>/                             unbound path: GET lists what lies below
//	/<any>                              entity: GET, POST (update, ?action=), PUT, DELETE
//
// HEAD is served wherever GET is: the same status and headers, no body.
func (s *Server) Routes(r *mux.Router) {
	r.Path("/-/").Handler(s.handleQuery())
	r.Path("/.well-known/org/ogf/occi/-/").Handler(s.handleQuery())
	r.PathPrefix("/").Handler(s.handlePath())
}
