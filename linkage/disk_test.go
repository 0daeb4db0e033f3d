package linkage

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
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

// diskRig is the linkage with the CDMI side served over HTTP and the
// linkage as its Disks, as the application wires them.
type diskRig struct {
	l    *Linkage
	occi *occi.Service
	cdmi *cdmi.Service
	url  string // the CDMI root's URL
}

func newDiskRig(t *testing.T, opts ...func(*Config)) *diskRig {
	t.Helper()
	return newDiskRigOn(t, testsupport.DB(t), t.TempDir(), opts...)
}

// newDiskRigOn is a rig on the database db, with its volumes and values
// under shared (so that two rigs are two server processes sharing their
// database and backends), and its NBD socket of its own.
func newDiskRigOn(t *testing.T, db *gorm.DB, shared string, opts ...func(*Config)) *diskRig {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	vols, err := fs.NewVolumes(filepath.Join(shared, "volumes"))
	require.NoError(t, err)
	objs, err := fs.NewObjects(filepath.Join(shared, "objects"))
	require.NoError(t, err)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := Config{DB: db, Volumes: vols, NBDSocket: filepath.Join(dir, "nbd.sock"), Logger: log}
	for _, o := range opts {
		o(&cfg)
	}
	l, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	cs, err := cdmi.New(ctx, cdmi.Config{DB: db, Objects: objs, Root: "/cdmi", EnterpriseNumber: 32473, Logger: log,
		TempDir: dir, ExportHook: l, Disks: l, Snapshots: l})
	require.NoError(t, err)
	osvc, err := occi.NewService(ctx, occi.Config{DB: db, Compute: sim.New(db), Volumes: l, Categories: Categories(), Logger: log})
	require.NoError(t, err)
	require.NoError(t, l.Connect(ctx, osvc, cs.Service()))
	r := mux.NewRouter()
	r.SkipClean(true)
	r.UseEncodedPath()
	cs.Routes(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return &diskRig{l: l, occi: osvc, cdmi: cs.Service(), url: srv.URL + "/cdmi"}
}

func (r *diskRig) do(t *testing.T, method, path string, body []byte, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, r.url+path, bytes.NewReader(body))
	require.NoError(t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, out
}

// attach links a new compute to the storage, so its NBD export is
// served; it answers the link's location.
func (r *diskRig) attach(t *testing.T, id string) string {
	t.Helper()
	ctx := context.Background()
	vm, err := r.occi.Create(ctx, occi.KindCompute, []occi.EntityInput{{}})
	require.NoError(t, err)
	link, err := r.occi.Create(ctx, occi.KindStorageLink, []occi.EntityInput{{Source: vm[0].Location, Target: "/storage/" + id}})
	require.NoError(t, err)
	require.Contains(t, r.l.nbd.Exports(), id)
	return link[0].Location
}

// Disk is the container's volume, for exported containers only.
func TestDiskIsTheExportsVolume(t *testing.T) {
	r := newDiskRig(t)
	ctx := context.Background()
	c, _, err := r.cdmi.PutContainer(ctx, cdmi.Administrator(), "/vm/", exportChange("2097152"))
	require.NoError(t, err)
	d, ok, err := r.l.Disk(ctx, c.ObjectID)
	require.NoError(t, err)
	require.True(t, ok)
	size, err := d.Size(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 2097152, size)
	_, err = d.WriteAt(ctx, []byte("x"), size)
	assert.Error(t, err, "a write past the end is refused")

	plain, _, err := r.cdmi.PutContainer(ctx, cdmi.Administrator(), "/plain/", cdmi.ContainerChange{})
	require.NoError(t, err)
	_, ok, err = r.l.Disk(ctx, plain.ObjectID)
	require.NoError(t, err)
	assert.False(t, ok, "a container not exported to OCCI has no disk")

	// A resize on the OCCI side shows in the disk's cdmi_size.
	_, err = r.occi.Update(ctx, "/storage/"+c.ObjectID, occi.EntityInput{Attrs: map[string]any{"occi.storage.size": 4194304.0 / (1 << 30)}})
	require.NoError(t, err)
	o, err := r.cdmi.DataObject(ctx, cdmi.Administrator(), "/vm/"+cdmi.DiskName)
	require.NoError(t, err)
	assert.EqualValues(t, 4194304, o.Size)
}

// Bytes written through CDMI (a ranged PUT of the disk, CDMI 1.1.1 §6.4)
// are what an independent NBD client (libnbd's nbdcopy) reads from the
// volume's export; bytes written over NBD are what CDMI reads back.
func TestDiskBytesAreWhatNBDServes(t *testing.T) {
	_, err := exec.LookPath("nbdcopy")
	testsupport.NeedService(t, "nbdcopy (libnbd-bin)", err == nil)
	r := newDiskRig(t)
	ctx := context.Background()
	c, _, err := r.cdmi.PutContainer(ctx, cdmi.Administrator(), "/vm/", exportChange("4194304"))
	require.NoError(t, err)

	piece := make([]byte, 1<<20)
	for i := range piece {
		piece[i] = byte(i*31 + 1)
	}
	resp, out := r.do(t, http.MethodPut, "/vm/"+cdmi.DiskName, piece, "Content-Range", "bytes 1048576-2097151/*")
	require.Equal(t, http.StatusNoContent, resp.StatusCode, "%s", out)

	r.attach(t, c.ObjectID)
	readThroughNBD(t, r.l.cfg.NBDSocket, c.ObjectID, 1<<20, string(piece))

	// The other way: nbdcopy writes an image onto the export; CDMI reads it.
	img := bytes.Repeat([]byte("nbd->cdmi"), (4<<20)/9+1)[:4<<20]
	src := filepath.Join(t.TempDir(), "img.raw")
	require.NoError(t, os.WriteFile(src, img, 0o600))
	b, err := exec.Command("nbdcopy", src, "nbd+unix:///"+c.ObjectID+"?socket="+r.l.cfg.NBDSocket).CombinedOutput()
	require.NoError(t, err, "%s", b)
	resp, out = r.do(t, http.MethodGet, "/vm/"+cdmi.DiskName, nil, "Range", fmt.Sprintf("bytes=%d-%d", 3<<20, (3<<20)+99))
	require.Equal(t, http.StatusPartialContent, resp.StatusCode, "%s", out)
	assert.Equal(t, img[3<<20:(3<<20)+100], out)
}
