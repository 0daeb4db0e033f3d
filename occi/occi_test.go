package occi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/mux"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	cb "github.com/occicdmi/occicdmi/computebackends"
	"github.com/occicdmi/occicdmi/computebackends/sim"
	"github.com/occicdmi/occicdmi/internal/kind"
	"github.com/occicdmi/occicdmi/internal/testsupport"
)

// testDB opens a fresh migrated database (testsupport.DB: SQLite as
// production opens it, or PostgreSQL with OCCICDMI_TEST_DB=postgres).
func testDB(t testing.TB) *gorm.DB {
	t.Helper()
	return testsupport.DB(t)
}

// rig is an OCCI server over httptest with hooks into its backends.
type rig struct {
	t   testing.TB
	url string
	db  *gorm.DB
	be  *faultyCompute
	vol *memVolumes
}

func newRig(t testing.TB, cfg Config) *rig {
	t.Helper()
	return newRigWith(t, cfg, false)
}

// newRigWith is newRig whose compute backend, when apart, does not join
// the service's transactions (as libvirt): its calls are undone by
// compensation instead.
func newRigWith(t testing.TB, cfg Config, apart bool) *rig {
	t.Helper()
	db := testDB(t)
	be := &faultyCompute{Backend: sim.New(db), apart: apart, fail: map[string]error{}, once: map[string]error{}}
	cfg.DB, cfg.Compute = db, be
	// The rig's server is its database's only writer, as a server holding
	// its SQLite file's lock: every test through it runs with the GET
	// cache on (on PostgreSQL the option is ignored).
	cfg.SoleWriter = true
	if cfg.Logger == nil {
		cfg.Logger = discardLogger()
	}
	s, err := New(context.Background(), cfg)
	require.NoError(t, err)
	r := mux.NewRouter()
	r.SkipClean(true)
	r.UseEncodedPath()
	s.Routes(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	rg := &rig{t: t, url: srv.URL, db: db, be: be}
	if v, ok := cfg.Volumes.(*memVolumes); ok {
		rg.vol = v
	}
	return rg
}

// do sends a request; header values are "Name: value" strings.
func (r *rig) do(method, path, body string, headers ...string) (*http.Response, string) {
	r.t.Helper()
	req, err := http.NewRequest(method, r.url+path, strings.NewReader(body))
	require.NoError(r.t, err)
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ": ")
		req.Header.Add(name, value)
	}
	if body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "text/plain")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(r.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(r.t, err)
	return resp, string(b)
}

// create posts a text/plain rendering and returns the new location's path.
func (r *rig) create(collection, body string) string {
	r.t.Helper()
	resp, b := r.do("POST", collection, body)
	require.Equal(r.t, 201, resp.StatusCode, b)
	loc := resp.Header.Get("Location")
	require.True(r.t, strings.HasPrefix(loc, r.url+"/"), "Location %q must be absolute", loc)
	return strings.TrimPrefix(loc, r.url)
}

func (r *rig) count(table string) int64 {
	var n int64
	require.NoError(r.t, r.db.Table(table).Count(&n).Error)
	return n
}

const computeCat = `Category: compute; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="kind"`
const networkCat = `Category: network; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="kind"`
const storageCat = `Category: storage; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="kind"`

// faultyCompute wraps the sim backend and fails chosen operations. It
// joins transactions as sim does, unless apart.
type faultyCompute struct {
	cb.Backend
	apart bool
	mu    sync.Mutex
	fail  map[string]error
	once  map[string]error // fail the next call only
	disks []cb.Disk
	calls []string
}

func (f *faultyCompute) JoinsTransactions() bool {
	return !f.apart && cb.JoinsTransactions(f.Backend)
}

// CacheStatus forwards (computebackends.StatusCacher), so that the rig's
// sim keeps its status cache as the server's does.
func (f *faultyCompute) CacheStatus() { cb.CacheStatus(f.Backend) }

func (f *faultyCompute) hit(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, op)
	if err, ok := f.once[op]; ok {
		delete(f.once, op)
		return err
	}
	return f.fail[op]
}

func (f *faultyCompute) CreateMachine(ctx context.Context, m cb.Machine) error {
	if err := f.hit("create"); err != nil {
		return err
	}
	return f.Backend.CreateMachine(ctx, m)
}

