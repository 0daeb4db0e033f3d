package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/internal/auth"
	"github.com/occicdmi/occicdmi/internal/testsupport"
	"github.com/occicdmi/occicdmi/occi"
)

// Tenants in OCCI (issue 10 item 3), over HTTP through the real
// authentication middleware (HTTP Basic): "red" and "blue" are two
// projects' members, "root" has the admin role. On PostgreSQL with
// OCCICDMI_TEST_DB=postgres.

const (
	kindCompute     = `Category: compute; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="kind"`
	kindNetwork     = `Category: network; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="kind"`
	kindStorage     = `Category: storage; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="kind"`
	kindStorageLink = `Category: storagelink; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="kind"`
	osCirros        = `Category: cirros; scheme="` + occi.SchemeOSTemplate + `"; class="mixin"`
	tplMedium       = `Category: medium; scheme="` + occi.SchemeResourceTplate + `"; class="mixin"`
	redTag          = `Category: redtag; scheme="http://red.example/tags#"; class="mixin"; location="/mixins/redtag/"`
	blueTag         = `Category: bluetag; scheme="http://blue.example/tags#"; class="mixin"; location="/mixins/bluetag/"`
)

type tenantRig struct {
	t   *testing.T
	url string
}

// tenantServer runs the whole server with a users file of red (project
// "red"), blue (project "blue") and root (project "ops", role admin), on
// the database the tests run on.
func tenantServer(t *testing.T, mod func(*Config)) *tenantRig {
	t.Helper()
	users := filepath.Join(t.TempDir(), "users")
	require.NoError(t, auth.AddUser(users, "red", "pw-red", []string{"red"}, []string{"member"}))
	require.NoError(t, auth.AddUser(users, "blue", "pw-blue", []string{"blue"}, []string{"member"}))
	require.NoError(t, auth.AddUser(users, "root", "pw-root", []string{"ops"}, []string{auth.DefaultAdminRole}))
	cfg := Defaults()
	cfg.UsersFile = users
	cfg.DataDir = t.TempDir()
	if os.Getenv(testsupport.DatabaseEnv) == "postgres" {
		cfg.Database = testsupport.FreshPostgresDatabase(t, testsupport.Need(t, "PostgreSQL", testsupport.PostgresEnv))
	}
	if mod != nil {
		mod(&cfg)
	}
	a, err := New(t.Context(), cfg, quiet)
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(srv.Close)
	return &tenantRig{t: t, url: srv.URL}
}

// do sends an OCCI text/plain request as user; headers are "Name: value".
func (r *tenantRig) do(user, method, path, body string, headers ...string) reply {
	r.t.Helper()
	req, err := http.NewRequest(method, r.url+path, strings.NewReader(body))
	require.NoError(r.t, err)
	req.SetBasicAuth(user, "pw-"+user)
	if body != "" {
		req.Header.Set("Content-Type", "text/plain")
	}
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ": ")
		req.Header.Set(name, value)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(r.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(r.t, err)
	return reply{resp.StatusCode, resp.Header, string(b)}
}

// create posts a rendering as user and answers the new entity's path.
func (r *tenantRig) create(user, collection, body string) string {
	r.t.Helper()
	got := r.do(user, "POST", collection, body)
	require.Equal(r.t, http.StatusCreated, got.status, got.body)
	return strings.TrimPrefix(got.header.Get("Location"), r.url)
}

// list answers the locations (paths) of a listing as user.
func (r *tenantRig) list(user, path string, headers ...string) []string {
	r.t.Helper()
	got := r.do(user, "GET", path, "", append([]string{"Accept: text/uri-list"}, headers...)...)
	require.Equal(r.t, http.StatusOK, got.status, got.body)
	var out []string
	for _, l := range strings.Split(got.body, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, strings.TrimPrefix(l, r.url))
		}
	}
	return out
}

// status is the status of a request as user.
func (r *tenantRig) status(user, method, path, body string, headers ...string) int {
	r.t.Helper()
	return r.do(user, method, path, body, headers...).status
}

// redWorld is what red has: a compute (cirros, member of red's user mixin
// redtag), a network, a storage, a storagelink from the compute to the
// storage, and a network at a location red chose.
type redWorld struct{ compute, network, storage, link, put string }

