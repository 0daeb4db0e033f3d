package cdmi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/occicdmi/occicdmi/internal/kind"
	"gorm.io/gorm"
)

// Queues (CDMI 1.1.1 §11): a queue object holds values in arrival order.
// POST enqueues (§11.6), GET reads the oldest ones (§11.4, ?values:<n>),
// DELETE ?values:<n> removes the n oldest (§11.7).

func (s *Service) deleteKeys(ctx context.Context, keys []string) {
	for _, k := range keys {
		if k == "" {
			continue
		}
		_ = s.objs.Delete(context.WithoutCancel(ctx), k)
	}
}

// queueWindow returns the oldest n values of a queue.
func (s *Service) queueWindow(ctx context.Context, db *gorm.DB, queueID string, n int) ([]queueValue, error) {
	var vals []queueValue
	err := db.WithContext(ctx).Where("queue_id = ?", queueID).Order("seq").Limit(n).Find(&vals).Error
	return vals, err
}

// queueRange is queueValues: "first-last" of the positions in the queue,
// or "" when it is empty.
func (s *Service) queueRange(ctx context.Context, queueID string) (string, error) {
	var r struct {
		N        int64
		Low, Top int64
	}
	err := s.db.WithContext(ctx).Model(&queueValue{}).Where("queue_id = ?", queueID).
		Select("COUNT(*) AS n, COALESCE(MIN(designator), 0) AS low, COALESCE(MAX(designator), 0) AS top").Scan(&r).Error
	if err != nil {
		return "", err
	}
	if r.N == 0 {
		return "", nil
	}
	return fmt.Sprintf("%d-%d", r.Low, r.Top), nil
}

// writeQueue creates or updates a queue (§11.2, §11.5): its metadata only;
// values come and go by enqueue and dequeue.
func (s *Service) writeQueue(ctx context.Context, who Principal, t *target, meta map[string]any, metaNames []string, extra map[string]json.RawMessage, domain *string) (*object, bool, error) {
	created := t.obj == nil
	if err := s.authorizeQueueWrite(who, t, meta); err != nil {
		return nil, false, err
	}
	var id string
	if t.obj != nil {
		id = t.obj.ObjectID
	} else {
		var err error
		if id, err = newObjectID(s.cfg.EnterpriseNumber); err != nil {
			return nil, false, err
		}
	}
	name := t.name
	if name == "" {
		name = id
	}
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		return s.commitQueue(ctx, tx, who, t, id, name, meta, metaNames, extra, domain)
	})
	if err != nil {
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return nil, false, kind.Errorf(kind.Conflict, "%q exists already", name)
		}
		return nil, false, err
	}
	o, err := s.byID(ctx, s.db, id)
	if err != nil {
		return nil, false, err
	}
	return o, created, nil
}

// authorizeQueueWrite checks the capabilities and the ACL a queue write
// needs: of the parent for a create, of the queue for an update.
func (s *Service) authorizeQueueWrite(who Principal, t *target, meta map[string]any) error {
	if t.obj == nil {
		if t.parent != nil && t.parent.Type != typeContainer {
			return invalidf("queues can be created only in containers")
		}
		if err := s.require(typeContainer, "cdmi_create_queue"); err != nil {
			return err
		}
		if t.parent != nil {
			return s.allowed(who, t.parent, maskWrite)
		}
		return nil
	}
	if err := s.require(typeQueue, "cdmi_modify_metadata"); err != nil {
		return err
	}
	return s.allowed(who, t.obj, writeMask(false, meta))
}

// commitQueue writes a queue's row in tx.
func (s *Service) commitQueue(ctx context.Context, tx *gorm.DB, who Principal, t *target, id, name string, meta map[string]any, metaNames []string, extra map[string]json.RawMessage, domain *string) error {
	now := time.Now().UTC()
	var o object
	if err := s.lockParent(ctx, tx, t.parent); err != nil {
		return err
	}
	if t.obj != nil {
		cur, err := s.byID(ctx, tx, id)
		if err != nil {
			return err
		}
		o = *cur
		o.MCount++
		o.ACount++ // a write is an access (§16.3 Table 118, cdmi_acount)
	} else {
		o = object{ObjectID: id, Name: name, Type: typeQueue, Owner: who.Name, CTime: now, Completion: "Complete", Mimetype: "application/cdmi-queue"}
		if t.parent != nil {
			o.ParentID, o.DomainID = t.parent.ObjectID, t.parent.DomainID // §10: the parent's domain
		}
		o.setMetadata(map[string]any{"cdmi_acl": s.inheritedACL(ctx, tx, t.parent, false)})
	}
	if meta != nil {
		o.setMetadata(mergeMetadata(o.metadata(), meta, metaNames))
	}
	o.setExtraFields(extra) // fields the standard does not define (§11.1)
	if domain != nil {
		o.DomainID = *domain
	}
	o.MTime, o.ATime = now, now
	if t.obj == nil {
		return tx.Create(&o).Error
	}
	return tx.Save(&o).Error
}