func (f *faultyCompute) DeleteMachine(ctx context.Context, id string) error {
	if err := f.hit("delete"); err != nil {
		return err
	}
	return f.Backend.DeleteMachine(ctx, id)
}

func (f *faultyCompute) Start(ctx context.Context, id string) error {
	if err := f.hit("start"); err != nil {
		return err
	}
	return f.Backend.Start(ctx, id)
}

func (f *faultyCompute) AttachInterface(ctx context.Context, m string, nic cb.Interface) (cb.Interface, error) {
	if err := f.hit("attach-nic"); err != nil {
		return cb.Interface{}, err
	}
	return f.Backend.AttachInterface(ctx, m, nic)
}

func (f *faultyCompute) AttachDisk(ctx context.Context, m string, d cb.Disk) error {
	if err := f.hit("attach-disk"); err != nil {
		return err
	}
	f.mu.Lock()
	f.disks = append(f.disks, d)
	f.mu.Unlock()
	return f.Backend.AttachDisk(ctx, m, d)
}

// memVolumes records volumes in memory, by storage id.
type memVolumes struct {
	mu       sync.Mutex
	size     map[string]int64
	snaps    []string
	deviceID []string        // the deviceIDs Attachment was asked for
	forbid   map[string]bool // computes Authorize refuses
	detached []string        // links Detached was told of
	down     error           // every call fails with it when set
}

func newMemVolumes() *memVolumes {
	return &memVolumes{size: map[string]int64{}, forbid: map[string]bool{}}
}

func (v *memVolumes) Create(_ context.Context, storage string, size int64) (map[string]any, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.down != nil {
		return nil, v.down
	}
	if _, ok := v.size[storage]; ok {
		return nil, kind.Errorf(kind.Exists, "volume %s exists", storage)
	}
	v.size[storage] = size
	return nil, nil
}

// Authorize refuses the computes in forbid.
func (v *memVolumes) Authorize(_ context.Context, l StorageLink) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.forbid[l.Compute] {
		return kind.Errorf(kind.Forbidden, "%s may not attach %s", l.Compute, l.Storage)
	}
	return nil
}

func (v *memVolumes) Detached(_ context.Context, l StorageLink) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.detached = append(v.detached, l.ID)
	return nil
}

func (v *memVolumes) Delete(_ context.Context, storage string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.down != nil {
		return v.down
	}
	if _, ok := v.size[storage]; !ok {
		return kind.Errorf(kind.NotFound, "no volume %s", storage)
	}
	delete(v.size, storage)
	return nil
}

func (v *memVolumes) Resize(_ context.Context, storage string, size int64) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.down != nil {
		return v.down
	}
	v.size[storage] = size
	return nil
}

func (v *memVolumes) Snapshot(_ context.Context, storage, snap string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.down != nil {
		return v.down
	}
	v.snaps = append(v.snaps, storage+"@"+snap)
	return nil
}

func (v *memVolumes) Attachment(_ context.Context, l StorageLink) (cb.VolumeSource, error) {
	storage, deviceID := l.Storage, l.DeviceID
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.down != nil {
		return cb.VolumeSource{}, v.down
	}
	v.deviceID = append(v.deviceID, deviceID)
	if _, ok := v.size[storage]; !ok {
		return cb.VolumeSource{}, kind.Errorf(kind.NotFound, "no volume %s", storage)
	}
	return cb.VolumeSource{Type: "file", Path: "/volumes/" + storage, Format: "raw"}, nil
}

func (v *memVolumes) names() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []string
	for n := range v.size {
		out = append(out, n)
	}
	return out
}

