package linkage

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/cdmi"
	"github.com/occicdmi/occicdmi/computebackends/sim"
	"github.com/occicdmi/occicdmi/internal/kind"
	"github.com/occicdmi/occicdmi/internal/testsupport"
	"github.com/occicdmi/occicdmi/occi"
	"github.com/occicdmi/occicdmi/storagebackends"
	"github.com/occicdmi/occicdmi/storagebackends/fs"
)

// faultyVolumes is fs volumes that can be made unreachable.
type faultyVolumes struct {
	storagebackends.Volumes
	mu   sync.Mutex
	down bool
}

func (f *faultyVolumes) setDown(d bool) { f.mu.Lock(); f.down = d; f.mu.Unlock() }

func (f *faultyVolumes) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return fmt.Errorf("fs: %w", storagebackends.ErrUnavailable)
	}
	return nil
}

func (f *faultyVolumes) CreateVolume(ctx context.Context, name string, size int64) error {
	if err := f.err(); err != nil {
		return err
	}
	return f.Volumes.CreateVolume(ctx, name, size)
}

type rig struct {
	l    *Linkage
	occi *occi.Service
	cdmi *cdmi.Service
	vols *faultyVolumes
}

func newRig(t *testing.T) *rig {
	t.Helper()
	ctx := context.Background()
	db := testsupport.DB(t)
	dir := t.TempDir()
	fv, err := fs.NewVolumes(filepath.Join(dir, "volumes"))
	require.NoError(t, err)
	objs, err := fs.NewObjects(filepath.Join(dir, "objects"))
	require.NoError(t, err)
	vols := &faultyVolumes{Volumes: fv}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	l, err := New(Config{DB: db, Volumes: vols, NBDSocket: filepath.Join(dir, "nbd.sock"), Logger: log})
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	cs, err := cdmi.NewService(ctx, cdmi.Config{DB: db, Objects: objs, Root: "/cdmi", EnterpriseNumber: 32473, Logger: log, TempDir: dir, ExportHook: l})
	require.NoError(t, err)
	osvc, err := occi.NewService(ctx, occi.Config{DB: db, Compute: sim.New(db), Volumes: l, Categories: Categories(), Logger: log})
	require.NoError(t, err)
	require.NoError(t, l.Connect(ctx, osvc, cs))
	return &rig{l: l, occi: osvc, cdmi: cs, vols: vols}
}

func exportChange(size string) cdmi.ContainerChange {
	return cdmi.ContainerChange{
		Metadata: map[string]any{"cdmi_assignedsize": size},
		Exports:  map[string]any{"OCCI/NBD": map[string]any{}},
	}
}

// With the volume backend down, an export is refused as unavailable (503
// over HTTP, not 400), and nothing is left on either side: no container,
// no OCCI storage, no volume; once it is back the same request succeeds.
func TestVolumeBackendDownLeavesNothing(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.vols.setDown(true)
	_, _, err := r.cdmi.PutContainer(ctx, cdmi.Administrator(), "/vol/", exportChange("1048576"))
	require.Error(t, err)
	assert.Equal(t, kind.Unavailable, kind.Of(err), "%v", err)
	_, err = r.cdmi.Container(ctx, cdmi.Administrator(), "/vol/")
	assert.Equal(t, kind.NotFound, kind.Of(err))
	got, err := r.occi.List(ctx, occi.Query{Collection: occi.KindStorage})
	require.NoError(t, err)
	assert.Empty(t, got.Locations)

	_, err = r.occi.Create(ctx, occi.KindStorage, []occi.EntityInput{{Attrs: map[string]any{"occi.storage.size": 0.001}}})
	assert.Equal(t, kind.Unavailable, kind.Of(err), "%v", err)
	got, err = r.occi.List(ctx, occi.Query{Collection: occi.KindStorage})
	require.NoError(t, err)
	assert.Empty(t, got.Locations)

	r.vols.setDown(false)
	c, created, err := r.cdmi.PutContainer(ctx, cdmi.Administrator(), "/vol/", exportChange("1048576"))
	require.NoError(t, err)
	assert.True(t, created)
	size, err := r.vols.VolumeSize(ctx, c.ObjectID)
	require.NoError(t, err)
	assert.EqualValues(t, 1048576, size, "the volume is named by the objectID, sized by cdmi_assignedsize")
	s, err := r.occi.Get(ctx, "/storage/"+c.ObjectID)
	require.NoError(t, err)
	assert.Contains(t, s.Mixins, MixinCDMI)
	assert.Equal(t, c.ObjectID, s.Attrs[AttrObjectID])
}

