package cdmi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
)

// sqlLog records the SQL statements a database runs.
type sqlLog struct {
	mu   sync.Mutex
	stmt []string
}

func recordSQL(t testing.TB, db *gorm.DB) *sqlLog {
	t.Helper()
	l := &sqlLog{}
	rec := func(tx *gorm.DB) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.stmt = append(l.stmt, tx.Statement.SQL.String())
	}
	statementHook = func(q string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.stmt = append(l.stmt, q)
	}
	t.Cleanup(func() { statementHook = nil })
	cb := db.Callback()
	for _, err := range []error{
		cb.Query().After("gorm:query").Register("test:record", rec),
		cb.Row().After("gorm:row").Register("test:record", rec),
		cb.Raw().After("gorm:raw").Register("test:record", rec),
		cb.Create().After("gorm:create").Register("test:record", rec),
		cb.Update().After("gorm:update").Register("test:record", rec),
		cb.Delete().After("gorm:delete").Register("test:record", rec),
	} {
		require.NoError(t, err)
	}
	return l
}

// take returns the statements recorded since the last take.
func (l *sqlLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.stmt
	l.stmt = nil
	return out
}

func writes(stmts []string) []string {
	var out []string
	for _, s := range stmts {
		if !strings.HasPrefix(strings.ToUpper(strings.TrimSpace(s)), "SELECT") &&
			!strings.HasPrefix(strings.ToUpper(strings.TrimSpace(s)), "WITH") {
			out = append(out, s)
		}
	}
	return out
}

func storedAccess(t *testing.T, db *gorm.DB, id string) (time.Time, int64) {
	t.Helper()
	var o object
	require.NoError(t, db.Where("object_id = ?", id).Take(&o).Error)
	return o.ATime.UTC(), o.ACount
}

func renderedAccess(t *testing.T, ts *testServer, path string) (time.Time, string) {
	t.Helper()
	return renderedAccessAs(t, ts, path, ctObject)
}

// renderedAccessAs is renderedAccess of an object of content type ct.
func renderedAccessAs(t *testing.T, ts *testServer, path, ct string) (time.Time, string) {
	t.Helper()
	resp, body := ts.do("GET", path+"?metadata", "", cdmiHdr(ct)...)
	require.Equal(t, 200, resp.StatusCode, body)
	var got struct{ Metadata map[string]any }
	require.NoError(t, json.Unmarshal([]byte(body), &got))
	at, err := time.Parse("2006-01-02T15:04:05.999999999Z", got.Metadata["cdmi_atime"].(string))
	require.NoError(t, err)
	return at, got.Metadata["cdmi_acount"].(string)
}