// GFD.223 §7.2.1 + brief: a backend failure after earlier backend calls
// leaves neither database rows nor the machine behind, whether the
// backend's changes are rolled back with the transaction or undone.
func TestCreateRollsBackWhenALaterBackendCallFails(t *testing.T) {
	for _, apart := range []bool{false, true} {
		t.Run(fmt.Sprintf("apart=%v", apart), func(t *testing.T) {
			r := newRigWith(t, Config{}, apart)
			net := r.create("/network/", networkCat)
			r.be.fail["attach-nic"] = fmt.Errorf("boom: %w", cb.ErrUnavailable)
			resp, body := r.do("POST", "/compute/", computeCat+"\nLink: <"+net+`>; rel="http://schemas.ogf.org/occi/infrastructure#network"; category="http://schemas.ogf.org/occi/infrastructure#networkinterface"`)
			assert.Equal(t, 503, resp.StatusCode, body)
			assert.Contains(t, body, "attach network interface")
			assert.EqualValues(t, 1, r.count("occi_entities"), "only the network remains")
			assert.EqualValues(t, 0, r.count("sim_machines"), "the machine created before the failure is deleted again")
			assert.Equal(t, apart, contains(r.be.calls, "delete"), "undone by a delete only when apart")
		})
	}
}

// Backend error kinds map to statuses and change nothing.
func TestBackendErrorKinds(t *testing.T) {
	r := newRig(t, Config{})
	loc := r.create("/compute/", computeCat)
	for _, c := range []struct {
		err  error
		want int
	}{
		{cb.ErrNotFound, 404}, {cb.ErrConflict, 409}, {cb.ErrInvalid, 400}, {cb.ErrUnavailable, 503}, {errors.New("odd"), 500},
	} {
		r.be.fail["start"] = fmt.Errorf("start: %w", c.err)
		resp, body := r.do("POST", loc+"?action=start", `Category: start; scheme="http://schemas.ogf.org/occi/infrastructure/compute/action#"; class="action"`)
		assert.Equal(t, c.want, resp.StatusCode, "%v: %s", c.err, body)
		_, got := r.do("GET", loc, "")
		assert.Contains(t, got, `occi.compute.state="inactive"`)
	}
	delete(r.be.fail, "start")
	resp, body := r.do("POST", loc+"?action=start", "")
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Contains(t, body, `occi.compute.state="active"`)
	// GFD.229 §5.1.1: only the actions the state allows are linked.
	assert.Contains(t, body, "?action=stop>")
	assert.NotContains(t, body, "?action=start>")
}

// A state change made behind OCCI (in the backend) shows on GET.
func TestBackendStateVisible(t *testing.T) {
	r := newRig(t, Config{})
	loc := r.create("/compute/", computeCat)
	id := loc[strings.LastIndexByte(loc, '/')+1:]
	require.NoError(t, r.be.Backend.Start(context.Background(), id))
	_, body := r.do("GET", loc, "")
	assert.Contains(t, body, `occi.compute.state="active"`)
	assert.Contains(t, body, `occi.compute.state.message="running (simulated)"`)
}

// Storage resources own a sparse volume of occi.storage.size GiB; a
// storagelink attaches it with the volume's access description.
func TestStorageVolumes(t *testing.T) {
	vols := newMemVolumes()
	r := newRig(t, Config{Volumes: vols})
	sto := r.create("/storage/", storageCat+"\nX-OCCI-Attribute: occi.storage.size=2.5")
	id := sto[strings.LastIndexByte(sto, '/')+1:]
	assert.Equal(t, int64(2.5*(1<<30)), vols.size[id])
	vm := r.create("/compute/", computeCat)
	link := r.create("/storagelink/", `Category: storagelink; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="kind"
X-OCCI-Attribute: occi.core.source="`+vm+`"
X-OCCI-Attribute: occi.core.target="`+r.url+sto+`"
X-OCCI-Attribute: occi.storagelink.mountpoint="/dev/vdb"`)
	require.Len(t, r.be.disks, 1)
	assert.Equal(t, "/volumes/"+id, r.be.disks[0].Source.Path)
	assert.Equal(t, "vdb", r.be.disks[0].Target)
	_, body := r.do("GET", link, "")
	assert.Contains(t, body, `occi.storagelink.deviceid="`+id+`"`, "deviceid defaults to the storage id")
	// GFD.224 §3.4.2: the disk is active only while the machine runs with
	// it: inactive on a stopped compute, active after start, inactive
	// again after stop.
	assert.Contains(t, body, `occi.storagelink.state="inactive"`)
	resp, body := r.do("POST", vm+"?action=start", "Category: start; scheme=\"http://schemas.ogf.org/occi/infrastructure/compute/action#\"; class=\"action\"")
	require.Equal(t, 200, resp.StatusCode, body)
	_, body = r.do("GET", link, "")
	assert.Contains(t, body, `occi.storagelink.state="active"`)
	resp, body = r.do("POST", vm+"?action=stop", "Category: stop; scheme=\"http://schemas.ogf.org/occi/infrastructure/compute/action#\"; class=\"action\"")
	require.Equal(t, 200, resp.StatusCode, body)
	_, body = r.do("GET", link, "")
	assert.Contains(t, body, `occi.storagelink.state="inactive"`)
	// occi.storage.size is mutable: the volume follows.
	resp, body = r.do("POST", sto, "X-OCCI-Attribute: occi.storage.size=4")
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Equal(t, int64(4*(1<<30)), vols.size[id])
	// An attached storage is not deleted (its volume is a CDMI
	// container's too); once its link is gone, the volume goes with it.
	resp, _ = r.do("DELETE", sto, "")
	assert.Equal(t, 409, resp.StatusCode)
	resp, _ = r.do("DELETE", link, "")
	assert.Equal(t, 200, resp.StatusCode)
	resp, _ = r.do("DELETE", sto, "")
	assert.Equal(t, 200, resp.StatusCode)
	resp, _ = r.do("GET", link, "")
	assert.Equal(t, 404, resp.StatusCode)
	assert.Empty(t, vols.names())
	// A failed create leaves no volume behind: the size is required.
	resp, body = r.do("POST", "/storage/", storageCat)
	assert.Equal(t, 400, resp.StatusCode)
	assert.Contains(t, body, "occi.storage.size is required")
	assert.Empty(t, vols.names())
}