func (r *tenantRig) redWorld() redWorld {
	r.t.Helper()
	var w redWorld
	w.compute = r.create("red", "/compute/", kindCompute+"\n"+osCirros+"\nX-OCCI-Attribute: occi.core.title=\"red-vm\"")
	w.network = r.create("red", "/network/", kindNetwork+"\nX-OCCI-Attribute: occi.core.title=\"red-net\"")
	w.storage = r.create("red", "/storage/", kindStorage+"\nX-OCCI-Attribute: occi.storage.size=1")
	w.link = r.create("red", "/storagelink/", kindStorageLink+
		"\nX-OCCI-Attribute: occi.core.source=\""+w.compute+"\"\nX-OCCI-Attribute: occi.core.target=\""+w.storage+"\"")
	w.put = "/red-area/net"
	got := r.do("red", "PUT", w.put, kindNetwork)
	require.Equal(r.t, http.StatusCreated, got.status, got.body)
	got = r.do("red", "POST", "/-/", redTag)
	require.Equal(r.t, http.StatusOK, got.status, got.body)
	got = r.do("red", "POST", "/mixins/redtag/", "X-OCCI-Location: "+r.url+w.compute)
	require.Equal(r.t, http.StatusOK, got.status, got.body)
	return w
}

func (w redWorld) all() []string { return []string{w.compute, w.network, w.storage, w.link, w.put} }

// redIntact checks, as red, that blue changed nothing of red's.
func (r *tenantRig) redIntact(w redWorld) {
	r.t.Helper()
	for _, loc := range w.all() {
		assert.Equal(r.t, http.StatusOK, r.status("red", "GET", loc, ""), "red's %s is still there", loc)
	}
	vm := r.do("red", "GET", w.compute, "")
	assert.Contains(r.t, vm.body, `occi.core.title="red-vm"`)
	assert.Contains(r.t, vm.body, `occi.compute.state="inactive"`)
	assert.Contains(r.t, vm.body, "Category: redtag;")
	assert.Contains(r.t, vm.body, "Category: cirros;")
	assert.Contains(r.t, vm.body, "Link: <"+r.url+w.storage+">", "the storagelink stays")
	assert.Equal(r.t, []string{w.compute}, r.list("red", "/mixins/redtag/"))
	assert.Contains(r.t, r.do("red", "GET", "/-/", "").body, "Category: redtag;")
}

