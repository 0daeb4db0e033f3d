package cdmi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/internal/database"
	"github.com/occicdmi/occicdmi/internal/kind"
	"github.com/occicdmi/occicdmi/storagebackends"
)

// deleteObject deletes o (§8.8, §9.7, §11.7) and, for a container,
// everything below it (§9.7: deleting a container deletes its children):
// rows in one transaction, values after. The OCCI exports of containers in
// it go away through the export hook: prepared before the transaction,
// committed inside it, undone when it fails.
func (s *Service) deleteObject(ctx context.Context, who Principal, o *object, path string) error {
	if o.System {
		return invalidf("%s is maintained by the server and cannot be deleted", path)
	}
	if err := s.allowed(who, o, maskDelete); err != nil {
		return err
	}
	if p, err := s.diskParent(ctx, s.db, o, nil); err != nil {
		return err
	} else if p != nil {
		return kind.Errorf(kind.Conflict, "%s is the disk of the container %s (its OCCI volume) and goes only with it: delete the container, or remove its OCCI export", path, p.ObjectID)
	}
	if err := s.require(deleteCapability(o.Type)); err != nil {
		return err
	}
	dd, err := s.prepareDomainDelete(ctx, o)
	if err != nil {
		return err
	}
	snaps, err := s.subtreeContainers(ctx, o)
	if err != nil {
		return err
	}
	x, err := s.prepareUnexports(ctx, o)
	if err != nil {
		return err
	}
	batch := newBatchID()
	err = s.inTx(ctx, func(tx *gorm.DB) error {
		if err := s.deleteRows(ctx, tx, o, x, batch); err != nil {
			return err
		}
		return dd.apply(tx)
	})
	if err != nil {
		for _, c := range x {
			c.undo(ctx, s.log)
		}
		return err
	}
	s.forgetSnapshots(ctx, snaps)
	s.deleteJournaled(context.WithoutCancel(ctx), batch)
	return nil
}

// deleteCapability is the capability a delete of an object of type typ
// needs.
func deleteCapability(typ string) (string, string) {
	switch typ {
	case typeQueue:
		return typeQueue, "cdmi_delete_queue"
	case typeContainer:
		return typeContainer, "cdmi_delete_container"
	case typeDomain:
		return typeDomain, "cdmi_delete_domain"
	}
	return typeDataObject, "cdmi_delete_dataobject"
}

// unexport is the removal of one container's OCCI exports by a delete.
type unexport struct {
	exportChange
	container Container
}

// prepareUnexports runs the hook's prepare phase for every container with
// OCCI exports in o's subtree, outside the transaction. They are keyed by
// objectID.
func (s *Service) prepareUnexports(ctx context.Context, o *object) (map[string]*unexport, error) {
	if s.cfg.ExportHook == nil || !o.isContainerLike() && o.Exports == "" {
		return nil, nil
	}
	all, err := s.exportedInSubtree(ctx, s.db, o.ObjectID)
	if err != nil {
		return nil, err
	}
	out := map[string]*unexport{}
	fail := func(err error) (map[string]*unexport, error) {
		for _, u := range out {
			u.undo(ctx, s.log)
		}
		return nil, err
	}
	for _, x := range all {
		occi := occiExports(x.exports(), x.ObjectID)
		if len(occi) == 0 {
			continue
		}
		path, err := s.uriOf(ctx, s.db, x)
		if err != nil {
			return fail(err)
		}
		u := &unexport{exportChange: exportChange{remove: occi, refused: kind.Conflict}, container: containerOf(x, path)}
		if err := u.prepare(ctx, s.cfg.ExportHook, u.container, s.log); err != nil {
			return fail(deleteHookError(x, err))
		}
		out[x.ObjectID] = u
	}
	return out, nil
}

// deleteHookError names the container whose export the hook refused to
// remove.
func deleteHookError(o *object, err error) error {
	return fmt.Errorf("container %s: %w", o.ObjectID, err)
}

