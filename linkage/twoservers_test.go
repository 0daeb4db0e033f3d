package linkage

import (
	"context"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/cdmi"
	"github.com/occicdmi/occicdmi/internal/testsupport"
	"github.com/occicdmi/occicdmi/occi"
)

// nbdSize is what nbdinfo says of an export on a socket ("" when refused).
func nbdSize(socket, export string) string {
	b, err := exec.Command("nbdinfo", "--size", "nbd+unix:///"+export+"?socket="+socket).CombinedOutput()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Two server processes on one database (issue 9 item 5: "two servers on
// one PostgreSQL see the same linkage"), each with its own NBD socket: the
// database, not the process that attached the link, says what is served.
// Either serves an export the other attached (QEMU may be pointed at
// either); a storagelink deleted or an offline taken through one stops
// both from admitting new clients, and online through the other brings
// it back.
func TestTwoServersOneDatabase(t *testing.T) {
	needTools(t, "nbdinfo", "nbdcopy")
	db := testsupport.DB(t)
	shared := t.TempDir()
	a := newDiskRigOn(t, db, shared)
	b := newDiskRigOn(t, testsupport.SecondHandle(t, db), shared)
	ctx := context.Background()

	c, _, err := a.cdmi.PutContainer(ctx, cdmi.Administrator(), "/vm/", exportChange("1048576"))
	require.NoError(t, err)
	_, err = b.occi.Get(ctx, "/storage/"+c.ObjectID)
	require.NoError(t, err, "the other server sees the storage")
	// User mixins are cached per process (issue 13): one created through
	// a is in b's query interface though b's cache was warm.
	tag := &occi.Category{Scheme: "http://two.example/t#", Term: "shared", Class: occi.ClassMixin}
	require.NoError(t, a.occi.AddMixins(ctx, []*occi.Category{tag}))
	cats, err := b.occi.Categories(ctx, nil)
	require.NoError(t, err)
	assert.True(t, slices.ContainsFunc(cats, func(c *occi.Category) bool { return c.ID() == tag.ID() }),
		"the other server sees the mixin")
	piece := strings.Repeat("two servers ", 100)
	resp, out := b.do(t, http.MethodPut, "/vm/"+cdmi.DiskName, []byte(piece), "Content-Range", "bytes 4096-5295/*")
	require.Equal(t, http.StatusNoContent, resp.StatusCode, "%s", out)

	assert.Empty(t, nbdSize(a.l.cfg.NBDSocket, c.ObjectID), "no storagelink: not served")
	link := a.attach(t, c.ObjectID)
	assert.Equal(t, "1048576", nbdSize(a.l.cfg.NBDSocket, c.ObjectID), "served by the server that attached it")
	readThroughNBD(t, b.l.cfg.NBDSocket, c.ObjectID, 4096, piece) // and by the other, the bytes either wrote

	require.NoError(t, b.l.SetOnline(ctx, c.ObjectID, false))
	assert.Empty(t, nbdSize(a.l.cfg.NBDSocket, c.ObjectID), "offline through the other server: refused here too")
	require.NoError(t, a.l.SetOnline(ctx, c.ObjectID, true))
	assert.Equal(t, "1048576", nbdSize(b.l.cfg.NBDSocket, c.ObjectID), "online again")

	require.NoError(t, b.occi.Delete(ctx, link))
	assert.Empty(t, nbdSize(a.l.cfg.NBDSocket, c.ObjectID), "the link deleted through the other server: the attaching one serves it no more")
	assert.Empty(t, nbdSize(b.l.cfg.NBDSocket, c.ObjectID))
}

// Two servers on one database, neither its only writer, see each other's
// changes at the next OCCI GET, though each GET before was answered: the
// GET cache (issue 13) is off. On PostgreSQL both claim to be the only
// writer (occi.Config.SoleWriter) and are not believed; on a shared
// SQLite file they claim nothing, as the app, which sets the option
// from its hold on the file's lock, would have them. The changes are
// OCCI's own (an update, an action: sim's state, a link) and the
// linkage's inside CDMI's transactions (a resize, a deleted storage).
func TestTwoServersSeeEachOthersOCCIChanges(t *testing.T) {
	ctx := context.Background()
	db := testsupport.DB(t)
	shared := t.TempDir()
	claim := db.Dialector.Name() == "postgres"
	a := newHTTPRig(t, db, shared, claim)
	b := newHTTPRig(t, testsupport.SecondHandle(t, db), shared, claim)
	admin := cdmi.Administrator()

	c, _, err := a.cdmi.Service().PutContainer(ctx, admin, "/vm/", exportChange("1073741824"))
	require.NoError(t, err)
	storage := "/storage/" + c.ObjectID
	assert.EqualValues(t, 1, storageSize(b.warm(storage)))
	_, _, err = a.cdmi.Service().PutContainer(ctx, admin, "/vm/", exportChange("2147483648"))
	require.NoError(t, err)
	assert.EqualValues(t, 2, storageSize(b.warm(storage)), "a's resize, at b")

	vm, err := b.occi.Service().Create(ctx, occi.KindCompute, []occi.EntityInput{{Attrs: map[string]any{occi.AttrTitle: "one"}}})
	require.NoError(t, err)
	loc := vm[0].Location
	attrs := func(body map[string]any) map[string]any { m, _ := body["attributes"].(map[string]any); return m }
	assert.Equal(t, "inactive", attrs(b.warm(loc))["occi.compute.state"])
	_, err = a.occi.Service().Update(ctx, loc, occi.EntityInput{Attrs: map[string]any{occi.AttrTitle: "two"}})
	require.NoError(t, err)
	assert.Equal(t, "two", b.warm(loc)["title"], "a's update, at b")
	_, err = a.occi.Service().Act(ctx, loc, occi.Invocation{Term: "start"})
	require.NoError(t, err)
	assert.Equal(t, "active", attrs(b.warm(loc))["occi.compute.state"], "a's action, at b")
	link, err := a.occi.Service().Create(ctx, occi.KindStorageLink, []occi.EntityInput{{Source: loc, Target: storage}})
	require.NoError(t, err)
	assert.Len(t, b.warm(loc)["links"], 1, "a's storagelink, at b")
	require.NoError(t, a.occi.Service().Delete(ctx, link[0].Location))
	assert.Empty(t, b.warm(loc)["links"], "a's storagelink deleted, at b")

	require.NoError(t, a.cdmi.Service().Delete(ctx, admin, "/vm/"))
	code, _ := b.get(storage)
	assert.Equal(t, http.StatusNotFound, code, "a's unexport, at b")
}
