package occi

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/computebackends/sim"
	"github.com/occicdmi/occicdmi/internal/database"
	"github.com/occicdmi/occicdmi/internal/kind"
)

// soleWriter is a service that is its database's only writer (the app's
// server holding its SQLite file's lock): its GETs are cached. On
// PostgreSQL the option is not believed, and the tests skip.
func soleWriter(t *testing.T) (*Service, *gorm.DB) {
	t.Helper()
	db := testDB(t)
	s, err := NewService(context.Background(), Config{DB: db, Compute: sim.New(db), Logger: discardLogger(), SoleWriter: true})
	require.NoError(t, err)
	if db.Dialector.Name() == "postgres" {
		require.Nil(t, s.cache, "no GET cache on PostgreSQL")
		t.Skip("the GET cache is SQLite's alone")
	}
	require.NotNil(t, s.cache)
	return s, db
}

// got is what a GET of loc by ctx's caller renders (Service.lookup, the
// handlers' path), or its error.
func got(t *testing.T, s *Service, ctx context.Context, loc string) (*Entity, error) {
	t.Helper()
	_, _, e, err := s.lookup(ctx, loc)
	return e, err
}

func mustGet(t *testing.T, s *Service, ctx context.Context, loc string) *Entity {
	t.Helper()
	e, err := got(t, s, ctx, loc)
	require.NoError(t, err)
	return e
}

func cachedAt(s *Service, sc scope, loc string) bool {
	_, _, ok := s.cache.getEntity(cacheKey(sc, loc))
	return ok
}

func linkLocations(e *Entity) []string {
	var out []string
	for _, l := range e.Links {
		out = append(out, l.Location)
	}
	return out
}

// Every write that changes what a GET renders is seen by the next GET,
// though the one before was served from the cache: attributes (setAttrs),
// a whole replace (replace, writeDetails), an action (the entity's and
// sim's state), a link made, changed and deleted (the source's
// rendering), a mixin associated and a user mixin deleted (its members'),
// and the entity deleted.
func TestEntityCacheSeesEveryWrite(t *testing.T) {
	s, _ := soleWriter(t)
	red := WithCaller(context.Background(), Caller{Project: "red"})
	sc := callerOf(red).scope()
	es, err := s.Create(red, KindCompute, []EntityInput{{Attrs: map[string]any{AttrTitle: "one"}}})
	require.NoError(t, err)
	vm := es[0].Location
	warm := func() *Entity {
		t.Helper()
		mustGet(t, s, red, vm)
		require.True(t, cachedAt(s, sc, vm), "the GET filled the cache")
		return mustGet(t, s, red, vm)
	}
	assert.Equal(t, "one", warm().Attrs[AttrTitle])

	_, err = s.Update(red, vm, EntityInput{Attrs: map[string]any{AttrTitle: "two"}})
	require.NoError(t, err)
	assert.False(t, cachedAt(s, sc, vm), "the write invalidated it")
	assert.Equal(t, "two", warm().Attrs[AttrTitle])

	_, _, err = s.Replace(red, vm, EntityInput{Kind: KindCompute, Attrs: map[string]any{AttrTitle: "three"}})
	require.NoError(t, err)
	assert.Equal(t, "three", warm().Attrs[AttrTitle])

	assert.Equal(t, "inactive", warm().Attrs["occi.compute.state"])
	_, err = s.Act(red, vm, Invocation{Term: "start"})
	require.NoError(t, err)
	assert.Equal(t, "active", warm().Attrs["occi.compute.state"], "sim's status cache sees the action")

	nets, err := s.Create(red, KindNetwork, []EntityInput{{}})
	require.NoError(t, err)
	links, err := s.Create(red, KindNetworkInterface, []EntityInput{{Source: vm, Target: nets[0].Location,
		Attrs: map[string]any{AttrTitle: "eth0"}}})
	require.NoError(t, err)
	link := links[0].Location
	e := warm()
	require.Equal(t, []string{link}, linkLocations(e), "a link made shows in its source")
	assert.Equal(t, "eth0", e.Links[0].Attrs[AttrTitle])
	_, err = s.Update(red, link, EntityInput{Attrs: map[string]any{AttrTitle: "eth1"}})
	require.NoError(t, err)
	assert.Equal(t, "eth1", warm().Links[0].Attrs[AttrTitle], "a link changed shows in its source")
	require.NoError(t, s.Delete(red, link))
	assert.Empty(t, linkLocations(warm()), "a link deleted leaves its source")

	tag := &Category{Scheme: "http://red.example/t#", Term: "tag", Class: ClassMixin, Title: "Tag"}
	require.NoError(t, s.AddMixins(red, []*Category{tag}))
	warm()
	require.NoError(t, s.Associate(red, tag.ID(), Members{Locations: []string{vm}}, false))
	assert.Contains(t, warm().Mixins, tag.ID())
	require.NoError(t, s.DeleteMixins(red, []string{tag.ID()}))
	assert.NotContains(t, warm().Mixins, tag.ID(), "a user mixin deleted leaves its members")

	require.NoError(t, s.Delete(red, vm))
	_, err = got(t, s, red, vm)
	assert.Equal(t, kind.NotFound, kind.Of(err))
}