// deleteRows deletes o's subtree in tx, queue values included, and commits
// the removal of its OCCI exports. The value keys of the rows deleted are
// journaled under batch (cdmi_deleted_values) in the same transaction,
// for deleteJournaled once it commits. Nothing here holds the subtree in
// memory: the rows are deleted by statements over the subtree's recursive
// query, and only the exported containers (each an OCCI volume, whose
// hook must see it) are read.
func (s *Service) deleteRows(ctx context.Context, tx *gorm.DB, o *object, unexports map[string]*unexport, batch string) error {
	if err := s.lockSubtree(ctx, tx, o.ObjectID); err != nil {
		return err
	}
	exported, err := s.exportedInSubtree(ctx, tx, o.ObjectID)
	if err != nil {
		return err
	}
	for _, x := range exported {
		if err := s.commitUnexport(ctx, tx, x, unexports[x.ObjectID]); err != nil {
			return err
		}
	}
	for _, st := range journalDeletes(tx, batch, time.Now().UTC(), o.ObjectID) {
		if err := tx.WithContext(ctx).Exec(st.sql, st.args...).Error; err != nil {
			return err
		}
	}
	return nil
}

// subtreeIDs is the recursive query of the IDs in a subtree (its top's ID
// is the one parameter).
const subtreeIDs = `WITH RECURSIVE t(id) AS (
		SELECT object_id FROM cdmi_objects WHERE object_id = ?
		UNION ALL SELECT o.object_id FROM cdmi_objects o JOIN t ON o.parent_id = t.id)
	SELECT id FROM t`

type statement struct {
	sql  string
	args []any
}

// journalDeletes are the statements that delete the subtree below top,
// its queue values and rows, and journal their value keys under batch.
// On PostgreSQL each deletes and journals what it deleted in one
// statement (a data-modifying WITH), so a row moved out meanwhile is
// neither deleted nor journaled; SQLite runs one writer at a time, and
// journals what the delete that follows removes.
func journalDeletes(tx *gorm.DB, batch string, now time.Time, top string) []statement {
	const journal = "INSERT INTO cdmi_deleted_values (batch, value_key, deleted_at) "
	if tx.Dialector.Name() == "postgres" {
		const cols = "SELECT CAST(? AS TEXT), value_key, CAST(? AS TIMESTAMPTZ) FROM gone"
		return []statement{
			{"WITH gone AS (DELETE FROM cdmi_queue_values WHERE queue_id IN (" + subtreeIDs + ") RETURNING value_key) " +
				journal + cols, []any{top, batch, now}},
			{"WITH gone AS (DELETE FROM cdmi_objects WHERE object_id IN (" + subtreeIDs + ") RETURNING value_key) " +
				journal + cols + " WHERE value_key <> ''", []any{top, batch, now}},
		}
	}
	return []statement{
		{journal + "SELECT ?, value_key, ? FROM cdmi_queue_values WHERE queue_id IN (" + subtreeIDs + ")", []any{batch, now, top}},
		{"DELETE FROM cdmi_queue_values WHERE queue_id IN (" + subtreeIDs + ")", []any{top}},
		{journal + "SELECT ?, value_key, ? FROM cdmi_objects WHERE object_id IN (" + subtreeIDs + ") AND value_key <> ''", []any{batch, now, top}},
		{"DELETE FROM cdmi_objects WHERE object_id IN (" + subtreeIDs + ")", []any{top}},
	}
}

// commitUnexport runs the hook's commit phase for a container being
// deleted in tx. An OCCI export that appeared after the prepare phase is a
// Conflict: the delete is retried.
func (s *Service) commitUnexport(ctx context.Context, tx *gorm.DB, o *object, u *unexport) error {
	if s.cfg.ExportHook == nil {
		return nil
	}
	occi := occiExports(o.exports(), o.ObjectID)
	if len(occi) == 0 {
		return nil
	}
	if u == nil || len(u.remove) != len(occi) {
		return kind.Errorf(kind.Conflict, "container %s: its exports changed during the delete; retry", o.ObjectID)
	}
	if err := u.commit(ctx, tx, s.cfg.ExportHook, u.container); err != nil {
		return deleteHookError(o, err)
	}
	return nil
}

