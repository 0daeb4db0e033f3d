package linkage

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/gorilla/mux"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/cdmi"
	"github.com/occicdmi/occicdmi/computebackends/sim"
	"github.com/occicdmi/occicdmi/internal/testsupport"
	"github.com/occicdmi/occicdmi/occi"
	"github.com/occicdmi/occicdmi/storagebackends/fs"
)

// httpRig is the linkage with OCCI served over HTTP (the GETs the cache
// serves), and CDMI as a Go service.
type httpRig struct {
	cdmi *cdmi.Server
	occi *occi.Server
	url  string
	t    *testing.T
}

// newHTTPRig is a rig on db with its volumes and values under dir; sole
// is the occi.Config.SoleWriter it claims.
func newHTTPRig(t *testing.T, db *gorm.DB, dir string, sole bool) *httpRig {
	t.Helper()
	ctx := context.Background()
	own := t.TempDir()
	vols, err := fs.NewVolumes(filepath.Join(dir, "volumes"))
	require.NoError(t, err)
	objs, err := fs.NewObjects(filepath.Join(dir, "objects"))
	require.NoError(t, err)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	l, err := New(Config{DB: db, Volumes: vols, NBDSocket: filepath.Join(own, "nbd.sock"), Logger: log})
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	cs, err := cdmi.New(ctx, cdmi.Config{DB: db, Objects: objs, Root: "/cdmi", EnterpriseNumber: 32473, Logger: log,
		TempDir: own, ExportHook: l, Disks: l, Snapshots: l})
	require.NoError(t, err)
	osrv, err := occi.New(ctx, occi.Config{DB: db, Compute: sim.New(db), Volumes: l, Categories: Categories(),
		Logger: log, SoleWriter: sole})
	require.NoError(t, err)
	require.NoError(t, l.Connect(ctx, osrv.Service(), cs.Service()))
	r := mux.NewRouter()
	r.SkipClean(true)
	r.UseEncodedPath()
	osrv.Routes(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return &httpRig{cdmi: cs, occi: osrv, url: srv.URL, t: t}
}

// get is an OCCI GET of loc in JSON: its status, and its body when 200.
func (h *httpRig) get(loc string) (int, map[string]any) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.url+loc, nil)
	require.NoError(h.t, err)
	req.Header.Set("Accept", "application/occi+json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	var body map[string]any
	if resp.StatusCode == http.StatusOK {
		require.NoError(h.t, json.NewDecoder(resp.Body).Decode(&body))
	}
	return resp.StatusCode, body
}

// warm GETs loc twice (the second from the cache, when there is one).
func (h *httpRig) warm(loc string) map[string]any {
	h.t.Helper()
	code, _ := h.get(loc)
	require.Equal(h.t, http.StatusOK, code)
	code, body := h.get(loc)
	require.Equal(h.t, http.StatusOK, code)
	return body
}

func storageSize(body map[string]any) any {
	attrs, _ := body["attributes"].(map[string]any)
	return attrs["occi.storage.size"]
}

// The linkage changes OCCI storage inside CDMI's transactions (occi.WithTx):
// with the OCCI GET cache on (the server its SQLite database's only
// writer, occi.Config.SoleWriter), each such change is seen by the next
// OCCI GET, though the one before was served from the cache. On
// PostgreSQL the option is not believed and the same holds uncached.
func TestOCCICacheSeesLinkageWrites(t *testing.T) {
	ctx := context.Background()
	h := newHTTPRig(t, testsupport.DB(t), t.TempDir(), true)
	cs, osrv, get, warm := h.cdmi, h.occi, h.get, h.warm
	admin := cdmi.Administrator()
	c, _, err := cs.Service().PutContainer(ctx, admin, "/vm/", exportChange("1073741824"))
	require.NoError(t, err)
	storage := "/storage/" + c.ObjectID
	assert.EqualValues(t, 1, storageSize(warm(storage)))
	_, _, err = cs.Service().PutContainer(ctx, admin, "/vm/", exportChange("2147483648"))
	require.NoError(t, err)
	assert.EqualValues(t, 2, storageSize(warm(storage)), "the resize in CDMI's transaction is seen")

	vm, err := osrv.Service().Create(ctx, occi.KindCompute, []occi.EntityInput{{}})
	require.NoError(t, err)
	warm(vm[0].Location)
	link, err := osrv.Service().Create(ctx, occi.KindStorageLink, []occi.EntityInput{{Source: vm[0].Location, Target: storage}})
	require.NoError(t, err)
	assert.Len(t, warm(vm[0].Location)["links"], 1, "the storagelink shows in its compute")
	require.NoError(t, osrv.Service().Delete(ctx, link[0].Location))
	assert.Empty(t, warm(vm[0].Location)["links"])

	require.NoError(t, cs.Service().Delete(ctx, admin, "/vm/"))
	code, _ := get(storage)
	assert.Equal(t, http.StatusNotFound, code, "the storage deleted in CDMI's transaction is gone")
}
