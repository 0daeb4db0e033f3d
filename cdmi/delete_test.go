package cdmi

import (
	"context"
	"encoding/json"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
)

// fillContainer puts n rows below the container at path (subcontainers of
// ten data objects each, every tenth with a value), straight into the
// table: a tree a delete must take whole.
func fillContainer(t *testing.T, ts *testServer, path string, n int) (keys []string) {
	t.Helper()
	svc := ts.cdmi.svc
	resp, body := ts.do("PUT", path, "{}", cdmiHdr(ctContainer)...)
	require.Equal(t, 201, resp.StatusCode, body)
	var top struct{ ObjectID string }
	require.NoError(t, json.Unmarshal([]byte(body), &top))
	now := time.Now().UTC()
	meta := `{"note":"` + strings.Repeat("m", 200) + `"}`
	mk := func(parent, name, typ string) *object {
		id, err := newObjectID(32473)
		require.NoError(t, err)
		return &object{ObjectID: id, ParentID: parent, Name: name, Type: typ, Metadata: meta,
			Owner: "admin", Completion: "Complete", CTime: now, ATime: now, MTime: now}
	}
	require.NoError(t, svc.db.Transaction(func(tx *gorm.DB) error {
		var dir *object
		for i := range n {
			if i%10 == 0 {
				dir = mk(top.ObjectID, "d"+strconv.Itoa(i), typeContainer)
				if err := insertObject(context.Background(), tx, dir); err != nil {
					return err
				}
			}
			o := mk(dir.ObjectID, "o"+strconv.Itoa(i), typeDataObject)
			if i%100 == 0 {
				w, err := svc.putValue(context.Background(), o.ObjectID, strings.NewReader("v"), 1, "")
				if err != nil {
					return err
				}
				o.ValueKey, o.Size = w.Key, w.Size
				keys = append(keys, w.Key)
			}
			if err := insertObject(context.Background(), tx, o); err != nil {
				return err
			}
		}
		return nil
	}))
	return keys
}

func rowsBelow(t *testing.T, db *gorm.DB, top string) int64 {
	t.Helper()
	var n int64
	require.NoError(t, db.Raw("SELECT COUNT(*) FROM ("+subtreeIDs+") s", top).Scan(&n).Error)
	return n
}

// CDMI 1.1.1 §9.7 (deleting a container deletes its children): every row
// and value goes, and the journal of values to delete ends empty.
func TestDeleteContainerTakesItAll(t *testing.T) {
	ts := newTestServer(t)
	keys := fillContainer(t, ts, "/cdmi/big/", 1200)
	t1, err := ts.cdmi.svc.locate(context.Background(), "/cdmi/big/", true)
	require.NoError(t, err)
	require.Equal(t, int64(1200+120+1), rowsBelow(t, ts.cdmi.svc.db, t1.obj.ObjectID))
	resp, body := ts.do("DELETE", "/cdmi/big/", "", v11, "1.1.1")
	require.Equal(t, 204, resp.StatusCode, body)
	assert.Zero(t, rowsBelow(t, ts.cdmi.svc.db, t1.obj.ObjectID))
	for _, k := range keys {
		_, err := ts.cdmi.svc.objs.Size(context.Background(), k)
		assert.Error(t, err, "value %s is gone", k)
	}
	var journaled int64
	require.NoError(t, ts.cdmi.svc.db.Table("cdmi_deleted_values").Count(&journaled).Error)
	assert.Zero(t, journaled)
	resp, _ = ts.do("GET", "/cdmi/big/", "", cdmiHdr(ctContainer)...)
	assert.Equal(t, 404, resp.StatusCode)
}

// A delete's memory does not grow with the subtree: deleting ten times
// the rows allocates about the same (the rows are deleted by statements
// over the subtree, never read into memory).
func TestDeleteMemoryIsBounded(t *testing.T) {
	ts := newTestServer(t)
	fillContainer(t, ts, "/cdmi/small/", 300)
	fillContainer(t, ts, "/cdmi/large/", 3000)
	allocated := func(path string) uint64 {
		tg, err := ts.cdmi.svc.locate(context.Background(), path, false)
		require.NoError(t, err)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		require.NoError(t, ts.cdmi.svc.deleteObject(context.Background(), Administrator(), tg.obj, path))
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	small, large := allocated("/cdmi/small/"), allocated("/cdmi/large/")
	t.Logf("delete of 331 rows: %d bytes allocated; of 3301 rows: %d", small, large)
	assert.Less(t, large, 2*small+256<<10, "allocations grow with the subtree")
}

// Values journaled by a delete that did not get to remove them (a crash
// after the commit) are removed at the next start-up.
func TestJournaledValuesGoAtStartUp(t *testing.T) {
	ts := newTestServer(t)
	svc := ts.cdmi.svc
	w, err := svc.putValue(context.Background(), "x", strings.NewReader("left"), 4, "")
	require.NoError(t, err)
	require.NoError(t, svc.db.Exec("INSERT INTO cdmi_deleted_values (batch, value_key, deleted_at) VALUES (?, ?, ?)",
		newBatchID(), w.Key, time.Now().UTC()).Error)
	b, err := NewService(context.Background(), Config{DB: svc.db, Objects: svc.objs, Root: "/cdmi",
		EnterpriseNumber: 32473, Logger: slog.New(slog.DiscardHandler), TempDir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	_, err = svc.objs.Size(context.Background(), w.Key)
	assert.Error(t, err, "the journaled value is gone")
	var journaled int64
	require.NoError(t, svc.db.Table("cdmi_deleted_values").Count(&journaled).Error)
	assert.Zero(t, journaled)
}