// lockParent makes sure the container a row goes into still exists when
// the row commits: a concurrent delete of the container would otherwise
// leave the new row unreachable. On PostgreSQL the parent's row is locked
// FOR SHARE, which a DELETE waits for; SQLite runs one writer at a time.
func (s *Service) lockParent(ctx context.Context, tx *gorm.DB, parent *object) error {
	if parent == nil {
		return nil
	}
	found, err := exists(ctx, tx, parent.ObjectID, "SHARE")
	if err != nil {
		return err
	}
	if !found {
		return kind.Errorf(kind.NotFound, "the container was deleted meanwhile")
	}
	return nil
}

// lockSubtree prepares the subtree below id for deletion. On PostgreSQL
// it locks every container and queue in it FOR UPDATE, so creates in
// flight (which hold their parent FOR SHARE, see lockParent) commit first
// and are seen, and later ones find their parent gone; it locks again
// until the set locked stays the same, which it tells by a count and a
// fingerprint of the IDs rather than by holding them. SQLite runs one
// writer at a time and needs none of it.
func (s *Service) lockSubtree(ctx context.Context, tx *gorm.DB, id string) error {
	if tx.Dialector.Name() != "postgres" {
		return nil
	}
	q := dialectSQL(tx, "SELECT c.object_id FROM cdmi_objects c WHERE c.object_id IN ("+subtreeIDs+
		") AND c.type IN ('container', 'domain', 'capability', 'queue') FOR UPDATE")
	var last [2]uint64
	for round := 0; ; round++ {
		rows, err := tx.Statement.ConnPool.QueryContext(ctx, q, id)
		if err != nil {
			return database.Classify(err)
		}
		var got [2]uint64 // how many, and the XOR of their hashes
		for rows.Next() {
			var oid string
			if err := rows.Scan(&oid); err != nil {
				rows.Close()
				return database.Classify(err)
			}
			h := fnv.New64a()
			_, _ = h.Write([]byte(oid))
			got[0]++
			got[1] ^= h.Sum64()
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return database.Classify(err)
		}
		if round > 0 && got == last {
			return nil
		}
		last = got
	}
}

// exportedInSubtree reads the rows of the subtree below id that carry
// exports: what a delete's export hook must see.
func (s *Service) exportedInSubtree(ctx context.Context, db *gorm.DB, id string) ([]*object, error) {
	return queryObjects(ctx, db, 1, "SELECT "+selectColumns("o")+" FROM cdmi_objects o WHERE o.object_id IN ("+
		subtreeIDs+") AND o.exports IS NOT NULL AND o.exports <> ''", id)
}

// deletedPage is how many journaled value keys deleteJournaled reads at a
// time.
const deletedPage = 500

// deleteJournaled deletes from the backend the values journaled under
// batch (every batch when ""), a page at a time, and their journal rows.
// A value the backend fails to delete keeps its row, for the next
// start-up; one already gone counts as deleted.
func (s *Service) deleteJournaled(ctx context.Context, batch string) {
	after := [2]string{}
	for {
		var page []struct{ Batch, ValueKey string }
		q := s.db.WithContext(ctx).Table("cdmi_deleted_values").Select("batch", "value_key")
		if batch != "" {
			q = q.Where("batch = ? AND value_key > ?", batch, after[1])
		} else {
			q = q.Where("batch > ? OR (batch = ? AND value_key > ?)", after[0], after[0], after[1])
		}
		if err := q.Order("batch").Order("value_key").Limit(deletedPage).Find(&page).Error; err != nil {
			s.log.Warn("cdmi: read the values of deleted objects (retried at start-up)", "err", err)
			return
		}
		for _, d := range page {
			err := s.objs.Delete(ctx, d.ValueKey)
			if err != nil && !errors.Is(err, storagebackends.ErrNotFound) {
				s.log.Warn("cdmi: delete value (retried at start-up)", "key", d.ValueKey, "err", err)
				continue
			}
			if err := s.db.WithContext(ctx).Exec("DELETE FROM cdmi_deleted_values WHERE batch = ? AND value_key = ?", d.Batch, d.ValueKey).Error; err != nil {
				s.log.Warn("cdmi: forget a deleted value (retried at start-up)", "key", d.ValueKey, "err", err)
			}
		}
		if len(page) < deletedPage {
			return
		}
		after = [2]string{page[len(page)-1].Batch, page[len(page)-1].ValueKey}
	}
}

// newBatchID names one delete's journaled values.
func newBatchID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
