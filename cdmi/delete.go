package cdmi

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/occicdmi/occicdmi/internal/kind"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// unexportAll tells the export hook that a container's OCCI exports go
// away with it (the container is being deleted in tx).
func (s *Server) unexportAll(ctx context.Context, tx *gorm.DB, o *object) error {
	if o.Exports == "" || s.cfg.ExportHook == nil {
		return nil
	}
	var ex map[string]any
	if json.Unmarshal([]byte(o.Exports), &ex) != nil {
		return nil
	}
	for k := range ex {
		if proto, ok := strings.CutPrefix(k, "OCCI/"); ok {
			if err := s.cfg.ExportHook.Unexport(ctx, tx, o.ObjectID, proto); err != nil {
				return kind.Errorf(kind.Conflict, "container %s: its %s export cannot be removed: %v", o.ObjectID, k, err)
			}
		}
	}
	return nil
}

// lockParent makes sure the container a row goes into still exists when
// the row commits: a concurrent delete of the container would otherwise
// leave the new row unreachable. On PostgreSQL the parent's row is locked
// FOR SHARE, which a DELETE waits for; SQLite runs one writer at a time.
func (s *Server) lockParent(ctx context.Context, tx *gorm.DB, parent *object) error {
	if parent == nil {
		return nil
	}
	q := tx.WithContext(ctx)
	if tx.Dialector.Name() == "postgres" {
		q = q.Clauses(clause.Locking{Strength: "SHARE"})
	}
	var ids []string
	if err := q.Model(&object{}).Where("object_id = ?", parent.ObjectID).Pluck("object_id", &ids).Error; err != nil {
		return err
	}
	if len(ids) == 0 {
		return kind.Errorf(kind.NotFound, "the container was deleted meanwhile")
	}
	return nil
}

// lockSubtree returns the subtree below id for deletion. On PostgreSQL it
// first locks every container in it FOR UPDATE, so creates in flight
// (which hold their parent FOR SHARE, see lockParent) commit first and are
// seen, and later ones find their parent gone; it reads again until no new
// container appears. SQLite runs one writer at a time and needs none of it.
func (s *Server) lockSubtree(ctx context.Context, tx *gorm.DB, id string) ([]object, error) {
	if tx.Dialector.Name() != "postgres" {
		return s.subtree(ctx, tx, id)
	}
	locked := map[string]bool{}
	for {
		all, err := s.subtree(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		var fresh []string
		for _, o := range all {
			if o.isContainerLike() || o.Type == typeQueue {
				if !locked[o.ObjectID] {
					fresh = append(fresh, o.ObjectID)
				}
			}
		}
		if len(fresh) == 0 {
			return all, nil
		}
		var got []string
		err = tx.WithContext(ctx).Clauses(clause.Locking{Strength: "UPDATE"}).Model(&object{}).
			Where("object_id IN ?", fresh).Pluck("object_id", &got).Error
		if err != nil {
			return nil, err
		}
		for _, f := range fresh {
			locked[f] = true
		}
	}
}