// The cache is by caller: another project's GET of a cached entity is a
// 404 still, an administrator's sees it, and each sees only the links of
// its own view.
func TestEntityCacheKeepsTenancy(t *testing.T) {
	s, _ := soleWriter(t)
	red := WithCaller(context.Background(), Caller{Project: "red"})
	blue := WithCaller(context.Background(), Caller{Project: "blue"})
	admin := WithCaller(context.Background(), Caller{Admin: true})
	es, err := s.Create(red, KindCompute, []EntityInput{{}})
	require.NoError(t, err)
	vm := es[0].Location
	mustGet(t, s, red, vm)
	require.True(t, cachedAt(s, callerOf(red).scope(), vm))
	_, err = got(t, s, blue, vm)
	assert.Equal(t, kind.NotFound, kind.Of(err), "red's cached entity is not blue's")
	assert.Equal(t, vm, mustGet(t, s, admin, vm).Location)
	_, err = got(t, s, blue, vm)
	assert.Equal(t, kind.NotFound, kind.Of(err), "nor after an administrator's GET filled the cache")
}

// A read that began before a write committed must not fill the cache
// with what it read: its fill is refused, and the next GET reads the
// committed value.
func TestEntityCacheRacingRead(t *testing.T) {
	s, db := soleWriter(t)
	red := WithCaller(context.Background(), Caller{Project: "red"})
	sc := callerOf(red).scope()
	es, err := s.Create(red, KindCompute, []EntityInput{{Attrs: map[string]any{AttrTitle: "old"}}})
	require.NoError(t, err)
	vm := es[0].Location

	stamp := s.cache.stamp() // the read begins
	r, version, err := s.st.entityGet(db.WithContext(red), sc, vm)
	require.NoError(t, err)
	_, err = s.Update(red, vm, EntityInput{Attrs: map[string]any{AttrTitle: "new"}}) // a write commits
	require.NoError(t, err)
	s.cache.fillEntity(cacheKey(sc, vm), stamp, r, version) // the read ends
	assert.False(t, cachedAt(s, sc, vm), "the old record was not kept")
	assert.Equal(t, "new", mustGet(t, s, red, vm).Attrs[AttrTitle])
}

// A write whose savepoint is rolled back inside a transaction that
// commits (as in a group commit's batch) leaves nothing of it in the
// cache: what GETs read while the transaction was open is not kept (the
// database answered what was committed before), what the transaction saw
// of its own writes is not kept either, and after the commit a GET shows
// the committed writes and not the rolled-back one.
func TestEntityCacheRolledBackSavepoint(t *testing.T) {
	s, db := soleWriter(t)
	red := WithCaller(context.Background(), Caller{Project: "red"})
	sc := callerOf(red).scope()
	es, err := s.Create(red, KindCompute, []EntityInput{{Attrs: map[string]any{AttrTitle: "one"}}})
	require.NoError(t, err)
	vm := es[0].Location
	mustGet(t, s, red, vm)
	errBad := errors.New("refused")
	require.NoError(t, db.Transaction(func(tx *gorm.DB) error {
		err := tx.Transaction(func(sp *gorm.DB) error {
			in := WithTx(red, sp)
			_, err := s.Update(in, vm, EntityInput{Attrs: map[string]any{AttrTitle: "rolled back"}})
			require.NoError(t, err)
			assert.Equal(t, "rolled back", mustGet(t, s, in, vm).Attrs[AttrTitle], "the transaction sees its write")
			return errBad
		})
		require.ErrorIs(t, err, errBad)
		assert.Equal(t, "one", mustGet(t, s, red, vm).Attrs[AttrTitle], "outside it, the committed value")
		assert.False(t, cachedAt(s, sc, vm), "not kept while a write is open")
		_, err = s.Update(WithTx(red, tx), vm, EntityInput{Attrs: map[string]any{"occi.compute.hostname": "kept"}})
		return err
	}))
	e := mustGet(t, s, red, vm)
	assert.Equal(t, "one", e.Attrs[AttrTitle])
	assert.Equal(t, "kept", e.Attrs["occi.compute.hostname"])
	assert.True(t, cachedAt(s, sc, vm))
}

