package occi

import (
	"context"

	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/internal/kind"
)

// Delete removes the entity at loc; a resource goes with every link from
// or to it, in the store and in the backends (machines, volumes, attached
// disks and interfaces).
func (s *Service) Delete(ctx context.Context, loc string) error {
	o, err := s.begin(ctx)
	if err != nil {
		return err
	}
	if _, err := o.entityAt(loc, false); err != nil {
		return err
	}
	return o.remove([]string{loc})
}

// DeleteAll removes every entity q selects (its Collection, Prefix and
// filters; paging is ignored), as Delete does.
func (s *Service) DeleteAll(ctx context.Context, q Query) error {
	o, err := s.begin(ctx)
	if err != nil {
		return err
	}
	q.Page, q.Number = 0, 0
	f, err := o.filter(q)
	if err != nil {
		return err
	}
	locs, err := o.list(f)
	if err != nil {
		return err
	}
	return o.remove(locs)
}

// remove deletes entities and, for resources, every link from or to them.
func (o *op) remove(locs []string) error {
	all, err := o.withLinks(locs)
	if err != nil {
		return err
	}
	if err := o.checkAttached(locs, all); err != nil {
		return err
	}
	if err := o.deprovision(all); err != nil {
		return err
	}
	locsAll := make([]string, len(all))
	for i, e := range all {
		locsAll[i] = e.Location
	}
	return o.tx(func(tx *gorm.DB) error { return o.s.st.delete(tx, locsAll) })
}

// withLinks loads the entities at locs and the links from or to the
// resources among them: links first, each entity once.
func (o *op) withLinks(locs []string) ([]*Entity, error) {
	es, err := o.entities(locs)
	if err != nil {
		return nil, err
	}
	var resources []string
	for _, e := range es {
		if !e.IsLink() {
			resources = append(resources, e.Location)
		}
	}
	from, err := o.s.st.links(o.db, everyone, resources, false)
	if err != nil {
		return nil, dbErr(err)
	}
	to, err := o.s.st.links(o.db, everyone, resources, true)
	if err != nil {
		return nil, dbErr(err)
	}
	seen := map[string]bool{}
	var linkLocs []string
	for _, l := range append(from, to...) {
		if !seen[l] {
			seen[l] = true
			linkLocs = append(linkLocs, l)
		}
	}
	all, err := o.entities(linkLocs)
	if err != nil {
		return nil, err
	}
	for _, e := range es {
		if !seen[e.Location] {
			seen[e.Location] = true
			all = append(all, e)
		}
	}
	return all, nil
}

// checkAttached refuses to delete a storage whose volume is attached to a
// compute that stays: the volume is a CDMI container's too (CDMI 13.6), so
// its storagelink is deleted first, on purpose, not as a side effect
// (Conflict). A link named in the same request goes first, as asked.
func (o *op) checkAttached(requested []string, all []*Entity) error {
	if o.s.volumes == nil {
		return nil
	}
	leaving, asked := map[string]bool{}, map[string]bool{}
	for _, e := range all {
		leaving[e.Location] = true
	}
	for _, loc := range requested {
		asked[loc] = true
	}
	for _, l := range all {
		if l.IsLink() && o.m.isA(l.Kind, KindStorageLink) && !asked[l.Location] && leaving[l.Target] && !leaving[l.Source] {
			return kind.Errorf(kind.Conflict, "storage %s is attached to %s by the storagelink %s: delete the storagelink first", l.Target, l.Source, l.Location)
		}
	}
	return nil
}
