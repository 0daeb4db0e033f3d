package app

import (
	"context"
	"net/http"
	"testing"

	"github.com/gorilla/mux"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The app's routes compile into the table, and the table picks the route
// gorilla picks for every method on paths of every class, encoded names
// included.
func TestRouteTableAgreesWithGorilla(t *testing.T) {
	cfg := Defaults()
	cfg.DataDir = t.TempDir()
	a, err := New(context.Background(), cfg, quiet)
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	table, ok := a.router.(*routeTable)
	require.True(t, ok, "the app's routes compile")
	paths := []string{"/", "/-/", "/.well-known/org/ogf/occi/-/", "/compute/", "/compute/vm1", "/metrics", "/metrics/x",
		"/healthz", "/readyz", "/readyz/", "/cdmi", "/cdmi/", "/cdmix", "/cdmi/cdmi_capabilities/", "/cdmi/cdmi_capabilities/container/",
		"/cdmi/cdmi_domains/", "/cdmi/cdmi_domains/a/", "/cdmi/cdmi_objectid/", "/cdmi/cdmi_objectid/0001", "/cdmi/a/b%2Fc",
		"/cdmi/a%20b/", "/cdmi//x", "/a/../b"}
	for _, p := range paths {
		for _, m := range []string{"GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS", "BREW", "get"} {
			req, err := http.NewRequest(m, "http://127.0.0.1"+p, nil)
			require.NoError(t, err)
			var match mux.RouteMatch
			matched := table.router.Match(req, &match) && match.MatchErr == nil
			got := table.lookup(req.Method, req.URL.EscapedPath())
			require.Equal(t, matched, got != nil, "%s %s", m, p)
			if matched {
				assert.Same(t, match.Route, got.route, "%s %s", m, p)
			}
		}
	}
}

// A route the table cannot decide leaves the router as it is.
func TestRouteTableRefusesWhatItCannotDecide(t *testing.T) {
	for name, add := range map[string]func(r *mux.Router){
		"variable": func(r *mux.Router) { r.Path("/x/{id}").Handler(http.NotFoundHandler()) },
		"header":   func(r *mux.Router) { r.Path("/x").Headers("X-A", "b").Handler(http.NotFoundHandler()) },
		"query":    func(r *mux.Router) { r.Path("/x").Queries("a", "b").Handler(http.NotFoundHandler()) },
		"host":     func(r *mux.Router) { r.Host("example.org").Path("/x").Handler(http.NotFoundHandler()) },
	} {
		r := mux.NewRouter()
		r.UseEncodedPath()
		add(r)
		r.PathPrefix("/").Handler(http.NotFoundHandler())
		assert.Nil(t, compileRoutes(r), name)
	}
	r := mux.NewRouter()
	r.Path("/x").Methods("GET").Handler(http.NotFoundHandler())
	r.PathPrefix("/").Handler(http.NotFoundHandler())
	assert.NotNil(t, compileRoutes(r))
}
