package cdmi

import (
	"context"
	"fmt"
	"io"

	"gorm.io/gorm"
)

// Queues (CDMI 1.1.1 §11): a queue object holds values in arrival order.
// POST enqueues (§11.6), GET reads the oldest ones (§11.4, ?values:<n>),
// DELETE ?values:<n> removes the n oldest (§11.7).

func (s *Server) deleteKeys(ctx context.Context, keys []string) {
	for _, k := range keys {
		_ = s.objs.Delete(context.WithoutCancel(ctx), k)
	}
}

// queueWindow returns the oldest n values of a queue.
func (s *Server) queueWindow(ctx context.Context, db *gorm.DB, queueID string, n int) ([]queueValue, error) {
	var vals []queueValue
	err := db.WithContext(ctx).Where("queue_id = ?", queueID).Order("seq").Limit(n).Find(&vals).Error
	return vals, err
}

// queueRange is queueValues: "first-last" of the positions in the queue,
// or "" when it is empty.
func (s *Server) queueRange(ctx context.Context, queueID string) (string, error) {
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

// readSmall reads a bounded value whole (queue values only).
func (s *Server) readSmall(ctx context.Context, key string, limit int64) ([]byte, error) {
	rc, err := s.objs.Open(ctx, key, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, limit))
}
