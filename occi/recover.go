package occi

import (
	"context"
)

// HasMachine tells whether a compute entity (of any project) has id, so
// that start-up recovery can tell a backend's machine that belongs to OCCI
// from one a crash left between its creation and its entity's commit.
func (s *Service) HasMachine(ctx context.Context, id string) (bool, error) {
	m, err := s.loadModel(ctx, s.db.WithContext(ctx))
	if err != nil {
		return false, err
	}
	var kinds []string
	if err := s.db.WithContext(ctx).Model(&entityRow{}).Where("id = ?", id).Pluck("kind", &kinds).Error; err != nil {
		return false, dbErr(err)
	}
	for _, k := range kinds {
		if m.isA(k, KindCompute) {
			return true, nil
		}
	}
	return false, nil
}

// Computes calls fn with the id of every compute entity (of any project),
// a page at a time, for start-up recovery to find computes whose machine a
// crash took away (between a delete's backend call and its commit).
func (s *Service) Computes(ctx context.Context, fn func(id string) error) error {
	m, err := s.loadModel(ctx, s.db.WithContext(ctx))
	if err != nil {
		return err
	}
	const page = 500
	after := ""
	for {
		var rows []entityRow
		err := s.db.WithContext(ctx).Select("location, id, kind").Where("location > ?", after).
			Order("location").Limit(page).Find(&rows).Error
		if err != nil {
			return dbErr(err)
		}
		for _, r := range rows {
			if m.isA(r.Kind, KindCompute) {
				if err := fn(r.ID); err != nil {
					return err
				}
			}
		}
		if len(rows) < page {
			return nil
		}
		after = rows[len(rows)-1].Location
	}
}
