package cdmi

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/internal/kind"
)

// The service used from Go, without HTTP: a container and a data object
// created from an io.Reader, the value read back by range (§8.4 value
// ranges), and an ACL evaluated for a principal who is not the
// administrator (§16.1.6).
func TestServiceFromGo(t *testing.T) {
	svc := newTestServer(t).cdmi.Service()
	ctx := context.Background()
	admin := Administrator()

	box, created, err := svc.PutContainer(ctx, admin, "/box/", ContainerChange{Metadata: map[string]any{"colour": "blue"}})
	require.NoError(t, err)
	assert.True(t, created)
	assert.Equal(t, "/cdmi/box/", box.Path)
	assert.Equal(t, "blue", box.Metadata["colour"])

	value := "Hello CDMI world"
	obj, created, err := svc.PutDataObject(ctx, admin, "/box/hello.txt", DataObjectChange{Value: strings.NewReader(value), Size: int64(len(value))})
	require.NoError(t, err)
	assert.True(t, created)
	assert.Equal(t, box.ObjectID, obj.ParentID)
	assert.Equal(t, int64(len(value)), obj.Size)
	assert.Equal(t, "utf-8", obj.Encoding)
	assert.Equal(t, "/cdmi/box/hello.txt", obj.Path)

	rc, err := svc.ReadValue(ctx, admin, "/box/hello.txt", 6, 4)
	require.NoError(t, err)
	got, err := io.ReadAll(rc)
	require.NoError(t, rc.Close())
	require.NoError(t, err)
	assert.Equal(t, "CDMI", string(got))

	// A range write keeps the bytes around it.
	_, created, err = svc.PutDataObject(ctx, admin, "/box/hello.txt", DataObjectChange{Value: strings.NewReader("cdmi"), Size: 4, Range: &Range{First: 6, Last: 9}})
	require.NoError(t, err)
	assert.False(t, created)
	rc, err = svc.ReadValue(ctx, admin, "/cdmi/box/hello.txt", 0, -1)
	require.NoError(t, err)
	got, _ = io.ReadAll(rc)
	rc.Close()
	assert.Equal(t, "Hello cdmi world", string(got))

	// The root's default ACL (defaultRootACL) lets only an object's owner
	// (its creator) at it: to anyone else it is not there (404), even by
	// ID. A grant in its ACL (§16.1.6) makes it there for the grantee,
	// for what is granted and no more (§16.1.5: 403).
	mallory := Principal{Name: "mallory", Anon: true}
	err = svc.Authorize(ctx, mallory, "/box/hello.txt", AccessRead)
	assert.Equal(t, kind.NotFound, kind.Of(err), "%v", err)
	_, err = svc.ReadValue(ctx, mallory, "/box/hello.txt", 0, -1)
	assert.Equal(t, kind.NotFound, kind.Of(err), "%v", err)
	bob := Principal{Name: "bob"}
	byID := "/cdmi_objectid/" + obj.ObjectID
	assert.Equal(t, kind.NotFound, kind.Of(svc.Authorize(ctx, bob, byID, AccessRead)))
	assert.Equal(t, kind.NotFound, kind.Of(svc.Delete(ctx, bob, "/box/hello.txt")))
	_, _, err = svc.PutDataObject(ctx, admin, "/box/hello.txt", DataObjectChange{Metadata: map[string]any{"cdmi_acl": []any{
		map[string]any{"acetype": "ALLOW", "identifier": "bob", "aceflags": "NO_FLAGS", "acemask": "READ_ALL"}}}})
	require.NoError(t, err)
	assert.NoError(t, svc.Authorize(ctx, bob, byID, AccessRead))
	assert.Equal(t, kind.Forbidden, kind.Of(svc.Authorize(ctx, bob, byID, AccessWrite)))
	assert.Equal(t, kind.Forbidden, kind.Of(svc.Delete(ctx, bob, byID)))
	assert.Equal(t, kind.NotFound, kind.Of(svc.Authorize(ctx, bob, "/box/hello.txt", AccessRead)),
		"by path, the container on the way is not there for bob")
	assert.NoError(t, svc.Authorize(ctx, admin, "/box/hello.txt", AccessWrite|AccessDelete))

	_, err = svc.DataObject(ctx, admin, "/box/missing")
	assert.Equal(t, kind.NotFound, kind.Of(err))
	require.NoError(t, svc.Delete(ctx, admin, "/box/"))
	_, err = svc.Container(ctx, admin, "/box/")
	assert.Equal(t, kind.NotFound, kind.Of(err))
}

// fakeHook records the export hook's phases and fails where told.
type fakeHook struct {
	mu                                    sync.Mutex
	calls                                 []string
	containers                            []Container
	failPrepare, failCommit, failUnexport error
	failPrepareUnexport                   error
}

func (h *fakeHook) record(call string, c Container) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, call)
	h.containers = append(h.containers, c)
}

func (h *fakeHook) undo(what string, c Container) Undo {
	return func(context.Context) error { h.record("undo "+what, c); return nil }
}

func (h *fakeHook) PrepareExport(_ context.Context, c Container, e OCCIExport) (Undo, error) {
	if h.failPrepare != nil {
		return nil, h.failPrepare
	}
	h.record("prepare export "+e.Protocol, c)
	return h.undo("export "+e.Protocol, c), nil
}

func (h *fakeHook) CommitExport(_ context.Context, tx *gorm.DB, c Container, e OCCIExport) error {
	if tx == nil {
		return errors.New("no transaction")
	}
	if h.failCommit != nil {
		return h.failCommit
	}
	h.record("commit export "+e.Protocol, c)
	return nil
}