// Every OCCI operation of a second project on the first's entities and
// user mixins answers as if they did not exist, and changes nothing
// (issue 10 item 3: "a link to another project's resource is 404").
func TestTenantIsolation(t *testing.T) {
	r := tenantServer(t, nil)
	w := r.redWorld()
	blueVM := r.create("blue", "/compute/", kindCompute+"\n"+osCirros+"\nX-OCCI-Attribute: occi.core.title=\"blue-vm\"")
	bo := r.do("blue", "POST", "/-/", blueTag)
	require.Equal(t, http.StatusOK, bo.status, bo.body)

	t.Run("GET and HEAD of an entity", func(t *testing.T) {
		for _, loc := range w.all() {
			assert.Equal(t, http.StatusNotFound, r.status("blue", "GET", loc, ""), loc)
			assert.Equal(t, http.StatusNotFound, r.status("blue", "HEAD", loc, ""), loc)
		}
	})
	t.Run("listings", func(t *testing.T) {
		assert.Equal(t, []string{blueVM}, r.list("blue", "/compute/"))
		for _, c := range []string{"/network/", "/storage/", "/storagelink/"} {
			assert.Empty(t, r.list("blue", c), c)
		}
		assert.Equal(t, []string{blueVM}, r.list("blue", "/"), "the root lists every entity blue has")
		assert.Equal(t, []string{blueVM}, r.list("blue", "/templates/os/cirros/"), "a provider mixin's collection")
		assert.Equal(t, http.StatusNotFound, r.status("blue", "GET", "/mixins/redtag/", ""), "another project's mixin collection")
		// An unbound path with only red's entities below it is nothing.
		assert.Equal(t, http.StatusNotFound, r.status("blue", "GET", "/red-area/", "", "Accept: text/uri-list"))
		assert.Equal(t, []string{w.put}, r.list("red", "/red-area/"))
	})
	t.Run("filters", func(t *testing.T) {
		assert.Empty(t, r.list("blue", "/compute/", `X-OCCI-Attribute: occi.core.title="red-vm"`))
		assert.Empty(t, r.list("blue", "/", "X-OCCI-Attribute: occi.core.id=\""+strings.TrimPrefix(w.compute, "/compute/")+"\""))
		assert.Equal(t, []string{blueVM}, r.list("blue", "/", kindCompute))
		assert.Empty(t, r.list("blue", "/storagelink/", "X-OCCI-Attribute: occi.core.target=\""+w.storage+"\""))
		assert.Equal(t, http.StatusBadRequest, r.status("blue", "GET", "/compute/", "", "Accept: text/uri-list", redTag),
			"filtering by another project's mixin is filtering by an unknown one")
	})
	t.Run("query interface", func(t *testing.T) {
		qi := r.do("blue", "GET", "/-/", "")
		assert.NotContains(t, qi.body, "redtag")
		assert.Contains(t, qi.body, "Category: bluetag;")
		assert.Contains(t, qi.body, "Category: cirros;", "provider mixins are everyone's")
		assert.NotContains(t, r.do("red", "GET", "/-/", "").body, "bluetag")
	})
	t.Run("POST create", func(t *testing.T) {
		// A link from blue's compute to red's storage, and from red's
		// compute to blue's: the other project's end does not exist.
		got := r.do("blue", "POST", "/storagelink/", kindStorageLink+
			"\nX-OCCI-Attribute: occi.core.source=\""+blueVM+"\"\nX-OCCI-Attribute: occi.core.target=\""+w.storage+"\"")
		assert.Equal(t, http.StatusNotFound, got.status, got.body)
		got = r.do("blue", "POST", "/storagelink/", kindStorageLink+
			"\nX-OCCI-Attribute: occi.core.source=\""+w.compute+"\"\nX-OCCI-Attribute: occi.core.target=\""+w.storage+"\"")
		assert.Equal(t, http.StatusNotFound, got.status, got.body)
		// An inline link to red's network in a new compute.
		got = r.do("blue", "POST", "/compute/", kindCompute+"\nLink: <"+w.network+">; rel=\"http://schemas.ogf.org/occi/infrastructure#network\"; category=\"http://schemas.ogf.org/occi/infrastructure#networkinterface\"")
		assert.Equal(t, http.StatusNotFound, got.status, got.body)
		// Red's compute's id: ids and locations are one namespace.
		got = r.do("blue", "POST", "/compute/", kindCompute+"\nX-OCCI-Attribute: occi.core.id=\""+strings.TrimPrefix(w.compute, "/compute/")+"\"")
		assert.Equal(t, http.StatusConflict, got.status, got.body)
		assert.NotContains(t, got.body, "red")
		// A user mixin with red's mixin's identifier or location.
		assert.Equal(t, http.StatusConflict, r.status("blue", "POST", "/-/", redTag))
		assert.Equal(t, http.StatusConflict, r.status("blue", "POST", "/-/", `Category: other; scheme="http://blue.example/tags#"; class="mixin"; location="/mixins/redtag/"`))
		assert.Equal(t, http.StatusBadRequest, r.status("blue", "PUT", "/mixins/redtag", kindNetwork), "an entity where red's mixin lives")
		assert.Equal(t, []string{blueVM}, r.list("blue", "/compute/"), "nothing was made")
	})
	t.Run("PUT", func(t *testing.T) {
		got := r.do("blue", "PUT", w.compute, kindCompute+"\nX-OCCI-Attribute: occi.core.title=\"blue-was-here\"")
		assert.Equal(t, http.StatusConflict, got.status, got.body)
		assert.NotContains(t, got.body, "red-vm")
	})
	t.Run("POST update", func(t *testing.T) {
		got := r.do("blue", "POST", w.compute, "X-OCCI-Attribute: occi.core.title=\"blue-was-here\"")
		assert.Equal(t, http.StatusNotFound, got.status, got.body)
		got = r.do("blue", "POST", w.compute, tplMedium)
		assert.Equal(t, http.StatusNotFound, got.status, got.body)
	})
	t.Run("actions", func(t *testing.T) {
		assert.Equal(t, http.StatusNotFound, r.status("blue", "POST", w.compute+"?action=start", ""))
		assert.Equal(t, http.StatusNotFound, r.status("blue", "POST", w.storage+"?action=resize",
			`Category: resize; scheme="http://schemas.ogf.org/occi/infrastructure/storage/action#"; class="action"`+"\nX-OCCI-Attribute: size=9"))
		got := r.do("blue", "POST", "/compute/?action=start", "")
		assert.Equal(t, http.StatusOK, got.status, got.body)
		assert.Contains(t, r.do("blue", "GET", blueVM, "").body, `occi.compute.state="active"`, "blue's own compute started")
		got = r.do("blue", "POST", "/compute/?action=stop", "")
		assert.Equal(t, http.StatusOK, got.status, got.body)
	})
	t.Run("mixin association", func(t *testing.T) {
		assert.Equal(t, http.StatusNotFound, r.status("blue", "POST", "/mixins/redtag/", "X-OCCI-Location: "+r.url+blueVM))
		assert.Equal(t, http.StatusNotFound, r.status("blue", "PUT", "/mixins/redtag/", "X-OCCI-Location: "+r.url+blueVM))
		assert.Equal(t, http.StatusNotFound, r.status("blue", "DELETE", "/mixins/redtag/", ""))
		// Red's compute in blue's mixin: as an entity that does not exist.
		got := r.do("blue", "POST", "/mixins/bluetag/", "X-OCCI-Location: "+r.url+w.compute)
		assert.Equal(t, http.StatusBadRequest, got.status, got.body)
		missing := r.do("blue", "POST", "/mixins/bluetag/", "X-OCCI-Location: "+r.url+"/compute/nothing-here")
		assert.Equal(t, missing.body, strings.ReplaceAll(got.body, w.compute, "/compute/nothing-here"), "same answer as for a missing entity")
		// Replacing or emptying a provider mixin's collection touches
		// blue's members only.
		got = r.do("blue", "PUT", "/templates/os/cirros/", "X-OCCI-Location: "+r.url+blueVM)
		assert.Equal(t, http.StatusOK, got.status, got.body)
		got = r.do("blue", "DELETE", "/templates/os/cirros/", "")
		assert.Equal(t, http.StatusOK, got.status, got.body)
		assert.Empty(t, r.list("blue", "/templates/os/cirros/"))
		assert.Equal(t, []string{w.compute}, r.list("red", "/templates/os/cirros/"))
	})
	t.Run("DELETE", func(t *testing.T) {
		for _, loc := range w.all() {
			assert.Equal(t, http.StatusNotFound, r.status("blue", "DELETE", loc, ""), loc)
		}
		got := r.do("blue", "DELETE", "/-/", redTag)
		assert.Equal(t, http.StatusNotFound, got.status, "deleting red's user mixin: %s", got.body)
		for _, c := range []string{"/storagelink/", "/storage/", "/network/", "/compute/"} {
			got := r.do("blue", "DELETE", c, "")
			assert.Equal(t, http.StatusOK, got.status, "DELETE %s: %s", c, got.body)
		}
		assert.Empty(t, r.list("blue", "/compute/"), "blue's own compute went")
	})
	r.redIntact(w)

	t.Run("admin sees and touches all", func(t *testing.T) {
		for _, loc := range w.all() {
			assert.Equal(t, http.StatusOK, r.status("root", "GET", loc, ""), loc)
		}
		assert.Contains(t, r.list("root", "/compute/"), w.compute)
		assert.Equal(t, []string{w.compute}, r.list("root", "/mixins/redtag/"))
		qi := r.do("root", "GET", "/-/", "").body
		assert.Contains(t, qi, "Category: redtag;")
		assert.Contains(t, qi, "Category: bluetag;")
		got := r.do("root", "POST", w.compute, "X-OCCI-Attribute: occi.core.title=\"renamed by root\"")
		assert.Equal(t, http.StatusOK, got.status, got.body)
		assert.Contains(t, r.do("red", "GET", w.compute, "").body, `occi.core.title="renamed by root"`, "still red's")
		got = r.do("root", "DELETE", w.link, "")
		assert.Equal(t, http.StatusOK, got.status, got.body)
		// A link root adds to red's compute is red's: it goes with the
		// compute's project, not root's.
		link := r.create("root", "/storagelink/", kindStorageLink+
			"\nX-OCCI-Attribute: occi.core.source=\""+w.compute+"\"\nX-OCCI-Attribute: occi.core.target=\""+w.storage+"\"")
		assert.Equal(t, http.StatusOK, r.status("red", "GET", link, ""))
		assert.Equal(t, http.StatusOK, r.status("root", "DELETE", "/-/", redTag))
		assert.Equal(t, http.StatusNotFound, r.status("red", "GET", "/mixins/redtag/", ""))
	})
}