// The volumes see the storagelink's deviceid (the linkage names CDMI
// containers with it) and the 1.1 snapshot action.
func TestVolumesSeeDeviceIDAndSnapshots(t *testing.T) {
	vols := newMemVolumes()
	r := newRig(t, Config{Volumes: vols})
	sto := r.create("/storage/", storageCat+"\nX-OCCI-Attribute: occi.storage.size=1")
	id := sto[strings.LastIndexByte(sto, '/')+1:]
	vm := r.create("/compute/", computeCat+"\nLink: <"+sto+`>; rel="http://schemas.ogf.org/occi/infrastructure#storage"; occi.storagelink.deviceid="cdmi-export"`)
	require.Len(t, r.be.disks, 1)
	assert.Equal(t, "/volumes/"+id, r.be.disks[0].Source.Path)
	assert.Equal(t, []string{"cdmi-export"}, vols.deviceID)
	_, body := r.do("GET", vm, "")
	assert.Contains(t, body, `category="http://schemas.ogf.org/occi/infrastructure#storagelink"`)
	resp, body := r.do("POST", sto+"?action=snapshot", "")
	require.Equal(t, 200, resp.StatusCode, body)
	require.Len(t, vols.snaps, 1)
	assert.True(t, strings.HasPrefix(vols.snaps[0], id+"@snapshot-"), vols.snaps[0])
}

// Listing a collection takes a bounded number of queries whatever its
// size (no N+1), in every rendering.
func TestListingQueriesBounded(t *testing.T) {
	r := newRig(t, Config{})
	st := store{}
	for i := 0; i < 300; i++ {
		e := &Entity{ID: fmt.Sprintf("vm-%03d", i), Location: fmt.Sprintf("/compute/vm-%03d", i), Kind: KindCompute,
			Mixins: []string{SchemeResourceTplate + "small"},
			Attrs:  map[string]any{"occi.compute.state": "inactive", "occi.compute.cores": 1.0, AttrTitle: "vm"}}
		require.NoError(t, st.insert(r.db, e))
	}
	var n int
	var mu sync.Mutex
	require.NoError(t, r.db.Callback().Query().After("gorm:query").Register("count", func(*gorm.DB) {
		mu.Lock()
		n++
		mu.Unlock()
	}))
	calls := len(r.be.calls)
	for _, accept := range []string{"text/uri-list", "text/plain", "application/occi+json"} {
		n = 0
		resp, body := r.do("GET", "/compute/", "", "Accept: "+accept)
		require.Equal(t, 200, resp.StatusCode)
		// JSON resources carry ids, not locations (GFD.226 table 1).
		assert.Equal(t, 300, strings.Count(body, "/compute/vm-")+strings.Count(body, `"id":"vm-`), accept)
		assert.LessOrEqual(t, n, 12, "%s: %d queries for 300 entities", accept, n)
	}
	assert.Equal(t, calls, len(r.be.calls), "a listing calls no backend")
	// Filtering and paging run in SQL.
	resp, body := r.do("GET", "/compute/?page=2&number=100", "", "Accept: text/uri-list", `X-OCCI-Attribute: occi.compute.cores=1`)
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, 100, strings.Count(body, "\n"))
	assert.True(t, strings.HasPrefix(body, r.url+"/compute/vm-100\r\n"), body[:60])
}