// CDMI 1.1.1 §16.3 Table 118: cdmi_acount is "the number of times that
// the object has been accessed since it was originally created", and the
// storage system metadata "shall immediately be made available ... in any
// subsequent retrievals". Reads write nothing (the accesses are batched,
// access.go), and what they rendered counts every access at once; the
// batch lands in the row on a flush and at Close.
func TestReadsDoNotWrite(t *testing.T) {
	ts := newTestServer(t)
	svc := ts.cdmi.svc
	resp, body := ts.do("PUT", "/cdmi/box/", "{}", cdmiHdr(ctContainer)...)
	require.Equal(t, 201, resp.StatusCode, body)
	resp, body = ts.do("PUT", "/cdmi/box/v", `{"value":"hello"}`, cdmiHdr(ctObject)...)
	require.Equal(t, 201, resp.StatusCode, body)
	var created struct{ ObjectID string }
	require.NoError(t, json.Unmarshal([]byte(body), &created))
	id := created.ObjectID
	require.NoError(t, svc.FlushAccesses(context.Background()))
	at0, n0 := storedAccess(t, svc.db, id)

	sql := recordSQL(t, svc.db)
	reads := []func(){
		func() { ts.do("GET", "/cdmi/box/v", "", cdmiHdr(ctObject)...) },
		func() { ts.do("GET", "/cdmi/box/v", "") },
		func() { ts.do("GET", "/cdmi/box/v", "", "Range", "bytes=1-2") },
		func() { ts.do("GET", "/cdmi/cdmi_objectid/"+id, "", cdmiHdr(ctObject)...) },
		func() {
			rc, err := svc.ReadValue(context.Background(), Administrator(), "/box/v", 0, -1)
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, rc)
			rc.Close()
		},
	}
	for _, read := range reads {
		read()
		assert.Empty(t, writes(sql.take()), "a read writes nothing")
	}
	at, n := storedAccess(t, svc.db, id)
	assert.Equal(t, n0, n, "not written yet")
	assert.Equal(t, at0, at)

	// The rendering counts them: five reads before this one.
	rat, rn := renderedAccess(t, ts, "/cdmi/box/v")
	assert.Equal(t, "5", rn)
	assert.True(t, rat.After(at0), "cdmi_atime %v moves past %v", rat, at0)
	assert.Empty(t, writes(sql.take()))

	// A flush writes them, in one transaction, and the rendering stays.
	require.NoError(t, svc.FlushAccesses(context.Background()))
	assert.Len(t, writes(sql.take()), 1, "one update for the one object read")
	at, n = storedAccess(t, svc.db, id)
	assert.Equal(t, n0+6, n)
	assert.True(t, !at.Before(rat), "stored atime %v, rendered %v", at, rat)
	_, rn = renderedAccess(t, ts, "/cdmi/box/v")
	assert.Equal(t, "6", rn, "nothing counted twice")

	// Close writes the rest.
	ts.do("GET", "/cdmi/box/v", "")
	require.NoError(t, ts.cdmi.Close())
	_, n = storedAccess(t, svc.db, id)
	assert.Equal(t, n0+8, n)
}

