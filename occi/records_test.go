package occi

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
)

// recordCases are entities whose values test every way a stored value
// can differ from what the JSON encoder writes: HTML characters the
// store's encoder escaped, quotes, backslashes and control characters,
// non-ASCII text, numbers in both notations, arrays and objects, a title
// that is not a string, ids that are and are not UUIDs, and a resource
// with links, one of them to an absolute URI.
func recordCases() []*Entity {
	res := &Entity{ID: "8f2c6a1e-0000-4000-8000-000000000001", Location: "/compute/a", Kind: KindCompute,
		Mixins: []string{SchemeResourceTplate + "small", SchemeOSTemplate + "cirros"},
		Attrs: map[string]any{AttrTitle: `<b>web</b> & "co"`, AttrSummary: "tab\there\\ né ✓ \u2028",
			"occi.compute.cores": 2.0, "occi.compute.memory": 1e-7, "occi.compute.speed": 1e21, "occi.compute.state": "active",
			"x.zero": 0.0, "x.big": 123456789012345.0, "x.neg": -3.0, "x.list": []any{"a<b", 1.5, true, nil}, "x.obj": map[string]any{"z": "&", "a": 3.0}, "x.bool": false}}
	odd := &Entity{ID: "my id \"quoted\" <x>", Location: "/compute/odd", Kind: KindCompute,
		Attrs: map[string]any{AttrTitle: 42.0, "occi.compute.state": "inactive", "occi.compute.hostname": "h\u0001"}}
	bare := &Entity{ID: "8F2C6A1E-0000-4000-8000-00000000000B", Location: "/compute/bare", Kind: KindCompute, Attrs: map[string]any{}}
	link := &Entity{ID: "nic-1", Location: "/networkinterface/1", Kind: KindNetworkInterface, Source: "/compute/a",
		Target: "/network/n", SourceKind: KindCompute, TargetKind: KindNetwork,
		Mixins: []string{SchemeNetIface + "ipnetworkinterface"},
		Attrs:  map[string]any{"occi.networkinterface.address": "10.0.0.1", AttrTitle: "nic"}}
	far := &Entity{ID: "far", Location: "/storagelink/far", Kind: KindStorageLink, Source: "/compute/a",
		Target: "http://other.example/storage/x?a=<1>", Attrs: map[string]any{"occi.storagelink.deviceid": "vdb"}}
	return []*Entity{res, odd, bare, link, far}
}