// queueItem is one value to enqueue.
type queueItem struct {
	r        io.Reader
	mimetype string
	enc      string
}

// mayEnqueue checks that who may add values to queue q.
func (s *Service) mayEnqueue(who Principal, q *object) error {
	if err := s.require(typeQueue, "cdmi_modify_value"); err != nil {
		return err
	}
	return s.allowed(who, q, maskWrite)
}

// sourceValue opens the value of the data object uri names, to enqueue a
// copy of it (§11.6).
func (s *Service) sourceValue(ctx context.Context, uri string) (queueItem, io.Closer, error) {
	src, err := s.resolveURI(ctx, uri)
	if err != nil {
		return queueItem{}, nil, err
	}
	if src.obj.Type != typeDataObject || src.obj.ValueKey == "" {
		return queueItem{}, nil, invalidf("copy: %q is not a data object with a value", uri)
	}
	if err := s.viewerAllowed(ctx, src.obj, maskRead); err != nil {
		return queueItem{}, nil, err
	}
	rc, err := s.objs.Open(ctx, src.obj.ValueKey, 0, -1)
	if err != nil {
		return queueItem{}, nil, err
	}
	return queueItem{rc, src.obj.Mimetype, src.obj.Encoding}, rc, nil
}

// enqueue adds values to queue q (§11.6), once mayEnqueue allowed it:
// values first, then their rows in one transaction.
func (s *Service) enqueue(ctx context.Context, q *object, items []queueItem) error {
	var rows []queueValue
	var keys []string
	for _, it := range items {
		if err := checkMimetype(it.mimetype); err != nil {
			s.deleteKeys(ctx, keys)
			return err
		}
		w, err := s.putValue(ctx, q.ObjectID, it.r, -1, "")
		if err != nil {
			s.deleteKeys(ctx, keys)
			return err
		}
		keys = append(keys, w.Key)
		enc := it.enc
		if enc != "base64" && !w.UTF8 {
			enc = "base64" // what reads send these bytes in (queueValueEncoding)
		}
		rows = append(rows, queueValue{QueueID: q.ObjectID, ValueKey: w.Key, Mimetype: it.mimetype, Encoding: enc, Size: w.Size})
	}
	err := s.inTx(ctx, func(tx *gorm.DB) error { return s.commitQueueValues(ctx, tx, q, rows) })
	if err != nil {
		s.deleteKeys(ctx, keys)
		return err
	}
	return nil
}

// commitQueueValues inserts a queue's new values in tx, each with its
// designator (§11.3.6).
func (s *Service) commitQueueValues(ctx context.Context, tx *gorm.DB, q *object, rows []queueValue) error {
	// Take len(rows) designators: the update locks the queue's row, so
	// concurrent enqueues get distinct, increasing ones.
	res := tx.Model(&object{}).Where("object_id = ?", q.ObjectID).
		Update("queue_next", gorm.Expr("queue_next + ?", len(rows)))
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return kind.Errorf(kind.NotFound, "the queue is gone")
	}
	cur, err := s.byID(ctx, tx, q.ObjectID)
	if err != nil {
		return err
	}
	for i := range rows {
		rows[i].Designator = cur.QueueNext - int64(len(rows)) + int64(i)
	}
	for i := range rows {
		if err := tx.Create(&rows[i]).Error; err != nil {
			return err
		}
	}
	// An enqueue is a write: an access too (§16.3 Table 118, cdmi_acount).
	now := time.Now().UTC()
	return tx.Model(&object{}).Where("object_id = ?", q.ObjectID).
		Updates(map[string]any{"m_time": now, "a_time": now, "m_count": gorm.Expr("m_count + 1"), "a_count": gorm.Expr("a_count + 1")}).Error
}

// dequeue removes the n oldest values of queue o (§11.7).
func (s *Service) dequeue(ctx context.Context, who Principal, o *object, n int, path string) error {
	if o.System {
		return invalidf("%s is maintained by the server and cannot be deleted", path)
	}
	if err := s.allowed(who, o, maskDelete); err != nil {
		return err
	}
	if err := s.require(typeQueue, "cdmi_modify_value"); err != nil {
		return err
	}
	var keys []string
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		vals, err := s.queueWindow(ctx, tx, o.ObjectID, n)
		if err != nil {
			return err
		}
		keys = keys[:0]
		seqs := make([]int64, 0, len(vals))
		for _, v := range vals {
			seqs = append(seqs, v.Seq)
			keys = append(keys, v.ValueKey)
		}
		if len(seqs) == 0 {
			return nil
		}
		return tx.Where("seq IN ?", seqs).Delete(&queueValue{}).Error
	})
	if err != nil {
		return err
	}
	s.deleteKeys(ctx, keys)
	return nil
}