// A server that claims to be the only writer of a SQLite file that
// another server shares (it runs without the file's lock, and writes) is
// not fooled: while another handle on the file is open, nothing is served
// from the cache, and what was kept before it opened is not served after
// (database.Watch, the writers' file). So the other's write is seen at
// once, before it closes and after.
func TestEntityCacheNotFooledByAnotherWriter(t *testing.T) {
	s, db := soleWriter(t)
	red := WithCaller(context.Background(), Caller{Project: "red"})
	sc := callerOf(red).scope()
	es, err := s.Create(red, KindCompute, []EntityInput{{Attrs: map[string]any{AttrTitle: "one"}}})
	require.NoError(t, err)
	vm := es[0].Location
	mustGet(t, s, red, vm)
	require.True(t, cachedAt(s, sc, vm), "alone on the file: cached")

	other, err := database.Open(sqliteFile(t, db))
	require.NoError(t, err)
	assert.False(t, cachedAt(s, sc, vm), "another handle opened: nothing kept before is current")
	b, err := NewService(context.Background(), Config{DB: other, Logger: discardLogger()})
	require.NoError(t, err)
	_, err = b.Update(red, vm, EntityInput{Attrs: map[string]any{AttrTitle: "two"}})
	require.NoError(t, err)
	assert.Equal(t, "two", mustGet(t, s, red, vm).Attrs[AttrTitle], "the other's write, at once")
	assert.False(t, cachedAt(s, sc, vm), "nothing kept while the other is open")
	_, err = b.Update(red, vm, EntityInput{Attrs: map[string]any{AttrTitle: "three"}})
	require.NoError(t, err)
	database.Close(other)
	assert.Equal(t, "three", mustGet(t, s, red, vm).Attrs[AttrTitle], "and its last write after it closed")
	assert.True(t, cachedAt(s, sc, vm), "alone again: cached again")
}

// sqliteFile is the path of db's SQLite file.
func sqliteFile(t *testing.T, db *gorm.DB) string {
	t.Helper()
	var rows []struct{ Name, File string }
	require.NoError(t, db.Raw("PRAGMA database_list").Scan(&rows).Error)
	require.NotEmpty(t, rows)
	return rows[0].File
}