// A CDMI-first container's OCCI storage belongs to the project of the CDMI
// request that made it (the linkage calls OCCI as administrator, in the
// caller's project).
func TestTenantCDMIFirstStorage(t *testing.T) {
	r := tenantServer(t, nil)
	req, err := http.NewRequest("PUT", r.url+"/cdmi/red-volume/", strings.NewReader(`{"exports":{"OCCI/NBD":{}}}`))
	require.NoError(t, err)
	req.SetBasicAuth("root", "pw-root")
	req.Header.Set("Content-Type", "application/cdmi-container")
	req.Header.Set("X-CDMI-Specification-Version", "1.1.1")
	// As root (the CDMI side's ACLs are another matter) in root's project.
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(body))
	storages := r.list("root", "/storage/")
	require.Len(t, storages, 1)
	assert.Empty(t, r.list("red", "/storage/"), "not red's")
	assert.Equal(t, http.StatusNotFound, r.status("blue", "GET", storages[0], ""))
}

// Quotas (issue 10 item 3): exactly at the limit is allowed, one over is a
// 403 naming the quota, its limit and the current use, and nothing of the
// refused request is left; each project counts its own.
func TestTenantQuotas(t *testing.T) {
	r := tenantServer(t, func(c *Config) {
		c.QuotaCores, c.QuotaMemory, c.QuotaInstances = "4", "8", "3"
		c.QuotaProjects = "blue:storage=2,instances=1"
	})
	create := func(user, cores, memory string) reply {
		return r.do(user, "POST", "/compute/", kindCompute+
			"\nX-OCCI-Attribute: occi.compute.cores="+cores+"\nX-OCCI-Attribute: occi.compute.memory="+memory)
	}
	a := create("red", "2", "4")
	require.Equal(t, http.StatusCreated, a.status, a.body)
	over := create("red", "3", "1")
	assert.Equal(t, http.StatusForbidden, over.status)
	assert.Contains(t, over.body, "quota cores")
	assert.Contains(t, over.body, "limit is 4")
	assert.Contains(t, over.body, "2 in use")
	b := create("red", "2", "4")
	require.Equal(t, http.StatusCreated, b.status, "exactly at the cores and memory limits: %s", b.body)
	assert.Len(t, r.list("red", "/compute/"), 2, "the refused compute was not made")

	// A compute without sizes counts as 1 core and 0.25 GiB.
	over = r.do("red", "POST", "/compute/", kindCompute)
	assert.Equal(t, http.StatusForbidden, over.status, over.body)
	assert.Contains(t, over.body, "quota cores")

	// Update, PUT, resource template and mixin association that would grow.
	loc := strings.TrimPrefix(a.header.Get("Location"), r.url)
	over = r.do("red", "POST", loc, "X-OCCI-Attribute: occi.compute.cores=3")
	assert.Equal(t, http.StatusForbidden, over.status, over.body)
	over = r.do("red", "POST", loc, "X-OCCI-Attribute: occi.compute.memory=5")
	assert.Equal(t, http.StatusForbidden, over.status, over.body)
	assert.Contains(t, over.body, "quota memory")
	assert.Contains(t, over.body, "limit is 8 GiB, 8 in use, this request adds 1")
	over = r.do("red", "PUT", loc, kindCompute+"\nX-OCCI-Attribute: occi.compute.cores=3\nX-OCCI-Attribute: occi.compute.memory=4")
	assert.Equal(t, http.StatusForbidden, over.status, over.body)
	over = r.do("red", "POST", loc, `Category: large; scheme="`+occi.SchemeResourceTplate+`"; class="mixin"`)
	assert.Equal(t, http.StatusForbidden, over.status, over.body)
	over = r.do("red", "POST", "/templates/resource/large/", "X-OCCI-Location: "+r.url+loc)
	assert.Equal(t, http.StatusForbidden, over.status, over.body)
	vm := r.do("red", "GET", loc, "").body
	assert.Contains(t, vm, "occi.compute.cores=2", "the refused changes left the compute as it was")
	assert.Contains(t, vm, "occi.compute.memory=4")
	assert.NotContains(t, vm, "Category: large;")
	// Shrinking is fine, and makes room: then exactly at all three limits.
	ok := r.do("red", "POST", loc, "X-OCCI-Attribute: occi.compute.cores=1\nX-OCCI-Attribute: occi.compute.memory=3.5")
	assert.Equal(t, http.StatusOK, ok.status, ok.body)
	ok = create("red", "1", "0.5")
	assert.Equal(t, http.StatusCreated, ok.status, "a third compute at the cores, memory and instances limits: %s", ok.body)
	over = create("red", "1", "0.25")
	assert.Equal(t, http.StatusForbidden, over.status)
	assert.Contains(t, over.body, "quota cores", "cores come first")
	assert.Len(t, r.list("red", "/compute/"), 3)

	// Blue's own limits: one instance, 2 GiB of storage.
	require.Equal(t, http.StatusCreated, create("blue", "1", "1").status)
	over = create("blue", "1", "1")
	assert.Equal(t, http.StatusForbidden, over.status)
	assert.Contains(t, over.body, "quota instances")
	assert.Contains(t, over.body, "limit is 1")
	sto := r.create("blue", "/storage/", kindStorage+"\nX-OCCI-Attribute: occi.storage.size=2")
	over = r.do("blue", "POST", "/storage/", kindStorage+"\nX-OCCI-Attribute: occi.storage.size=0.5")
	assert.Equal(t, http.StatusForbidden, over.status, over.body)
	assert.Contains(t, over.body, "quota storage")
	resize := `Category: resize; scheme="http://schemas.ogf.org/occi/infrastructure/storage/action#"; class="action"` + "\nX-OCCI-Attribute: size="
	over = r.do("blue", "POST", sto+"?action=resize", resize+"3")
	assert.Equal(t, http.StatusForbidden, over.status, over.body)
	assert.Contains(t, r.do("blue", "GET", sto, "").body, "occi.storage.size=2")
	ok = r.do("blue", "POST", sto+"?action=resize", resize+"1")
	assert.Equal(t, http.StatusOK, ok.status, ok.body)
	assert.Equal(t, http.StatusCreated, r.status("blue", "POST", "/storage/", kindStorage+"\nX-OCCI-Attribute: occi.storage.size=1"))
	// The volumes behind the refused storage were not left behind: the
	// CDMI side of the linkage holds exactly blue's two.
	assert.Len(t, r.list("root", "/storage/"), 2)
}