// A storagelink over OCCI/NBD is served on the NBD socket under the
// container's objectID, only while a link exists; the volume's bytes are
// what the NBD client reads.
func TestNBDExportFollowsTheLink(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	c, _, err := r.cdmi.PutContainer(ctx, cdmi.Administrator(), "/disk/", exportChange("1048576"))
	require.NoError(t, err)
	_, err = r.vols.WriteAt(ctx, c.ObjectID, []byte("occicdmi"), 512)
	require.NoError(t, err)

	vm, err := r.occi.Create(ctx, occi.KindCompute, []occi.EntityInput{{}})
	require.NoError(t, err)
	links, err := r.occi.Create(ctx, occi.KindStorageLink, []occi.EntityInput{{Source: vm[0].Location, Target: "/storage/" + c.ObjectID}})
	require.NoError(t, err)
	assert.Equal(t, []string{c.ObjectID}, r.l.nbd.Exports())
	readThroughNBD(t, r.l.cfg.NBDSocket, c.ObjectID, 512, "occicdmi")

	require.NoError(t, r.occi.Delete(ctx, links[0].Location))
	assert.Empty(t, r.l.nbd.Exports(), "the export ends with its last link")
}

// readThroughNBD reads the export with an independent NBD client (libnbd's
// nbdcopy) and checks want at off.
func readThroughNBD(t *testing.T, socket, export string, off int, want string) {
	t.Helper()
	_, err := exec.LookPath("nbdcopy")
	testsupport.NeedService(t, "nbdcopy (libnbd-bin)", err == nil)
	out := filepath.Join(t.TempDir(), "disk.raw")
	cmd := exec.Command("nbdcopy", "nbd+unix:///"+export+"?socket="+socket, out)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", b)
	got, err := os.ReadFile(out)
	require.NoError(t, err)
	require.Greater(t, len(got), off+len(want))
	assert.Equal(t, want, string(got[off:off+len(want)]))
}

// Changing the size on either side resizes the volume and shows on the
// other: cdmi_assignedsize on the container, occi.storage.size on the
// storage.
func TestResizeFromEitherSide(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	c, _, err := r.cdmi.PutContainer(ctx, cdmi.Administrator(), "/grow/", exportChange("1048576"))
	require.NoError(t, err)

	_, _, err = r.cdmi.PutContainer(ctx, cdmi.Administrator(), "/grow/", cdmi.ContainerChange{
		Metadata: map[string]any{"cdmi_assignedsize": "2097152"}, MetadataNames: []string{"cdmi_assignedsize"}})
	require.NoError(t, err)
	size, err := r.vols.VolumeSize(ctx, c.ObjectID)
	require.NoError(t, err)
	assert.EqualValues(t, 2097152, size, "CDMI side: the volume follows cdmi_assignedsize")
	s, err := r.occi.Get(ctx, "/storage/"+c.ObjectID)
	require.NoError(t, err)
	assert.InDelta(t, 2097152.0/(1<<30), s.Attrs["occi.storage.size"], 1e-12)

	_, err = r.occi.Update(ctx, "/storage/"+c.ObjectID, occi.EntityInput{Attrs: map[string]any{"occi.storage.size": 4194304.0 / (1 << 30)}})
	require.NoError(t, err)
	size, err = r.vols.VolumeSize(ctx, c.ObjectID)
	require.NoError(t, err)
	assert.EqualValues(t, 4194304, size, "OCCI side: the volume follows occi.storage.size")
	got, err := r.cdmi.Container(ctx, cdmi.Administrator(), "/grow/")
	require.NoError(t, err)
	assert.EqualValues(t, 4194304, got.AssignedSize)
}

// A crash between the container's commit and the OCCI storage's (OCCI
// first) leaves a container exported to OCCI with no storage: the start-up
// sweep deletes it, with its volume, once it is old enough not to be a
// create under way; a fresh one is left alone.
func TestSweepRemovesHalfMadeOCCIStorage(t *testing.T) {
	r := newRig(t)
	ctx := withFromOCCI(context.Background(), fromOCCI{storage: "lost", size: 1 << 20})
	require.NoError(t, r.l.ensureStoragePath(ctx))
	c, _, err := r.cdmi.PutContainer(ctx, cdmi.Administrator(), "/occi-storage/lost/", exportChange("1048576"))
	require.NoError(t, err)
	require.NoError(t, r.l.sweep(context.Background()))
	_, err = r.cdmi.Container(context.Background(), cdmi.Administrator(), "/occi-storage/lost/")
	require.NoError(t, err, "too young to be swept")

	require.NoError(t, r.l.cfg.DB.Model(&export{}).Where("container_id = ?", c.ObjectID).
		Update("created_at", time.Now().Add(-2*sweepAge)).Error)
	require.NoError(t, r.l.sweep(context.Background()))
	_, err = r.cdmi.Container(context.Background(), cdmi.Administrator(), "/occi-storage/lost/")
	assert.Equal(t, kind.NotFound, kind.Of(err))
	_, err = r.vols.VolumeSize(context.Background(), c.ObjectID)
	assert.Equal(t, kind.NotFound, kind.Of(err), "its volume went too")
}