// GFD.223 §4.3: a client asking for a later OCCI version gets 501; Server
// names OCCI/1.2 (set by the app middleware, kept here).
func TestVersionAndNegotiation(t *testing.T) {
	r := newRig(t, Config{})
	resp, body := r.do("GET", "/-/", "", "User-Agent: client/1 OCCI/1.3")
	assert.Equal(t, 501, resp.StatusCode, body)
	resp, _ = r.do("GET", "/-/", "", "User-Agent: client/1 OCCI/1.1")
	assert.Equal(t, 200, resp.StatusCode)
	resp, _ = r.do("GET", "/-/", "", "Accept: image/png")
	assert.Equal(t, 406, resp.StatusCode)
	resp, _ = r.do("GET", "/-/", "", "Accept: text/uri-list")
	assert.Equal(t, 400, resp.StatusCode)
	resp, body = r.do("GET", "/-/", "")
	assert.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Contains(t, body, `Category: compute; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="kind"; title="Compute Resource"; rel="http://schemas.ogf.org/occi/core#resource"; location="`+r.url+`/compute/"`)
	resp, body = r.do("POST", "/compute/", strings.Repeat("X", MaxBody+1))
	assert.Equal(t, 413, resp.StatusCode, body)
}

// BaseURL makes every location absolute on the public URL.
func TestBaseURL(t *testing.T) {
	r := newRig(t, Config{BaseURL: "https://cloud.example.org/"})
	resp, body := r.do("POST", "/compute/", computeCat)
	require.Equal(t, 201, resp.StatusCode, body)
	assert.True(t, strings.HasPrefix(resp.Header.Get("Location"), "https://cloud.example.org/compute/"))
	loc := strings.TrimPrefix(resp.Header.Get("Location"), "https://cloud.example.org")
	_, body = r.do("GET", loc, "")
	assert.Contains(t, body, "<https://cloud.example.org"+loc+"?action=start>")
}

// A catalogue file replaces the built-in templates.
func TestCatalogueFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cat.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"os_templates":[{"term":"alpine","title":"Alpine","source":"/img/alpine.qcow2"}],
		"resource_templates":[{"term":"tiny","title":"Tiny","cores":1,"memory":0.5}]}`), 0o600))
	r := newRig(t, Config{Catalogue: path})
	_, body := r.do("GET", "/-/", "")
	assert.Contains(t, body, "Category: alpine;")
	assert.NotContains(t, body, "Category: cirros;")
	r.create("/compute/", computeCat+`
Category: alpine; scheme="`+SchemeOSTemplate+`"; class="mixin"
Category: tiny; scheme="`+SchemeResourceTplate+`"; class="mixin"`)
	var spec string
	require.NoError(t, r.db.Table("sim_machines").Select("spec").Take(&spec).Error)
	assert.Contains(t, spec, `"Source":"/img/alpine.qcow2"`)
	assert.Contains(t, spec, `"Memory":0.5`)

	require.NoError(t, os.WriteFile(path, []byte(`{"resource_templates":[{"term":"bad one","cores":1,"memory":1}]}`), 0o600))
	_, err := New(context.Background(), Config{DB: r.db, Catalogue: path})
	assert.Error(t, err)
}

// GFD.223 §6.5: deleting a user mixin removes its associations, and the
// attributes it defined leave with it; provider mixins cannot be deleted.
func TestUserMixinAttributesLeaveWithIt(t *testing.T) {
	r := newRig(t, Config{})
	resp, body := r.do("POST", "/-/", `{"mixins":[{"term":"backup","scheme":"http://example.org/policy#","location":"/policy/backup/",
		"attributes":{"org.example.backup.hour":{"type":"number","mutable":true}}}]}`, "Content-Type: application/occi+json")
	require.Equal(t, 200, resp.StatusCode, body)
	vm := r.create("/compute/", computeCat)
	resp, body = r.do("POST", vm, `Category: backup; scheme="http://example.org/policy#"; class="mixin"