// The cache's memory is bounded: past cacheEntries, the least recently
// used entries go.
func TestEntityCacheIsBounded(t *testing.T) {
	s, _ := soleWriter(t)
	r := &record{loc: []byte("/compute/x")}
	for i := range cacheEntries + 10 {
		s.cache.fillEntity(cacheKey(everyone, "/compute/"+string(rune('a'+i%26))+itoa(i)), s.cache.stamp(), r, 1)
	}
	assert.Equal(t, cacheEntries, s.cache.lru.Len())
	assert.Len(t, s.cache.byKey, cacheEntries)
	assert.False(t, cachedAt(s, everyone, "/compute/a0"), "the oldest went")
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

// listedPages is the text listing of the computes ctx's caller sees, and the
// titles of their records listing, both through the page cache.
func listedPages(t *testing.T, s *Service, ctx context.Context) (text string, titles []string) {
	t.Helper()
	q := Query{Collection: KindCompute}
	require.NoError(t, s.eachText(ctx, q, "", "\n", func(b []byte) error { text += string(b); return nil }))
	require.NoError(t, s.eachRecord(ctx, q, func(r *record) error {
		titles = append(titles, r.entity().Attrs[AttrTitle].(string))
		return nil
	}))
	return text, titles
}

// Listings keep their pages in the page cache under the entity cache's
// rule: a create, an update and a delete are seen by the next listing,
// in every page, though the one before was served from the cache; each
// caller's pages are its own; a filter on attribute values is not
// cached.
func TestPageCacheSeesWrites(t *testing.T) {
	s, _ := soleWriter(t)
	old := streamPage
	streamPage = 2 // pages of two: a listing of five is three pages
	t.Cleanup(func() { streamPage = old })
	red := WithCaller(context.Background(), Caller{Project: "red"})
	blue := WithCaller(context.Background(), Caller{Project: "blue"})
	var in []EntityInput
	for _, title := range []string{"a", "b", "c", "d"} {
		in = append(in, EntityInput{Attrs: map[string]any{AttrTitle: title}})
	}
	es, err := s.Create(red, KindCompute, in)
	require.NoError(t, err)
	_, err = s.Create(blue, KindCompute, []EntityInput{{Attrs: map[string]any{AttrTitle: "blue"}}})
	require.NoError(t, err)
	lines := func(text string) int { return strings.Count(text, "\n") }

	text, titles := listedPages(t, s, red)
	require.Equal(t, 4, lines(text))
	require.ElementsMatch(t, []string{"a", "b", "c", "d"}, titles)
	require.NotZero(t, s.pages.lru.Len(), "the pages were kept")
	again, titles2 := listedPages(t, s, red)
	require.Equal(t, text, again, "from the cache, the same")
	require.Equal(t, titles, titles2)
	blueText, blueTitles := listedPages(t, s, blue)
	assert.Equal(t, 1, lines(blueText), "blue's pages are its own")
	assert.Equal(t, []string{"blue"}, blueTitles)

	more, err := s.Create(red, KindCompute, []EntityInput{{Attrs: map[string]any{AttrTitle: "e"}}})
	require.NoError(t, err)
	text, titles = listedPages(t, s, red)
	assert.Equal(t, 5, lines(text), "a create")
	assert.Contains(t, text, more[0].Location)
	assert.Contains(t, titles, "e")

	_, err = s.Update(red, es[0].Location, EntityInput{Attrs: map[string]any{AttrTitle: "A"}})
	require.NoError(t, err)
	_, titles = listedPages(t, s, red)
	assert.Contains(t, titles, "A", "an update")
	assert.NotContains(t, titles, "a")

	require.NoError(t, s.Delete(red, es[1].Location))
	text, titles = listedPages(t, s, red)
	assert.Equal(t, 4, lines(text), "a delete")
	assert.NotContains(t, text, es[1].Location+"\n")
	assert.NotContains(t, titles, "b")

	o, err := s.begin(red)
	require.NoError(t, err)
	_, ok := o.pageKey(filter{Attrs: map[string]any{AttrTitle: "A"}}, keyset{Limit: 2}, "records")
	assert.False(t, ok, "attribute filters are not cached")
	_, ok = o.pageKey(filter{}, keyset{Limit: 2}, "records")
	assert.True(t, ok)
}

// GETs racing writes: each write, once answered, is what every GET that
// starts after it shows (checked for the last), and the cache's
// bookkeeping holds under concurrency (run with -race).
func TestEntityCacheUnderConcurrentWrites(t *testing.T) {
	s, _ := soleWriter(t)
	red := WithCaller(context.Background(), Caller{Project: "red"})
	es, err := s.Create(red, KindCompute, []EntityInput{{Attrs: map[string]any{AttrTitle: "0"}}})
	require.NoError(t, err)
	vm := es[0].Location
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := got(t, s, red, vm); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := 1; i <= 30; i++ {
		title := strconv.Itoa(i)
		_, err := s.Update(red, vm, EntityInput{Attrs: map[string]any{AttrTitle: title}})
		require.NoError(t, err)
		assert.Equal(t, title, mustGet(t, s, red, vm).Attrs[AttrTitle], "the GET after write %d", i)
	}
	close(done)
	wg.Wait()
}
