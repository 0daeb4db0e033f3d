package occi

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/computebackends/sim"
)

// smallPages makes stream pages small for the test.
func smallPages(t *testing.T) {
	old := streamPage
	streamPage = 40
	t.Cleanup(func() { streamPage = old })
}

// insertComputes stores n computes straight through the store, the even
// ones red's and the odd ones blue's, every third with 4 cores, each with
// a link out of it.
func insertComputes(t *testing.T, db *gorm.DB, n int) {
	t.Helper()
	require.NoError(t, db.Transaction(func(tx *gorm.DB) error {
		for i := 0; i < n; i++ {
			e := benchEntity(i)
			e.Actions = nil
			e.Project = []string{"red", "blue"}[i%2]
			if i%3 == 0 {
				e.Attrs["occi.compute.cores"] = 4.0
			}
			if err := (store{}).insert(tx, e); err != nil {
				return err
			}
			l := &Entity{ID: fmt.Sprintf("nic-%d", i), Location: fmt.Sprintf("/networkinterface/nic-%d", i),
				Kind: KindNetworkInterface, Source: e.Location, Target: "/network/n", SourceKind: KindCompute,
				TargetKind: KindNetwork, Project: e.Project, Attrs: map[string]any{AttrTitle: "nic"}}
			if err := (store{}).insert(tx, l); err != nil {
				return err
			}
		}
		return nil
	}))
}

// A listing longer than a stream page (streamPage) comes whole, in
// location order, once each, with each resource's own links, and only
// the caller's project's (the tenancy filter) and what the attribute
// filter selects (GFD.223 §3.1, §6.2).
func TestEachPagesThroughTheListing(t *testing.T) {
	smallPages(t)
	db := testDB(t)
	n := 2*streamPage + 101
	insertComputes(t, db, n)
	s, err := NewService(context.Background(), Config{DB: db, Compute: sim.New(db), Logger: discardLogger()})
	require.NoError(t, err)
	red := WithCaller(context.Background(), Caller{Project: "red"})

	var locs []string
	require.NoError(t, s.EachLocation(context.Background(), Query{Collection: KindCompute}, func(l string) error {
		locs = append(locs, l)
		return nil
	}))
	assert.Len(t, locs, n)
	assert.True(t, sort.StringsAreSorted(locs))

	var got []*Entity
	require.NoError(t, s.Each(red, Query{Collection: KindCompute}, func(e *Entity) error {
		got = append(got, e)
		return nil
	}))
	require.Len(t, got, (n+1)/2)
	for i, e := range got {
		assert.Equal(t, "red", e.Project)
		require.Len(t, e.Links, 1, e.Location)
		assert.Equal(t, e.Location, e.Links[0].Source)
		assert.Equal(t, "nic", e.Links[0].Attrs[AttrTitle])
		assert.Equal(t, benchEntity(2*i).Location, e.Location, "in order, none skipped")
		assert.NotEmpty(t, e.Actions)
	}

	count := 0
	require.NoError(t, s.Each(red, Query{Collection: KindCompute, Attrs: map[string]any{"occi.compute.cores": 4.0}},
		func(e *Entity) error {
			count++
			assert.Equal(t, 4.0, e.Attrs["occi.compute.cores"])
			return nil
		}))
	assert.Equal(t, (n+5)/6, count, "every sixth is red and has 4 cores")

	// A GFD.223 §5 page across two stream pages.
	locs = nil
	require.NoError(t, s.EachLocation(context.Background(), Query{Collection: KindCompute, Page: 2, Number: streamPage - 1},
		func(l string) error { locs = append(locs, l); return nil }))
	require.Len(t, locs, streamPage-1)
	assert.Equal(t, benchEntity(streamPage-1).Location, locs[0])
}

// Over HTTP the streamed renderings hold the whole listing: uri-list and
// text/plain a line each, JSON one valid document with every resource
// and its links.
func TestStreamedRenderings(t *testing.T) {
	smallPages(t)
	r := newRig(t, Config{})
	n := streamPage + 7
	insertComputes(t, r.db, n)
	_, body := r.do("GET", "/compute/", "", "Accept: text/uri-list")
	assert.Equal(t, n, strings.Count(body, "\r\n"))
	_, body = r.do("GET", "/compute/", "", "Accept: text/plain")
	assert.Equal(t, n, strings.Count(body, "X-OCCI-Location: "+r.url+"/compute/"))
	resp, body := r.do("GET", "/compute/", "", "Accept: application/occi+json")
	require.Equal(t, 200, resp.StatusCode)
	var doc struct {
		Resources []struct {
			Links []json.RawMessage `json:"links"`
		} `json:"resources"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &doc))
	require.Len(t, doc.Resources, n)
	assert.Len(t, doc.Resources[n-1].Links, 1)

	// An unbound path holds resources and links: both members (GFD.226 §3.3).
	resp, body = r.do("GET", "/", "", "Accept: application/occi+json")
	require.Equal(t, 200, resp.StatusCode)
	var both struct{ Resources, Links []json.RawMessage }
	require.NoError(t, json.Unmarshal([]byte(body), &both))
	assert.Len(t, both.Resources, n)
	assert.Len(t, both.Links, n)

	// An empty kind collection: the member, empty.
	resp, body = r.do("GET", "/storage/", "", "Accept: application/occi+json")
	require.Equal(t, 200, resp.StatusCode)
	assert.JSONEq(t, `{"resources":[]}`, body)
	resp, body = r.do("GET", "/storagelink/", "", "Accept: application/occi+json")
	require.Equal(t, 200, resp.StatusCode)
	assert.JSONEq(t, `{"links":[]}`, body)
	// A bad filter is answered before anything streams.
	resp, _ = r.do("GET", "/compute/", "", "Accept: application/occi+json", "Category: nope; scheme=\"http://x/#\"; class=\"kind\"")
	assert.Equal(t, 400, resp.StatusCode)
}
