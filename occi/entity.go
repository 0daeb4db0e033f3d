package occi

import (
	"context"
	"errors"

	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/internal/kind"
)

// Get answers the entity at loc (a path) as a rendering shows it: with
// its links (a resource), its live state from the backend and the actions
// that state allows.
func (s *Service) Get(ctx context.Context, loc string) (*Entity, error) {
	o, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	e, err := o.entityAt(loc, true)
	if err != nil {
		return nil, err
	}
	return o.full(e, true)
}

// lookup is Get for a request that has no model yet: the entity, its
// links and the user mixins' version come in one statement, and the
// model is made from the mixins of that version (cached). It answers the
// context carrying the model, as withModel does, and the model.
func (s *Service) lookup(ctx context.Context, loc string) (context.Context, *model, *Entity, error) {
	who := callerOf(ctx)
	if err := who.check(); err != nil {
		return ctx, nil, nil, err
	}
	if _, joined := ctx.Value(txKey{}).(*joined); joined || ctx.Value(modelKey{}) != nil {
		ctx, m, err := s.withModel(ctx)
		if err != nil {
			return ctx, nil, nil, err
		}
		e, err := s.Get(ctx, loc)
		return ctx, m, e, err
	}
	db := s.handle(ctx)
	r, version, err := s.getRecord(db, who.scope(), loc)
	if errors.Is(err, errNotFound) {
		return ctx, nil, nil, kind.Errorf(kind.NotFound, "no entity at %s", loc)
	} else if err != nil {
		return ctx, nil, nil, dbErr(err)
	}
	users, err := s.mixins.at(db, s.st, version)
	if err != nil {
		return ctx, nil, nil, dbErr(err)
	}
	m := s.modelOf(who.scope(), users)
	ctx = context.WithValue(ctx, modelKey{}, m)
	base, _ := ctx.Value(baseKey{}).(string)
	o := &op{s: s, ctx: ctx, db: db, m: m, base: base, who: who, sc: who.scope()}
	e, err := o.full(r.entity(), true)
	return ctx, m, e, err
}

// getRecord reads what a GET of loc shows (outside a caller's
// transaction): from the cache when it holds it, else from the database,
// then kept when no write to the OCCI tables began or ended meanwhile.
func (s *Service) getRecord(db *gorm.DB, sc scope, loc string) (*record, int64, error) {
	if s.cache == nil {
		return s.st.entityGet(db, sc, loc)
	}
	key := cacheKey(sc, loc)
	if r, version, ok := s.cache.getEntity(key); ok {
		return r, version, nil
	}
	stamp := s.cache.stamp()
	r, version, err := s.st.entityGet(db, sc, loc)
	if err == nil {
		s.cache.fillEntity(key, stamp, r, version)
	}
	return r, version, err
}

// full loads what an entity's rendering shows: its links (unless
// haveLinks: they came with it), its live state and the actions that
// state allows.
func (o *op) full(e *Entity, haveLinks bool) (*Entity, error) {
	o.syncState(e)
	if haveLinks {
		for _, l := range e.Links {
			o.fillActions(l)
		}
	} else if !e.IsLink() {
		links, err := o.linksOf([]string{e.Location}, false)
		if err != nil {
			return nil, err
		}
		for _, l := range links {
			o.fillActions(l)
		}
		e.Links = links
	}
	o.fillActions(e)
	return e, nil
}

// current loads an entity for a change, with its live state.
func (o *op) current(loc string) (*Entity, error) {
	e, err := o.entityAt(loc, false)
	if err != nil {
		return nil, err
	}
	o.syncState(e)
	return e, nil
}