X-OCCI-Attribute: org.example.backup.hour=3`)
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Contains(t, body, "org.example.backup.hour=3")
	_, body = r.do("GET", "/policy/backup/", "")
	assert.Contains(t, body, vm)

	resp, _ = r.do("DELETE", "/-/", `Category: os_tpl; scheme="http://schemas.ogf.org/occi/infrastructure#"; class="mixin"`)
	assert.Equal(t, 403, resp.StatusCode)
	resp, body = r.do("DELETE", "/-/", `Category: backup; scheme="http://example.org/policy#"; class="mixin"`)
	require.Equal(t, 200, resp.StatusCode, body)
	_, body = r.do("GET", vm, "")
	assert.NotContains(t, body, "backup")
	resp, _ = r.do("GET", "/policy/backup/", "")
	assert.Equal(t, 404, resp.StatusCode)
	assert.EqualValues(t, 0, r.count("occi_mixin_members"))
}

// GFD.229 §7: text/occi carries in headers (comma-joined) what text/plain
// carries in the body, with body "OK".
func TestTextOCCIMatchesTextPlain(t *testing.T) {
	r := newRig(t, Config{})
	net := r.create("/network/", networkCat+"\nX-OCCI-Attribute: occi.core.title=\"a, b; c\"")
	vm := r.create("/compute/", computeCat+"\nLink: <"+net+`>; rel="http://schemas.ogf.org/occi/infrastructure#network"`)
	resp, body := r.do("GET", vm, "", "Accept: text/occi")
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "OK", body)
	assert.Len(t, resp.Header.Values("Link"), 1, "one comma-joined Link header (a link and action links)")
	fromHeaders, err := parseTextHeaders(resp.Header)
	require.NoError(t, err)
	_, plain := r.do("GET", vm, "")
	fromBody, err := parseTextBody([]byte(plain))
	require.NoError(t, err)
	assert.Equal(t, fromBody.Entities, fromHeaders.Entities)
	require.Len(t, fromBody.Entities[0].Links, 1)
	assert.Equal(t, r.url+net, fromBody.Entities[0].Links[0].Target)
	_, body = r.do("GET", net, "", "Accept: text/occi")
	assert.Equal(t, "OK", body)
}

// GFD.224 §3.6.1: a new os_tpl replaces the old one and affects the
// machine: an inactive compute is rebuilt from the new image with its
// links; a running one must be stopped first; a failed rebuild puts the
// old machine back.
func TestOSTemplateChangeRebuilds(t *testing.T) {
	r := newRig(t, Config{})
	net := r.create("/network/", networkCat)
	vm := r.create("/compute/", computeCat+"\nCategory: cirros; scheme=\""+SchemeOSTemplate+"\"; class=\"mixin\"\nLink: <"+net+">; rel=\"http://schemas.ogf.org/occi/infrastructure#network\"")
	id := vm[strings.LastIndexByte(vm, '/')+1:]
	debian := "Category: debian12; scheme=\"" + SchemeOSTemplate + "\"; class=\"mixin\""
	machine := func() (spec, nics string) {
		require.NoError(t, r.db.Table("sim_machines").Select("spec").Where("id = ?", id).Take(&spec).Error)
		require.NoError(t, r.db.Table("sim_machines").Select("nics").Where("id = ?", id).Take(&nics).Error)
		return
	}
	r.do("POST", vm+"?action=start", "")
	resp, body := r.do("POST", vm, debian)
	assert.Equal(t, 409, resp.StatusCode, body)
	assert.Contains(t, body, "stop it first")
	r.do("POST", vm+"?action=stop", "")

	r.be.once["create"] = fmt.Errorf("no capacity: %w", cb.ErrUnavailable)
	resp, body = r.do("POST", vm, debian)
	assert.Equal(t, 503, resp.StatusCode, body)
	spec, nics := machine()
	assert.Contains(t, spec, "cirros", "the old machine is back")
	assert.Contains(t, nics, "MAC", "with its interface")
	_, body = r.do("GET", vm, "")
	assert.Contains(t, body, "Category: cirros;")
	// A failure re-attaching the links also restores the old machine.
	r.be.once["attach-nic"] = fmt.Errorf("bridge down: %w", cb.ErrUnavailable)
	resp, body = r.do("POST", vm, debian)
	assert.Equal(t, 503, resp.StatusCode, body)
	spec, nics = machine()
	assert.Contains(t, spec, "cirros")
	assert.Contains(t, nics, "MAC")

	resp, body = r.do("POST", vm, debian)
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Contains(t, body, "Category: debian12;")
	assert.NotContains(t, body, "Category: cirros;")
	spec, nics = machine()
	assert.Contains(t, spec, "debian-12")
	assert.Contains(t, nics, "MAC")
}

// A partial update may add a link; sending back the links a resource
// already has changes nothing.
func TestPartialUpdateAddsLinks(t *testing.T) {
	r := newRig(t, Config{})
	n1 := r.create("/network/", networkCat)
	n2 := r.create("/network/", networkCat)
	vm := r.create("/compute/", computeCat+"\nLink: <"+n1+">; rel=\"http://schemas.ogf.org/occi/infrastructure#network\"")
	resp, body := r.do("POST", vm, computeCat+"\nLink: <"+n1+">; rel=\"http://schemas.ogf.org/occi/infrastructure#network\"\nLink: <"+r.url+n2+">; rel=\"http://schemas.ogf.org/occi/infrastructure#network\"")
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Equal(t, 2, strings.Count(body, "category=\"http://schemas.ogf.org/occi/infrastructure#networkinterface"))
	assert.Contains(t, body, `occi.networkinterface.interface="eth1"`)
	assert.EqualValues(t, 2, r.count("occi_entities")-3)
	r.be.fail["attach-nic"] = fmt.Errorf("x: %w", cb.ErrUnavailable)
	n3 := r.create("/network/", networkCat)
	resp, _ = r.do("POST", vm, "Link: <"+n3+">; rel=\"http://schemas.ogf.org/occi/infrastructure#network\"")
	assert.Equal(t, 503, resp.StatusCode)
	assert.EqualValues(t, 6, r.count("occi_entities"), "nothing added")
}

// Concurrent creates at one client-chosen path: one wins, the others get
// 409 (or replace it once it exists), and no machine leaks in the backend.
func TestConcurrentPutCreate(t *testing.T) {
	r := newRig(t, Config{})
	var wg sync.WaitGroup
	codes := make([]int, 8)
	for i := range codes {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			resp, _ := r.do("PUT", "/vms/shared", computeCat)
			codes[i] = resp.StatusCode
		}(i)
	}
	wg.Wait()
	created := 0
	for _, c := range codes {
		assert.Contains(t, []int{200, 201, 409}, c)
		if c == 201 {
			created++
		}
	}
	assert.Equal(t, 1, created, "%v", codes)
	assert.EqualValues(t, 1, r.count("occi_entities"))
	assert.EqualValues(t, 1, r.count("sim_machines"), "machines of the losers are deleted again")
}

// resizingCompute records the sizes Resize is given, over the sim backend.
type resizingCompute struct {
	*faultyCompute
	sizes map[string][2]float64
}

func (b *resizingCompute) Resize(_ context.Context, id string, cores int, mem float64) error {
	if err := b.hit("resize"); err != nil {
		return err
	}
	b.sizes[id] = [2]float64{float64(cores), mem}
	return nil
}

// GFD.224 §3.6.2: a new resource_tpl resizes the machine when the backend
// can (the contract's Resize), only while it is inactive; a later failure resizes back.
func TestResourceTemplateResizes(t *testing.T) {
	r := newRig(t, Config{})
	rb := &resizingCompute{faultyCompute: r.be, sizes: map[string][2]float64{}}
	s, err := New(context.Background(), Config{DB: r.db, Compute: rb, Logger: discardLogger()})
	require.NoError(t, err)
	m := mux.NewRouter()
	s.Routes(m)
	srv := httptest.NewServer(m)
	defer srv.Close()
	r.url = srv.URL
	vm := r.create("/compute/", computeCat+"\nCategory: small; scheme=\""+SchemeResourceTplate+"\"; class=\"mixin\"")
	id := vm[strings.LastIndexByte(vm, '/')+1:]
	large := "Category: large; scheme=\"" + SchemeResourceTplate + "\"; class=\"mixin\""
	resp, body := r.do("POST", vm, large)
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Equal(t, [2]float64{4, 8}, rb.sizes[id])
	assert.Contains(t, body, "occi.compute.cores=4")
	r.do("POST", vm+"?action=start", "")
	resp, body = r.do("POST", vm, "Category: small; scheme=\""+SchemeResourceTplate+"\"; class=\"mixin\"")
	assert.Equal(t, 409, resp.StatusCode, body)
	assert.Equal(t, [2]float64{4, 8}, rb.sizes[id])
	_, body = r.do("GET", vm, "")
	assert.Contains(t, body, "Category: large;", "a refused change changes nothing")
	// Without a template, the sizes are the client's.
	r.do("POST", vm+"?action=stop", "")
	vm2 := r.create("/compute/", computeCat)
	resp, body = r.do("POST", vm2, "X-OCCI-Attribute: occi.compute.cores=3\nX-OCCI-Attribute: occi.compute.memory=2.5")
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Equal(t, [2]float64{3, 2.5}, rb.sizes[vm2[strings.LastIndexByte(vm2, '/')+1:]])
}

// CDMI 1.1.1 §13.1 (its four steps): a storagelink to a stopped compute
// is made before the compute may attach the volume; the start asks, and a
// refusal is 403 with the machine still inactive. A hot-plug to a running
// compute asks at once. Deleting an attached storage is refused (409) until
// its link goes; the link's deletion tells Volumes the disk is gone.
func TestVolumesAuthorizeAtStartAndHotPlug(t *testing.T) {
	vols := newMemVolumes()
	r := newRig(t, Config{Volumes: vols})
	sto := r.create("/storage/", storageCat+"\nX-OCCI-Attribute: occi.storage.size=1")
	vm := r.create("/compute/", computeCat)
	vols.forbid[vm] = true
	link := r.create("/storagelink/", "Category: storagelink; scheme=\"http://schemas.ogf.org/occi/infrastructure#\"; class=\"kind\"\n"+
		"X-OCCI-Attribute: occi.core.source=\""+vm+"\"\nX-OCCI-Attribute: occi.core.target=\""+sto+"\"")

	resp, body := r.do("POST", vm+"?action=start", "Category: start; scheme=\"http://schemas.ogf.org/occi/infrastructure/compute/action#\"; class=\"action\"")
	assert.Equal(t, 403, resp.StatusCode, body)
	assert.Contains(t, body, sto)
	_, body = r.do("GET", vm, "")
	assert.Contains(t, body, `occi.compute.state="inactive"`)

	resp, body = r.do("DELETE", sto, "")
	assert.Equal(t, 409, resp.StatusCode, body)
	assert.Contains(t, body, link)

	delete(vols.forbid, vm)
	resp, body = r.do("POST", vm+"?action=start", "Category: start; scheme=\"http://schemas.ogf.org/occi/infrastructure/compute/action#\"; class=\"action\"")
	require.Equal(t, 200, resp.StatusCode, body)

	sto2 := r.create("/storage/", storageCat+"\nX-OCCI-Attribute: occi.storage.size=1")
	vols.forbid[vm] = true
	resp, body = r.do("POST", "/storagelink/", "Category: storagelink; scheme=\"http://schemas.ogf.org/occi/infrastructure#\"; class=\"kind\"\n"+
		"X-OCCI-Attribute: occi.core.source=\""+vm+"\"\nX-OCCI-Attribute: occi.core.target=\""+sto2+"\"")
	assert.Equal(t, 403, resp.StatusCode, "a hot-plug needs the permission now: %s", body)
	assert.EqualValues(t, 4, r.count("occi_entities"), "the refused link was not stored")

	resp, body = r.do("DELETE", link, "")
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Equal(t, []string{link[strings.LastIndexByte(link, '/')+1:]}, vols.detached)
	resp, body = r.do("DELETE", sto, "")
	assert.Equal(t, 200, resp.StatusCode, body)
}
