package occi

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/computebackends/sim"
	"github.com/occicdmi/occicdmi/internal/testsupport"
)

func hasCategory(t *testing.T, s *Service, ctx context.Context, id string) bool {
	t.Helper()
	cats, err := s.Categories(ctx, nil)
	require.NoError(t, err)
	for _, c := range cats {
		if c.ID() == id {
			return true
		}
	}
	return false
}

// Each server process keeps the user mixins in memory (mixinCache): a
// mixin created or deleted through one server is seen by the next request
// to another on the same database (GFD.223 §6.4, the query interface),
// and by an entity GET there. The second server's cache is warm before
// each change, so only the version counter can tell it.
func TestMixinCacheTwoServers(t *testing.T) {
	db := testDB(t)
	other := testsupport.SecondHandle(t, db)
	a, err := NewService(context.Background(), Config{DB: db, Compute: sim.New(db), Logger: discardLogger()})
	require.NoError(t, err)
	b, err := NewService(context.Background(), Config{DB: other, Compute: sim.New(other), Logger: discardLogger()})
	require.NoError(t, err)
	red := WithCaller(context.Background(), Caller{Project: "red"})
	blue := WithCaller(context.Background(), Caller{Project: "blue"})
	tag := &Category{Scheme: "http://red.example/t#", Term: "tag", Class: ClassMixin}
	id := tag.ID()

	assert.False(t, hasCategory(t, b, red, id), "warm b's cache without the mixin")
	require.NoError(t, a.AddMixins(red, []*Category{tag}))
	assert.True(t, hasCategory(t, b, red, id), "b sees the mixin a created")
	assert.False(t, hasCategory(t, b, blue, id), "from the cache, still only to its project")

	es, err := b.Create(red, KindCompute, []EntityInput{{Mixins: []string{id}}})
	require.NoError(t, err, "b accepts the mixin a created")
	e, err := a.Get(red, es[0].Location)
	require.NoError(t, err)
	assert.Contains(t, e.Mixins, id)

	require.NoError(t, a.DeleteMixins(red, []string{id}))
	assert.False(t, hasCategory(t, b, red, id), "b sees the mixin a deleted gone")
	e, err = b.Get(red, es[0].Location)
	require.NoError(t, err)
	assert.NotContains(t, e.Mixins, id)
	_, err = b.Create(red, KindCompute, []EntityInput{{Mixins: []string{id}}})
	assert.Error(t, err, "b refuses the deleted mixin")
}

// A mixin made inside a caller's transaction that rolls back is not kept
// by the cache: the next request does not see it.
func TestMixinCacheRollback(t *testing.T) {
	db := testDB(t)
	s, err := NewService(context.Background(), Config{DB: db, Compute: sim.New(db), Logger: discardLogger()})
	require.NoError(t, err)
	tag := &Category{Scheme: "http://rolled.example/t#", Term: "back", Class: ClassMixin}
	err = db.Transaction(func(tx *gorm.DB) error {
		ctx := WithTx(context.Background(), tx)
		require.NoError(t, s.AddMixins(ctx, []*Category{tag}))
		assert.True(t, hasCategory(t, s, ctx, tag.ID()), "seen inside the transaction")
		return assert.AnError
	})
	require.ErrorIs(t, err, assert.AnError)
	assert.False(t, hasCategory(t, s, context.Background(), tag.ID()))
}

// A GET over HTTP reads the user mixins' version in its entity's
// statement (Service.lookup) and builds its model from the cache at that
// version: a mixin made and attached through server a is rendered by the
// next GET through server b, whose cache was warm before. And the entity
// records each write keeps (occi_entities.doc) are written in the
// write's own transaction: an update, an action and a delete through a
// are seen by the next GET and listing through b.
//
// Neither server is its database's only writer, so neither keeps a GET
// cache (Config.SoleWriter off; on PostgreSQL b claims to be, and is not
// believed: other servers write there beside it).
func TestReadsSeeOtherServersWrites(t *testing.T) {
	db := testDB(t)
	other := testsupport.SecondHandle(t, db)
	a, err := NewService(context.Background(), Config{DB: db, Compute: sim.New(db), Logger: discardLogger()})
	require.NoError(t, err)
	pg := db.Dialector.Name() == "postgres"
	b, err := NewService(context.Background(), Config{DB: other, Compute: sim.New(other), Logger: discardLogger(), SoleWriter: pg})
	require.NoError(t, err)
	require.Nil(t, a.cache)
	require.Nil(t, b.cache, "no GET cache without a sole writer, nor on PostgreSQL")
	red := WithCaller(context.Background(), Caller{Project: "red"})
	es, err := a.Create(red, KindCompute, []EntityInput{{Attrs: map[string]any{AttrTitle: "one"}}})
	require.NoError(t, err)
	loc := es[0].Location
	get := func() *Entity {
		t.Helper()
		_, m, e, err := b.lookup(red, loc)
		require.NoError(t, err)
		require.NotNil(t, m)
		return e
	}
	listed := func() map[string]any {
		t.Helper()
		var attrs map[string]any
		require.NoError(t, b.Each(red, Query{Collection: KindCompute}, func(e *Entity) error {
			if e.Location == loc {
				attrs = e.Attrs
			}
			return nil
		}))
		return attrs
	}
	assert.Equal(t, "one", get().Attrs[AttrTitle], "b's mixin cache warm")
	assert.Equal(t, "one", listed()[AttrTitle])

	tag := &Category{Scheme: "http://red.example/t#", Term: "tag", Class: ClassMixin, Title: "Tag"}
	require.NoError(t, a.AddMixins(red, []*Category{tag}))
	require.NoError(t, a.Associate(red, tag.ID(), Members{Locations: []string{loc}}, false))
	_, m, e, err := b.lookup(red, loc)
	require.NoError(t, err)
	assert.Contains(t, e.Mixins, tag.ID())
	require.NotNil(t, m.get(tag.ID()), "b's model holds the mixin a made: its rendering names it")

	_, err = a.Update(red, loc, EntityInput{Attrs: map[string]any{AttrTitle: "two"}})
	require.NoError(t, err)
	assert.Equal(t, "two", get().Attrs[AttrTitle])
	assert.Equal(t, "two", listed()[AttrTitle])

	_, err = a.Act(red, loc, Invocation{Term: "start"})
	require.NoError(t, err)
	assert.Equal(t, "active", get().Attrs["occi.compute.state"])
	assert.Equal(t, "active", listed()["occi.compute.state"])

	require.NoError(t, a.Delete(red, loc))
	_, _, _, err = b.lookup(red, loc)
	assert.Error(t, err)
	assert.Nil(t, listed())
}