// A record renders as the Entity it holds renders through encoding/json,
// byte for byte, through the listing's reader and the GET's.
func TestRecordJSONMatchesEntityJSON(t *testing.T) {
	db := testDB(t)
	st := store{}
	require.NoError(t, db.Transaction(func(tx *gorm.DB) error {
		for _, e := range recordCases() {
			if err := st.insert(tx, e); err != nil {
				return err
			}
		}
		return nil
	}))
	rd := &renderer{base: "http://cloud.example.org", m: benchModel()}
	o := &op{m: rd.m}
	want := func(e *Entity) string {
		o.fillActions(e)
		for _, l := range e.Links {
			o.fillActions(l)
		}
		return strings.TrimSuffix(string(marshal(rd.entityJSON(e))), "\n")
	}
	rj := newRecordJSON(rd)
	seen := 0
	_, _, err := st.pageRecords(db.WithContext(context.Background()), everyone, filter{}, keyset{Limit: 100}, true, &pageBuf{}, func(r *record) error {
		seen++
		assert.Equal(t, want(r.entity()), string(rj.entity(nil, r)), string(r.loc))
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, len(recordCases()), seen)

	r, err := st.entityRecord(db.WithContext(context.Background()), everyone, "/compute/a", true)
	require.NoError(t, err)
	require.Len(t, r.links, 2)
	e := r.entity()
	got := want(e)
	assert.Equal(t, got, string(rj.entity(nil, r)))
	assert.Contains(t, got, `"title":"<b>web</b> & \"co\""`, "not HTML-escaped")
	assert.Contains(t, got, `"location":"http://other.example/storage/x?a=<1>"`)
	for _, c := range recordCases() {
		if c.Location == "/compute/a" {
			assert.Equal(t, c.Attrs, e.Attrs, "the values read back")
			assert.ElementsMatch(t, c.Mixins, e.Mixins)
		}
	}
}

// The tenancy filter of a GET applies to the entity and to its links.
func TestEntityRecordScope(t *testing.T) {
	db := testDB(t).WithContext(context.Background())
	st := store{}
	for _, e := range recordCases() {
		e.Project = "red"
		require.NoError(t, st.insert(db, e))
	}
	_, err := st.entityRecord(db, scope{project: "blue"}, "/compute/a", true)
	assert.ErrorIs(t, err, errNotFound)
	r, err := st.entityRecord(db, scope{project: "red"}, "/compute/a", true)
	require.NoError(t, err)
	assert.Len(t, r.links, 2)
	r, err = st.entityRecord(db, scope{project: "red"}, "/compute/a", false)
	require.NoError(t, err)
	assert.Empty(t, r.links)
}

// A record parses only as what it is: lengths that run past the end, or
// that are not numbers, are errors, never a shifted entity.
func TestRecordParseRefusesDamage(t *testing.T) {
	var r record
	require.NoError(t, r.parse([]byte("2:/a0:4:kind0:0:0:0:0:M3:m#xA1:n3:\"v\"")))
	assert.Equal(t, "/a", string(r.loc))
	assert.Equal(t, "\"v\"", string(r.attrs[0].value))
	for _, bad := range []string{"9:/a", "x:/a", "2:/a0:4:kind0:0:0:0:0:Q", "2:/a0:4:kind0:0:0:0:0:A1:n"} {
		assert.Error(t, r.parse([]byte(bad)), bad)
	}
}

// Every store write keeps the entity's record: the doc read after it is
// the record the tables give, and a row without one is read from the
// tables.
func TestDocsFollowWrites(t *testing.T) {
	db := testDB(t).WithContext(context.Background())
	st := store{}
	for _, e := range recordCases() {
		require.NoError(t, st.insert(db, e))
	}
	same := func(step string) {
		t.Helper()
		kept := map[string]string{}
		read := func(into map[string]string) {
			_, _, err := st.pageRecords(db, everyone, filter{}, keyset{Limit: 100}, true, &pageBuf{}, func(r *record) error {
				into[string(r.loc)] = string(newRecordJSON(&renderer{m: benchModel()}).entity(nil, r))
				return nil
			})
			require.NoError(t, err)
		}
		read(kept)
		var docs int64
		require.NoError(t, db.Table("occi_entities").Where("doc <> ''").Count(&docs).Error)
		assert.EqualValues(t, len(kept), docs, "%s: every row has its doc", step)
		require.NoError(t, db.Exec("UPDATE occi_entities SET doc = ''").Error)
		computed := map[string]string{}
		read(computed)
		assert.Equal(t, computed, kept, step)
		require.NoError(t, st.refreshDocs(db, "/compute/a", "/compute/odd", "/compute/bare", "/networkinterface/1", "/storagelink/far"))
	}
	same("insert")
	require.NoError(t, st.setAttrs(db, "/compute/a", map[string]any{"occi.compute.cores": 8.0, "x.bool": nil}))
	same("setAttrs")
	e, err := st.entity(db, everyone, "/networkinterface/1", false)
	require.NoError(t, err)
	e.Target, e.Mixins, e.Attrs = "/network/m", nil, map[string]any{"occi.networkinterface.address": "10.0.0.2"}
	require.NoError(t, st.replace(db, e))
	same("replace")
	require.NoError(t, st.deleteUserMixin(db, SchemeOSTemplate+"cirros"))
	same("deleteUserMixin")
	r, err := st.entityRecord(db, everyone, "/compute/a", true)
	require.NoError(t, err)
	assert.Len(t, r.mixins, 1)
	assert.Equal(t, "/network/m", string(r.links[0].target))
}

// The database renders each page of a text listing in location order,
// every location once, pages following each other (GFD.223 §3.1).
func TestEachTextInOrder(t *testing.T) {
	smallPages(t)
	db := testDB(t)
	n := 2*streamPage + 13
	insertComputes(t, db, n)
	s, err := NewService(context.Background(), Config{DB: db, Logger: discardLogger()})
	require.NoError(t, err)
	var want []string
	require.NoError(t, s.EachLocation(context.Background(), Query{Collection: KindCompute}, func(l string) error {
		want = append(want, "<"+l+">")
		return nil
	}))
	var b strings.Builder
	pages := 0
	require.NoError(t, s.eachText(context.Background(), Query{Collection: KindCompute}, "<", ">", func(p []byte) error {
		pages++
		b.Write(p)
		return nil
	}))
	assert.Equal(t, strings.Join(want, ""), b.String())
	assert.Equal(t, 3, pages)
	assert.Len(t, want, n)
}

// A GFD.223 §5 page streams: resources and links of one pass over the
// page (the links held back), the same members List gives, across
// stream pages; text pages too.
func TestPagesStream(t *testing.T) {
	smallPages(t)
	r := newRig(t, Config{})
	insertComputes(t, r.db, 2*streamPage)
	number := streamPage + 20 // crosses a stream page, and the computes' end
	svc, err := NewService(context.Background(), Config{DB: r.db, Logger: discardLogger()})
	require.NoError(t, err)
	want, err := svc.List(context.Background(), Query{Prefix: "/", Page: 2, Number: number})
	require.NoError(t, err)
	var wantRes, wantLinks int
	for _, l := range want.Locations {
		if strings.HasPrefix(l, "/networkinterface/") {
			wantLinks++
		} else {
			wantRes++
		}
	}
	require.Positive(t, wantRes)
	require.Positive(t, wantLinks)
	q := fmt.Sprintf("/?page=2&number=%d", number)
	resp, body := r.do("GET", q, "", "Accept: application/occi+json")
	require.Equal(t, 200, resp.StatusCode)
	var doc struct{ Resources, Links []json.RawMessage }
	require.NoError(t, json.Unmarshal([]byte(body), &doc), body)
	assert.Len(t, doc.Resources, wantRes)
	assert.Len(t, doc.Links, wantLinks)
	_, body = r.do("GET", q, "", "Accept: text/uri-list")
	var locs []string
	for _, l := range want.Locations {
		locs = append(locs, r.url+l+"\r\n")
	}
	assert.Equal(t, strings.Join(locs, ""), body)
}

// A text/occi listing (GFD.229 §7: the members in one X-OCCI-Location
// header) is written a page at a time over a connection the handler
// takes over: the header holds every member once, in order, the body is
// "OK", and the connection closes after it. An empty listing has no
// such header; a HEAD has no body.
func TestTextOCCIListingStreams(t *testing.T) {
	smallPages(t)
	r := newRig(t, Config{})
	n := 2*streamPage + 3
	insertComputes(t, r.db, n)
	var want []string
	for i := 0; i < n; i++ {
		want = append(want, r.url+benchEntity(i).Location)
	}
	resp, body := r.do("GET", "/compute/", "", "Accept: text/occi")
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "OK", body)
	assert.Equal(t, strings.Join(want, ", "), resp.Header.Get("X-OCCI-Location"))
	assert.Equal(t, "text/occi", resp.Header.Get("Content-Type"))
	assert.True(t, resp.Close, "the connection closes after the answer")

	resp, body = r.do("HEAD", "/compute/", "", "Accept: text/occi")
	require.Equal(t, 200, resp.StatusCode)
	assert.Empty(t, body)
	assert.Equal(t, strings.Join(want, ", "), resp.Header.Get("X-OCCI-Location"))

	resp, body = r.do("GET", "/storage/", "", "Accept: text/occi")
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "OK", body)
	assert.Empty(t, resp.Header.Values("X-OCCI-Location"))

	resp, _ = r.do("GET", "/compute/", "", "Accept: text/occi", "Category: nope; scheme=\"http://x/#\"; class=\"kind\"")
	assert.Equal(t, 400, resp.StatusCode, "a bad filter is answered before anything streams")
}