// Two servers on one database each write their own accesses: the counts
// add up, and the access time keeps the later of the two whatever order
// the flushes come in.
func TestAccessesOfTwoServers(t *testing.T) {
	ts := newTestServer(t)
	a := ts.cdmi.svc
	b, err := NewService(context.Background(), Config{DB: a.db, Objects: a.objs, Root: "/cdmi",
		EnterpriseNumber: 32473, Logger: slog.New(slog.DiscardHandler), TempDir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	resp, body := ts.do("PUT", "/cdmi/v", `{"value":"x"}`, cdmiHdr(ctObject)...)
	require.Equal(t, 201, resp.StatusCode, body)
	var created struct{ ObjectID string }
	require.NoError(t, json.Unmarshal([]byte(body), &created))
	id := created.ObjectID
	_, n0 := storedAccess(t, a.db, id)

	later := time.Now().UTC().Add(time.Hour).Truncate(time.Microsecond)
	earlier := later.Add(-30 * time.Minute)
	for range 3 {
		a.accesses.record(id, later)
	}
	for range 2 {
		b.accesses.record(id, earlier)
	}
	require.NoError(t, a.FlushAccesses(context.Background()))
	require.NoError(t, b.FlushAccesses(context.Background())) // the earlier time, flushed last
	at, n := storedAccess(t, a.db, id)
	assert.Equal(t, n0+5, n, "both servers' accesses counted")
	assert.True(t, at.Equal(later), "cdmi_atime %v is the later access %v", at, later)
}

// A flush that fails keeps the accesses for the next one.
func TestAccessFlushFailureKeepsAccesses(t *testing.T) {
	ts := newTestServer(t)
	svc := ts.cdmi.svc
	resp, body := ts.do("PUT", "/cdmi/v", `{"value":"x"}`, cdmiHdr(ctObject)...)
	require.Equal(t, 201, resp.StatusCode, body)
	var created struct{ ObjectID string }
	require.NoError(t, json.Unmarshal([]byte(body), &created))
	_, n0 := storedAccess(t, svc.db, created.ObjectID)
	svc.accesses.record(created.ObjectID, time.Now().UTC())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.Error(t, svc.FlushAccesses(ctx))
	require.NoError(t, svc.FlushAccesses(context.Background()))
	_, n := storedAccess(t, svc.db, created.ObjectID)
	assert.Equal(t, n0+1, n)
}

// A read costs one statement (the walk, whatever the path's depth) and
// nothing more: the rendering takes the parent and the lineage from the
// walk.
func TestReadStatements(t *testing.T) {
	ts := newTestServer(t)
	for _, p := range []string{"/cdmi/a/", "/cdmi/a/b/"} {
		resp, body := ts.do("PUT", p, "{}", cdmiHdr(ctContainer)...)
		require.Equal(t, 201, resp.StatusCode, body)
	}
	for _, p := range []string{"/cdmi/v", "/cdmi/a/b/v"} {
		resp, body := ts.do("PUT", p, `{"value":"hello"}`, cdmiHdr(ctObject)...)
		require.Equal(t, 201, resp.StatusCode, body)
	}
	sql := recordSQL(t, ts.cdmi.svc.db)
	for _, c := range []struct {
		path string
		hdr  []string
		want int
	}{
		{"/cdmi/v", cdmiHdr(ctObject), 1},
		{"/cdmi/v", nil, 1},
		{"/cdmi/a/b/v", cdmiHdr(ctObject), 1},
		{"/cdmi/a/b/v", nil, 1},
	} {
		resp, body := ts.do("GET", c.path, "", c.hdr...)
		require.Equal(t, 200, resp.StatusCode, body)
		assert.Len(t, sql.take(), c.want, "GET %s %v", c.path, c.hdr)
	}
}

// CDMI 1.1.1 §16.3 Table 118, cdmi_acount: "Accesses include all reads,
// writes, and lists. For a newly created object, this value shall be set
// to the value "0"." An update of a data object, a container and a queue
// (and an enqueue) counts one access, and moves cdmi_atime with it; the
// create does not.
func TestWritesAreAccesses(t *testing.T) {
	ts := newTestServer(t)
	for _, c := range []struct {
		path, ct, create, update string
		hdr                      []string
	}{
		{"/cdmi/d", ctObject, `{"value":"a"}`, `{"value":"b"}`, nil},
		{"/cdmi/raw", "", "a", "b", []string{"Content-Type", "text/plain"}},
		{"/cdmi/c/", ctContainer, `{}`, `{"metadata":{"k":"v"}}`, nil},
		{"/cdmi/q", ctQueue, `{}`, `{"metadata":{"k":"v"}}`, nil},
	} {
		hdr := c.hdr
		if hdr == nil {
			hdr = cdmiHdr(c.ct)
		}
		resp, body := ts.do("PUT", c.path, c.create, hdr...)
		require.Equal(t, 201, resp.StatusCode, body)
		ct := c.ct
		if ct == "" {
			ct = ctObject
		}
		at0, n := renderedAccessAs(t, ts, c.path, ct)
		assert.Equal(t, "0", n, "%s: a new object's count", c.path)
		resp, body = ts.do("PUT", c.path, c.update, hdr...)
		require.Equal(t, 204, resp.StatusCode, body)
		at, n := renderedAccessAs(t, ts, c.path, ct)
		assert.Equal(t, "2", n, "%s: the read before and the write", c.path)
		assert.True(t, at.After(at0), "%s: cdmi_atime moves with the write", c.path)
	}
	resp, body := ts.do("POST", "/cdmi/q", `{"value":"x"}`, cdmiHdr(ctQueue)...)
	require.Equal(t, 204, resp.StatusCode, body)
	resp, body = ts.do("GET", "/cdmi/q?metadata", "", cdmiHdr(ctQueue)...)
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Contains(t, body, `"cdmi_acount":"4"`, "two reads, the update, the enqueue")
}
