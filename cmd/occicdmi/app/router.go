package app

import (
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/gorilla/mux"
)

// routeTable dispatches as the gorilla router it was compiled from, without
// its per-request price: gorilla runs a regular expression per route tried
// (a CDMI object tries nine), allocates a map for path variables and copies
// the request twice to put the variables and the route in its context.
// Both protocols register literal paths and prefixes with methods (no
// variables; nothing asks mux.Vars or mux.CurrentRoute), which string
// comparisons decide in the same order. The table is only used when every
// route is of that kind and a request built for each route lands on the
// same route in both (compileRoutes); else the router serves as it is.
type routeTable struct {
	routes []tableRoute
	router *mux.Router // for what the table does not match: gorilla's 404 and 405
}

type tableRoute struct {
	path    string
	prefix  bool     // PathPrefix rather than Path
	methods []string // nil: any method
	route   *mux.Route
	handler http.Handler
}

// compileRoutes is r as a routeTable, or nil when a route is beyond what the
// table can decide (a variable, a host, a query or another matcher).
func compileRoutes(r *mux.Router) *routeTable {
	t := &routeTable{router: r}
	ok := true
	_ = r.Walk(func(route *mux.Route, _ *mux.Router, ancestors []*mux.Route) error {
		tr, fine := tableRouteOf(route)
		if !fine || len(ancestors) > 0 {
			ok = false
			return nil
		}
		t.routes = append(t.routes, tr)
		return nil
	})
	if !ok || !t.agrees() {
		return nil
	}
	return t
}

func tableRouteOf(route *mux.Route) (tableRoute, bool) {
	tpl, err := route.GetPathTemplate()
	if err != nil || strings.ContainsAny(tpl, "{}") || route.GetHandler() == nil {
		return tableRoute{}, false
	}
	if _, err := route.GetHostTemplate(); err == nil {
		return tableRoute{}, false
	}
	if q, err := route.GetQueriesTemplates(); err == nil && len(q) > 0 {
		return tableRoute{}, false
	}
	re, err := route.GetPathRegexp()
	if err != nil {
		return tableRoute{}, false
	}
	tr := tableRoute{path: tpl, route: route, handler: route.GetHandler()}
	switch re {
	case "^" + regexp.QuoteMeta(tpl) + "$":
	case "^" + regexp.QuoteMeta(tpl):
		tr.prefix = true
	default:
		return tableRoute{}, false
	}
	if methods, err := route.GetMethods(); err == nil {
		tr.methods = methods
	}
	return tr, true
}

// agrees checks the table against gorilla on a request made for each route
// and method (and a method none names): a matcher the table cannot see
// (headers, schemes, a custom func) shows as a disagreement.
func (t *routeTable) agrees() bool {
	for _, tr := range t.routes {
		paths := []string{tr.path}
		if tr.prefix {
			paths = append(paths, tr.path+"x/y")
		}
		for _, p := range paths {
			for _, m := range append([]string{"BREW"}, tr.methods...) {
				req, err := http.NewRequest(m, "http://127.0.0.1"+p, nil)
				if err != nil {
					return false
				}
				var match mux.RouteMatch
				gorilla := t.router.Match(req, &match) && match.MatchErr == nil
				mine := t.lookup(req.Method, req.URL.EscapedPath())
				if gorilla != (mine != nil) || (mine != nil && mine.route != match.Route) {
					return false
				}
			}
		}
	}
	return true
}

// lookup is the first route matching path and method, as gorilla tries
// them (a route whose path matches but not its method is passed over).
func (t *routeTable) lookup(method, path string) *tableRoute {
	for i := range t.routes {
		tr := &t.routes[i]
		if tr.prefix && !strings.HasPrefix(path, tr.path) || !tr.prefix && path != tr.path {
			continue
		}
		if tr.methods == nil || slices.Contains(tr.methods, method) {
			return tr
		}
	}
	return nil
}

// handler is what serves r: the route's handler, or the router itself
// (405 or 404) when no route matches.
func (t *routeTable) handler(r *http.Request) http.Handler {
	if tr := t.lookup(r.Method, r.URL.EscapedPath()); tr != nil {
		return tr.handler
	}
	return t.router
}

func (t *routeTable) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t.handler(r).ServeHTTP(w, r)
}
