package occi

import "context"

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