func (h *fakeHook) PrepareUnexport(_ context.Context, c Container, e OCCIExport) (Undo, error) {
	if h.failPrepareUnexport != nil {
		return nil, h.failPrepareUnexport
	}
	h.record("prepare unexport "+e.Protocol, c)
	return h.undo("unexport "+e.Protocol, c), nil
}

func (h *fakeHook) CommitUnexport(_ context.Context, _ *gorm.DB, c Container, e OCCIExport) error {
	if h.failUnexport != nil {
		return h.failUnexport
	}
	h.record("commit unexport "+e.Protocol, c)
	return nil
}

func (h *fakeHook) reset() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	calls := h.calls
	h.calls, h.containers = nil, nil
	return calls
}

const occiExport = `{"exports":{"OCCI/iSCSI":{"permissions":["http://h/compute/1"]}},"metadata":{"cdmi_assignedsize":"1048576"}}`

// CDMI 1.1.1 §13.6: an OCCI export is prepared outside the transaction and
// committed inside it, with the container as it will be.
func TestExportHookPreparesThenCommits(t *testing.T) {
	hook := &fakeHook{}
	ts := newTestServer(t, func(c *Config) { c.ExportHook = hook })
	resp, body := ts.do("PUT", "/cdmi/vol/", occiExport, cdmiHdr(ctContainer)...)
	require.Equal(t, 201, resp.StatusCode, body)
	id := decode(t, body)["objectID"].(string)
	assert.Equal(t, []string{"prepare export iSCSI", "commit export iSCSI"}, hook.calls)
	for _, c := range hook.containers {
		assert.Equal(t, id, c.ObjectID)
		assert.Equal(t, "/cdmi/vol/", c.Path)
		assert.Equal(t, int64(1048576), c.AssignedSize)
	}
	hook.reset()

	// Removing the export (null, §9.5) and deleting the container go
	// through the same two phases.
	resp, body = ts.do("PUT", "/cdmi/vol/", `{"exports":{"OCCI/iSCSI":null}}`, cdmiHdr(ctContainer)...)
	require.Equal(t, 204, resp.StatusCode, body)
	assert.Equal(t, []string{"prepare unexport iSCSI", "commit unexport iSCSI"}, hook.reset())
	resp, body = ts.do("PUT", "/cdmi/vol/", occiExport, cdmiHdr(ctContainer)...)
	require.Equal(t, 204, resp.StatusCode, body)
	hook.reset()
	resp, body = ts.do("DELETE", "/cdmi/vol/", "", cdmiHdr("")...)
	require.Equal(t, 204, resp.StatusCode, body)
	assert.Equal(t, []string{"prepare unexport iSCSI", "commit unexport iSCSI"}, hook.reset())
}

// A commit that fails undoes the prepare and leaves no row behind; an error
// without a kind is the client's 400, as before the hook had phases.
func TestExportHookCommitFailureUndoes(t *testing.T) {
	hook := &fakeHook{failCommit: errors.New("no such compute")}
	ts := newTestServer(t, func(c *Config) { c.ExportHook = hook })
	resp, body := ts.do("PUT", "/cdmi/vol/", occiExport, cdmiHdr(ctContainer)...)
	assert.Equal(t, 400, resp.StatusCode, body)
	assert.Contains(t, body, "no such compute")
	assert.Equal(t, []string{"prepare export iSCSI", "undo export iSCSI"}, hook.calls)
	resp, _ = ts.do("GET", "/cdmi/vol/", "", cdmiHdr(ctContainer)...)
	assert.Equal(t, 404, resp.StatusCode, "no container row")
}

// A backend the hook cannot reach answers 503 (kinds pass through the
// hook), on export and on delete, and changes nothing.
func TestExportHookUnavailableIs503(t *testing.T) {
	hook := &fakeHook{failPrepare: kind.Wrap(kind.Unavailable, errors.New("dial tcp: connection refused"), "volume backend")}
	ts := newTestServer(t, func(c *Config) { c.ExportHook = hook })
	resp, body := ts.do("PUT", "/cdmi/vol/", occiExport, cdmiHdr(ctContainer)...)
	assert.Equal(t, 503, resp.StatusCode, body)
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))
	resp, _ = ts.do("GET", "/cdmi/vol/", "", cdmiHdr(ctContainer)...)
	assert.Equal(t, 404, resp.StatusCode)

	hook.failPrepare = nil
	resp, body = ts.do("PUT", "/cdmi/vol/", occiExport, cdmiHdr(ctContainer)...)
	require.Equal(t, 201, resp.StatusCode, body)
	hook.reset()
	hook.failUnexport = kind.Wrap(kind.Unavailable, errors.New("timeout"), "volume backend")
	resp, body = ts.do("DELETE", "/cdmi/vol/", "", cdmiHdr("")...)
	assert.Equal(t, 503, resp.StatusCode, body)
	assert.Equal(t, []string{"prepare unexport iSCSI", "undo unexport iSCSI"}, hook.reset())
	resp, _ = ts.do("GET", "/cdmi/vol/?exports", "", cdmiHdr(ctContainer)...)
	assert.Equal(t, 200, resp.StatusCode, "the container stays")

	// A refusal without a kind keeps the container too: 409 on delete.
	hook.failUnexport = errors.New("attached to a running compute")
	resp, body = ts.do("DELETE", "/cdmi/vol/", "", cdmiHdr("")...)
	assert.Equal(t, 409, resp.StatusCode, body)
}