// Concurrent creates never take a project beyond its quota: the count
// runs in the transaction, under the project's lock. Storage too, whose
// refused creates leave no CDMI container behind (the volume made before
// the transaction is undone).
func TestTenantQuotaConcurrent(t *testing.T) {
	const limit, tries = 3, 12
	r := tenantServer(t, func(c *Config) { c.QuotaInstances, c.QuotaStorage = fmt.Sprint(limit), fmt.Sprint(limit) })
	for _, kc := range []struct{ collection, body string }{
		{"/compute/", kindCompute},
		{"/storage/", kindStorage + "\nX-OCCI-Attribute: occi.storage.size=1"},
	} {
		// One first, alone: concurrent first OCCI storage creates race to
		// make the CDMI parent container (a linkage matter, not quotas').
		r.create("red", kc.collection, kc.body)
		statuses := make(chan int, tries)
		var wg sync.WaitGroup
		for i := 0; i < tries; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest("POST", r.url+kc.collection, strings.NewReader(kc.body))
				req.SetBasicAuth("red", "pw-red")
				req.Header.Set("Content-Type", "text/plain")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					statuses <- 0
					return
				}
				if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 201 && resp.StatusCode != 403 {
					t.Logf("%d %s", resp.StatusCode, b)
				}
				resp.Body.Close()
				statuses <- resp.StatusCode
			}()
		}
		wg.Wait()
		close(statuses)
		count := map[int]int{}
		for s := range statuses {
			count[s]++
		}
		assert.Equal(t, limit-1, count[http.StatusCreated], "%s: statuses %v", kc.collection, count)
		assert.Equal(t, tries-limit+1, count[http.StatusForbidden], "%s: statuses %v", kc.collection, count)
		assert.Len(t, r.list("red", kc.collection), limit)
	}
	req, err := http.NewRequest("GET", r.url+"/cdmi/occi-storage/?children", nil)
	require.NoError(t, err)
	req.SetBasicAuth("root", "pw-root")
	req.Header.Set("Accept", "application/cdmi-container")
	req.Header.Set("X-CDMI-Specification-Version", "1.1.1")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var c struct{ Children []string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&c))
	assert.Len(t, c.Children, limit, "CDMI containers of OCCI storage: %v", c.Children)
}

// The quota options: flags over OCCICDMI_* over the file, and bad values
// refused at start.
func TestQuotaOptions(t *testing.T) {
	file := filepath.Join(t.TempDir(), "config.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"quota_cores":"16","quota_memory":"32","quota_projects":"demo:cores=2"}`), 0o600))
	cfg, err := Load("t", []string{"--config", file, "--quota-cores", "8"}, env(map[string]string{
		"OCCICDMI_QUOTA_CORES": "12", "OCCICDMI_QUOTA_MEMORY": "24", "OCCICDMI_QUOTA_INSTANCES": "5"}), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, occi.Limits{occi.QuotaCores: 8, occi.QuotaMemory: 24, occi.QuotaInstances: 5}, cfg.quotas.Default)
	assert.Equal(t, map[string]occi.Limits{"demo": {occi.QuotaCores: 2}}, cfg.quotas.Projects)

	for _, bad := range [][]string{
		{"--quota-cores", "1.5"}, {"--quota-memory", "-1"}, {"--quota-storage", "lots"},
		{"--quota-projects", "demo"}, {"--quota-projects", "demo:gpus=1"}, {"--quota-projects", "demo:cores=1;demo:memory=2"},
		{"--quota-projects", "demo:cores"},
	} {
		_, err := Load("t", bad, env(nil), io.Discard)
		assert.Error(t, err, "%v", bad)
	}
}

// The principal's project key: Keystone's project ID when there is one.
func TestOCCICaller(t *testing.T) {
	assert.Equal(t, occi.Caller{Project: "0af1c3", Admin: false},
		occiCaller(&auth.Principal{Project: "demo", ProjectID: "0af1c3"}))
	assert.Equal(t, occi.Caller{Project: "demo", Admin: true},
		occiCaller(&auth.Principal{Project: "demo", Admin: true}))
	assert.Equal(t, occi.Caller{}, occiCaller(nil))
}

// Tenants with Keystone tokens (a real Keystone): the demo project's
// compute is the demo project's, by its Keystone project ID, so a users
// file user whose project is merely named like it does not see it, and the
// Keystone admin does.
func TestTenantKeystone(t *testing.T) {
	ks := needKeystone(t)
	users := filepath.Join(t.TempDir(), "users")
	require.NoError(t, auth.AddUser(users, "namesake", "pw-namesake", []string{ks.DemoProj}, []string{"member"}))
	r := tenantServer(t, func(c *Config) {
		c.UsersFile = users
		c.KeystoneURL = ks.URL
		c.KeystoneUser, c.KeystonePassword, c.KeystoneProject = ks.SvcUser, ks.SvcPassword, ks.SvcProj
	})
	as := func(token, method, path, body string) reply {
		req, err := http.NewRequest(method, r.url+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("X-Auth-Token", token)
		req.Header.Set("Content-Type", "text/plain")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return reply{resp.StatusCode, resp.Header, string(b)}
	}
	demo := ks.token(t, ks.DemoUser, ks.DemoPassword, ks.DemoProj)
	admin := ks.token(t, ks.AdminUser, ks.AdminPassword, ks.AdminProj)
	got := as(demo, "POST", "/compute/", kindCompute)
	require.Equal(t, http.StatusCreated, got.status, got.body)
	vm := strings.TrimPrefix(got.header.Get("Location"), r.url)
	assert.Equal(t, http.StatusOK, as(demo, "GET", vm, "").status)
	assert.Equal(t, http.StatusOK, as(admin, "GET", vm, "").status, "the admin role sees every project")
	assert.Equal(t, http.StatusNotFound, r.status("namesake", "GET", vm, ""), "a project named like demo is not demo")
	assert.Empty(t, r.list("namesake", "/compute/"))
	assert.Equal(t, http.StatusNotFound, as(demo, "GET", r.create("namesake", "/compute/", kindCompute), "").status)
}
